"""The mail editor for people who do not write code: plain placeholders, a field per variant,
placeholders a mail must keep, insertable placeholders, and a preview of both parts."""
from __future__ import annotations

import re

import pytest

from chalicelib.adapters.models import SettingsVersion
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import clock, mail_catalogue, settings_document, settings_validation
from chalicelib.domain.templating import TEMPLATE_DIR, render
from chalicelib.services import mail, settings_store
from tests.helpers import csrf_of, form_body
from tests.helpers.workflow import approved_pairs, mails_to, run_days

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
LEGACY_CHECKIN = {
    "subject": "Old check-in: how is it going with {{ mentee.name if role == 'mentor' else mentor.name }}?",
    "body": "Dear {{ participant.name }},\n\nHow is it going? Reply with 1, 2 or 3.\n"
            "Or on the web: {{ base_url }}/respond/{{ respond_token }}\n\nThe committee",
}


def _expressions(source: str) -> list[str]:
    """What in a template is more than text and plain placeholders (a name, or a name's part)."""
    from jinja2 import nodes

    tree = mail_catalogue.committee_environment().parse(source)
    allowed = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr)
    return [type(node).__name__ for node in tree.find_all(nodes.Node) if not isinstance(node, allowed)]


@pytest.mark.parametrize("name", list(mail_catalogue.MAILS))
def test_every_default_text_uses_only_plain_placeholders(name):
    for field, source in mail_catalogue.default_mail()[name].items():
        assert _expressions(source) == [], (name, field)
        assert mail_catalogue.template_problem(source, mail_catalogue.mail_sample(name)) is None


@pytest.mark.parametrize("name", list(mail_catalogue.MAILS))
def test_the_system_html_parts_print_only_plain_placeholders(name):
    """The HTML part sent with a text the committee did not edit keeps its markup and its loops over
    lists, but what it prints is plain placeholders, like the texts the editor shows."""
    from jinja2 import nodes

    source = (TEMPLATE_DIR / "mail" / f"{name}.html").read_text(encoding="utf-8")
    printed = [node for output in mail_catalogue.committee_environment().parse(source).find_all(nodes.Output)
               for node in output.nodes if not isinstance(node, nodes.TemplateData)]
    assert printed and [type(node).__name__ for node in printed
                        if not isinstance(node, (nodes.Name, nodes.Getattr))] == [], name
    html = render(f"mail/{name}.html", subject="Subject", **mail_catalogue.mail_sample(name))
    assert "Dear" in html or "digest" in html or "committee" in html  # every placeholder it prints is there


def test_a_subject_that_differs_by_role_is_two_fields_and_each_partner_gets_theirs(aws, fresh_clock):
    assert mail_catalogue.MAILS["checkin"].fields() == ("subject_mentor", "subject_mentee", "body")
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 92)
    [to_mentee] = mails_to(pairing.mentee_email, "check-in")
    [to_mentor] = mails_to(pairing.mentor_email, "check-in")
    assert to_mentee["subject"].endswith(f"with {pairing.mentor_name}?")
    assert to_mentor["subject"].endswith(f"with {pairing.mentee_name}?")
    assert f"partnership with {pairing.mentor_name} going" in to_mentee["text"]
    assert "1 - going well" in to_mentee["text"] and "/respond/" in to_mentee["text"]


def _mail_form(client, cookie, mail: str, **fields):
    cohort = open_cohort().id
    return client.http.post("/admin/settings/mail", headers={**FORM, "Cookie": cookie}, body=form_body(
        {"csrf_token": csrf_of(client, cookie), "cohort": cohort, "mail": mail, **fields}))


@pytest.mark.parametrize("mail,dropped", [("checkin", "{{ answer_link }}"), ("checkin", "{{ reply_instructions }}"),
                                          ("sign_in", "{{ sign_in_link }}"), ("confirm_application", "{{ confirm_link }}")])
def test_saving_without_a_kept_placeholder_is_refused_naming_it(aws, client, committee_cookie, mail, dropped):
    approved_pairs(1)  # an open cohort
    text = dict(mail_catalogue.default_mail()[mail])
    text["body"] = text["body"].replace(dropped, "")
    answer = _mail_form(client, committee_cookie, mail, action="save", **text)
    assert answer.status_code == 400
    assert f"Keep {dropped} in the text" in answer.body.decode().replace("&#34;", '"')
    assert settings_store.current(open_cohort().id).version == 0  # nothing was saved


def test_the_placeholders_are_listed_and_one_can_be_inserted_without_script(aws, client, committee_cookie):
    approved_pairs(1)
    text = dict(mail_catalogue.default_mail()["checkin"])
    text["body"] = "Dear {{ participant.name }},"
    page = client.http.get("/admin/settings/mail?mail=checkin", headers={"Cookie": committee_cookie}).body.decode()
    for placeholder in ("answer_link", "reply_instructions", "partner.name"):
        assert f'name="insert" value="body:{placeholder}"' in page
    answer = _mail_form(client, committee_cookie, "checkin", insert="body:answer_link", **text)
    assert answer.status_code == 200
    assert re.search(r"Dear \{\{ participant.name \}\},\s+\{\{ answer_link \}\}</textarea>", answer.body.decode())
    assert settings_store.current(open_cohort().id).version == 0
    refused = _mail_form(client, committee_cookie, "checkin", insert="body:__class__", **text)
    assert refused.status_code == 400


