"""The committee and the participants in a real browser, against the sandbox:
sign in from the mailbox, load the roster, match, approve, and a check-in
answered on the web, including a confidential request for a different partner."""
import re

import pytest
from playwright.sync_api import expect

from infra.local.seed import demo_roster_csv
from tests.helpers import start_sandbox, stop_sandbox


@pytest.fixture(scope="module")
def demo_sandbox(tmp_path_factory):
    running = start_sandbox(tmp_path_factory.mktemp("browser-year"), "--demo")
    yield running
    stop_sandbox(running)


def open_newest_mail(page, sandbox, subject_part: str, to: str | None = None):
    """Open the sandbox mailbox and return the HTML body of the newest matching mail."""
    page.goto(sandbox.base_url + "/_sandbox/mailbox")
    mails = page.get_by_role("article").filter(has=page.get_by_role("heading", name=re.compile(subject_part)))
    if to:
        mails = mails.filter(has_text=to)
    return mails.first.get_by_title(re.compile("HTML version")).content_frame


def test_the_committee_signs_in_loads_the_roster_matches_and_introduces(page, demo_sandbox, tmp_path):
    base = demo_sandbox.base_url
    page.goto(base + "/admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Committee sign-in")
    page.get_by_label("Email address").fill("committee@example.org")
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.get_by_role("status")).to_contain_text("sign-in link is on its way")

    open_newest_mail(page, demo_sandbox, "sign-in link").get_by_role("link", name="Sign in to the admin area").click()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Committee dashboard")

    page.get_by_role("link", name="Member roster").click()
    roster = tmp_path / "members.csv"
    roster.write_text(demo_roster_csv())
    page.get_by_label("Roster file (CSV)").set_input_files(str(roster))
    page.get_by_role("button", name="Read the file").click()
    expect(page.get_by_role("table", name="How the columns were read")).to_be_visible()  # nothing replaced yet
    page.get_by_role("button", name="Replace the roster with these 40 members").click()
    expect(page.get_by_role("status")).to_contain_text("Loaded 40 members")

    page.get_by_role("link", name="Matching").click()
    proposed = page.get_by_role("table", name="Proposed pairs")
    expect(proposed).to_be_visible()
    rows = proposed.get_by_role("row")
    pair_count = rows.count() - 1
    assert pair_count >= 10
    expect(proposed).to_contain_text("mentor covers")
    page.get_by_role("button", name="Review the introductions for the ticked pairs").click()
    page.get_by_role("button", name=f"Confirm and send {pair_count} introductions").click()
    expect(page.get_by_role("status")).to_contain_text(f"{pair_count} pairings approved")

    introductions = [m for m in demo_sandbox.mailbox() if m["subject"].startswith("Meet your mentoring partner")]
    assert len(introductions) == pair_count and all(len(m["to"]) == 2 for m in introductions)


def test_participants_answer_a_check_in_on_the_web_and_one_asks_for_a_different_partner(page, demo_sandbox):
    if not any(m["subject"].startswith("Meet your mentoring partner") for m in demo_sandbox.mailbox()):
        pytest.skip("needs the pairs approved by the committee's journey above")
    demo_sandbox.post_json("/_sandbox/clock", {"advance_days": 91})
    checkins = [m for m in demo_sandbox.mailbox() if "check-in" in m["subject"].lower()]
    assert checkins and all(len(m["to"]) == 1 and m["reply_to"][0].startswith("reply+") for m in checkins)

    first, second = checkins[0], checkins[2]
    open_newest_mail(page, demo_sandbox, "check-in", first["to"][0]).get_by_role(
        "link", name="Answer on the web instead").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mentoring check-in")
    page.get_by_role("group", name="How is it going?").get_by_label("Going well").check()
    page.get_by_label("Anything you would like to tell the committee (optional)").fill("We meet every month by video.")
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("status")).to_contain_text("reached the Mentoring Committee")

    before = demo_sandbox.mailbox()
    open_newest_mail(page, demo_sandbox, "check-in", second["to"][0]).get_by_role(
        "link", name="Answer on the web instead").click()
    page.get_by_role("button", name="Send my answers").click()  # nothing chosen: the form says so
    expect(page.get_by_role("alert")).to_contain_text("Choose how it is going")
    page.get_by_role("group", name="How is it going?").get_by_label("Some concerns").check()
    page.get_by_label("I would like a different partner", exact=False).check()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("status")).to_contain_text("Only the committee has been told")

    new_mail = demo_sandbox.mailbox()[len(before):]
    assert [m["to"] for m in new_mail] == [["committee@example.org"]]
    assert "different partner" in new_mail[0]["subject"]
