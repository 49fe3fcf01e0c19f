"""Signed, expiring tokens."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import tokens

KEY = b"k" * 32
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def test_a_token_round_trips_its_subject():
    record_id = uuid.uuid4().hex
    token = tokens.make_for_id(KEY, "confirm", record_id, NOW, timedelta(days=14))
    assert tokens.read_id(KEY, "confirm", token, NOW + timedelta(days=13)) == record_id
    assert token == token.lower() and len(token) <= 58  # fits an email local part after "reply+"


def test_an_expired_token_is_refused():
    token = tokens.make_for_id(KEY, "confirm", uuid.uuid4().hex, NOW, timedelta(days=14))
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.read_id(KEY, "confirm", token, NOW + timedelta(days=14, seconds=1))


def test_a_token_signed_with_another_key_is_refused():
    token = tokens.make_for_id(b"other" * 8, "confirm", uuid.uuid4().hex, NOW, timedelta(days=1))
    with pytest.raises(tokens.TokenError, match="not valid"):
        tokens.read_id(KEY, "confirm", token, NOW)


def test_a_token_for_another_purpose_is_refused():
    token = tokens.make_for_id(KEY, "login", uuid.uuid4().hex, NOW, timedelta(days=1))
    with pytest.raises(tokens.TokenError):
        tokens.read_id(KEY, "confirm", token, NOW)


@pytest.mark.parametrize("damage", [lambda t: t[:-1], lambda t: t[:10], lambda t: "a" + t,
                                    lambda t: t.replace(t[5], "9" if t[5] != "9" else "8"), lambda t: "!!!", lambda t: ""])
def test_damaged_tokens_are_refused(damage):
    token = tokens.make_for_id(KEY, "confirm", uuid.uuid4().hex, NOW, timedelta(days=1))
    with pytest.raises(tokens.TokenError):
        tokens.read_id(KEY, "confirm", damage(token), NOW)


def test_tokens_survive_upper_case():
    record_id = uuid.uuid4().hex
    token = tokens.make_for_id(KEY, "reply", record_id, NOW, timedelta(days=1))
    assert tokens.read_id(KEY, "reply", token.upper(), NOW) == record_id