def test_the_preview_shows_the_html_and_the_text_part_under_a_neutral_heading(aws, client, committee_cookie):
    approved_pairs(1)
    answer = _mail_form(client, committee_cookie, "checkin", action="preview", **mail_catalogue.default_mail()["checkin"])
    page = answer.body.decode()
    assert answer.status_code == 200 and "<h2>Preview with sample data</h2>" in page
    assert "As sent to mentors" in page and "As sent to mentees" in page
    assert "(the HTML part)" in page and "(the text part)" in page
    assert '<a href="https://mentoring.example.org/respond/SAMPLE-TOKEN">' in page  # the HTML part, links kept
    assert "with Jo Reader?" in page and "with Pat Rivera?" in page  # each variant's subject
    assert "problem" not in page.lower().split("<h2>preview")[1]


@pytest.mark.parametrize("name", ["checkin", "introduction", "pairing_closed"])
def test_an_unedited_mail_is_previewed_with_the_html_part_it_is_sent_with(aws, client, committee_cookie, name):
    approved_pairs(1)
    page = _mail_form(client, committee_cookie, name, action="preview", **mail_catalogue.default_mail()[name]).body.decode()
    entry = mail_catalogue.MAILS[name]
    for value, _ in entry.split.variants if entry.split else (("", ""),):
        sent = mail.compose(name, ("someone@example.org",), mail_catalogue.mail_sample(name, value))
        body = sent.html[sent.html.index("<body"):sent.html.rindex("</body>")].split(">", 1)[1]
        assert body in page and sent.subject in page


def test_each_variant_of_a_mail_split_by_role_is_previewed_as_the_person_in_that_role_gets_it(aws, client,
                                                                                            committee_cookie):
    approved_pairs(1)
    page = _mail_form(client, committee_cookie, "checkin", action="preview",
                      **mail_catalogue.default_mail()["checkin"]).body.decode()
    to_mentors, to_mentees = page.split("As sent to mentors", 1)[1].split("As sent to mentees", 1)
    assert "Dear Pat Rivera," in to_mentors and "partnership with Jo Reader" in to_mentors
    assert "a different mentee" in to_mentors and "a different mentor" not in to_mentors
    assert "Dear Jo Reader," in to_mentees and "partnership with Pat Rivera" in to_mentees
    assert "a different mentor" in to_mentees and "a different mentee" not in to_mentees


def _store_legacy_version(cohort_id: str) -> None:
    """A version saved before the mails were split and kept placeholders existed."""
    document = settings_document.defaults()
    document["mail"] = {**document["mail"], "checkin": LEGACY_CHECKIN,
                        "pairing_closed": {"subject": "{{ 'Done' if outcome == 'completed' else 'Closed' }}",
                                           "body": "Dear {{ participant.name }}, {{ outcome }}."}}
    SettingsVersion(cohort=cohort_id, version=1, document=document, saved_by="someone@example.org",
                    saved_at=clock.now()).save()
    settings_store.forget()


def test_a_text_saved_before_with_expressions_still_renders_and_can_be_saved_again(aws, fresh_clock, client,
                                                                                 committee_cookie):
    [pairing] = approved_pairs(1)
    _store_legacy_version(pairing.cohort)
    page = client.http.get("/admin/settings/mail?mail=checkin", headers={"Cookie": committee_cookie}).body.decode()
    assert page.count("Old check-in: how is it going with") == 2  # the one subject fills both fields
    # Another part saved: the old, unchanged check-in text is kept as it was accepted.
    saved = settings_store.current(pairing.cohort)
    document = {**saved.document, "guidelines": saved.document["guidelines"] + "\nOne more line.\n"}
    settings_store.save(pairing.cohort, document, "committee@example.org")
    run_days(fresh_clock, 92)
    [to_mentee] = mails_to(pairing.mentee_email, "Old check-in")
    assert to_mentee["subject"] == f"Old check-in: how is it going with {pairing.mentor_name}?"
    assert re.search(r"/respond/[a-z0-9]+", to_mentee["text"])
    [to_mentor] = mails_to(pairing.mentor_email, "Old check-in")
    assert to_mentor["subject"].endswith(f"with {pairing.mentee_name}?")


def test_an_old_text_changed_must_then_keep_the_placeholders(aws):
    document = settings_document.defaults()
    before = {**document, "mail": {**document["mail"], "checkin": LEGACY_CHECKIN}}
    assert settings_validation.validate(before, previous=before)["mail"]["checkin"]["subject_mentee"] == \
        LEGACY_CHECKIN["subject"]
    changed = {**before, "mail": {**before["mail"], "checkin": {**LEGACY_CHECKIN, "body": LEGACY_CHECKIN["body"] + "!"}}}
    with pytest.raises(settings_validation.SettingsInvalid) as refused:
        settings_validation.validate(changed, previous=before)
    assert "reply_instructions" in refused.value.errors["mail.checkin.body"]


def test_a_closed_mail_speaks_of_its_outcome_from_its_own_field():
    text = mail_catalogue.default_mail()["pairing_closed"]
    sample = mail_catalogue.mail_sample("pairing_closed")
    assert mail_catalogue.render_mail("pairing_closed", text, {**sample, "outcome": "completed"})[0] == \
        "Your mentoring partnership has come to an end"
    subject, body, _ = mail_catalogue.render_mail("pairing_closed", text, {**sample, "outcome": "dissolved"})
    assert subject == "Your mentoring partnership has been closed" and "closed your mentoring partnership" in body
