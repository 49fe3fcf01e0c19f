"""Every route that takes a body, fuzzed: found in app.py's route table, so a new route
cannot be left out. Whatever is sent, the answer is never a 5xx, a refused request
writes nothing (no item, no mail), and every 4xx says what to fix, naming the field
that holds a character no text may hold.

FUZZ_EXAMPLES sets the examples per route (a handful by default, for CI; more to hunt).
"""
from __future__ import annotations

import json
import os
import re
from html import escape
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import app
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.models import ALL_MODELS, Application
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import clock, tokens
from chalicelib.domain.lifecycle import ResponseKind
from chalicelib.domain.limits import check_text
from chalicelib.domain.refusals import Invalid
from chalicelib.domain.schema import FIELDS
from chalicelib.domain.validation import validate_application
from chalicelib.pages.admin_settings import EDITORS
from chalicelib.pages.web import BODY_METHODS
from chalicelib.services import pairings, settings_store
from chalicelib.services.applications import Status
from chalicelib.services.intake import create_application
from tests.helpers import COMMITTEE_EMAIL, as_form, csrf_of, sent_mail, sign_in, valid_answers

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
FORM, JSON, CSV, MULTIPART = ("application/x-www-form-urlencoded", "application/json", "text/csv",
                              "multipart/form-data")


def body_routes() -> list[tuple[str, str, tuple[str, ...]]]:
    return [(path, method, tuple(entry.content_types)) for path, methods in sorted(app.routes.items())
            for method, entry in sorted(methods.items()) if method in BODY_METHODS]


ROUTES = body_routes()

# Every name a route reads, so the fuzz reaches past "unknown field".
NAMES = sorted({field.name for field in FIELDS} | {
    "action", "reason", "days", "capacity", "email", "id", "name", "cohort", "confirm", "pairs", "mentor_id",
    "mentee_id", "weights", "locks", "forbids", "version", "guidelines", "mail", "questions", "interests", "schedule",
    "feedback_questions", "evaluation_questions", "csrf_token", "rows", "subject", "body", "lock", "forbid", "pair",
    "lock_mentor", "lock_mentee", "change", "revision", "mentor", "mentee", "who", "rating", "comments", "rematch",
    "row-0-label", "row-0-name", "kickoff_day", "note", "liaison"})
ODD_TEXT = ["", " ", "\ud800", "\udfff", "a\x00b", "\x1b[2J", "\x7f", "\r\n", "\t", "²", "١٢", "9" * 40, "-1",
            "0", "366", "99999999999", "1e999", "é" * 3000, "x" * 60_000, "<script>alert(1)</script>", "{{ 7 * 7 }}",
            "committee@example.org", "jo.reader@example.org", "pause", "resume", "extend", "dissolve",
            "set_capacity", "withdraw", "mark_eligible", "yes", "true", "on", "mentor", "mentee", "save", "preview",
            "reset", "0" * 32, "a:b", "\U0001d54e" * 300]
TEXT = st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=30),
                 st.text(st.characters(exclude_categories=()), max_size=8))  # surrogates and controls too
NUMBER = st.one_of(st.sampled_from([0, 1, 2, 3, 10, 11, 365, 366, -1, 10 ** 9, 99999999999, 10 ** 30]),
                   st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none())
KEY = st.one_of(st.sampled_from(NAMES), TEXT)
JSON_VALUE = st.recursive(st.one_of(TEXT, NUMBER),
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEY, inner, max_size=4),
                          max_leaves=10)


@pytest.fixture
def world(client):
    """A cohort with a pairing, an unpaired mentor, a signed-in member, and the ids and tokens routes take."""
    cohort = open_cohort()
    people = {}
    for role, email, library in (("mentor", "pat.mentor@example.org", "Bluegrass College Library"),
                                 ("mentee", "jo.reader@example.org", "Pine Mountain Public Library"),
                                 ("mentor", "sam.spare@example.org", "Hazard Public Library")):
        answers = validate_application(as_form(valid_answers(role, email=email, library_name=library)))
        application = create_application(cohort.id, answers, confirmed=True)
        application.update(actions=[Application.status.set(Status.ELIGIBLE)])
        people.setdefault(role, []).append(application)
    [pairing] = pairings.approve(COMMITTEE_EMAIL, [pairings.PairRequest(people["mentor"][0].id, people["mentee"][0].id)])
    cookie = sign_in(client)
    reply = tokens.make_reply_token(signing_key(), tokens.ReplyAddress(pairing.id, "mentee", ResponseKind.CHECKIN),
                                    clock.now())
    # The path parameters each route may be given that name something real (a sign-in link has none:
    # it is used once), and some that do not.
    ids = {"application_id": [people["mentor"][1].id, people["mentee"][0].id],
           "pairing_id": [pairing.id], "cohort_id": [cohort.id], "/respond/{token}": [reply],
           "editor": sorted(EDITORS)}
    ids["unknown"] = ["0" * 32, "1999", "a" * 53, reply]
    pair = f"{people['mentor'][1].id}:{people['mentee'][0].id}"
    return {"cookie": cookie, "csrf": csrf_of(client, cookie), "ids": ids, "seeds": seeds(people, pair)}


