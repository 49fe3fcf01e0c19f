"""Validate an application, from a web form or JSON, against the schema.

Pure: takes submitted values, returns clean typed values or messages keyed
by field name. Unknown fields are ignored; fields not asked of the chosen
role are dropped.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.domain.refusals import Invalid
from chalicelib.domain.schema import FIELDS, FIELDS_BY_NAME, Field

EMAIL_PATTERN = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
TRUE_WORDS = {"true", "on", "yes", "1"}
FALSE_WORDS = {"false", "off", "no", "0", ""}

Submitted = Mapping[str, Sequence[str]]


class JsonFields(dict):
    """A JSON object's fields in the form's shape (each a list of strings), remembering which
    were sent as arrays and which as objects: those are refused where one text is expected."""

    def __init__(self, values: dict[str, list[str]], shapes: dict[str, str]):
        super().__init__(values)
        self.shapes = shapes  # field name -> "array" or "object"; plain values are not listed


def from_json(document: Any) -> JsonFields:
    """Bring a JSON object to the form's shape: each field a list of strings."""
    if not isinstance(document, dict):
        raise Invalid({"_body": "Send a JSON object with the application's fields."})
    values: dict[str, list[str]] = {}
    shapes: dict[str, str] = {}
    for name, value in document.items():
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list):
            shapes[name] = "array"
        if isinstance(value, dict) or any(isinstance(item, (dict, list)) for item in items):
            shapes[name] = "object"
            items = []
        values[name] = [_json_scalar(item) for item in items]
    return JsonFields(values, shapes)


def _json_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _sent_as(submitted: Submitted, name: str) -> str | None:
    return submitted.shapes.get(name) if isinstance(submitted, JsonFields) else None


def clean_text(value: str, multiline: bool) -> str:
    kept = []
    for char in unicodedata.normalize("NFC", value):
        if char in "\n\t" and multiline:
            kept.append(char)
        elif unicodedata.category(char) in ("Cc", "Cs"):
            continue
        else:
            kept.append(char)
    text = "".join(kept).replace("\r", "")
    return text.strip() if multiline else " ".join(text.split())


def validate_application(submitted: Submitted, fields: Sequence[Field] = FIELDS) -> dict[str, Any]:
    """Return the clean application, or raise Invalid with a message per field."""
    errors: dict[str, str] = {}
    try:
        role_values = _values(submitted, FIELDS_BY_NAME["role"])
    except ValueError as error:
        errors["role"] = str(error)
        role_values = []
    role = role_values[0] if role_values else ""
    if role not in ("mentor", "mentee"):
        errors.setdefault("role", "Choose whether you are applying as a mentor or as a mentee.")
    asked = [field for field in fields if field.name != "role" and (role not in ("mentor", "mentee") or field.asks(role))]
    try:
        clean = validate_fields(submitted, asked, role)
    except Invalid as invalid:
        errors.update(invalid.errors)
    if errors:
        raise Invalid(errors)
    return {"role": role, **clean}


def validate_fields(submitted: Submitted, fields: Sequence[Field], role: str = "") -> dict[str, Any]:
    """Check each field's submitted values; clean values, or Invalid with a message per field."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for field in fields:
        try:
            value = _check(field, _values(submitted, field), role)
        except ValueError as error:
            errors[field.name] = str(error)
            continue
        if value is not None:
            clean[field.name] = value
    if errors:
        raise Invalid(errors)
    return clean


def _values(submitted: Submitted, field: Field) -> list[str]:
    """The field's submitted values; an object anywhere, or several values (or a JSON array) for a
    field of one value, is refused rather than cut down to its first item."""
    values = list(submitted.get(field.name) or [])
    shape = _sent_as(submitted, field.name)
    if shape == "object":
        raise ValueError(f"Give {field.answer_name} as text, not an object.")
    if field.kind != "choices" and (shape == "array" or len(values) > 1):
        raise ValueError(f"Give one answer for {field.answer_name}, not a list.")
    return values


def _check(field: Field, values: list[str], role: str) -> Any:
    kind = field.kind
    if kind == "choices":
        return _check_choices(field, values, role)
    raw = values[0] if values else ""
    if kind == "consent":
        if raw.strip().lower() not in TRUE_WORDS:
            raise ValueError("Please tick this box to take part: the program depends on it.")
        return True
    if kind == "yes_no":
        word = raw.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise ValueError(f"Answer yes or no: {field.answer_name}.")
        return word in TRUE_WORDS
    text = clean_text(raw, multiline=kind == "textarea")
    if not text:
        if field.default is not None:
            text = field.default
        elif field.is_required(role):
            raise ValueError(_missing_message(field))
        else:
            return "" if kind in ("text", "textarea") else None
    if len(text) > field.max_length:
        raise ValueError(f"Keep this under {field.max_length} characters (it has {len(text)}).")
    if kind == "email":
        if not EMAIL_PATTERN.match(text) or len(text) > 254:
            raise ValueError("Enter an email address in the form name@example.org.")
        return text.lower()
    if kind == "integer":
        return _check_integer(field, text)
    if kind == "choice":
        allowed = dict(field.choices)
        if text not in allowed:
            raise ValueError(f"Choose one of the listed options for {field.answer_name}.")
        return int(text) if field.numeric else text
    return text


def _check_integer(field: Field, text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", text):
        raise ValueError(f"Enter a whole number from {field.minimum} to {field.maximum}.")
    number = int(text)
    if (field.minimum is not None and number < field.minimum) or (field.maximum is not None and number > field.maximum):
        raise ValueError(f"Enter a whole number from {field.minimum} to {field.maximum}.")
    return number


def _check_choices(field: Field, values: list[str], role: str) -> list[str]:
    allowed = [value for value, _ in field.choices]
    chosen = {value.strip() for value in values if value.strip()}
    unknown = chosen - set(allowed)
    if unknown:
        raise ValueError(f"Choose only from the listed options for {field.answer_name}.")
    if not chosen and field.is_required(role):
        raise ValueError(f"Choose {field.answer_name}.")
    return [value for value in allowed if value in chosen]


def _missing_message(field: Field) -> str:
    verb = "Choose" if field.kind == "choice" else "Enter"
    return f"{verb} {field.answer_name}."
