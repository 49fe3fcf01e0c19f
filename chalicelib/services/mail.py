"""Compose, queue and send every mail the system sends.

A mail is rendered from Jinja2 templates (subject, plain text and HTML),
built as a MIME message with the standard library, and written to the outbox
in the same DynamoDB transaction as the record change that caused it. After
the transaction commits it is sent raw through SES v2 (raw keeps Reply-To
and our headers), and marked sent with a conditional write. A scheduled
sweeper sends whatever is left unsent.

A mail SES refuses for good (MessageRejected, an invalid address), or one that
failed MAX_SEND_ATTEMPTS times, is parked: it leaves the queue (so it no longer
holds the backlog alarm on), its content is dropped, and the committee is told
on the dashboard and in the digest, which show whom it was for until it
expires KEEP_PARKED_FOR later.
"""
from __future__ import annotations

import binascii
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_string
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, format_datetime, make_msgid

from pynamodb.exceptions import PynamoDBException

from chalicelib.domain import clock, mail_catalogue
from chalicelib.adapters import metrics
from chalicelib.services import settings_store
from chalicelib.adapters.aws import client
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Alert, OutboxMail, UndeliverableAddress
from chalicelib.adapters.store import DIGEST, NO_COHORT, current_cohort_id, new_alert, transaction
from chalicelib.domain.templating import TemplateLimit, render

log = logging.getLogger(__name__)

PENDING = "pending"
REQUESTED = "requested"  # mails asked for, to be composed by their own job (the sign-in links)
LEASE = timedelta(minutes=5)
SWEEP_GRACE = timedelta(minutes=2)  # leave fresh mail to the request that queued it
KEEP_SENT_FOR = timedelta(days=400)
UNDELIVERABLE = "undeliverable"  # last_error of a mail dropped because no recipient can receive it
ERASED = "erased"  # last_error of a mail dropped because a person it names was erased
BACKLOG_METRIC = "OutboxBacklog"  # mail the sweeper found due and could not send; alarmed on in infra/
TEXT_FAILED = "mail_text_failed"  # the alert's kind when a committee mail text falls back to the default
PARKED = "parked"
MAX_SEND_ATTEMPTS = 288  # a day of sweeps, one every 5 minutes: SES throttling or a quota outlasts no day
KEEP_PARKED_FOR = timedelta(days=30)
# SES's answers that blame this mail (its content or an address), not SES: trying again cannot help.
REFUSED_FOR_GOOD = {"MessageRejected": "SES refused it", "BadRequestException": "an address is not valid"}


@dataclass(frozen=True)
class Mail:
    template: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    reply_to: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = field(default=())


def compose(template: str, to: tuple[str, ...], context: dict, reply_to: tuple[str, ...] = (),
            cohort: str | None = None) -> Mail:
    """Render the mail with the context: the committee's subject and text when they changed
    this mail in the cohort's settings (the open cohort's when none is named), the HTML
    part derived from that text; otherwise mail/<template>.{subject.txt,txt,html}. A
    committee text that fails, or goes past its limits, gives way to the system's own
    (so intake and sign-in always work), and the committee is told."""
    context = mail_catalogue.plain_placeholders(
        {"base_url": settings().base_url, "committee_address": settings().committee_address, **context})
    saved = settings_store.of(cohort)
    edited = mail_catalogue.edited_mail(saved.document, template)
    if edited is not None:
        try:
            subject, text, html = rendered(template, edited, context)
        except Exception as error:  # noqa: BLE001 - checked when saved; should it still fail, the system's own text goes
            log.warning("the committee's %s mail did not render (%s); the default is sent", template, type(error).__name__)
            _tell_committee_the_text_failed(saved.cohort, template, error)
        else:
            return Mail(template=template, to=to, subject=subject, text=text, html=html, reply_to=reply_to)
    subject, text, html = rendered(template, None, context)
    return Mail(template=template, to=to, subject=subject, text=text, html=html, reply_to=reply_to)


def rendered(template: str, edited: Mapping[str, str] | None, context: Mapping) -> tuple[str, str, str]:
    """(subject, text part, HTML part) as the mail is sent: from the committee's edited text, the
    HTML made from it; else from mail/<template>.{subject.txt,txt,html}. The editor's preview shows these."""
    if edited is not None:
        return mail_catalogue.render_mail(template, edited, context)
    subject_file, text_file = mail_catalogue.system_files(template, context)
    subject = " ".join(render(f"mail/{subject_file}", **context).split())
    return (subject, mail_catalogue.tidy_text(render(f"mail/{text_file}", **context)),
            render(f"mail/{template}.html", subject=subject, **context))


