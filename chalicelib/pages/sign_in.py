"""The committee's sign-in pages, and the guard every /admin request passes.

The guard runs in app.py's middleware, so a new admin route cannot forget it:
a request needs a live session, and a form post needs that session's CSRF token.
"""
from __future__ import annotations

import hmac
from urllib.parse import urlencode, urlsplit

from chalicelib.adapters.config import settings
from chalicelib.domain import tokens
from chalicelib.domain.refusals import Forbidden, Refused
from chalicelib.pages import web
from chalicelib.services import committee
from chalicelib.services.committee import Session

CSRF_FIELD = "csrf_token"
OPEN_PATHS = ("/admin/login", "/admin/login/{token}")
UPLOAD_LIMIT = 5 * 1024 * 1024  # a roster this large through the API; larger ones go straight to S3
LARGE_FORMS = ("/admin/matching/review", "/admin/matching/approve")  # the matching page's two steps tick many pairs
RETURN_FIELD = "next"
MAX_RETURN_PATH = 500


def safe_return_path(value: str | None) -> str:
    """The admin page to go back to after signing in, if `value` is one: a path on this
    site under /admin (not the sign-in pages). Anything else, such as another site
    ("//evil.example", "https://...", "/\\evil"), is "" and the member lands on the dashboard."""
    if not value or len(value) > MAX_RETURN_PATH or not value.isprintable() or "\\" in value:
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return ""
    if parts.path != "/admin" and not parts.path.startswith("/admin/") or parts.path.startswith("/admin/login") \
            or parts.path.startswith("/admin/api/"):
        return ""
    return value


def _to_sign_in(asked: str, ended: bool) -> web.Answer:
    """Send a visitor without a live session to the sign-in page, remembering the page they
    asked for (`asked`: "" for a form post) and saying so when their session ended."""
    wanted = {RETURN_FIELD: asked} if safe_return_path(asked) and asked != "/admin" else {}
    if ended:
        wanted["ended"] = "1"
    return web.redirect("/admin/login" + (f"?{urlencode(wanted)}" if wanted else ""))


def guard(path: str, method: str, headers, raw_body: bytes | None, address: str = "") -> Session | web.Answer | None:
    """None for routes outside the admin area (or its sign-in pages); the
    session for a signed-in member; otherwise the refusal to send.
    A change sent from another site is refused first, the sign-in pages' included.

    A page opened from another site (S3 sending the browser back after a roster upload, a
    link in a webmail) arrives without the SameSite=Strict session cookie, and is not ours
    to act on: it gets a page that opens the same `address` (path and query) from our own
    site, with the cookie, at once. Nothing is done on the cross-site request itself."""
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
    if method == "GET" and not is_api and foreign_origin(headers) == "Sec-Fetch-Site" and address.startswith("/admin"):
        return web.page("pages/admin/arrived.html", target=address)
    session = committee.session_from(headers.get("cookie"))
    if session is None:
        if is_api:
            return web.json_answer({"errors": {"_body": "Sign in as a committee member first."}}, status=401)
        return _to_sign_in(address if method == "GET" else "", ended=committee.COOKIE in (headers.get("cookie") or ""))
    if method == "POST" and not is_api:
        content_type = headers.get("content-type", "")
        limit, fields = (web.LARGE_BODY_BYTES, web.LARGE_FORM_FIELDS) if path in LARGE_FORMS else (
            web.MAX_BODY_BYTES, web.MAX_FORM_FIELDS)
        if content_type.startswith("multipart/form-data"):
            limit = UPLOAD_LIMIT
        try:
            submitted = web.decode_submission(raw_body, content_type, limit, fields)
        except Refused as refusal:
            return web.refusal_page(refusal, admin=True)
        sent = submitted.get(CSRF_FIELD, [""])[0].encode()  # as bytes: compare_digest refuses non-ASCII text
        if not hmac.compare_digest(sent, session.csrf_token.encode()):
            return web.refusal_page(Forbidden("This form was open too long or came from somewhere else. "
                                              "Reload the page and send it again.", field=CSRF_FIELD), admin=True)
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

def login_page(sent: bool = False, problem: str = "", status: int = 200, query: dict | None = None) -> web.Answer:
    query = query or {}
    return web.page("pages/admin/login.html", status=status, sent=sent, problem=problem,
                    return_to=safe_return_path(query.get(RETURN_FIELD)), ended=query.get("ended") == "1")


def login_request(raw_body: bytes, content_type: str) -> web.Answer:
    """The same answer whoever asks, so nobody learns who is on the committee."""
    try:
        if content_type.startswith("application/json"):
            document = web.decode_json(raw_body)
            document = document if isinstance(document, dict) else {}
            email, return_to = document.get("email", ""), document.get(RETURN_FIELD)
        else:
            form = web.decode_form(raw_body)
            email, return_to = form.get("email", [""])[0], form.get(RETURN_FIELD, [""])[0]
    except Refused as refusal:
        return web.refusal_json(refusal)
    committee.request_sign_in(email if isinstance(email, str) else "",
                              safe_return_path(return_to if isinstance(return_to, str) else ""))
    message = "If that address belongs to a committee member, a sign-in link is on its way. It works once, for 15 minutes."
    if content_type.startswith("application/json"):
        return web.json_answer({"message": message}, status=202)
    return login_page(sent=True)


def confirm_sign_in_page(link_token: str, query: dict | None = None) -> web.Answer:
    return web.page("pages/admin/login_confirm.html", token=link_token,
                    return_to=safe_return_path((query or {}).get(RETURN_FIELD)))


def complete_sign_in(link_token: str, raw_body: bytes | None = None) -> web.Answer:
    try:
        return_to = safe_return_path(web.decode_form(raw_body).get(RETURN_FIELD, [""])[0])
        _, cookie = committee.sign_in(link_token)
    except tokens.TokenError as error:
        return login_page(problem=str(error), status=web.status_of(error))
    except Refused as refusal:
        return web.refusal_page(refusal)
    answer = web.redirect(return_to or "/admin")
    answer.headers["Set-Cookie"] = cookie
    return answer


def sign_out(session: Session) -> web.Answer:
    answer = web.redirect("/admin/login")
    answer.headers["Set-Cookie"] = committee.sign_out(session)
    return answer
