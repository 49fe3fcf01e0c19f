"""In a real browser: the committee adds a topic and a question in the admin area, a new
applicant sees both on /apply, and an application sent before still reads as it was.

Runs its own sandbox (the shared one must not see these settings)."""
import re

import pytest
from playwright.sync_api import expect

from tests.helpers import start_sandbox, stop_sandbox, valid_answers
from tests.helpers.browser import sign_in

QUESTION = "Which library system do you work with?"


@pytest.fixture
def own_sandbox(tmp_path, browser):
    running = start_sandbox(tmp_path / "sandbox-data")
    yield running
    stop_sandbox(running)


def test_the_committee_adds_a_topic_and_a_question_and_the_form_follows(page, own_sandbox):
    sandbox = own_sandbox
    status, before = sandbox.post_json("/api/applications", valid_answers(interests=["technology"]))
    assert status == 201
    sign_in(page, sandbox)

    page.get_by_role("link", name="Program settings").click()
    page.get_by_role("link", name="Topics").click()
    page.get_by_label("Add a topic").fill("Grant writing")
    page.get_by_label("Topic 7", exact=True).fill("Library technology")  # the topic "Technology", renamed
    page.get_by_role("button", name="Save the topics").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 1")

    page.get_by_role("link", name="All program settings").click()
    page.get_by_role("link", name="Application questions").click()
    new = page.get_by_role("group", name="Add a question")
    new.get_by_label("Question", exact=True).fill(QUESTION)
    new.get_by_label("Kind of answer").select_option(label="Single choice")
    new.get_by_label("Choices, one per line").fill("Koha")
    new.get_by_label("Use in matching").select_option(label="Same answer")
    page.get_by_role("button", name="Save the questions").click()
    # One choice is not enough: nothing is saved, the problem is named, what was typed stays.
    expect(page.get_by_role("alert")).to_contain_text("Question 1: Give at least two choices.")
    new = page.get_by_role("group", name="Add a question")
    expect(new.get_by_label("Question", exact=True)).to_have_value(QUESTION)
    new.get_by_label("Choices, one per line").fill("Koha\nAlma\nSierra")
    page.get_by_role("button", name="Save the questions").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 2")
    expect(page.get_by_role("group", name="Question 1")).to_be_visible()

    page.goto(sandbox.base_url + "/apply")
    topics = page.get_by_role("group", name="Topics you would like to discuss")
    expect(topics.get_by_label("Grant writing")).to_be_visible()
    expect(topics.get_by_label("Library technology")).to_be_visible()
    expect(page.get_by_role("link", name="Read the program guidelines")).to_have_attribute("href", "/program")
    page.get_by_role("radio", name="Mentee", exact=True).check()
    page.get_by_label("Full name").fill("Robin Settings")
    page.get_by_label("Email address").fill("robin.settings@example.org")
    page.get_by_label("Association membership number").fill("KLA-8101")
    page.get_by_label("Library or institution").fill("Bluegrass Community College Library")
    page.get_by_role("group", name="Type of library").get_by_label("Academic library").check()
    page.get_by_label("Position or job title").fill("Reference librarian")
    page.get_by_label("Years of library experience").fill("2")
    page.get_by_role("group", name="Career stage").get_by_label("Student").check()
    topics.get_by_label("Grant writing").check()
    page.get_by_role("group", name="Ways you would like to communicate").get_by_label("Email").check()
    page.get_by_label("Your goals for the program").fill("Write my first grant.")
    page.get_by_role("group", name=QUESTION).get_by_label("Alma").check()
    page.get_by_label("I agree to keep what my partner shares confidential", exact=False).check()
    page.get_by_role("button", name="Send my application").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for applying")

    page.goto(sandbox.base_url + "/admin/applications")
    page.get_by_role("link", name="Robin Settings").click()
    answers = page.get_by_role("table", name="Answers")
    expect(answers.get_by_role("row", name=QUESTION)).to_contain_text("Alma")
    expect(answers.get_by_role("row", name="Topics you would like to discuss")).to_contain_text("Grant writing")
    expect(page.get_by_text("the form of settings version 2")).to_be_visible()

    page.goto(sandbox.base_url + f"/admin/applications/{before['id']}")
    answers = page.get_by_role("table", name="Answers")
    expect(answers.get_by_role("row", name="Topics you would like to discuss")).to_have_text(re.compile(r"Technology$"))
    expect(answers.get_by_role("row", name=QUESTION)).to_have_count(0)
    expect(page.get_by_text("the standard form")).to_be_visible()