def _tell_committee_the_text_failed(cohort: str | None, template: str, error: Exception) -> None:
    """An alert for the dashboard and the digest, once a day for each mail (its key says which and when)."""
    day = clock.iso(clock.now().replace(hour=0, minute=0, second=0, microsecond=0))
    why = f"it went past a limit: {error}" if isinstance(error, TemplateLimit) else "it did not work with this mail's data"
    title = mail_catalogue.MAILS[template].title if template in mail_catalogue.MAILS else template
    alert = new_alert(cohort or NO_COHORT, TEXT_FAILED, DIGEST,
                      f"The committee's text of the \u201c{title}\u201d mail could not be used ({why}); "
                      "the system's own text was sent instead. Change it in the settings.")
    alert.at_id = f"{day}#mail-{template}"
    try:
        alert.save(condition=Alert.at_id.does_not_exist())
    except PynamoDBException:
        pass  # told already today, or the store is down: the mail matters more


def _transfer_encoding(text: str) -> str:
    """Quoted-printable, readable as it is, unless base64 is shorter (text mostly not ASCII): either
    way a part is at most 4/3 of its UTF-8 size, so a mail within its limits fits the outbox."""
    data = text.encode("utf-8")
    return "quoted-printable" if len(binascii.b2a_qp(data)) <= (len(data) + 2) // 3 * 4 * 77 // 76 + 1 else "base64"


def to_mime(mail: Mail, sender: str, sent_at) -> str:
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr(("Mentoring Committee", sender))
    message["To"] = ", ".join(mail.to)
    if mail.reply_to:
        message["Reply-To"] = ", ".join(mail.reply_to)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"
    for name, value in mail.headers:
        message[name] = value
    message.set_content(mail.text, cte=_transfer_encoding(mail.text))
    message.add_alternative(mail.html, subtype="html", cte=_transfer_encoding(mail.html))
    return message.as_string()


def outbox_item(mail: Mail) -> OutboxMail:
    """The outbox record to save in the caller's transaction."""
    now = clock.now()
    sender = settings().sender_address
    return OutboxMail(
        id=uuid.uuid4().hex,
        template=mail.template,
        sender=sender,
        recipients=list(mail.to),
        mime=to_mime(mail, sender, now),
        queue=PENDING,
        created_at=now,
        attempts=0,
    )


def queue(write, mail: Mail, *, leased: bool = False) -> OutboxMail:
    """Add the mail to the caller's transaction; send it once that has committed. A mail queued
    leased is this process's to send right after the commit (send_leased): taking the lease
    costs no write of its own, and no sweep takes the mail before the lease runs out."""
    item = outbox_item(mail)
    if leased:
        item.lease_until, item.attempts = item.created_at + LEASE, 1
    write.save(item, condition=OutboxMail.id.does_not_exist())
    return item


def check_deliverable(write, mails: list[Mail]) -> int:
    """Add to the caller's transaction the condition that SES has told us of none of the mails'
    recipients (see undeliverable), so that sending them reads nothing first; returns how many
    checks were added. PynamoDB puts condition checks first in a transaction: a failed condition
    at a position below that number is a recipient's, and the caller writes again without them."""
    addresses = sorted({address.lower() for composed in mails for address in composed.to})
    for address in addresses:
        write.condition_check(UndeliverableAddress, address, condition=UndeliverableAddress.email.does_not_exist())
    return len(addresses)


def record_request(template: str, address: str, lifetime: timedelta, detail: str | None = None) -> None:
    """Keep a request for a mail to `address`, composed later by the job that serves such requests
    (committee.send_sign_in_links), with its one `detail` (the page a sign-in link returns to).
    Recording costs the same whatever that job will decide."""
    now = clock.now()
    OutboxMail(id=uuid.uuid4().hex, template=template, sender=settings().sender_address, recipients=[address],
               queue=REQUESTED, created_at=now, attempts=0, expires_at=now + lifetime, request_detail=detail).save()


def requests(template: str, limit: int = 500) -> list[OutboxMail]:
    """The requests waiting for a `template` mail, oldest first."""
    ids = [key.id for key in OutboxMail.pending.query(REQUESTED, limit=limit)]
    found = sorted(OutboxMail.batch_get(ids), key=lambda item: item.created_at) if ids else []
    return [item for item in found if item.template == template and item.queue == REQUESTED]


