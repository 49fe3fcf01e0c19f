"""In a real browser, found by labels and roles: withdrawing an application asks first, wants
a reason, tells the applicant, and can be undone; a roster whose header reads
"E-mail, Member ID, First name, Last name" is shown as read before it replaces anything.

Runs its own sandbox (the shared one must not see these changes)."""
import re

import pytest
from playwright.sync_api import expect

from tests.helpers import start_sandbox, stop_sandbox, valid_answers
from tests.helpers.browser import sign_in


@pytest.fixture(scope="module")
def own_sandbox(tmp_path_factory, browser):
    running = start_sandbox(tmp_path_factory.mktemp("plain-words-sandbox"))
    yield running
    stop_sandbox(running)


def test_a_withdrawal_is_confirmed_with_a_reason_and_undone(page, own_sandbox):
    sandbox = own_sandbox
    status, applied = sandbox.post_json("/api/applications", valid_answers(email="wren.withdraw@example.org"))
    assert status == 201
    sign_in(page, sandbox)
    page.goto(sandbox.base_url + f"/admin/applications/{applied['id']}")
    page.get_by_role("button", name=re.compile(r"^Withdraw this application")).click()
    expect(page.get_by_role("heading", name="Withdraw Jo Reader's application?")).to_be_visible()
    reason = page.get_by_label(re.compile(r"^Why is it withdrawn"))
    page.get_by_role("button", name="Yes, withdraw and tell Jo Reader").click()  # no reason yet: the browser asks
    assert reason.evaluate("field => field.validity.valueMissing")
    expect(page.get_by_role("heading", name="Withdraw Jo Reader's application?")).to_be_visible()
    reason.fill("Applied twice by mistake")
    page.get_by_role("button", name="Yes, withdraw and tell Jo Reader").click()
    expect(page.get_by_role("status").filter(has_text="has been told in a short mail")).to_be_visible()
    told = [mail for mail in sandbox.mailbox() if "wren.withdraw@example.org" in mail["to"]
            and "withdrawn your application" in mail["text"]]
    assert len(told) == 1 and "Applied twice" not in told[0]["text"]

    page.get_by_role("button", name="Undo the withdrawal").click()
    expect(page.get_by_role("status").filter(has_text="The withdrawal is undone")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Withdraw this application"))).to_be_visible()


def test_a_roster_with_common_headers_is_shown_before_it_replaces_anything(page, own_sandbox):
    sandbox = own_sandbox
    sign_in(page, sandbox)
    page.goto(sandbox.base_url + "/admin/roster")
    roster = "E-mail,Member ID,First name,Last name\r\nwren@example.org,KLA-77,Wren,Reader\r\npat@example.org,KLA-78,Pat,Rivera\r\n"
    page.get_by_label("Roster file (CSV)").set_input_files(
        files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": roster.encode()}])
    page.get_by_role("button", name="Read the file").click()
    mapping = page.get_by_role("table", name="How the columns were read")
    for written, used in (("E-mail", "Email address"), ("Member ID", "Membership number"),
                          ("First name", "First name"), ("Last name", "Last name")):
        expect(mapping.get_by_role("row", name=f"{written} {used}")).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("as they will be loaded"))).to_contain_text("Wren Reader")
    page.get_by_role("button", name="Replace the roster with these 2 members").click()
    expect(page.get_by_text(re.compile("Loaded 2 members"))).to_be_visible()  # the job's page, or the flash
    page.get_by_role("link", name="Member roster").click()
    expect(page.get_by_text(re.compile(r"The roster in use has 2 members"))).to_be_visible()
