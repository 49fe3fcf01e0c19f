"""Arbitrary bodies thrown at both intake endpoints: never a 5xx, and a refused
submission never leaves a record behind."""
import json
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.models import Application, Claim, OutboxMail
from chalicelib.domain.schema import FIELDS
from tests.helpers import valid_answers

FIELD_NAMES = [field.name for field in FIELDS]
names = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12))
scalars = st.one_of(st.text(max_size=60), st.sampled_from(["mentor", "mentee", "yes", "public", "email", "3", "-1"]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)
near_valid = st.builds(
    lambda overrides, role: {**valid_answers(role), **overrides},
    st.dictionaries(st.sampled_from(FIELD_NAMES), scalars, max_size=3),
    st.sampled_from(["mentor", "mentee"]),
)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def record_count() -> int:
    return sum(1 for _ in Application.scan()) + sum(1 for _ in Claim.scan()) + sum(1 for _ in OutboxMail.scan())


def check(client, path, content_type, body):
    before = record_count()
    answer = client.http.post(path, headers={"Content-Type": content_type}, body=body)
    assert answer.status_code < 500, answer.body[:300]
    if answer.status_code >= 400:
        assert record_count() == before
    return answer


@SETTINGS
@given(fields=st.one_of(near_valid, st.dictionaries(names, st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=8)))
def test_arbitrary_forms_never_fail_the_server(client, fields):
    check(client, "/apply", "application/x-www-form-urlencoded", urlencode(fields, doseq=True).encode())


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_form_bytes_never_fail_the_server(client, raw):
    check(client, "/apply", "application/x-www-form-urlencoded", raw)


@SETTINGS
@given(document=st.one_of(near_valid, json_values, st.dictionaries(names, json_values, max_size=8)))
def test_arbitrary_json_never_fails_the_server(client, document):
    check(client, "/api/applications", "application/json", json.dumps(document).encode())


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_json_bytes_never_fail_the_server(client, raw):
    check(client, "/api/applications", "application/json", raw)