def seeds(people: dict, pair: str) -> dict[str, dict]:
    """A body each route accepts, to mutate: random bodies rarely get past the first check."""
    mentor, mentee = people["mentor"][1], people["mentee"][0]
    settings_document = settings_store.current(open_cohort().id).as_json()
    return {
        "/api/applications": valid_answers(email="new.applicant@example.org"),
        "/apply": valid_answers(email="new.applicant@example.org"),
        "/admin/api/applications/{application_id}": {"action": "set_capacity", "capacity": 2},
        "/admin/applications/{application_id}": {"action": "set_capacity", "capacity": "2"},
        "/admin/api/pairings/{pairing_id}/actions": {"action": "extend", "days": 30, "reason": "A busy term."},
        "/admin/pairings/{pairing_id}": {"action": "pause", "reason": "A busy term.", "days": ""},
        "/admin/api/pairings/{pairing_id}/concerns/{concern_id}": {"note": "Called them both."},
        "/admin/pairings/{pairing_id}/concerns/{concern_id}": {"note": "Called them both."},
        "/admin/pairings/{pairing_id}/liaison": {"liaison": "committee@example.org"},
        "/admin/api/pairings": {"pairs": [{"mentor_id": mentor.id, "mentee_id": mentee.id}]},
        "/admin/matching/approve": {"pair": pair, "revision": "0"},
        "/admin/matching/review": {"pair": pair, "revision": "0"},
        "/admin/matching/draft": {"change": "never_pair", "pair": pair},
        "/admin/api/matching/draft": {"revision": 0, "forbids": [[mentor.id, mentee.id]]},
        "/admin/api/matching/proposal": {"weights": {"interests": 10}, "locks": [[mentor.id, mentee.id]]},
        "/admin/api/settings": settings_document,
        "/admin/settings/{editor}": {"guidelines": "# Hello", "subject": "Hi", "body": "Dear {{ mentee.name }}",
                                     "mail": "introduction", "action": "preview", "rows": "1", "row-0-label": "A"},
        "/admin/api/cohorts": {"id": "2031", "name": "The 2031 year"},
        "/admin/cohorts/open": {"id": "2031", "name": "The 2031 year"},
        "/admin/cohorts/close": {"cohort": "1999", "confirm": "yes"},
        "/admin/api/people/erase": {"email": "nobody@example.org"},
        "/admin/people/erase": {"email": "nobody@example.org", "confirm": "yes"},
        "/admin/committee/add": {"email": "helper@example.org"},
        "/admin/committee/remove": {"email": "helper@example.org"},
        "/admin/login": {"email": "someone@example.org"},
        "/respond/{token}": {"rating": "1", "comments": "Going well."},
    }


def stored() -> dict:
    return {model.__name__: sorted(json.dumps(item.serialize(), sort_keys=True, default=str) for item in model.scan())
            for model in ALL_MODELS}


def first_refused_text(value, location: str = "_body") -> str | None:
    """Where the edge's text check refuses a document, if anywhere (it walks in the same order,
    and names a field by where it is: "_body" for the request, or for a field's own name)."""
    try:
        if isinstance(value, dict):
            for key, item in value.items():
                check_text(key, "_body")
                found = first_refused_text(item, key or "_body" if location == "_body" else f"{location}.{key}")
                if found:
                    return found
        elif isinstance(value, list):
            for index, item in enumerate(value):
                found = first_refused_text(item, f"{location}[{index}]")
                if found:
                    return found
        elif isinstance(value, str):
            check_text(value, location)
    except Invalid as invalid:
        return next(iter(invalid.errors))
    return None


