"""The committee's program settings: defaults, validation, versions, the API and the
editors, and what the settings change: the form, matching, mails, schedule and guidelines."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chalicelib.domain import mail_catalogue, matching, settings_document, settings_validation
from chalicelib.services import settings_store
from chalicelib.domain.lifecycle import Schedule
from chalicelib.adapters.models import Application, AuditEntry, SettingsVersion
from chalicelib.domain.schema import INTERESTS
from chalicelib.adapters.store import open_cohort
from tests.helpers import COMMITTEE_EMAIL, csrf_of, form_body, sent_mail, valid_answers

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PROGRAM_DESCRIPTION = Path("/work/shared/program/mentoring-program.txt")


def get_settings(client, cookie, query: str = "") -> dict:
    answer = client.http.get(f"/admin/api/settings{query}", headers={"Cookie": cookie})
    assert answer.status_code == 200, answer.body
    return answer.json_body


def put_settings(client, cookie, document: dict):
    return client.http.put("/admin/api/settings", headers={**JSON, "Cookie": cookie}, body=json.dumps(document).encode())


def changed(client, cookie, **parts) -> dict:
    """GET, change some parts, PUT; the saved document."""
    answer = put_settings(client, cookie, {**get_settings(client, cookie), **parts})
    assert answer.status_code == 200, answer.json_body
    return answer.json_body


MATCHING_QUESTION = {
    "name": "library_system", "label": "Which library system do you work with?", "kind": "single_choice",
    "required": True, "asked": "both", "hint": "", "matching": {"rule": "same", "weight": 100},
    "choices": [{"value": "koha", "label": "Koha"}, {"value": "alma", "label": "Alma"}],
}


# --- Defaults ------------------------------------------------------------------------------

def test_the_defaults_reproduce_the_program_and_the_system_as_it_was():
    document = settings_document.defaults()
    assert settings_validation.validate(document) == document
    assert [(topic["value"], topic["label"]) for topic in document["interests"]] == list(INTERESTS)
    assert document["questions"] == [] and Schedule.from_dict(document["schedule"]) == Schedule()
    files = Path(mail_catalogue.TEMPLATE_DIR, "mail")
    for name, mail in mail_catalogue.MAILS.items():
        for field in mail.fields():
            source = (files / mail_catalogue.source_file(name, field)).read_text()
            assert document["mail"][name][field] == (" ".join(source.split()) if field.startswith("subject")
                                                     else source.rstrip())
        assert mail_catalogue.edited_mail(document, name) is None
    assert set(mail_catalogue.MAILS) == {path.name.split(".subject.")[0] for path in files.glob("*.subject*.txt")}
    from chalicelib.pages.respond import PROGRAM_QUESTIONS
    assert [q["name"] for q in document["feedback_questions"]] == [f.name for f in PROGRAM_QUESTIONS]
    assert document["evaluation_questions"] == document["feedback_questions"]
    introduction = document["mail"]["introduction"]["body"]
    assert "opportunities for service and professional development" in introduction
    assert "Effective Mentoring" in introduction and "Mentoring in Tough Financial Times" in introduction


def test_the_default_guidelines_carry_the_program_description():
    guidelines = settings_document.defaults()["guidelines"]
    for heading in ("What is mentoring?", "What is the purpose of the program?", "Who can participate?",
                    "How does it work?", "## Mentors", "## Mentees", "### Expectations", "### Role", "### Benefits",
                    "How much time is involved?", "Whom can I contact with questions?", "Mentoring resources"):
        assert heading in guidelines
    described = PROGRAM_DESCRIPTION.read_text() if PROGRAM_DESCRIPTION.exists() else ""
    for phrase in ("a job search program", "an arbiter of workplace problems", "membership in the association",
                   "one-year commitment", "once a month", "Introduce your mentee to opportunities for service and "
                   "professional development", "Devil's advocate".lower(), "Director of the mentoring relationship",
                   "Effective Mentoring", "The Art of Giving and Receiving", "Mentoring in Tough Financial Times"):
        assert phrase.lower() in guidelines.lower()
    if described:
        for citation in ("Crumpton, Michael A. 2011", "Freedman, Shin. 2009", "Garvin, David A., and Joshua A. Margolis"):
            assert citation in described and citation in guidelines


# --- Validation ------------------------------------------------------------------------------

def broken_document() -> dict:
    document = settings_document.defaults()
    document["interests"][1]["label"] = " "
    document["questions"] = [
        {**MATCHING_QUESTION, "name": "email"},
        {**MATCHING_QUESTION, "name": "system_two", "choices": [{"value": "koha", "label": "Koha"}]},
        {**MATCHING_QUESTION, "name": "years", "kind": "short_text", "asked": "mentees"},
    ]
    document["schedule"]["kickoff_day"] = "soon"
    document["mail"]["introduction"]["body"] = "Dear {{ mentor.name }, welcome"
    document["feedback_questions"][0]["colour"] = "red"
    return document


def test_validation_names_every_problem_by_its_location():
    with pytest.raises(settings_validation.SettingsInvalid) as refused:
        settings_validation.validate(broken_document())
    errors = refused.value.errors
    assert "core fields" in errors["questions[0].name"]
    assert "at least two choices" in errors["questions[1].choices"]
    assert "single or multiple choice" in errors["questions[2].matching"]
    assert {"interests[1].label", "schedule.kickoff_day", "mail.introduction.body", "feedback_questions[0].colour"} <= set(errors)
    assert "line 1" in errors["mail.introduction.body"]


def test_a_put_with_errors_answers_400_with_each_location_and_saves_nothing(client, committee_cookie):
    answer = put_settings(client, committee_cookie, broken_document())
    assert answer.status_code == 400
    assert {"questions[0].name", "questions[1].choices", "schedule.kickoff_day", "mail.introduction.body"} <= set(
        answer.json_body["errors"])
    assert list(SettingsVersion.scan()) == [] and get_settings(client, committee_cookie)["version"] == 0
    assert not [entry for entry in AuditEntry.scan() if entry.action == "settings_saved"]
    missing = put_settings(client, committee_cookie, {"interests": [], "surprise": 1})
    assert missing.status_code == 400 and {"surprise", "questions", "guidelines", "interests"} <= set(missing.json_body["errors"])


def test_every_version_is_kept_with_who_saved_it_and_when(client, committee_cookie):
    first = changed(client, committee_cookie, guidelines="# Version one\n")
    second = changed(client, committee_cookie, guidelines="# Version two\n")
    assert (first["version"], second["version"]) == (1, 2)
    assert second["saved_by"] == COMMITTEE_EMAIL and second["saved_at"]
    assert get_settings(client, committee_cookie, "?version=1")["guidelines"] == "# Version one\n"
    assert get_settings(client, committee_cookie, "?version=0")["guidelines"] == settings_document.default_guidelines()
    stored = sorted((item.version, item.saved_by) for item in SettingsVersion.scan())
    assert stored == [(1, COMMITTEE_EMAIL), (2, COMMITTEE_EMAIL)]
    audit = [entry for entry in AuditEntry.scan() if entry.action == "settings_saved"]
    assert [entry.details["changed"] for entry in audit] == [["guidelines"], ["guidelines"]]
    stale = put_settings(client, committee_cookie, {**first, "guidelines": "# Too late\n"})
    assert stale.status_code == 409 and "version 2" in stale.json_body["errors"]["version"]
    assert get_settings(client, committee_cookie)["version"] == 2
    page = client.http.get("/admin/settings", headers={"Cookie": committee_cookie}).body.decode()
    assert "This is version 2, saved by committee@example.org" in page and page.count("<td>committee@example.org</td>") == 2


def test_a_topic_is_retired_not_removed(client, committee_cookie):
    document = get_settings(client, committee_cookie)
    answer = put_settings(client, committee_cookie, {**document, "interests": document["interests"][1:]})
    assert answer.status_code == 400 and "Retire it instead" in answer.json_body["errors"]["interests"]


@pytest.mark.parametrize("key, value, location", [
    ("kind", ["single_choice"], "questions[0].kind"), ("asked", {"both": True}, "questions[0].asked"),
    ("matching", {"rule": ["same"], "weight": 5}, "questions[0].matching.rule"),
])
def test_a_list_or_object_where_a_name_belongs_is_refused_not_a_crash(client, committee_cookie, key, value, location):
    document = get_settings(client, committee_cookie)
    document["questions"] = [{**MATCHING_QUESTION, key: value}]
    answer = put_settings(client, committee_cookie, document)
    assert answer.status_code == 400 and "Use " in answer.json_body["errors"][location]
    assert list(SettingsVersion.scan()) == []


# --- Templates: refused when saved, sandboxed when rendered -----------------------------------

@pytest.mark.parametrize("body, problem", [
    ("Dear {{ mentor.name }", "does not work"),
    ("{% if mentor.name %}no end", "does not work"),
    ("Hello {{ secret_key }}", "Unknown placeholder: secret_key"),
    ("{{ mentor.name | shout }}", "No filter named 'shout'"),
    ("{{ mentor.nickname }}", "does not have"),
    ("{{ mentor.__class__.__mro__[1].__subclasses__() }}", "underscore"),
    ("{{ cycler.__init__.__globals__.os.system('id') }}", "Unknown placeholder: cycler"),
    ("{{ mentor | attr('__class__') }}", "may not use"),
])
def test_a_broken_or_prying_template_is_refused_with_a_message(client, committee_cookie, body, problem):
    document = get_settings(client, committee_cookie)
    document["mail"]["introduction"]["body"] = body
    answer = put_settings(client, committee_cookie, document)
    assert answer.status_code == 400 and problem in answer.json_body["errors"]["mail.introduction.body"]


def test_the_sandbox_keeps_python_internals_out_of_reach_even_unchecked():
    from jinja2.exceptions import SecurityError

    sample = mail_catalogue.mail_sample("introduction")
    # A format string could climb to the class, or (by its width) grow to any size: templates cannot format.
    tricks = ("{{ mentor.name.format('{0.__class__.__mro__}') }}", "{{ (mentor.name | attr('format'))('{0.__class__}') }}",
              "{{ '{:>999999999}'.format(1) }}")
    for source in ("{{ mentor | attr('__class__') }}", "{{ ''.__class__.__mro__ }}", "{{ mentor.items.__self__ }}", *tricks):
        with pytest.raises(SecurityError):
            mail_catalogue.render_mail("introduction", {"subject": "x", "body": source}, sample)
    document = {**settings_document.defaults()}
    document["mail"] = {**document["mail"], "introduction": {"subject": "x", "body": tricks[0]}}
    with pytest.raises(settings_validation.SettingsInvalid) as refused:
        settings_validation.validate(document)
    assert "may not use" in refused.value.errors["mail.introduction.body"]


def test_the_mail_editor_refuses_a_broken_template_and_keeps_what_was_typed(client, committee_cookie):
    page = client.http.get("/admin/settings/mail?mail=introduction", headers={"Cookie": committee_cookie}).body.decode()
    assert "Meet your mentoring partner" in page and "mentor.name" in page
    body = form_body({"csrf_token": csrf_of(client, committee_cookie), "cohort": open_cohort().id, "version": "0",
                      "mail": "introduction", "action": "save", "subject": "Hello {{ mentor.name",
                      "body": "Dear {{ mentee.name }},\nWelcome."})
    answer = client.http.post("/admin/settings/mail", headers={**FORM, "Cookie": committee_cookie}, body=body)
    html = answer.body.decode()
    assert answer.status_code == 400 and "Nothing was saved" in html and "The template does not work" in html
    assert 'value="Hello {{ mentor.name"' in html and list(SettingsVersion.scan()) == []


def test_a_mail_preview_uses_sample_data_and_reset_restores_the_default(client, committee_cookie):
    fields = {"csrf_token": csrf_of(client, committee_cookie), "cohort": open_cohort().id, "version": "0",
              "mail": "introduction", "subject": "Hello {{ mentee.name }}", "body": "Dear {{ mentor.name }},\nwelcome."}
    headers = {**FORM, "Cookie": committee_cookie}
    preview = client.http.post("/admin/settings/mail", headers=headers, body=form_body({**fields, "action": "preview"}))
    assert preview.status_code == 200 and "Hello Jo Reader" in preview.body.decode() and "Dear Pat Rivera," in preview.body.decode()
    assert list(SettingsVersion.scan()) == []
    saved = client.http.post("/admin/settings/mail", headers=headers, body=form_body({**fields, "action": "save"}))
    assert saved.status_code == 303
    assert get_settings(client, committee_cookie)["mail"]["introduction"]["subject"] == "Hello {{ mentee.name }}"
    reset = client.http.post("/admin/settings/mail", headers=headers,
                             body=form_body({**fields, "version": "1", "action": "reset"}))
    assert reset.status_code == 303
    document = get_settings(client, committee_cookie)
    assert document["version"] == 2 and mail_catalogue.edited_mail(document, "introduction") is None


# --- What the settings change ------------------------------------------------------------------

def approve_one_pair(client, cookie) -> dict:
    from infra.local.seed import seed_demo_cohort

    seed_demo_cohort()
    proposal = client.http.post("/admin/api/matching/proposal", headers={**JSON, "Cookie": cookie}, body=b"{}").json_body
    pair = proposal["pairs"][0]
    answer = client.http.post("/admin/api/pairings", headers={**JSON, "Cookie": cookie},
                              body=json.dumps({"pairs": [pair]}).encode())
    assert answer.status_code == 201, answer.json_body
    return answer.json_body["pairings"][0]


def test_a_changed_introduction_subject_is_on_the_next_introduction(client, committee_cookie):
    document = get_settings(client, committee_cookie)
    document["mail"]["introduction"] = {
        "subject": "Say hello to {{ mentee.name }}, {{ mentor.name }}!",
        "body": "Dear {{ mentor.name }} & {{ mentee.name }},\n\nMeet each other: {{ base_url }}/program\n\nThe committee"}
    assert put_settings(client, committee_cookie, document).status_code == 200
    pairing = approve_one_pair(client, committee_cookie)
    [introduction] = [mail for mail in sent_mail() if mail["subject"].startswith("Say hello to")]
    names = {answers["name"] for answers in (a.answers for a in Application.batch_get([pairing["mentor_id"], pairing["mentee_id"]]))}
    assert all(name in introduction["subject"] for name in names)
    assert introduction["text"].startswith("Dear ") and "/program" in introduction["text"]
    assert " &amp; " in introduction["html"] and re.search(r'<a href="http://[^"]+/program">', introduction["html"])
    assert "only the committee reads it" in introduction["html"]  # inside the mail layout


def test_a_schedule_change_moves_the_first_date_of_new_pairings_only(client, committee_cookie):
    from chalicelib.services.pairings import get_pairing

    before = get_pairing(approve_one_pair(client, committee_cookie)["id"])
    assert (before.next_due_at - before.introduced_at).days == 14
    document = get_settings(client, committee_cookie)
    changed(client, committee_cookie, schedule={**document["schedule"], "kickoff_day": 5, "checkin_every_days": 30})
    after = get_pairing(approve_one_pair(client, committee_cookie)["id"])
    assert (after.next_due_at - after.introduced_at).days == 5 and after.next_due == "kickoff_due"
    assert get_pairing(before.id).next_due_at == before.next_due_at  # a running pair keeps its dates


def test_the_schedule_editor_names_the_problem_and_keeps_what_was_typed(client, committee_cookie):
    values = {name: ", ".join(map(str, value)) if isinstance(value, list) else str(value)
              for name, value in Schedule().to_dict().items()}
    body = form_body({**values, "csrf_token": csrf_of(client, committee_cookie), "cohort": open_cohort().id,
                      "version": "0", "kickoff_day": "two weeks", "feedback_day": "400"})
    answer = client.http.post("/admin/settings/schedule", headers={**FORM, "Cookie": committee_cookie}, body=body)
    html = answer.body.decode()
    assert answer.status_code == 400 and 'value="two weeks"' in html and "Give a whole number" in html
    assert list(SettingsVersion.scan()) == []


def test_script_in_the_guidelines_is_removed_from_the_program_page(client, committee_cookie):
    changed(client, committee_cookie, guidelines=(
        "# Our program\n\n<script>alert('stolen')</script>\n\n<img src=x onerror=\"alert(1)\">\n\n"
        "[Click](javascript:alert(2)) and <a href=\"javascript:alert(3)\">this</a>\n"))
    page = client.http.get("/program")
    html = page.body.decode()
    assert page.status_code == 200 and "<h1>Our program</h1>" in html
    assert "<script" not in html.lower()
    assert "stolen" not in html and "onerror" not in html and 'href="javascript' not in html
    assert 'href="/program"' in client.http.get("/apply").body.decode()


def test_the_default_program_page_is_the_program_description(client):
    html = client.http.get("/program").body.decode()
    assert "<h2>What is mentoring?</h2>" in html and "committee@example.org" in html
    assert '<a href="https://hbr.org/2015/01/the-art-of-giving-and-receiving-advice"' in html


def test_the_form_follows_the_topics_and_questions_and_records_its_version(client, committee_cookie):
    document = get_settings(client, committee_cookie)
    old = client.http.post("/apply", headers=FORM, body=form_body(valid_answers(interests=["technology"])))
    assert old.status_code == 303
    topics = [{**topic, "retired": topic["value"] == "technology"} for topic in document["interests"]]
    topics.append({"value": "grant_writing", "label": "Grant writing", "retired": False})
    question = {**MATCHING_QUESTION, "matching": None, "asked": "mentees", "hint": "Pick one."}
    changed(client, committee_cookie, interests=topics, questions=[question])
    html = client.http.get("/apply").body.decode()
    assert 'value="grant_writing"' in html and 'value="technology"' not in html
    assert "Which library system do you work with?" in html and 'class="for-mentee"' in html
    refused = client.http.post("/apply", headers=FORM, body=form_body(valid_answers(
        email="new@example.org", membership_id="KLA-77", interests=["technology"])))
    page = refused.body.decode()
    assert refused.status_code == 400 and "Choose only from the listed options" in page
    assert "Choose an answer to \u201cWhich library system do you work with?\u201d" in page
    accepted = client.http.post("/apply", headers=FORM, body=form_body(valid_answers(
        email="new@example.org", membership_id="KLA-77", interests=["grant_writing"], library_system="alma")))
    assert accepted.status_code == 303
    by_email = {application.email: application for application in Application.scan()}
    assert by_email["jo.reader@example.org"].form_version == 0  # answered the defaults
    assert by_email["new@example.org"].form_version == 1 and by_email["new@example.org"].answers["library_system"] == "alma"
    changed(client, committee_cookie, questions=[{**question, "label": "Your integrated library system"}])
    new_page = client.http.get(f"/admin/applications/{by_email['new@example.org'].id}", headers={"Cookie": committee_cookie})
    assert "Which library system do you work with?" in new_page.body.decode() and "<td>Alma</td>" in new_page.body.decode()
    old_page = client.http.get(f"/admin/applications/{by_email['jo.reader@example.org'].id}",
                               headers={"Cookie": committee_cookie}).body.decode()
    assert "<td>Technology</td>" in old_page and "library system" not in old_page


def test_settings_are_read_once_per_request(client, committee_cookie, monkeypatch):
    changed(client, committee_cookie, questions=[{**MATCHING_QUESTION, "matching": None}])
    reads = []
    original = settings_store._latest
    monkeypatch.setattr(settings_store, "_latest", lambda cohort_id: reads.append(cohort_id) or original(cohort_id))
    for _ in range(2):
        client.http.post("/apply", headers=FORM, body=form_body(valid_answers(email="x@example.org", library_system="x")))
    assert len(reads) == 2  # one read per request, however many fields and pages use them
    approve_one_pair(client, committee_cookie)
    reads.clear()
    client.http.post("/admin/api/matching/proposal", headers={**JSON, "Cookie": committee_cookie}, body=b"{}")
    assert len(reads) == 1


# --- Matching on the committee's questions -------------------------------------------------------

def record(role: str, id: str, system: str | None = None, **overrides) -> dict:
    record = {"id": id, "role": role, "name": f"{role} {id}", "library_name": f"Library {id}", "library_type": "public",
              "position": "Librarian", "years_experience": 20 if role == "mentor" else 2,
              "career_stage": "senior" if role == "mentor" else "student", "region": "",
              "interests": ["technology"], "communication": ["email"], "capacity": 1, "cross_type_ok": True,
              "preferred_library_type": "any"}
    if system:
        record["library_system"] = system
    return {**record, **overrides}


def criteria_with(question: dict) -> tuple:
    return settings_document.matching_criteria({**settings_document.defaults(), "questions": [question]})


def test_a_matching_question_changes_the_proposal_and_is_a_reason():
    # Without the question, shared interests pair A with a and B with b; with it, the
    # same library system (weight 100 against the interests' 30) pairs them across.
    mentors = [record("mentor", "A", "alma", interests=["technology"]), record("mentor", "B", "koha", interests=["advocacy"])]
    mentees = [record("mentee", "e1", "koha", interests=["technology"]), record("mentee", "e2", "alma", interests=["advocacy"])]
    plain = matching.propose(mentors, mentees)
    assert {(p.mentor_id, p.mentee_id) for p in plain.pairs} == {("A", "e1"), ("B", "e2")}
    assert not any("library system" in reason for pair in plain.pairs for reason in pair.reasons)
    steered = matching.propose(mentors, mentees, criteria=criteria_with(MATCHING_QUESTION))
    assert {(p.mentor_id, p.mentee_id) for p in steered.pairs} == {("A", "e2"), ("B", "e1")}
    reasons = {(p.mentor_id, p.mentee_id): p.reasons for p in steered.pairs}
    assert 'both answered Alma to "Which library system do you work with?"' in reasons[("A", "e2")]
    assert 'both answered Koha to "Which library system do you work with?"' in reasons[("B", "e1")]
    _, apart = matching.score_pair(mentors[0], mentees[0], criteria=criteria_with(MATCHING_QUESTION))
    assert 'different answers to "Which library system do you work with?": mentor Alma, mentee Koha' in apart


def test_overlapping_answers_score_the_share_and_say_so():
    question = {**MATCHING_QUESTION, "kind": "multiple_choice", "matching": {"rule": "overlap", "weight": 10},
                "choices": [{"value": v, "label": v.title()} for v in ("koha", "alma", "sierra", "folio")]}
    criteria = criteria_with(question)
    only = {name: 0 for name in matching.DEFAULT_WEIGHTS} | {"library_system": 1}
    mentor = record("mentor", "A", None, library_system=["koha", "alma", "folio"])
    mentee = record("mentee", "e1", None, library_system=["koha", "alma", "sierra"])
    score, reasons = matching.score_pair(mentor, mentee, only, criteria)
    assert score == 67 and reasons == ['share 2 of 3 answers to "Which library system do you work with?": Koha and Alma']
    unanswered = matching.score_pair(mentor, record("mentee", "e2"), {**only, "interests": 1}, criteria)
    assert unanswered[0] == 100 and len(unanswered[1]) == 1  # the question leaves the mean when one did not answer


@pytest.mark.parametrize("rule, kind", [("same", "single_choice"), ("overlap", "multiple_choice"), ("same", "multiple_choice")])
def test_the_cohort_matrix_agrees_with_score_pair_with_committee_questions(rule, kind):
    import random

    systems = ["koha", "alma", "sierra"]
    question = {**MATCHING_QUESTION, "kind": kind, "matching": {"rule": rule, "weight": 40},
                "choices": [{"value": v, "label": v.title()} for v in systems]}
    chosen = random.Random(6)

    def answer():
        picks = chosen.sample(systems + ["retired_value"], chosen.randint(0, 3))
        return picks if kind == "multiple_choice" else (picks[0] if picks else None)

    topics = [value for value, _ in INTERESTS][:4] + ["a_new_topic"]
    mentors = [record("mentor", f"m{i}", None, library_system=answer(), interests=chosen.sample(topics, 2))
               for i in range(6)]
    mentees = [record("mentee", f"e{i}", None, library_system=answer(), interests=chosen.sample(topics, 2))
               for i in range(8)]
    labels = {value: label.lower() for value, label in INTERESTS} | {"a_new_topic": "a new topic"}
    criteria = (*(matching.interests_criterion(labels) if c.name == "interests" else c for c in matching.CRITERIA),
                *criteria_with(question)[len(matching.CRITERIA):])
    built = matching._Cohort.build(mentors, mentees, None, (), (), criteria)
    matrix = built.pair_scores()
    for row, mentee in enumerate(built.free_mentees):
        for column, mentor in enumerate(built.mentors):
            expected, _ = matching._score_pair(mentor, mentee, built.weights, built.forbidden, criteria)
            assert matrix[row, column] == (matching.BLOCKED if expected is None else expected)
    assert any("to \"Which library system" in reason for pair in matching.propose(mentors, mentees, criteria=criteria).pairs
               for reason in pair.reasons)


def test_a_custom_topic_is_matched_and_named_in_the_reasons():
    labels = {value: label.lower() for value, label in INTERESTS} | {"grant_writing": "grant writing"}
    criteria = tuple(matching.interests_criterion(labels) if c.name == "interests" else c for c in matching.CRITERIA)
    mentor = record("mentor", "A", interests=["grant_writing", "technology"])
    mentee = record("mentee", "e1", interests=["grant_writing"])
    score, reasons = matching.score_pair(mentor, mentee, {"interests": 1, **{n: 0 for n in matching.DEFAULT_WEIGHTS if n != "interests"}}, criteria)
    assert score == 100 and reasons == ["mentor covers the mentee's interest: grant writing"]


def test_the_proposal_api_explains_a_committee_question(client, committee_cookie):
    from chalicelib.services.intake import create_application
    from chalicelib.services.membership import replace_roster
    from chalicelib.domain.roster import RosterRow
    from chalicelib.domain.validation import validate_application

    changed(client, committee_cookie, questions=[MATCHING_QUESTION])
    cohort = open_cohort().id
    fields = settings_document.application_fields(settings_store.current(cohort).document)
    people = [valid_answers("mentor", library_system="alma"),
              valid_answers("mentee", library_system="alma", library_name="Another library")]
    replace_roster([RosterRow(p["membership_id"], p["email"], p["name"], None) for p in people], by="test")
    for answers in people:
        submitted = {name: value if isinstance(value, list) else [value] for name, value in answers.items()}
        create_application(cohort, validate_application(submitted, fields), confirmed=True, form_version=1)
    proposal = client.http.post("/admin/api/matching/proposal", headers={**JSON, "Cookie": committee_cookie}, body=b"{}")
    [pair] = proposal.json_body["pairs"]
    assert 'both answered Alma to "Which library system do you work with?"' in pair["reasons"]
    page = client.http.get("/admin/matching", headers={"Cookie": committee_cookie}).body.decode()
    assert "both answered Alma to &#34;Which library system do you work with?&#34;" in page


# --- The feedback and evaluation questions ---------------------------------------------------

def test_the_feedback_form_asks_the_committees_feedback_questions(client, committee_cookie):
    from chalicelib.adapters.aws import signing_key
    from chalicelib.domain import clock, tokens
    from chalicelib.domain.lifecycle import ResponseKind

    document = get_settings(client, committee_cookie)
    extra = {"name": "best_moment", "label": "What was the best moment so far?", "kind": "long_text", "required": True,
             "asked": "mentees", "hint": "", "choices": [], "matching": None}
    changed(client, committee_cookie, feedback_questions=document["feedback_questions"] + [extra])
    pairing = approve_one_pair(client, committee_cookie)
    mentee_token = tokens.make_reply_token(signing_key(), tokens.ReplyAddress(pairing["id"], "mentee", ResponseKind.FEEDBACK), clock.now())
    mentor_token = tokens.make_reply_token(signing_key(), tokens.ReplyAddress(pairing["id"], "mentor", ResponseKind.FEEDBACK), clock.now())
    assert "What was the best moment so far?" in client.http.get(f"/respond/{mentee_token}").body.decode()
    assert "What was the best moment so far?" not in client.http.get(f"/respond/{mentor_token}").body.decode()
    evaluation = tokens.make_reply_token(signing_key(), tokens.ReplyAddress(pairing["id"], "mentee", ResponseKind.EVALUATION), clock.now())
    assert "best moment" not in client.http.get(f"/respond/{evaluation}").body.decode()


def test_exports_carry_the_committees_questions_and_answers_to_removed_ones(client, committee_cookie):
    question = {**MATCHING_QUESTION, "matching": None, "asked": "mentees"}
    changed(client, committee_cookie, questions=[question])
    client.http.post("/apply", headers=FORM, body=form_body(valid_answers(library_system="alma")))
    changed(client, committee_cookie, questions=[])  # the committee drops the question later
    csv_text = client.http.get("/admin/api/export/applications.csv", headers={"Cookie": committee_cookie}).body.decode("utf-8-sig")
    header, row = csv_text.splitlines()[:2]
    assert "library_system" in header.split(",")
    assert row.split(",")[header.split(",").index("library_system")] == "alma"
