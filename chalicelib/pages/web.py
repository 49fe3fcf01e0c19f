"""Framework-free HTTP answers and request-body decoding.

Handlers in app.py turn an Answer into a Chalice Response; everything that
decides what to answer lives in chalicelib and can be tested without Chalice.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode

from chalicelib.adapters.store import all_cohorts
from chalicelib.domain import limits
from chalicelib.domain.limits import check_document, check_name, check_text
from chalicelib.domain.refusals import Conflict, Forbidden, Invalid, NotFound, Refused, TooLarge, WrongMediaType
from chalicelib.domain.roster import decode_spreadsheet_export
from chalicelib.domain.templating import render

MAX_BODY_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
# The few forms and bodies that carry many items: approving up to pairings.MAX_PAIRS pairs at once.
LARGE_BODY_BYTES = 512 * 1024
LARGE_FORM_FIELDS = 4_100
HTML = "text/html; charset=utf-8"
JSON = "application/json"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Other sites never see our addresses (links carry tokens); our own form posts keep their
    # Origin, which the cross-site check reads (under no-referrer a browser sends "null").
    "Referrer-Policy": "same-origin",
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


def with_security_headers(headers: dict[str, str]) -> dict[str, str]:
    """An answer's headers with the security headers it lacks: for answers the app did not make
    itself (the framework's 405 and 415, a gateway's 403), which carry none."""
    present = {name.lower() for name in headers}
    return {**headers, **{name: value for name, value in SECURITY_HEADERS.items() if name.lower() not in present}}


# The one table from a refusal to its status; a route never spells this out itself.
REFUSAL_STATUS = ((Invalid, 400), (Forbidden, 403), (NotFound, 404), (Conflict, 409), (TooLarge, 413), (WrongMediaType, 415))


def status_of(refusal: Refused) -> int:
    return next(status for kind, status in REFUSAL_STATUS if isinstance(refusal, kind))


def refusal_json(refusal: Refused) -> Answer:
    return json_answer({"errors": refusal.errors}, status=status_of(refusal))


def refusal_page(refusal: Refused, admin: bool = False) -> Answer:
    """A calm error page; one of the committee's pages points back to the dashboard, not the form."""
    status = status_of(refusal)
    heading = "Not found" if status == 404 else "Please try again"
    back = ("/admin", "Back to the dashboard") if admin else ("/apply", "Back to the application form")
    return page("pages/error.html", status=status, heading=heading, message=refusal.message, back=back)


def _answering_refusals(answer_refusal):
    def decorate(function):
        @functools.wraps(function)
        def answer(*args, **kwargs) -> Answer:
            try:
                return function(*args, **kwargs)
            except Refused as refusal:
                if answer_refusal is refusal_page:
                    from chalicelib.services.committee import Session

                    return refusal_page(refusal, admin=any(isinstance(arg, Session) for arg in args))
                return answer_refusal(refusal)
        return answer
    return decorate


# A JSON API function answers a refusal it raises as {"errors": ...}; a page function, as a calm error page.
json_route = _answering_refusals(refusal_json)
html_route = _answering_refusals(refusal_page)


def check_media_type(content_type: str | None, accepted) -> None:
    """The body's media type must be one the route accepts, exactly; parameters may follow it,
    and a charset, when named, is UTF-8. (Chalice matches any ;- or ,-separated piece of the
    header, so "text/plain; application/json", which a browser sends cross-site without asking
    first, would pass as JSON.)"""
    media_type, *parameters = (content_type or "").split(";")
    charsets = [value.strip().strip('"').lower() for name, _, value in (p.partition("=") for p in parameters)
                if name.strip().lower() == "charset"]
    if media_type.strip().lower() not in accepted or any(charset not in ("utf-8", "utf8") for charset in charsets):
        raise WrongMediaType(f"Send the body as {' or '.join(accepted)} (UTF-8).", field="Content-Type")


def refused_media_type(content_type: str | None, accepted) -> Answer | None:
    """None when the body's media type is accepted; else the 415, as a page to a form's route."""
    try:
        check_media_type(content_type, accepted)
    except WrongMediaType as refusal:
        return refusal_page(refusal) if any(kind in accepted for kind in FORMS) else refusal_json(refusal)
    return None


BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def refused_at_the_edge(path: str, method: str, content_type: str | None, accepted, params: dict) -> Answer | None:
    """What every request passes before its route: a body of a media type the route accepts,
    and path and query parameters of text that can be kept. None when it passes."""
    if method in BODY_METHODS:
        refusal = refused_media_type(content_type, accepted)
        if refusal:
            return refusal
    try:
        for name, value in params.items():
            check_text(limits.text(value, name, limits.MAX_PARAMETER), name)
    except Invalid as invalid:
        return refusal_json(invalid) if "/api/" in path else refusal_page(invalid)
    return None


def allow_form_action(answer: Answer, url: str) -> None:
    """Let this page's forms post to one more origin (an upload form that posts to S3)."""
    from urllib.parse import urlsplit

    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    policy = answer.headers.get("Content-Security-Policy", SECURITY_HEADERS["Content-Security-Policy"])
    answer.headers["Content-Security-Policy"] = policy.replace("form-action 'self'", f"form-action 'self' {origin}")


def address_of(route: str, uri_params: dict | None, query_params) -> str:
    """A request's own path and query, rebuilt from its route ("/admin/pairings/{pairing_id}") and parameters."""
    path = route.format(**{name: quote(value, safe="") for name, value in (uri_params or {}).items()})
    return path + ("?" + urlencode(dict(query_params)) if query_params else "")


def page(template: str, status: int = 200, **context) -> Answer:
    return Answer(status, render(template, **context))


def json_answer(document, status: int = 200) -> Answer:
    return Answer(status, json.dumps(document), JSON)


def admin_page(template: str, session, status: int = 200, **context) -> Answer:
    """A page of the admin area: it greets the signed-in member, and carries their CSRF token.
    A page about one cohort (it has `cohort`) shows the cohort picker."""
    if "cohort" in context:
        context["cohort_choices"] = all_cohorts()
    return page(template, status=status, session=session, **{"flash": "", "problem": "", "page_template": template, **context})


def redirect(location: str, status: int = 303) -> Answer:
    return Answer(status, "", HTML, {"Location": location})


def _checked_size(raw_body: bytes | None, limit: int) -> bytes:
    raw_body = raw_body or b""
    if len(raw_body) > limit:
        raise TooLarge(f"The submission is too large. Keep it under {limit // 1024} KB.")
    return raw_body


def _text_of(raw_body: bytes | None, limit: int = MAX_BODY_BYTES) -> str:
    try:
        return _checked_size(raw_body, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("The submission is not valid UTF-8 text.") from None


def _checked_fields(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    for name, values in fields.items():
        check_name(name)
        for value in values:
            check_text(value, name or "_body")
    return fields


def decode_form(raw_body: bytes | None, limit: int = MAX_BODY_BYTES,
                max_fields: int = MAX_FORM_FIELDS) -> dict[str, list[str]]:
    # A percent-encoded byte that is not UTF-8 becomes a lone surrogate, which the check refuses by field.
    try:
        fields = parse_qs(_text_of(raw_body, limit), keep_blank_values=True, max_num_fields=max_fields,
                          errors="surrogateescape")
    except ValueError:
        raise Invalid("The form has too many fields.") from None
    return _checked_fields(fields)


def decode_multipart(raw_body: bytes | None, content_type: str, limit: int) -> dict[str, list[str]]:
    """Fields of a multipart/form-data upload; files come back as their text."""
    from email.parser import BytesParser
    from email.policy import HTTP

    body = _checked_size(raw_body, limit)
    if "boundary=" not in content_type:
        raise Invalid("The upload is not a multipart form.")
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise Invalid("The upload is not a multipart form.")
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        fields.setdefault(check_name(str(name)), []).append(decode_spreadsheet_export(payload, str(name)))
    return fields


def decode_submission(raw_body: bytes | None, content_type: str, limit: int = MAX_BODY_BYTES,
                      max_fields: int = MAX_FORM_FIELDS) -> dict[str, list[str]]:
    if content_type.startswith("multipart/form-data"):
        return decode_multipart(raw_body, content_type, limit)
    return decode_form(raw_body, limit, max_fields)


def decode_json(raw_body: bytes | None, limit: int = MAX_BODY_BYTES):
    """The document, its every text checked; NaN, Infinity and numbers beyond a float's range are refused."""
    text = _text_of(raw_body, limit)
    try:
        document = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise Invalid("The body is not valid JSON.") from None
    try:
        return check_document(document)
    except RecursionError:
        raise Invalid("The body is nested too deeply.") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large")
    return number


def unavailable(accept: str) -> Answer:
    message = "Something went wrong on our side. Please try again in a few minutes."
    if "html" in accept:
        return page("pages/error.html", status=503, heading="Sorry, please try again", message=message)
    return json_answer({"errors": {"_body": message}}, status=503)
