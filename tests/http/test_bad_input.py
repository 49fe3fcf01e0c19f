"""Issue 13's findings, each reproduced: bad input from anyone, the committee included,
gets a clear answer and breaks nothing."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import ThreadingHTTPServer
from unittest import mock
from urllib.parse import quote

import pytest

from chalicelib.adapters.models import Alert, Application, AuditEntry, OutboxMail, Pairing, SettingsVersion
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import clock, limits, mail_catalogue, settings_document, settings_validation, templating
from chalicelib.pages.web import SECURITY_HEADERS
from chalicelib.services import mail, settings_store, workflow
from chalicelib.services.pairings import get_pairing
from tests.helpers import COMMITTEE_EMAIL, csrf_of, form_body, send_sign_in_links, sent_mail, sign_in, valid_answers
from tests.helpers.workflow import approved_pairs

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HUGE = "{{ 'x' * 1000000 }}"
NESTED_OVER_THE_NAME = ("{% for a in application.name %}{% for b in application.name %}{% for c in application.name %}"
                        "x{% endfor %}{% endfor %}{% endfor %}")


def settings_of(client, cookie) -> dict:
    return client.http.get("/admin/api/settings", headers={"Cookie": cookie}).json_body


def put_settings(client, cookie, document: dict, headers=JSON):
    return client.http.put("/admin/api/settings", headers={**headers, "Cookie": cookie}, body=json.dumps(document).encode())


def with_mail(document: dict, name: str, body: str, subject: str = "Hello") -> dict:
    return {**document, "mail": {**document["mail"], name: {"subject": subject, "body": body}}}


def saved_without_the_check(name: str, body: str) -> None:
    """A committee text that got past the save-time check (saved before it existed, say)."""
    document = with_mail(settings_document.defaults(), name, body)
    SettingsVersion(cohort=open_cohort().id, version=1, document=document, saved_by=COMMITTEE_EMAIL,
                    saved_at=clock.now()).save()
    settings_store.forget()


def stored() -> dict:
    """Every item in every table, to show that a refused request wrote nothing."""
    from chalicelib.adapters.models import ALL_MODELS

    return {model.__name__: sorted(json.dumps(item.serialize(), sort_keys=True, default=str) for item in model.scan())
            for model in ALL_MODELS}


# 1. A committee mail text can no longer take intake and sign-in down.

@pytest.mark.parametrize("name", ["confirm_application", "sign_in"])
def test_a_mail_text_that_would_be_a_megabyte_is_refused_when_saved(client, committee_cookie, name):
    answer = put_settings(client, committee_cookie, with_mail(settings_of(client, committee_cookie), name, HUGE))
    assert answer.status_code == 400
    assert "100 KB" in answer.json_body["errors"][f"mail.{name}.body"]
    assert list(SettingsVersion.scan()) == []


def test_loops_that_pass_on_the_short_sample_name_are_refused_on_the_longest_name_the_form_allows(client, committee_cookie):
    sample_only = mail_catalogue.mail_sample("confirm_application")
    assert len(templating.render_committee(templating.committee_template(NESTED_OVER_THE_NAME), sample_only)) == 9 ** 3  # "Jo Reader"
    answer = put_settings(client, committee_cookie,
                          with_mail(settings_of(client, committee_cookie), "confirm_application", NESTED_OVER_THE_NAME))
    assert answer.status_code == 400
    assert "loops" in answer.json_body["errors"]["mail.confirm_application.body"]


def test_the_editor_refuses_a_huge_text_beside_its_field(client, committee_cookie):
    body = form_body({"csrf_token": csrf_of(client, committee_cookie), "cohort": open_cohort().id, "version": "0",
                      "mail": "sign_in", "action": "save", "subject": "Sign in", "body": HUGE})
    answer = client.http.post("/admin/settings/mail", headers={**FORM, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 400 and "100 KB" in answer.body.decode()
    assert list(SettingsVersion.scan()) == []


@pytest.mark.parametrize("body", [HUGE, NESTED_OVER_THE_NAME, "{{ application.name.split('x') * 100000 }}"])
def test_intake_works_and_the_committee_is_told_when_a_stored_text_fails_at_send_time(client, body):
    saved_without_the_check("confirm_application", body)
    answer = client.http.post("/api/applications", headers=JSON,
                              body=json.dumps(valid_answers(name="J" * 200)).encode())
    assert answer.status_code == 201
    [confirmation] = sent_mail()
    assert "confirm" in confirmation["text"].lower() and "xxxxxxxx" not in confirmation["text"]  # the system's own text
    [alert] = [alert for alert in Alert.scan() if alert.kind == mail.TEXT_FAILED]
    assert "Application confirmation" in alert.text and alert.digest == Alert.PENDING
    client.http.post("/api/applications", headers=JSON, body=json.dumps(valid_answers(email="b@example.org")).encode())
    assert len([alert for alert in Alert.scan() if alert.kind == mail.TEXT_FAILED]) == 1  # once a day, not each mail


def test_members_can_sign_in_when_the_stored_sign_in_text_fails(client):
    saved_without_the_check("sign_in", HUGE)
    cookie = sign_in(client)
    assert client.http.get("/admin", headers={"Cookie": cookie}).status_code == 200


@pytest.mark.parametrize("source, problem", [
    ("{% set s = application.name %}{{ s }}", "not"),
    ("{% macro m() %}x{% endmacro %}{{ m() }}", "not"),
    ("{% for a in application.interests recursive %}{{ loop(application.interests) }}{% endfor %}", "recursive"),
    ("{{ '%09999999d' % 1 }}", "%"),
    ("{{ 9 ** 99999 }}", "large"),
    ("{{ application.name | replace('', application.goals) }}", "100 KB"),
    ("{{ application.name.ljust(99999999) }}", "unsafe"),
    ("{{ '{:>999999999}'.format(1) }}", "format"),
    ("{{ application.interests | join(application.goals * 40) }}", "100 KB"),
])
def test_a_committee_template_cannot_build_anything_past_its_limits(source, problem):
    from jinja2 import TemplateSyntaxError
    from jinja2.exceptions import SecurityError

    worst = templating.worst_case(mail_catalogue.mail_sample("confirm_application"))
    with pytest.raises((TemplateSyntaxError, SecurityError, templating.TemplateLimit)) as refused:
        templating.render_committee(templating.committee_template(source), worst)
    assert problem in str(refused.value)


def test_the_worst_case_is_as_large_as_the_form_allows_and_every_default_mail_renders_within_the_limits():
    worst = templating.worst_case(mail_catalogue.mail_sample("introduction"))
    assert len(worst["mentor"]["name"]) == 200 and len(worst["mentee"]["goals"]) == 2000
    assert len(worst["mentor"]["name"].encode()) == 800
    assert len(worst["mentee"]["interests"]) == limits.MAX_TOPICS
    assert len(templating.worst_case(mail_catalogue.mail_sample("committee_digest"))["alerts"]) == limits.DIGEST_ALERTS
    settings_validation.validate(settings_document.defaults())  # the system's own texts pass their own check


def test_a_mail_within_its_limits_fits_the_outbox_whatever_its_characters():
    text = templating.WIDEST_CHARACTER * (templating.OUTPUT_LIMIT // 4)
    composed = mail.Mail(template="x", to=("a@example.org",), subject="s", text=text, html=text)
    assert len(mail.to_mime(composed, "m@example.org", clock.now())) < 300_000  # an item holds 400 KB


def test_a_settings_part_with_no_name_is_refused_as_the_body(client, committee_cookie):
    answer = put_settings(client, committee_cookie, {**settings_of(client, committee_cookie), "": None})
    assert answer.status_code == 400 and "Unknown part" in answer.json_body["errors"]["_body"]


# 2. A lone surrogate, a NUL or another control character is refused at the edge, by field.

def test_a_lone_surrogate_in_the_guidelines_is_refused_and_the_program_page_stays_up(client, committee_cookie):
    document = settings_of(client, committee_cookie)
    body = json.dumps({**document, "guidelines": "# Welcome \ud800"}).encode()  # json escapes it as \ud800
    answer = client.http.put("/admin/api/settings", headers={**JSON, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 400 and "U+D800" in answer.json_body["errors"]["guidelines"]
    assert list(SettingsVersion.scan()) == []
    assert client.http.get("/program").status_code == 200


def test_the_guidelines_editor_names_the_field_holding_a_lone_surrogate(client, committee_cookie):
    body = (f"csrf_token={csrf_of(client, committee_cookie)}&cohort={open_cohort().id}&version=0&action=save"
            "&guidelines=%23%20Hi%20%ED%A0%80").encode()  # the UTF-8 bytes of a surrogate, percent-encoded
    answer = client.http.post("/admin/settings/guidelines", headers={**FORM, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 400 and "guidelines" in answer.body.decode()
    assert list(SettingsVersion.scan()) == []
    assert client.http.get("/admin/settings/guidelines", headers={"Cookie": committee_cookie}).status_code == 200


@pytest.mark.parametrize("text", ["Jo\x00Reader", "Jo\x1bReader", "Jo\ud83dReader"])
def test_control_characters_and_surrogates_in_an_application_are_refused_by_field(client, text):
    answer = client.http.post("/api/applications", headers=JSON, body=json.dumps(valid_answers(name=text)).encode())
    assert answer.status_code == 400 and list(answer.json_body["errors"]) == ["name"]
    form = client.http.post("/apply", headers=FORM, body=f"name={quote(text, errors='surrogatepass')}".encode())
    assert form.status_code == 400 and "name" in form.body.decode()
    assert list(Application.scan()) == []


def test_tabs_and_newlines_in_long_text_are_kept(client):
    answer = client.http.post("/api/applications", headers=JSON,
                              body=json.dumps(valid_answers(goals="One\tgoal\r\nAnother")).encode())
    assert answer.status_code == 201
    assert Application.get(answer.json_body["id"]).answers["goals"] == "One\tgoal\nAnother"


# 3. Numbers and texts out of range get a 400 that names the limit.

@pytest.fixture
def pairing_and_cookie(client):
    [pairing] = approved_pairs(1)
    return pairing, sign_in(client)


def act(client, cookie, pairing_id, document, headers=JSON):
    return client.http.post(f"/admin/api/pairings/{pairing_id}/actions", headers={**headers, "Cookie": cookie},
                            body=json.dumps(document).encode())


@pytest.mark.parametrize("days", [10 ** 9, 99999999999, 0, 366, -1, "²", "12x", 2.5, True])
def test_an_extension_outside_1_to_365_days_is_refused(client, pairing_and_cookie, days):
    pairing, cookie = pairing_and_cookie
    answer = act(client, cookie, pairing.id, {"action": "extend", "days": days})
    assert answer.status_code == 400 and "365" in answer.json_body["errors"]["days"]
    assert get_pairing(pairing.id).version == pairing.version


def test_an_extension_of_365_days_is_made(client, pairing_and_cookie):
    pairing, cookie = pairing_and_cookie
    assert act(client, cookie, pairing.id, {"action": "extend", "days": 365}).status_code == 200
    assert get_pairing(pairing.id).extension_days == 365


def test_the_pairing_form_refuses_an_extension_of_a_superscript_two(client, pairing_and_cookie):
    pairing, cookie = pairing_and_cookie
    body = f"csrf_token={csrf_of(client, cookie)}&action=extend&days=%C2%B2".encode()
    answer = client.http.post(f"/admin/pairings/{pairing.id}", headers={**FORM, "Cookie": cookie}, body=body)
    assert answer.status_code == 400 and "365" in answer.body.decode()


def test_a_reason_over_2000_characters_is_refused_and_2000_are_kept(client, pairing_and_cookie):
    pairing, cookie = pairing_and_cookie
    refused = act(client, cookie, pairing.id, {"action": "pause", "reason": "r" * 60_000})
    assert refused.status_code == 400 and "2,000" in refused.json_body["errors"]["reason"]
    assert act(client, cookie, pairing.id, {"action": "pause", "reason": "r" * 2000}).status_code == 200
    assert get_pairing(pairing.id).history[-1]["reason"] == "r" * 2000


def test_pausing_again_and_again_with_the_longest_reasons_ends_in_a_409_not_a_5xx(client, pairing_and_cookie):
    pairing, cookie = pairing_and_cookie
    reason = templating.WIDEST_CHARACTER * limits.MAX_REASON  # stored as JSON escapes: 12 characters each
    statuses = [act(client, cookie, pairing.id, {"action": action, "reason": reason}).status_code
                for _ in range(15) for action in ("pause", "resume")]
    assert set(statuses) <= {200, 409} and statuses[-1] == 409
    assert len(json.dumps(get_pairing(pairing.id).history)) <= workflow.MAX_HISTORY_CHARACTERS


@pytest.mark.parametrize("capacity, status", [(0, 400), (11, 400), ("3.0", 400), (10, 200)])
def test_a_mentors_capacity_is_from_1_to_10(client, committee_cookie, capacity, status):
    mentor = client.http.post("/api/applications", headers=JSON, body=json.dumps(valid_answers("mentor")).encode())
    answer = client.http.post(f"/admin/api/applications/{mentor.json_body['id']}",
                              headers={**JSON, "Cookie": committee_cookie},
                              body=json.dumps({"action": "set_capacity", "capacity": capacity}).encode())
    assert answer.status_code == status
    if status == 400:
        assert "1 to 10" in answer.json_body["errors"]["capacity"]


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e999}'])
def test_json_numbers_beyond_a_float_are_refused(client, committee_cookie, body):
    answer = client.http.post("/admin/api/matching/proposal", headers={**JSON, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 400 and "_body" in answer.json_body["errors"]


# 4. The JSON API takes only JSON, and no change comes from another site.

def mentor_and_capacity(client):
    mentor = client.http.post("/api/applications", headers=JSON, body=json.dumps(valid_answers("mentor")).encode())
    return mentor.json_body["id"], lambda: Application.get(mentor.json_body["id"]).answers["capacity"]


@pytest.mark.parametrize("content_type", ["text/plain; application/json", "text/plain, application/json",
                                          "application/json, text/plain", None, "application/jsonx",
                                          "application/json; charset=latin-1"])
def test_a_change_sent_as_anything_but_json_is_refused_with_415(client, committee_cookie, content_type):
    application_id, capacity = mentor_and_capacity(client)
    headers = {"Cookie": committee_cookie, "Origin": "https://evil.example"}
    if content_type:
        headers["Content-Type"] = content_type
    answer = client.http.post(f"/admin/api/applications/{application_id}", headers=headers,
                              body=b'{"action": "set_capacity", "capacity": 1}')
    assert answer.status_code == 415 and "Content-Type" in answer.json_body["errors"]
    assert capacity() == 2


def test_an_erasure_with_no_content_type_is_refused(client, committee_cookie):
    client.http.post("/api/applications", headers=JSON, body=json.dumps(valid_answers()).encode())
    answer = client.http.post("/admin/api/people/erase", headers={"Cookie": committee_cookie},
                              body=b'{"email": "jo.reader@example.org"}')
    assert answer.status_code == 415 and len(list(Application.scan())) == 1


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_with_or_without_its_charset_is_accepted(client, committee_cookie, content_type):
    application_id, capacity = mentor_and_capacity(client)
    answer = client.http.post(f"/admin/api/applications/{application_id}",
                              headers={"Content-Type": content_type, "Cookie": committee_cookie},
                              body=b'{"action": "set_capacity", "capacity": 3}')
    assert answer.status_code == 200 and capacity() == 3


@pytest.mark.parametrize("headers, named", [({"Origin": "https://evil.example"}, "Origin"),
                                            ({"Origin": "null"}, "Origin"),
                                            ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site")])
def test_a_json_change_from_another_site_is_refused_with_403(client, committee_cookie, headers, named):
    application_id, capacity = mentor_and_capacity(client)
    answer = client.http.post(f"/admin/api/applications/{application_id}", headers={**JSON, **headers, "Cookie": committee_cookie},
                              body=b'{"action": "set_capacity", "capacity": 1}')
    assert answer.status_code == 403 and named in answer.json_body["errors"]
    assert capacity() == 2


def test_a_form_from_another_site_is_refused_even_with_the_token(client, committee_cookie):
    before = stored()
    body = f"email=intruder%40example.org&csrf_token={csrf_of(client, committee_cookie)}".encode()
    answer = client.http.post("/admin/committee/add", headers={**FORM, "Cookie": committee_cookie,
                                                               "Origin": "https://evil.example"}, body=body)
    assert answer.status_code == 403 and stored() == before


def test_a_form_token_in_any_alphabet_is_refused_with_403_not_a_failure(client, committee_cookie):
    answer = client.http.post("/admin/committee/add", headers={**FORM, "Cookie": committee_cookie},
                              body="email=a%40example.org&csrf_token=%C3%A9t%C3%A9".encode())
    from chalicelib.adapters.models import CommitteeMember

    assert answer.status_code == 403 and list(CommitteeMember.scan()) == []


def test_a_sign_in_request_from_another_site_records_nothing(client):
    answer = client.http.post("/admin/login", headers={**FORM, "Sec-Fetch-Site": "cross-site"},
                              body=b"email=committee%40example.org")
    assert answer.status_code == 403 and list(OutboxMail.scan()) == []


def test_the_apps_own_origin_and_same_origin_fetches_pass(client, committee_cookie):
    application_id, capacity = mentor_and_capacity(client)
    headers = {**JSON, "Cookie": committee_cookie, "Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"}
    answer = client.http.post(f"/admin/api/applications/{application_id}", headers=headers,
                              body=b'{"action": "set_capacity", "capacity": 1}')
    assert answer.status_code == 200 and capacity() == 1


# 5. Sign-in takes the same path for members and strangers (bench/sign_in_timing.py times it).

def calls_made(client, email: str) -> list[tuple]:
    from pynamodb.connection.base import Connection

    made, real = [], Connection._make_api_call

    def record(self, operation, arguments, *args, **kwargs):
        made.append((operation, arguments.get("TableName")))
        return real(self, operation, arguments, *args, **kwargs)

    with mock.patch.object(Connection, "_make_api_call", record):
        answer = client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": email}).encode())
    return [answer.status_code, answer.body, *made]


def test_a_member_and_a_stranger_cost_the_same_calls_and_get_the_same_answer(client):
    assert calls_made(client, COMMITTEE_EMAIL) == calls_made(client, "nobody@example.org")
    assert sent_mail() == []
    assert send_sign_in_links() == 1 and [m["to"] for m in sent_mail()] == [[COMMITTEE_EMAIL]]
    assert list(OutboxMail.pending.query(mail.REQUESTED)) == []  # the stranger's address is not kept


# 6. Every answer carries the security headers, the framework's and the sandbox's too.

def assert_secured(headers) -> None:
    names = {name.lower(): value for name, value in dict(headers).items()}
    for name, value in SECURITY_HEADERS.items():
        assert names.get(name.lower()) == value, name


@pytest.mark.parametrize("method, path, headers", [
    ("DELETE", "/apply", {}),  # Chalice's 405
    ("PUT", "/admin/login", {}),  # its 405 on a route with two methods
    ("POST", "/api/applications", {"Content-Type": "text/plain"}),  # the 415
    ("POST", "/admin/api/pairings", {"Content-Type": "application/json"}),  # the guard's 401
])
def test_the_frameworks_and_the_guards_refusals_carry_the_security_headers(client, method, path, headers):
    answer = client.http.request(method, path, headers=headers, body=b"")
    assert answer.status_code in (401, 405, 415)
    assert_secured(answer.headers)


def test_the_sandboxs_own_403_and_404_carry_the_security_headers(aws):
    import urllib.error
    import urllib.request

    from chalice.config import Config
    from chalice.local import LocalGateway

    from app import app
    from infra.local.sandbox import Sandbox, make_handler

    sandbox = Sandbox(0, None, COMMITTEE_EMAIL, demo=False)
    sandbox.app = app
    sandbox.gateway = LocalGateway(app, Config.create(chalice_stage="local", app_name="mentoring"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(sandbox))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for path, status in (("/no-such-page", 403), ("/_sandbox/no-such-route", 404)):
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(base + path, timeout=30)
            assert answer.value.code == status
            assert_secured(answer.value.headers.items())
    finally:
        server.shutdown()
        server.server_close()


def test_api_gateways_own_answers_carry_the_security_headers():
    from infra.build_template import gateway_responses

    responses = gateway_responses(SECURITY_HEADERS)
    assert {r["Properties"]["ResponseType"] for r in responses.values()} == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        parameters = response["Properties"]["ResponseParameters"]
        assert {f"gatewayresponse.header.{name}" for name in SECURITY_HEADERS} == set(parameters)
        assert all(value.startswith("'") and value.endswith("'") and "'" not in value[1:-1] for value in parameters.values())


# 7. At most 5 sign-in links an hour to one committee address; the answer never changes.

def test_a_sixth_sign_in_request_in_an_hour_gets_the_same_answer_and_no_link(client, fresh_clock):
    fresh_clock.set_offset(fresh_clock.offset() + timedelta(minutes=60 - fresh_clock.now().minute))  # an hour's start
    answers = set()
    for _ in range(6):
        answer = client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": COMMITTEE_EMAIL}).encode())
        answers.add((answer.status_code, answer.body))
    assert len(answers) == 1
    assert send_sign_in_links() == 5 and len(sent_mail()) == 5
    fresh_clock.shift_by(timedelta(hours=1))
    client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": COMMITTEE_EMAIL}).encode())
    assert send_sign_in_links() == 1


def test_the_limit_counts_each_address_apart_and_keeps_no_address(aws):
    from chalicelib.adapters.models import MailQuota
    from chalicelib.services import quota

    assert [quota.allow("sign_in", "a@example.org", 2) for _ in range(3)] == [True, True, False]
    assert quota.allow("sign_in", "B@example.org", 2) and quota.allow("confirm", "a@example.org", 2)
    counters = list(MailQuota.scan())
    assert len(counters) == 3 and not any("example.org" in counter.key for counter in counters)
    assert all(counter.expires_at > clock.now() for counter in counters)


# 8. Arrays and objects where a string is expected are refused, not cut down.

@pytest.mark.parametrize("value", [["a", "b"], ["a"], {"first": "Jo"}, [{"first": "Jo"}]])
def test_an_array_or_object_for_a_text_field_is_refused(client, value):
    answer = client.http.post("/api/applications", headers=JSON, body=json.dumps(valid_answers(name=value)).encode())
    assert answer.status_code == 400 and list(answer.json_body["errors"]) == ["name"]
    assert list(Application.scan()) == []


def test_a_repeated_form_field_is_refused_rather_than_its_first_value_kept(client):
    body = form_body(valid_answers()) + b"&name=Someone+Else"
    answer = client.http.post("/apply", headers=FORM, body=body)
    assert answer.status_code == 400 and list(Application.scan()) == []


@pytest.mark.parametrize("field, value", [("reason", {"why": "x"}), ("reason", ["x"]), ("action", ["dissolve"]),
                                          ("days", [30])])
def test_a_pairing_action_with_an_object_or_array_is_refused_by_field(client, pairing_and_cookie, field, value):
    pairing, cookie = pairing_and_cookie
    document = {"action": "dissolve", "reason": "Not a good fit.", field: value}
    answer = act(client, cookie, pairing.id, document)
    assert answer.status_code == 400 and field in answer.json_body["errors"]
    assert get_pairing(pairing.id).state == pairing.state


def test_a_cohort_id_sent_as_an_object_is_refused(client, committee_cookie):
    answer = client.http.post("/admin/api/cohorts", headers={**JSON, "Cookie": committee_cookie},
                              body=b'{"id": {"year": 2030}, "name": "x"}')
    assert answer.status_code == 400 and "id" in answer.json_body["errors"]
    assert not [entry for entry in AuditEntry.scan() if entry.action == "cohort_opened"]


def test_a_path_parameter_over_its_length_is_refused_by_name(client, committee_cookie):
    answer = client.http.get(f"/admin/api/pairings/{'p' * 600}", headers={"Cookie": committee_cookie})
    assert answer.status_code == 400 and "pairing_id" in answer.json_body["errors"]
    assert not list(Pairing.scan())


def test_a_mentor_given_more_places_than_the_form_offers_keeps_them_all(client, committee_cookie):
    from chalicelib.domain.validation import validate_application
    from chalicelib.services import pairings
    from chalicelib.services.applications import Status
    from chalicelib.services.intake import create_application

    def eligible(role, email, library):
        answers = validate_application({name: value if isinstance(value, list) else [value] for name, value in
                                        valid_answers(role, email=email, library_name=library).items()})
        application = create_application(open_cohort().id, answers, confirmed=True)
        application.update(actions=[Application.status.set(Status.ELIGIBLE)])
        return application

    mentor = eligible("mentor", "pat.mentor@example.org", "College Library")
    url, headers = f"/admin/api/applications/{mentor.id}", {**JSON, "Cookie": committee_cookie}
    assert client.http.post(url, headers=headers, body=b'{"action": "set_capacity", "capacity": 5}').status_code == 200
    mentees = [eligible("mentee", f"mentee{n}@example.org", f"Library {n}") for n in range(4)]
    pairings.approve(COMMITTEE_EMAIL, [pairings.PairRequest(mentor.id, mentee.id) for mentee in mentees])
    assert pairings.taken_slots(mentor.id) == {1, 2, 3, 4}
    lowered = client.http.post(url, headers=headers, body=b'{"action": "set_capacity", "capacity": 3}')
    assert lowered.status_code == 409 and Application.get(mentor.id).answers["capacity"] == 5
