"""A person applies in a real browser (Debian's chromium driven by Playwright),
finds the confirmation in the sandbox mailbox and confirms."""
import re

from playwright.sync_api import expect


def fill_common(page, name, email, membership):
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Association membership number").fill(membership)
    page.get_by_label("Library or institution").fill("Bluegrass Community College Library")
    page.get_by_role("group", name="Type of library").get_by_label("Academic library").check()
    page.get_by_label("Position or job title").fill("Reference librarian")
    page.get_by_label("Region or city (optional)").fill("Lexington")
    page.get_by_role("group", name="Topics you would like to discuss").get_by_label("Instruction").check()
    page.get_by_role("group", name="Topics you would like to discuss").get_by_label("Technology").check()
    page.get_by_role("group", name="Ways you would like to communicate").get_by_label("Video call").check()
    page.get_by_label("I agree to keep what my partner shares confidential", exact=False).check()


def confirm_from_mailbox(page, sandbox, email):
    page.goto(sandbox.base_url + "/_sandbox/mailbox")
    mail = page.get_by_role("article").filter(has_text=email).first
    expect(mail.get_by_role("heading")).to_contain_text("confirm")
    frame = mail.get_by_title(re.compile(r"HTML version")).content_frame
    frame.get_by_role("link", name="Confirm my email address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email address is confirmed")


def test_a_mentee_applies_on_the_form_and_confirms_from_the_mailbox(page, sandbox):
    page.goto(sandbox.base_url + "/apply")
    page.get_by_role("radio", name="Mentee", exact=True).check()
    fill_common(page, "Robin Browser", "robin.browser@example.org", "KLA-7001")
    page.get_by_label("Years of library experience").fill("1")
    page.get_by_role("group", name="Career stage").get_by_label("Student").check()
    page.get_by_label("Your goals for the program").fill("Learn to teach information literacy.")
    page.get_by_label("Type of library your mentor should come from").select_option(label="Academic library")
    page.get_by_role("button", name="Send my application").click()
    expect(page).to_have_url(re.compile(r"/apply/thanks$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for applying")
    confirm_from_mailbox(page, sandbox, "robin.browser@example.org")


def test_a_mentor_sees_only_mentor_questions_and_applies(page, sandbox):
    page.goto(sandbox.base_url + "/apply")
    page.get_by_role("radio", name="Mentor", exact=True).check()
    expect(page.get_by_label("Type of library your mentor should come from")).to_be_hidden()
    fill_common(page, "Sam Browser", "sam.browser@example.org", "KLA-7002")
    page.get_by_label("Years of library experience").fill("22")
    page.get_by_role("group", name="Career stage").get_by_label("Senior or administrative").check()
    page.get_by_role("group", name="How many mentees could you take on?").get_by_label("2 mentees").check()
    page.get_by_label("I am willing to mentor someone from another type of library").check()
    page.get_by_role("button", name="Send my application").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for applying")
    confirm_from_mailbox(page, sandbox, "sam.browser@example.org")


def test_an_invalid_submission_shows_the_errors_and_keeps_what_was_typed(page, sandbox):
    page.goto(sandbox.base_url + "/apply")
    page.get_by_role("radio", name="Mentee", exact=True).check()
    page.get_by_label("Full name").fill("Casey <Typo>")
    page.get_by_label("Email address").fill("casey-at-example.org")
    page.get_by_label("Years of library experience").fill("seventy")
    page.get_by_role("group", name="Topics you would like to discuss").get_by_label("Advocacy").check()
    page.get_by_role("button", name="Send my application").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("problems with your application")
    expect(summary.get_by_role("link", name="Enter an email address in the form name@example.org.")).to_be_visible()
    expect(page.get_by_label("Full name")).to_have_value("Casey <Typo>")
    expect(page.get_by_label("Email address")).to_have_value("casey-at-example.org")
    expect(page.get_by_label("Years of library experience")).to_have_value("seventy")
    expect(page.get_by_role("group", name="Topics you would like to discuss").get_by_label("Advocacy")).to_be_checked()
    expect(page.get_by_role("radio", name="Mentee", exact=True)).to_be_checked()
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")

    summary.get_by_role("link", name="Enter an email address in the form name@example.org.").click()
    expect(page).to_have_url(re.compile(r"#field-email$"))
