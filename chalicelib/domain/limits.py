"""What anyone may send, in one place: the check every decoded text passes, and the
documented range of every number and length a request carries.

Each refusal is an `Invalid` naming the field and, for a range, the limit, so a
person (or a client program) knows what to change. Pure: no chalice, boto3 or pynamodb.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.refusals import Invalid

MAX_REASON = 2_000  # a reason or note: the committee's pause or dissolve, a participant's for a new partner
MAX_ANSWER_TEXT = 5_000  # what a participant writes in one answer (check-in comments, a mailed reply)
EXTENSION_DAYS = (1, 365)  # one extension of a pairing's program year
CAPACITY = (1, 10)  # mentees one mentor may take on, as the committee sets it
MAX_EMAIL = 254  # RFC 5321's longest address
MAX_ID = 100  # an application's or pairing's id as sent in a request body
MAX_PARAMETER = 500  # a path or query parameter: ids, tokens, an email address
WEIGHT = (0, 100)  # a matching criterion's weight in a proposal
MAX_TOPICS = 64  # a cohort's topics: the matching engine's bit masks
# Alerts in one digest mail (one transaction holds them and the mail): so many that the mail
# stays within a committee mail's 100 KB even with the longest names, and more go in another.
DIGEST_ALERTS = 25
MAX_ALERT_TEXT = 300  # the system's own sentence in an alert; names and replies are kept apart from it

# Text may hold any Unicode scalar value but these: the C0 controls other than tab and
# the newlines (a browser sends a textarea's lines as CR LF), and lone surrogates, which
# JSON's \ud800 escapes can produce and which no store or encoder accepts.
_REFUSED_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_ASCII_DIGITS = re.compile(r"[0-9]{1,12}")


def check_text(value: str, field: str, what: str = "") -> str:
    """The text itself, or Invalid naming `field` when it holds a character that cannot be kept."""
    found = _REFUSED_CHARACTERS.search(value)
    if found:
        raise Invalid({field: f"{what or _quoted(field)} contains a character that cannot be saved "
                              f"(U+{ord(found.group()):04X}, a control character or half of one). "
                              "Remove it and send again."})
    return value


def check_name(name: str) -> str:
    """A form's or JSON object's field name: refused, as the request's, if it holds what no text may."""
    return check_text(name, "_body", what="The name of a field")


def _quoted(field: str) -> str:
    return "The request" if field == "_body" else f"\u201c{field}\u201d"


def check_document(value: Any, location: str = "_body") -> Any:
    """Every text in a decoded JSON document (keys and values, at any depth) through check_text;
    a problem is named by where it is: "guidelines", "mail.sign_in.body", "questions[2].label"."""
    if isinstance(value, str):
        check_text(value, location)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_name(key)
            check_document(item, key or "_body" if location == "_body" else f"{location}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_document(item, f"{location}[{index}]")
    return value


def text(value: Any, field: str, limit: int, *, required: bool = False, what: str = "") -> str:
    """A text field of a JSON body or form: text (null or absent: empty), at most `limit` characters."""
    what = what or field
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid({field: f"Give {what} as text, not {_kind_of(value)}."})
    if required and not value.strip():
        raise Invalid({field: f"Give {what}."})
    if len(value) > limit:
        raise Invalid({field: f"Keep {what} to at most {limit:,} characters (it has {len(value):,})."})
    return value


def whole_number(value: Any, field: str, bounds: tuple[int, int], what: str = "") -> int:
    """A whole number from a JSON body (a number) or a form (ASCII digits), within `bounds`."""
    low, high = bounds
    what = what or field
    problem = f"Give {what} as a whole number from {low:,} to {high:,}."
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Invalid({field: problem})
    if isinstance(value, str):
        if not _ASCII_DIGITS.fullmatch(value.strip()):
            raise Invalid({field: problem})
        value = int(value.strip())
    if not low <= value <= high:
        raise Invalid({field: problem})
    return value


def _kind_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true or false"
    return "a number"
