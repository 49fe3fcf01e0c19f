"""The intake routes through Chalice's test client, as API Gateway calls them."""
import json
import re
from html.parser import HTMLParser

import pytest

from chalicelib.adapters.models import Application, Claim, OutboxMail
from chalicelib.domain.schema import FIELDS
from tests.helpers import form_body, sent_mail, valid_answers

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


class FormReader(HTMLParser):
    """Collects labels, inputs and fieldset legends, as assistive technology sees them."""

    def __init__(self):
        super().__init__()
        self.label_targets, self.inputs, self.fieldsets, self.legends = set(), [], 0, 0
        self.values, self.checked, self.textareas, self._textarea = {}, set(), {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label" and "for" in attrs:
            self.label_targets.add(attrs["for"])
        if tag in ("input", "select", "textarea"):
            self.inputs.append(attrs)
            if "checked" in attrs:
                self.checked.add((attrs["name"], attrs["value"]))
            if tag == "input" and attrs.get("type") in ("text", "email"):
                self.values[attrs["name"]] = attrs.get("value")
        if tag == "textarea":
            self._textarea = attrs["name"]
            self.textareas[self._textarea] = ""
        self.fieldsets += tag == "fieldset"
        self.legends += tag == "legend"

    def handle_data(self, data):
        if self._textarea:
            self.textareas[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    return reader


def test_the_form_has_a_label_for_every_control_and_fieldsets(client):
    answer = client.http.get("/apply")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    html = answer.body.decode()
    form = read_form(html)
    assert all(control["id"] in form.label_targets for control in form.inputs)
    assert {control["name"] for control in form.inputs} == {field.name for field in FIELDS}
    assert form.fieldsets >= 6 and form.legends == form.fieldsets
    assert 'name="viewport"' in html
    assert html.index('name="role"') < html.index('name="name"')  # the role comes first


def test_a_valid_form_redirects_to_the_thanks_page(client):
    answer = client.http.post("/apply", headers=FORM, body=form_body(valid_answers()))
    assert answer.status_code == 303 and answer.headers["Location"] == "/apply/thanks"
    thanks = client.http.get("/apply/thanks")
    assert thanks.status_code == 200 and b"What happens next" in thanks.body
    assert len(list(Application.scan())) == 1


def test_an_invalid_form_is_shown_again_with_everything_kept_and_each_error_beside_its_field(client):
    answers = valid_answers(email="not-an-address", years_experience="many", comments="Line one\nLine <two>")
    answer = client.http.post("/apply", headers=FORM, body=form_body(answers))
    assert answer.status_code == 400
    html = answer.body.decode()
    form = read_form(html)
    assert form.values["email"] == "not-an-address" and form.values["name"] == "Jo Reader"
    assert form.values["years_experience"] == "many"
    assert form.textareas["comments"].strip() == "Line one\nLine <two>"
    assert {("interests", "technology"), ("communication", "video"), ("role", "mentee")} <= form.checked
    assert 'class="error-summary"' in html and 'href="#field-email"' in html and 'href="#field-years_experience"' in html
    assert re.search(r'id="error-email"[^>]*>.*Enter an email address', html)
    assert 'aria-describedby="hint-email error-email"' in html
    assert list(Application.scan()) == []


def test_script_in_a_field_is_stored_as_text_and_escaped_on_output(client):
    attack = '<script>alert("x")</script>'
    answer = client.http.post("/apply", headers=FORM, body=form_body(valid_answers(name=attack, years_experience="x")))
    assert attack not in answer.body.decode() and "&lt;script&gt;" in answer.body.decode()
    client.http.post("/apply", headers=FORM, body=form_body(valid_answers(name=attack)))
    [stored] = list(Application.scan())
    assert stored.answers["name"] == attack
    assert attack not in sent_mail()[0]["html"]


def test_json_applications_answer_201_with_id_and_status(client):
    answers = valid_answers("mentor")
    answers.update(capacity=3, cross_type_ok=True, years_experience=15)
    answer = client.http.post("/api/applications", headers=JSON, body=json.dumps(answers).encode())
    assert answer.status_code == 201
    document = answer.json_body
    assert document["status"] == "pending_verification"
    assert Application.get(document["id"]).answers["capacity"] == 3


def test_invalid_json_applications_answer_400_with_errors_by_field(client):
    answer = client.http.post("/api/applications", headers=JSON, body=json.dumps({"role": "mentee"}).encode())
    assert answer.status_code == 400
    assert {"name", "email", "goals"} <= set(answer.json_body["errors"])


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
def test_malformed_json_answers_400_with_a_message(client, body):
    answer = client.http.post("/api/applications", headers=JSON, body=body)
    assert answer.status_code == 400 and answer.json_body["errors"]["_body"]


@pytest.mark.parametrize("path,content_type", [("/api/applications", "text/plain"),
                                               ("/api/applications", "application/x-www-form-urlencoded"),
                                               ("/apply", "application/json")])
def test_a_wrong_content_type_answers_415(client, path, content_type):
    answer = client.http.post(path, headers={"Content-Type": content_type}, body=b"{}")
    assert answer.status_code == 415


@pytest.mark.parametrize("path,headers", [("/api/applications", JSON), ("/apply", FORM)])
def test_a_body_over_64_kb_answers_413(client, path, headers):
    body = json.dumps({"comments": "x" * 70_000}).encode() if headers is JSON else b"comments=" + b"x" * 70_000
    answer = client.http.post(path, headers=headers, body=body)
    assert answer.status_code == 413
    assert list(Application.scan()) == []


def test_following_the_confirmation_link_confirms_and_twice_is_harmless(client):
    client.http.post("/apply", headers=FORM, body=form_body(valid_answers()))
    link = re.search(r"https?://[^/\s]+(/confirm/[a-z0-9]+)", sent_mail()[0]["text"]).group(1)
    first, second = client.http.get(link), client.http.get(link)
    assert first.status_code == second.status_code == 200
    assert b"confirmed" in first.body
    [stored] = list(Application.scan())
    assert stored.email_confirmed_at is not None


@pytest.mark.parametrize("token", ["abc", "a" * 53, "zzzz-not-base32"])
def test_a_forged_confirmation_link_gets_a_friendly_400_page(client, token):
    answer = client.http.get(f"/confirm/{token}")
    assert answer.status_code == 400 and b"could not confirm" in answer.body


def test_an_applicant_who_already_confirmed_is_told_why_a_second_application_is_refused(client):
    client.http.post("/apply", headers=FORM, body=form_body(valid_answers()))
    link = re.search(r"(/confirm/[a-z0-9]+)", sent_mail()[0]["text"]).group(1)
    client.http.get(link)
    again = client.http.post("/apply", headers=FORM, body=form_body(valid_answers()))
    assert again.status_code == 409 and b"already applied" in again.body
    as_json = client.http.post("/api/applications", headers=JSON, body=json.dumps(valid_answers()).encode())
    assert as_json.status_code == 409 and "already applied" in as_json.json_body["errors"]["email"]


def test_an_unexpected_failure_is_a_calm_503_without_a_stack_trace(client, monkeypatch):
    from chalicelib.pages import apply

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(apply, "open_cohort", broken)
    answer = client.http.get("/apply", headers={"Accept": "text/html"})
    assert answer.status_code == 503
    assert b"try again" in answer.body and b"Traceback" not in answer.body and b"on fire" not in answer.body


def test_every_page_sends_security_headers(client):
    answer = client.http.get("/apply")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_nothing_is_half_written_when_the_mail_cannot_be_queued(client, monkeypatch):
    from chalicelib.services import mail

    def unrenderable(*args, **kwargs):
        raise RuntimeError("template missing")

    monkeypatch.setattr(mail, "compose", unrenderable)
    answer = client.http.post("/apply", headers=FORM, body=form_body(valid_answers()))
    assert answer.status_code == 503
    assert list(Application.scan()) == [] and [c.key for c in Claim.scan()] == ["cohort#accepting"] and list(OutboxMail.scan()) == []