@st.composite
def requests(draw, path: str, content_types: tuple[str, ...], world: dict):
    """(path, headers, body, where the edge refuses the body's text or None, whether every path
    parameter names something real: only then must a refusal be about the body)."""
    real = []

    def parameter(found) -> str:
        known = world["ids"].get(path if found.group(1) == "token" else found.group(1), [])
        value = draw(st.one_of(st.sampled_from(known), st.sampled_from(world["ids"]["unknown"]),
                               st.text(min_size=1, max_size=40)) if known else
                     st.one_of(st.sampled_from(world["ids"]["unknown"]), st.text(min_size=1, max_size=40)))
        real.append(value in known)
        return quote(value, safe="")

    concrete = re.sub(r"\{(\w+)\}", parameter, path)
    content_type = draw(st.sampled_from(content_types))
    seed = dict(world["seeds"].get(path, {}))
    if content_type == JSON:
        document = draw(st.one_of(
            st.builds(lambda key, value: {**seed, key: value}, st.sampled_from(sorted(seed) or NAMES) | KEY, JSON_VALUE),
            st.dictionaries(KEY, JSON_VALUE, max_size=6), JSON_VALUE))
        body = json.dumps(document).encode("utf-8", "surrogatepass")
        refused_at = first_refused_text(document)
    elif content_type == FORM:
        fields = {key: [str(value)] for key, value in seed.items() if not isinstance(value, (dict, list))}
        for key, values in draw(st.dictionaries(KEY, st.lists(TEXT, min_size=1, max_size=3), max_size=4)).items():
            fields[key] = values
        if draw(st.booleans()) or "csrf_token" not in fields:
            fields["csrf_token"] = [world["csrf"]]
        body = "&".join(f"{quote(key, errors='surrogatepass')}={quote(value, errors='surrogatepass')}"
                        for key, values in fields.items() for value in values).encode()
        refused_at = first_refused_text({key: values[0] if len(values) == 1 else values for key, values in fields.items()})
        # A form names the field, not the value's place (and a fuzzed field's own name may hold "[").
        refused_at = refused_at and next((key for key in sorted(fields, key=len, reverse=True)
                                          if refused_at == key or refused_at.startswith(key + "[")), refused_at)
    elif content_type == CSV:
        body = ("membership_id,email,name\n" + draw(TEXT)).encode("utf-8", "surrogatepass")
        refused_at = None
    else:
        boundary = "fuzzboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{world['csrf']}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"roster\"; filename=\"r.csv\"\r\n"
                f"Content-Type: text/csv\r\n\r\nmembership_id,email,name\n{draw(TEXT)}\r\n--{boundary}--\r\n"
                ).encode("utf-8", "surrogatepass")
        content_type = f"{MULTIPART}; boundary={boundary}"
        refused_at = None
    headers = {"Content-Type": content_type, "Cookie": world["cookie"]}
    headers.update(draw(st.sampled_from([{}, {}, {}, {"Origin": "https://evil.example"},
                                         {"Sec-Fetch-Site": "cross-site"}, {"Content-Type": "text/plain"}])))
    return concrete, headers, body, refused_at, all(real)


def test_the_fuzz_reaches_every_route_that_takes_a_body():
    paths = {path for path, _, _ in ROUTES}
    assert len(ROUTES) >= 25 and {"/api/applications", "/apply", "/admin/api/settings", "/respond/{token}"} <= paths


@pytest.mark.parametrize("path, method, content_types", ROUTES, ids=[f"{m} {p}" for p, m, _ in ROUTES])
def test_no_body_breaks_a_route_and_no_refusal_writes_anything(client, world, path, method, content_types):
    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        concrete, headers, body, refused_at, real = data.draw(requests(path, content_types, world))
        refused_at = refused_at if real else None  # a link that names nothing is refused for that first
        before, mails = stored(), len(sent_mail())
        answer = client.http.request(method, concrete, headers=headers, body=body)
        assert answer.status_code < 500, answer.body[:500]
        if answer.status_code < 400:
            return
        assert stored() == before and len(sent_mail()) == mails, f"a {answer.status_code} wrote something"
        text = answer.body.decode()
        if answer.headers.get("Content-Type", "").startswith(JSON):
            errors = json.loads(text).get("errors")
            assert isinstance(errors, dict) and errors and all(isinstance(key, str) and key for key in errors), text
            if answer.status_code == 400 and refused_at:
                assert refused_at in errors, (refused_at, errors)
        else:
            assert 'role="alert"' in text or "error-message" in text, text[:2000]
            if answer.status_code == 400 and refused_at not in (None, "_body") and re.fullmatch(r"[\w-]+", refused_at):
                assert escape(refused_at) in text, refused_at

    fuzz()
