"""Framework-free HTTP answers and request-body decoding.

Handlers in app.py turn an Answer into a Chalice Response; everything that
decides what to answer lives in chalicelib and can be tested without Chalice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from chalicelib.templating import render

MAX_BODY_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
HTML = "text/html; charset=utf-8"
JSON = "application/json"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


@dataclass
class Answer:
    status: int
    body: str
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, **SECURITY_HEADERS, **self.headers}


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def page(template: str, status: int = 200, **context) -> Answer:
    return Answer(status, render(template, **context))


def json_answer(document, status: int = 200) -> Answer:
    return Answer(status, json.dumps(document), JSON)


def redirect(location: str, status: int = 303) -> Answer:
    return Answer(status, "", HTML, {"Location": location})


def _text_of(raw_body: bytes | None) -> str:
    raw_body = raw_body or b""
    if len(raw_body) > MAX_BODY_BYTES:
        raise BadRequest(413, f"The submission is too large. Keep it under {MAX_BODY_BYTES // 1024} KB.")
    try:
        return raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "The submission is not valid UTF-8 text.") from None


def decode_form(raw_body: bytes | None) -> dict[str, list[str]]:
    try:
        return parse_qs(_text_of(raw_body), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise BadRequest(400, "The form has too many fields.") from None


def decode_json(raw_body: bytes | None):
    text = _text_of(raw_body)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest(400, "The body is not valid JSON.") from None


def unavailable(accept: str) -> Answer:
    message = "Something went wrong on our side. Please try again in a few minutes."
    if "html" in accept:
        return page("pages/error.html", status=503, heading="Sorry, please try again", message=message)
    return json_answer({"errors": {"_body": message}}, status=503)
