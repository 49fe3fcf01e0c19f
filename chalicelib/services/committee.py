"""Committee sign-in without passwords, sessions, and the member list.

A member asks for a sign-in link; every request is recorded alike, and a job
that runs each minute mails a link to members only (at most 5 an hour to one
address). A link works once, and expires in 15 minutes. Following it shows a
button: mail scanners that open links (Outlook's Safe Links among them) must
not use up the link, so only the button's POST signs in. The session cookie
names a session item that expires in 12 hours; each request re-checks that
its owner is still on the committee, so removing a member ends their sessions
at once.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie

from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, TransactWriteError

from chalicelib.services import audit, mail, quota
from chalicelib.domain import clock, limits, tokens
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Claim, CommitteeMember, OutboxMail
from chalicelib.adapters.store import transaction
from chalicelib.domain.refusals import Conflict, Invalid
from chalicelib.domain.validation import EMAIL_PATTERN

log = logging.getLogger(__name__)

SIGN_IN_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
COOKIE = "committee_session"
CHANGE_FAILED = "That did not work; please try again."


@dataclass(frozen=True)
class Session:
    email: str
    session_id: str

    @property
    def csrf_token(self) -> str:
        return hmac.new(signing_key(), f"csrf:{self.session_id}".encode(), hashlib.sha256).hexdigest()[:32]


# Membership.

def on_committee(email: str) -> bool:
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
    if len(email) > limits.MAX_EMAIL or not EMAIL_PATTERN.match(email):
        raise Invalid("Enter an email address in the form name@example.org.", field="email")
    try:
        with transaction() as write:
            write.save(CommitteeMember(CommitteeMember.PARTITION, email, added_by=by.email, added_at=clock.now()))
            write.save(audit.entry(by.email, "committee_member_added", email))
    except PynamoDBException:
        raise Conflict(CHANGE_FAILED) from None


def remove_member(by: Session, email: str) -> None:
    email = email.strip().lower()
    if email in settings().founding_committee:
        raise Invalid("Founding members come from the deployment's configuration; change them there.", field="email")
    try:
        with transaction() as write:
            write.delete(CommitteeMember(CommitteeMember.PARTITION, email))
            write.save(audit.entry(by.email, "committee_member_removed", email))
    except PynamoDBException:
        raise Conflict(CHANGE_FAILED) from None


# Sign-in links and sessions.

def request_sign_in(email: str, return_to: str = "") -> None:
    """Record the request, whoever asks and whatever the address: a member and a stranger cost
    the same, so the answer's timing tells nobody who is on the committee. send_sign_in_links
    mails the link within the minute; it leads back to `return_to` (an admin path the page has
    checked) once used."""
    email = email.strip().lower()
    if len(email) <= limits.MAX_EMAIL and EMAIL_PATTERN.match(email):
        mail.record_request("sign_in", email, SIGN_IN_LIFETIME, detail=return_to or None)


def send_sign_in_links() -> int:
    """Mail a sign-in link for each request from a member's address that has had fewer than
    quota.SIGN_IN_LINKS_PER_HOUR links this hour; forget the other requests. Returns how many were sent."""
    sent = 0
    for request in mail.requests("sign_in"):
        email, now = request.recipients[0], clock.now()
        if request.created_at + SIGN_IN_LIFETIME < now or not on_committee(email) or \
                not quota.allow("sign_in", email, quota.SIGN_IN_LINKS_PER_HOUR):
            log.info("a sign-in request gets no link (not a member's address, expired, or over the hour's limit)")
            mail.drop_request(request)
            continue
        link_id = uuid.uuid4().hex
        link_token = tokens.make_for_id(signing_key(), "login", link_id, now, SIGN_IN_LIFETIME)
        context = {"sign_in_token": link_token, "return_to": request.request_detail or ""}
        try:
            with transaction() as write:
                write.delete(request, condition=OutboxMail.queue == mail.REQUESTED)  # one link, however many runs
                write.save(Claim(key=f"signin#{link_id}", owner=email, expires_at=now + SIGN_IN_LIFETIME))
                queued = mail.queue(write, mail.compose("sign_in", (email,), context))
        except TransactWriteError:
            continue  # another run took this request
        sent += mail.send_queued(queued)
    return sent


def sign_in(link_token: str) -> tuple[Session, str]:
    """Use up a sign-in link; return the new session and its cookie header."""
    link_id = tokens.read_id(signing_key(), "login", link_token, clock.now())
    try:
        link = Claim.get(f"signin#{link_id}", consistent_read=True)
        link.delete(condition=Claim.key.exists())
    except (Claim.DoesNotExist, DeleteError):
        raise tokens.TokenError("This sign-in link has been used already. Ask for a new one.") from None
    if not on_committee(link.owner):
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
    if not on_committee(claim.owner):
        return None
    return Session(email=claim.owner, session_id=session_id)
