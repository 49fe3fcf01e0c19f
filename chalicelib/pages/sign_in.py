"""The committee's sign-in pages, and the guard every /admin request passes.

The guard runs in app.py's middleware, so a new admin route cannot forget it:
a request needs a live session, and a form post needs that session's CSRF token.
"""
from __future__ import annotations

import hmac

from chalicelib.domain import tokens
from chalicelib.domain.refusals import Refused
from chalicelib.pages import web
from chalicelib.services import committee
from chalicelib.services.committee import Session

CSRF_FIELD = "csrf_token"
OPEN_PATHS = ("/admin/login", "/admin/login/{token}")
UPLOAD_LIMIT = 5 * 1024 * 1024  # a roster this large through the API; larger ones go straight to S3
LARGE_FORMS = ("/admin/matching/approve",)  # the matching page's approval ticks many pairs



def guard(path: str, method: str, headers, raw_body: bytes | None) -> Session | web.Answer | None:
    """None for routes outside the admin area (or its sign-in pages); the
    session for a signed-in member; otherwise the refusal to send."""
    if not path.startswith("/admin") or path in OPEN_PATHS:
        return None
    is_api = path.startswith("/admin/api/")
    session = committee.session_from(headers.get("cookie"))
    if session is None:
        if is_api:
            return web.json_answer({"errors": {"_body": "Sign in as a committee member first."}}, status=401)
        return web.redirect("/admin/login")
    if method == "POST" and not is_api:
        content_type = headers.get("content-type", "")
        limit, fields = (web.LARGE_BODY_BYTES, web.LARGE_FORM_FIELDS) if path in LARGE_FORMS else (
            web.MAX_BODY_BYTES, web.MAX_FORM_FIELDS)
        if content_type.startswith("multipart/form-data"):
            limit = UPLOAD_LIMIT
        try:
            submitted = web.decode_submission(raw_body, content_type, limit, fields)
        except Refused as refusal:
            return web.refusal_page(refusal)
        if not hmac.compare_digest(submitted.get(CSRF_FIELD, [""])[0], session.csrf_token):
            return web.page("pages/error.html", status=403, heading="Please try again",
                            message="This form was open too long or came from somewhere else. Reload the page and send it again.")
    return session


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
