"""In a real browser, against the sandbox: the committee moves a cohort on, opens the next one, invites
the earlier participants after a confirmation, and uses the cohort picker to move between the years."""
import re

from playwright.sync_api import expect

from tests.helpers import start_sandbox, stop_sandbox
from tests.helpers.browser import sign_in


def test_the_cohort_picker_and_the_invitations_to_a_new_year(page, browser, tmp_path):
    sandbox = start_sandbox(tmp_path, "--demo")
    try:
        sign_in(page, sandbox)
        page.get_by_role("navigation", name="Admin").get_by_role("link", name="Cohorts").click()
        years = page.get_by_role("table", name="Program years")
        first = years.get_by_role("row").nth(1).get_by_role("cell").first.inner_text().split(" (")[0]
        page.get_by_role("button", name=f"Move {first} on to matching").click()
        expect(page.get_by_role("status").first).to_contain_text(f"Cohort {first} is matching now")

        page.get_by_label("Short id, for example 2027").fill("2028")
        page.get_by_label('Name, for example "2027 program year"').fill("2028 program year")
        page.get_by_role("button", name="Open the cohort for applications").click()
        expect(page.get_by_role("status").first).to_contain_text("standing pool are being invited")
        # The invitations go out in the background; their page follows them to the end.
        page.get_by_text("The standing pool:").get_by_role("link", name="See the progress").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Inviting earlier participants to the new year")
        expect(page.get_by_role("status")).to_contain_text("sent.", timeout=30_000)
        page.get_by_role("link", name="Back to the cohorts").click()
        expect(page.get_by_text("The standing pool:")).to_contain_text("sent.")

        # Inviting everyone mails many people: the first press asks, the second sends.
        before = len([m for m in sandbox.mailbox() if "take part in 2028" in m["subject"]])
        page.get_by_role("button", name="Invite earlier participants to 2028 program year").click()
        expect(page.get_by_role("alert")).to_contain_text("there may be many")
        assert len([m for m in sandbox.mailbox() if "take part in 2028" in m["subject"]]) == before
        page.get_by_role("button", name="Yes, send the invitations").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Inviting earlier participants to the new year")
        expect(page.get_by_role("status")).to_contain_text("invitations sent", timeout=30_000)
        page.get_by_role("link", name="Back to the cohorts").click()
        expect(page.get_by_text("Earlier participants:")).to_contain_text("invitations sent")

        # The picker: the cohort waiting for matching comes first; the new year is one pick away.
        page.get_by_role("navigation", name="Admin").get_by_role("link", name="Applications").click()
        picker = page.get_by_role("form", name="Cohort").get_by_role("combobox", name="Cohort")
        expect(picker.locator("option:checked")).to_contain_text(first)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Applications for {first}")
        expect(page.get_by_role("table", name="40 applications")).to_be_visible()
        picker.select_option(label=picker.locator("option", has_text="2028 program year").inner_text())
        page.get_by_role("form", name="Cohort").get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"cohort=2028"))
        expect(page.get_by_role("combobox", name="Cohort").locator("option:checked")).to_contain_text("2028 program year")
        expect(page.get_by_role("heading", level=1)).to_have_text("Applications for 2028 program year")
        expect(page.get_by_role("table", name="0 applications")).to_be_visible()
    finally:
        stop_sandbox(sandbox)
