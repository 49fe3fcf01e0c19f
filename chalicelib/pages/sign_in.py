"""The committee's sign-in pages, and the guard every /admin request passes.

The guard runs in app.py's middleware, so a new admin route cannot forget it:
a request needs a live session, and a form post needs that session's CSRF token.
"""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from chalicelib.adapters.config import settings
from chalicelib.domain import tokens
from chalicelib.domain.refusals import Forbidden, Refused
from chalicelib.pages import web
from chalicelib.services import committee
from chalicelib.services.committee import Session

CSRF_FIELD = "csrf_token"
OPEN_PATHS = ("/admin/login", "/admin/login/{token}")
UPLOAD_LIMIT = 5 * 1024 * 1024  # a roster of some 20,000 members


def guard(path: str, method: str, headers, raw_body: bytes | None) -> Session | web.Answer | None:
    """None for routes outside the admin area (or its sign-in pages); the
    session for a signed-in member; otherwise the refusal to send.
    A change sent from another site is refused first, the sign-in pages' included."""
    if not path.startswith("/admin"):
        return None
    is_api = path.startswith("/admin/api/")
    if method in web.BODY_METHODS:
        foreign = foreign_origin(headers)
        if foreign:
            refusal = Forbidden("This request came from another site, so nothing was changed. "
                                f"Use the committee's pages at {settings().base_url}.", field=foreign)
            wants_json = is_api or headers.get("content-type", "").startswith(web.JSON)
            return web.refusal_json(refusal) if wants_json else web.refusal_page(refusal)
    if path in OPEN_PATHS:
        return None
    session = committee.session_from(headers.get("cookie"))
    if session is None:
        if is_api:
            return web.json_answer({"errors": {"_body": "Sign in as a committee member first."}}, status=401)
        return web.redirect("/admin/login")
    if method == "POST" and not is_api:
        content_type = headers.get("content-type", "")
        limit = UPLOAD_LIMIT if content_type.startswith("multipart/form-data") else web.MAX_BODY_BYTES
        try:
            submitted = web.decode_submission(raw_body, content_type, limit)
        except Refused as refusal:
            return web.refusal_page(refusal)
        sent = submitted.get(CSRF_FIELD, [""])[0].encode()  # as bytes: compare_digest refuses non-ASCII text
        if not hmac.compare_digest(sent, session.csrf_token.encode()):
            return web.refusal_page(Forbidden("This form was open too long or came from somewhere else. "
                                              "Reload the page and send it again.", field=CSRF_FIELD))
    return session


def foreign_origin(headers) -> str | None:
    """The header that shows a request came from another site ("Sec-Fetch-Site" or "Origin"), or None.
    Browsers send both on cross-site posts; SameSite=Strict cookies should stop them already,
    and this holds when they do not (an old browser, a cookie set by a sibling site)."""
    if (headers.get("sec-fetch-site") or "").strip().lower() == "cross-site":
        return "Sec-Fetch-Site"
    origin = headers.get("origin")
    if origin is not None and origin.strip().lower().rstrip("/") != _own_origin():
        return "Origin"
    return None


def _own_origin() -> str:
    base = urlsplit(settings().base_url)
    return f"{base.scheme}://{base.netloc}".lower()


# Web answers for the sign-in pages.

def login_page(sent: bool = False, problem: str = "", status: int = 200) -> web.Answer:
    return web.page("pages/admin/login.html", status=status, sent=sent, problem=problem)


def login_request(raw_body: bytes, content_type: str) -> web.Answer:
    """The same answer whoever asks, so nobody learns who is on the committee."""
    try:
        if content_type.startswith("application/json"):
            document = web.decode_json(raw_body)
            email = document.get("email", "") if isinstance(document, dict) else ""
        else:
            email = web.decode_form(raw_body).get("email", [""])[0]
    except Refused as refusal:
        return web.refusal_json(refusal)
    committee.request_sign_in(email if isinstance(email, str) else "")
    message = "If that address belongs to a committee member, a sign-in link is on its way. It works once, for 15 minutes."
    if content_type.startswith("application/json"):
        return web.json_answer({"message": message}, status=202)
    return login_page(sent=True)


def confirm_sign_in_page(link_token: str) -> web.Answer:
    return web.page("pages/admin/login_confirm.html", token=link_token)


def complete_sign_in(link_token: str) -> web.Answer:
    try:
        _, cookie = committee.sign_in(link_token)
    except tokens.TokenError as error:
        return login_page(problem=str(error), status=web.status_of(error))
    answer = web.redirect("/admin")
    answer.headers["Set-Cookie"] = cookie
    return answer


def sign_out(session: Session) -> web.Answer:
    answer = web.redirect("/admin/login")
    answer.headers["Set-Cookie"] = committee.sign_out(session)
    return answer