def drop_request(request: OutboxMail) -> None:
    """Forget a request that gets no mail; another run may have taken it already."""
    try:
        request.delete(condition=OutboxMail.queue == REQUESTED)
    except PynamoDBException:
        pass


def deliver(mail_id: str) -> bool:
    """Send one queued mail unless it is sent or leased; True once it has left the queue.

    Addresses SES reported as bouncing or complaining are left out; a mail
    with no one else to go to leaves the queue unsent (and counts as done),
    as does a mail that is parked."""
    try:
        item = OutboxMail.get(mail_id, consistent_read=True)
    except OutboxMail.DoesNotExist:
        return False
    if item.queue is None:
        return True
    return send_queued(item)


def send_queued(item: OutboxMail) -> bool:
    """Send a mail this process has just queued, without reading it back: taking
    the lease is conditional on the mail being queued and not leased already."""
    now = clock.now()
    try:
        item.update(
            actions=[OutboxMail.lease_until.set(now + LEASE), OutboxMail.attempts.add(1)],
            condition=OutboxMail.queue.exists()
            & (OutboxMail.lease_until.does_not_exist() | (OutboxMail.lease_until < now)),
        )
    except PynamoDBException:
        return False  # another sender holds it, or the store is unavailable: the sweeper retries
    return send_leased(item)


def send_leased(item: OutboxMail, recipients_checked: bool = False) -> bool:
    """Send a mail whose lease this process holds; recipients_checked: its transaction checked
    that none of its recipients is undeliverable (check_deliverable)."""
    blocked = set() if recipients_checked else undeliverable(item.recipients)
    if blocked and blocked >= {address.lower() for address in item.recipients}:
        _drop(item)
        return True
    try:
        answer = _send(item, skip=blocked) if blocked else _send(item)
    except Exception as error:  # noqa: BLE001 - any SES failure leaves the mail for the sweeper, or parks it
        reason = _error_code(error)
        if reason in REFUSED_FOR_GOOD or int(item.attempts) >= MAX_SEND_ATTEMPTS:
            return _park(item, reason)
        log.warning("mail %s not sent: %s", item.id, reason)
        _release(item, reason)
        return False
    _mark_sent(item, answer["MessageId"])
    return True


