"""Committee sign-in without passwords, sessions, CSRF, and the member list.

A member asks for a sign-in link; it is mailed only to members, works once,
and expires in 15 minutes. Following it shows a button: mail scanners that
open links (Outlook's Safe Links among them) must not use up the link, so
only the button's POST signs in. The session cookie names a session item
that expires in 12 hours; each request re-checks that its owner is still on
the committee, so removing a member ends their sessions at once.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie

from pynamodb.exceptions import DeleteError, PutError

from chalicelib.services import audit, mail
from chalicelib.domain import clock, tokens
from chalicelib.pages import web
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Claim, CommitteeMember
from chalicelib.adapters.store import transaction
from chalicelib.domain.validation import EMAIL_PATTERN

log = logging.getLogger(__name__)

SIGN_IN_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
COOKIE = "committee_session"
CSRF_FIELD = "csrf_token"
OPEN_PATHS = ("/admin/login", "/admin/login/{token}")
UPLOAD_LIMIT = 5 * 1024 * 1024  # a roster of some 20,000 members


@dataclass(frozen=True)
class Session:
    email: str
    session_id: str

    @property
    def csrf_token(self) -> str:
        return hmac.new(signing_key(), f"csrf:{self.session_id}".encode(), hashlib.sha256).hexdigest()[:32]


def admin_page(template: str, session: Session, status: int = 200, **context) -> web.Answer:
    """A page of the admin area: it greets the signed-in member, and carries their CSRF token."""
    return web.page(template, status=status, session=session, **{"flash": "", "problem": "", **context})


# Membership.

def is_member(email: str) -> bool:
    email = email.strip().lower()
    if email in settings().founding_committee:
        return True
    try:
        CommitteeMember.get(CommitteeMember.PARTITION, email)
        return True
    except CommitteeMember.DoesNotExist:
        return False


def members() -> list[dict]:
    """Everyone on the committee: founding members first, then those added here."""
    added = [{"email": member.email, "added_by": member.added_by, "founding": False}
             for member in CommitteeMember.query(CommitteeMember.PARTITION)]
    founders = [{"email": email, "added_by": "configuration", "founding": True}
                for email in settings().founding_committee]
    return founders + [member for member in added if member["email"] not in settings().founding_committee]


def add_member(by: Session, email: str) -> None:
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise ValueError("Enter an email address in the form name@example.org.")
    with transaction() as write:
        write.save(CommitteeMember(CommitteeMember.PARTITION, email, added_by=by.email, added_at=clock.now()))
        write.save(audit.entry(by.email, "committee_member_added", email))


def remove_member(by: Session, email: str) -> None:
    email = email.strip().lower()
    if email in settings().founding_committee:
        raise ValueError("Founding members come from the deployment's configuration; change them there.")
    with transaction() as write:
        write.delete(CommitteeMember(CommitteeMember.PARTITION, email))
        write.save(audit.entry(by.email, "committee_member_removed", email))


# Sign-in links and sessions.

def request_sign_in(email: str) -> None:
    """Mail a sign-in link if the address is a member's; say nothing either way."""
    email = email.strip().lower()
    if not email or not is_member(email):
        log.info("sign-in requested for an address that is not on the committee")
        return
    link_id = uuid.uuid4().hex
    now = clock.now()
    link_token = tokens.make_for_id(signing_key(), "login", link_id, now, SIGN_IN_LIFETIME)
    with transaction() as write:
        write.save(Claim(key=f"signin#{link_id}", owner=email, expires_at=now + SIGN_IN_LIFETIME))
        queued = mail.queue(write, mail.compose("sign_in", (email,), {"sign_in_token": link_token}))
    mail.send_queued(queued)


def sign_in(link_token: str) -> tuple[Session, str]:
    """Use up a sign-in link; return the new session and its cookie header."""
    link_id = tokens.read_id(signing_key(), "login", link_token, clock.now())
    try:
        link = Claim.get(f"signin#{link_id}", consistent_read=True)
        link.delete(condition=Claim.key.exists())
    except (Claim.DoesNotExist, DeleteError):
        raise tokens.TokenError("This sign-in link has been used already. Ask for a new one.") from None
    if not is_member(link.owner):
        raise tokens.TokenError("This address is no longer on the committee.")
    session = Session(email=link.owner, session_id=uuid.uuid4().hex)
    now = clock.now()
    try:
        Claim(key=f"session#{session.session_id}", owner=session.email,
              expires_at=now + SESSION_LIFETIME).save(condition=Claim.key.does_not_exist())
    except PutError:
        raise tokens.TokenError("Please ask for a new sign-in link.") from None
    audit.record(session.email, "signed_in")
    cookie_value = tokens.make_for_id(signing_key(), "session", session.session_id, now, SESSION_LIFETIME)
    return session, _cookie(cookie_value, int(SESSION_LIFETIME.total_seconds()))


def sign_out(session: Session) -> str:
    Claim(key=f"session#{session.session_id}").delete()
    return _cookie("", 0)


def _cookie(value: str, max_age: int) -> str:
    secure = "; Secure" if settings().secure_cookies else ""
    return f"{COOKIE}={value}; Path=/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"


def session_from(cookie_header: str | None) -> Session | None:
    if not cookie_header:
        return None
    try:
        morsel = SimpleCookie(cookie_header).get(COOKIE)
    except CookieError:
        return None
    if morsel is None or not morsel.value:
        return None
    try:
        session_id = tokens.read_id(signing_key(), "session", morsel.value, clock.now())
        claim = Claim.get(f"session#{session_id}", consistent_read=True)
    except (tokens.TokenError, Claim.DoesNotExist):
        return None
    if claim.expires_at and claim.expires_at < clock.now():
        return None  # DynamoDB's TTL deletes late; expiry is enforced here
    if not is_member(claim.owner):
        return None
    return Session(email=claim.owner, session_id=session_id)


# The guard every /admin request passes, in app.py's middleware.

def guard(path: str, method: str, headers, raw_body: bytes | None) -> Session | web.Answer | None:
    """None for routes outside the admin area (or its sign-in pages); the
    session for a signed-in member; otherwise the refusal to send."""
    if not path.startswith("/admin") or path in OPEN_PATHS:
        return None
    is_api = path.startswith("/admin/api/")
    session = session_from(headers.get("cookie"))
    if session is None:
        if is_api:
            return web.json_error(401, "Sign in as a committee member first.")
        return web.redirect("/admin/login")
    if method == "POST" and not is_api:
        content_type = headers.get("content-type", "")
        limit = UPLOAD_LIMIT if content_type.startswith("multipart/form-data") else web.MAX_BODY_BYTES
        try:
            submitted = web.decode_submission(raw_body, content_type, limit)
        except web.BadRequest as error:
            return web.page("pages/error.html", status=error.status, heading="Please try again", message=error.message)
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
    except web.BadRequest as error:
        return web.json_error(error.status, error.message)
    request_sign_in(email if isinstance(email, str) else "")
    message = "If that address belongs to a committee member, a sign-in link is on its way. It works once, for 15 minutes."
    if content_type.startswith("application/json"):
        return web.json_answer({"message": message}, status=202)
    return login_page(sent=True)


def confirm_sign_in_page(link_token: str) -> web.Answer:
    return web.page("pages/admin/login_confirm.html", token=link_token)


def complete_sign_in(link_token: str) -> web.Answer:
    try:
        _, cookie = sign_in(link_token)
    except tokens.TokenError as error:
        return login_page(problem=str(error), status=400)
    answer = web.redirect("/admin")
    answer.headers["Set-Cookie"] = cookie
    return answer