def _error_code(error: Exception) -> str:
    """AWS's error code (botocore's ClientError), else the exception's type: never its message."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else type(error).__name__


def undeliverable(addresses) -> set[str]:
    """The addresses (lower case) that SES told us not to mail again (see deliverability.py)."""
    keys = sorted({address.lower() for address in addresses})
    return {entry.email for entry in UndeliverableAddress.batch_get(keys)} if keys else set()


def _send(item: OutboxMail, skip: set[str] = frozenset()) -> dict:
    mime = item.mime
    arguments = {}
    if skip:  # the others still get it, addressed (header and envelope) to them alone
        keep = [address for address in item.recipients if address.lower() not in skip]
        message = message_from_string(mime, policy=SMTP)
        del message["To"]
        message["To"] = ", ".join(keep)
        mime = message.as_string()
        arguments["Destination"] = {"ToAddresses": keep}
    arguments.update({"FromEmailAddress": item.sender, "Content": {"Raw": {"Data": mime.encode("utf-8")}}})
    if settings().configuration_set:
        arguments["ConfigurationSetName"] = settings().configuration_set
    return client("sesv2").send_email(**arguments)


# A mail that has left the queue, sent or dropped, keeps no one's address and no content.
_LEFT_THE_QUEUE = (OutboxMail.queue.remove(), OutboxMail.lease_until.remove(),
                   OutboxMail.recipients.remove(), OutboxMail.mime.remove())


def _mark_sent(item: OutboxMail, ses_message_id: str) -> None:
    now = clock.now()
    actions = [
        *_LEFT_THE_QUEUE,
        OutboxMail.sent_at.set(now),
        OutboxMail.ses_message_id.set(ses_message_id),
        OutboxMail.expires_at.set(now + KEEP_SENT_FOR),
    ]
    # SES accepted the mail: marking it must not give up easily, or it is sent twice.
    for attempt in range(5):
        try:
            item.update(actions=actions, condition=OutboxMail.queue.exists(), add_version_condition=False)
            return
        except PynamoDBException as error:
            log.warning("marking mail %s sent failed (attempt %d): %s", item.id, attempt + 1, type(error).__name__)
    log.error("mail %s was sent but could not be marked; its lease will expire and it may be resent", item.id)


def _drop(item: OutboxMail) -> None:
    now = clock.now()
    try:
        item.update(actions=[*_LEFT_THE_QUEUE, OutboxMail.last_error.set(UNDELIVERABLE),
                             OutboxMail.expires_at.set(now + KEEP_SENT_FOR)],
                    condition=OutboxMail.queue.exists(), add_version_condition=False)
    except PynamoDBException:
        pass  # the lease runs out and the next sweep drops it again
    log.info("mail %s dropped: no recipient can receive mail", item.id)


def _park(item: OutboxMail, reason: str) -> bool:
    """Give the mail up: out of the queue, its content dropped, the committee told. True once parked."""
    now = clock.now()
    why = (f"{REFUSED_FOR_GOOD[reason]} ({reason})" if reason in REFUSED_FOR_GOOD
           else f"sending failed {int(item.attempts)} times (last: {reason})")
    alert = new_alert(current_cohort_id(), "mail_parked", DIGEST,
                      f"A mail could not be sent: {why}. The dashboard shows whom it was for "
                      f"({item.template.replace('_', ' ')}) for {KEEP_PARKED_FOR.days} days.")
    try:
        with transaction() as write:
            write.update(item, actions=[OutboxMail.queue.remove(), OutboxMail.lease_until.remove(),
                                        OutboxMail.mime.remove(), OutboxMail.parked.set(PARKED),
                                        OutboxMail.last_error.set(reason),
                                        OutboxMail.expires_at.set(now + KEEP_PARKED_FOR)],
                         condition=OutboxMail.queue.exists())
            write.save(alert)
    except PynamoDBException:
        log.warning("mail %s could not be parked; its lease runs out and the sweeper tries again", item.id)
        return False
    log.warning("mail %s parked after %d attempts: %s", item.id, int(item.attempts), reason)
    return True


def parked_mail(limit: int = 50) -> list[OutboxMail]:
    """The mail given up on, newest first, with whom it was for (the dashboard lists it)."""
    return list(OutboxMail.parked_mail.query(PARKED, scan_index_forward=False, limit=limit))


def forget_address(address: str) -> int:
    """Drop every unsent or parked mail to the address or naming it, so an erased person's
    address is left in no mail; returns how many. Sent mail keeps no address already."""
    address = address.strip().lower()
    keys = [key.id for key in OutboxMail.pending.query(PENDING)]
    waiting: list[OutboxMail] = [*(OutboxMail.batch_get(keys) if keys else []), *OutboxMail.parked_mail.query(PARKED)]
    forgotten = 0
    for item in waiting:
        if not _names(item, address):
            continue
        item.update(actions=[*_LEFT_THE_QUEUE, OutboxMail.parked.remove(), OutboxMail.last_error.set(ERASED),
                             OutboxMail.expires_at.set(clock.now() + KEEP_PARKED_FOR)])
        forgotten += 1
    return forgotten


def _names(item: OutboxMail, address: str) -> bool:
    if any(address == recipient.lower() for recipient in item.recipients or []):
        return True
    if not item.mime:
        return False
    message = message_from_string(item.mime, policy=SMTP)  # the body is quoted-printable: decode it
    texts = [str(value) for value in message.values()]
    texts += [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    return any(address in text.lower() for text in texts)


def _release(item: OutboxMail, reason: str) -> None:
    try:
        item.update(actions=[OutboxMail.lease_until.remove(), OutboxMail.last_error.set(reason)])
    except PynamoDBException:
        pass  # the lease simply runs out


def deliver_all(items, recipients_checked: bool = False) -> None:
    """Send the mails this process queued leased, once their transaction has committed."""
    for item in items:
        send_leased(item, recipients_checked)


def sweep(limit: int = 500) -> int:
    """Send mail left unsent; returns how many left the queue now (sent, dropped or parked).

    Each sweep reports how many due mails it could not send as a metric; the
    deployed stack raises an alarm when that stays above zero. Parked mail is out
    of the queue, so it does not hold the alarm on."""
    cutoff = clock.now() - SWEEP_GRACE
    sent = due = 0
    for key in OutboxMail.pending.query(PENDING, OutboxMail.created_at <= cutoff, limit=limit):
        due += 1
        sent += deliver(key.id)
    metrics.emit({BACKLOG_METRIC: due - sent})
    return sent
