"""Mail that participants send back, delivered by SES through S3 and SNS.

The SNS message is SES's notification: it names the S3 object holding the raw
mail and carries the envelope recipients and the spam, virus, SPF and DKIM
verdicts. A reply is applied to its pairing when everything checks out;
otherwise it is quarantined with a reason and changes nothing. Either way it
is kept for the committee: nothing a participant writes is dropped. A reply
counts once, however often it is delivered: by its SES message id, and by its
Message-ID for its pairing and participant (domain.reply_keys). A reply also
addressed to the partner is applied, and the committee is told on the pairing
that the partner may have seen it.

The notification reaches the handler through an SQS queue; one that fails
three times waits in its dead-letter queue (infra/redrive.py puts it back).
A daily reconciliation also reads the bucket: every mail of the last days
without a record is handled from what SES wrote into the stored mail itself,
so a lost notification loses no answer.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pynamodb.exceptions import TransactWriteError

from chalicelib.domain import clock, lifecycle, limits, reply_keys, stored_mail, tokens
from chalicelib.domain.concerns import ConcernKind
from chalicelib.adapters import metrics
from chalicelib.adapters.aws import client
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.config import INBOUND_PREFIX, settings
from chalicelib.adapters.models import Alert, InboundMessage, Pairing
from chalicelib.services import concerns, settings_store
from chalicelib.services.pairings import get_pairing
from chalicelib.domain.refusals import Conflict, NotFound
from chalicelib.adapters.store import DIGEST, conditions_failed, current_cohort_id, new_alert, transaction
from chalicelib.services.workflow import ANSWER_EVENTS, TriggerRecord, apply_event

if TYPE_CHECKING:
    from chalicelib.domain import replies

log = logging.getLogger(__name__)

APPLIED = "applied"
UNRATED = "unrated"  # applied, but no rating could be read: the committee reads the text
AUTO_REPLY = "auto_reply"
KEPT = "kept"  # understood, but the pairing could not take it (closed, say)
QUARANTINED = "quarantined"
DUPLICATE = "duplicate"
IGNORED = "ignored"
MAX_KEPT_TEXT = 20_000
RECONCILE_DAYS = 7  # how far back the daily reconciliation reads the bucket
RECONCILE_GRACE = timedelta(hours=1)  # younger mail is still the queue's: its retries take minutes
OUTCOME_METRIC = "InboundMail"  # one per handled mail, with its outcome as the dimension


@dataclass(frozen=True)
class Delivery:
    """One received mail as SES announced it: where it is stored, who it was for, SES's verdicts."""

    message_id: str
    object_key: str
    recipients: list[str]
    receipt: dict


@dataclass
class Handling:
    outcome: str
    reason: str | None = None
    pairing: Pairing | None = None
    participant: str | None = None
    message: replies.ParsedMail | None = None
    recorded: bool = False  # its record was written in the same transaction as the reply's effect


def receive(notification_text: str) -> dict:
    """Handle one SES receipt notification (the body of the queue's message)."""
    try:
        notification = json.loads(notification_text)
        receipt = notification["receipt"]
        action = receipt["action"]
        bucket = action["bucketName"]
        delivery = Delivery(str(notification["mail"]["messageId"]), action["objectKey"],
                            [str(address) for address in receipt.get("recipients", [])], receipt)
    except (ValueError, KeyError, TypeError):
        log.warning("inbound notification ignored: not an SES receipt notification")
        metrics.emit({OUTCOME_METRIC: 1}, dimensions={"Outcome": IGNORED})
        return {"outcome": IGNORED, "reason": "not an SES receipt notification"}
    # A message delivered again is handled again, harmlessly: its pairing's history already
    # holds the trigger, and its record is written only if it does not exist yet.
    raw = client("s3").get_object(Bucket=bucket, Key=delivery.object_key)["Body"].read()
    return _handle_once(raw, delivery)


def _handle_once(raw: bytes, delivery: Delivery) -> dict:
    handling = handle(raw, delivery)
    if not handling.recorded and not _keep(_records(delivery, handling)):
        handling = Handling(DUPLICATE)
    log.info("inbound message %s: %s", delivery.message_id, handling.outcome)
    metrics.emit({OUTCOME_METRIC: 1}, dimensions={"Outcome": handling.outcome})
    if handling.outcome == DUPLICATE and handling.pairing is None:  # the same SES message again
        return {"message_id": delivery.message_id, "outcome": DUPLICATE}
    return {"message_id": delivery.message_id, "outcome": handling.outcome, "reason": handling.reason,
            "pairing_id": handling.pairing.id if handling.pairing else None}


def reconcile(days: int = RECONCILE_DAYS) -> dict:
    """Handle every mail the bucket received in the last days that has no record: its
    notification was lost, or failed for good. Handling is idempotent, so a mail that the
    queue applies meanwhile (a redrive, say) is applied once all the same."""
    now = clock.now()
    bucket = settings().inbound_bucket
    stored = {}
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=INBOUND_PREFIX):
        for item in page.get("Contents", []):
            if now - timedelta(days=days) <= item["LastModified"] <= now - RECONCILE_GRACE:
                stored[item["Key"][len(INBOUND_PREFIX):]] = item["Key"]
    recorded = {message.id for message in InboundMessage.batch_get(sorted(stored), attributes_to_get=["id"])}
    outcomes: dict[str, int] = {}
    for message_id in sorted(set(stored) - recorded):
        raw = client("s3").get_object(Bucket=bucket, Key=stored[message_id])["Body"].read()
        recipients, receipt = stored_mail.envelope(raw)
        outcome = _handle_once(raw, Delivery(message_id, stored[message_id], recipients, receipt))["outcome"]
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes:
        log.warning("reconciliation handled %d stored mails that had no record: %s", sum(outcomes.values()), outcomes)
    return {"stored": len(stored), "handled": outcomes}


def handle(raw: bytes, delivery: Delivery) -> Handling:
    """What one received mail means, applied to its pairing when it checks out."""
    from chalicelib.domain import replies  # the parser's patterns load only where mail arrives, not on every cold start

    problem = replies.verdict_problem(delivery.receipt)
    message = replies.parse_message(raw)
    if problem:
        return Handling(QUARANTINED, problem, message=message)
    if message.problem:
        return Handling(QUARANTINED, message.problem, message=message)
    token = replies.reply_token(delivery.recipients, settings().reply_domain)
    if token is None:
        return Handling(QUARANTINED, "it was not sent to a reply address", message=message)
    try:
        address = tokens.read_reply_token(signing_key(), token, clock.now())
        pairing = get_pairing(address.pairing_id)
    except tokens.TokenError as error:
        return Handling(QUARANTINED, f"its reply address is not valid: {error}", message=message)
    except NotFound:
        return Handling(QUARANTINED, "its reply address names a pairing that does not exist", message=message)
    participant = _participant(pairing, address.role, message.from_address)
    if participant is None:
        return Handling(QUARANTINED, "it comes from an address that is not the participant's", pairing, message=message)
    if message.auto_reply_reason:
        return Handling(AUTO_REPLY, f"an automatic reply ({message.auto_reply_reason}); not counted as an answer",
                        pairing, participant, message)
    reading = replies.interpret(message.reply_text)
    trigger = reply_keys.mail_trigger_id(pairing.id, participant, reply_keys.normalise_message_id(message.message_id),
                                         delivery.message_id)
    event = _event(address.kind, participant, reading, trigger, _partner_addressed(pairing, participant, message))
    applied = (Handling(APPLIED, None, pairing, participant, message, recorded=True) if reading.understood else
               Handling(UNRATED, "no rating could be read; the committee reads the text", pairing, participant,
                        message, recorded=True))
    # Its schedule and mail texts may be a few seconds old; what the reply may change is decided
    # on the pairing just read, and written on the condition that its version is still that one.
    settings_store.use_recent(pairing.cohort)
    try:
        # The pairing was just read (consistently) above: apply_event decides on it instead of reading
        # it again; its write is conditional on the version, and a lost race reloads as before.
        outcome = apply_event(pairing.id, event, pairing=pairing, records=_records(delivery, applied))
    except lifecycle.TransitionRefused as error:
        return Handling(KEPT, f"the pairing could not take it: {error}", pairing, participant, message)
    except Conflict as error:
        return Handling(KEPT, str(error), pairing, participant, message)
    if not outcome.applied:
        return Handling(DUPLICATE, "this mail was applied before", pairing, participant, message)
    return applied


def _records(delivery: Delivery, handling: Handling) -> list[TriggerRecord]:
    """The mail's record, written once, and the committee's digest alert when it must read the mail."""
    message, now = handling.message, clock.now()
    record = InboundMessage(
        id=delivery.message_id, received_at=now, object_key=delivery.object_key,
        recipients=delivery.recipients, outcome=handling.outcome, reason=handling.reason,
        pairing_id=handling.pairing.id if handling.pairing else None, participant=handling.participant,
        from_address=message.from_address if message else None, subject=message.subject[:500] if message else None,
        text=(message.reply_text or message.full_text)[:MAX_KEPT_TEXT] if message else None,
        # Kept as long as its pairing (which expires once its cohort closes). A mail that reached
        # no pairing is no cohort's to delete: it goes as long after it arrived. Either way the record
        # outlives the reconciliation's look back, or the mail would be handled anew.
        expires_at=_not_before(handling.pairing.expires_at if handling.pairing
                               else clock.months_after(now, settings().retention_months),
                               now + timedelta(days=RECONCILE_DAYS + 1)),
    )
    records: list[TriggerRecord] = [(record, InboundMessage.id.does_not_exist())]
    if handling.outcome in (QUARANTINED, UNRATED):
        alert = _alert(record, handling)
        records.append((alert, None))
        if handling.outcome == QUARANTINED and handling.pairing is not None:  # it names the pairing: someone owns it
            records.append((concerns.opened(handling.pairing.cohort, handling.pairing.id, ConcernKind.QUARANTINED_REPLY,
                                            alert.text, handling.pairing.expires_at), None))
    return records


def _not_before(expiry: datetime | None, earliest: datetime) -> datetime | None:
    return None if expiry is None else max(expiry, earliest)


def _keep(records: list[TriggerRecord]) -> bool:
    """Write a mail's records, all or none. False when the mail was recorded before."""
    try:
        with transaction() as write:
            for item, condition in records:
                write.save(item, condition=condition)
    except TransactWriteError as error:
        if not conditions_failed(error):
            raise
        return False
    return True


def _participant(pairing: Pairing, role: str, from_address: str) -> str | None:
    emails = {"mentor": pairing.mentor_email.lower(), "mentee": pairing.mentee_email.lower()}
    candidates = ("mentor", "mentee") if role == tokens.BOTH else (role,)
    return next((candidate for candidate in candidates if emails[candidate] == from_address), None)


def _partner_addressed(pairing: Pairing, participant: str, message: replies.InboundMessage) -> bool:
    """True if the mail went To or Cc the partner too: our mails that ask for an answer go to one
    person, so someone added the partner by hand (or answered an old mail sent to both)."""
    partner = pairing.mentee_email if participant == "mentor" else pairing.mentor_email
    return partner.lower() in (*message.to_addresses, *message.cc_addresses)


def _event(kind, participant: str, reading: replies.Interpretation, trigger: str,
           partner_addressed: bool) -> lifecycle.Event:
    by = f"participant:{participant}"
    if reading.rematch_requested:
        return lifecycle.Event(lifecycle.EventKind.REMATCH_REQUESTED, by, trigger, reason=reading.text[:limits.MAX_REASON],
                               partner_addressed=partner_addressed)
    return lifecycle.Event(ANSWER_EVENTS[kind], by, trigger, partner_addressed=partner_addressed,
                           rating=lifecycle.Rating(reading.rating) if reading.rating else None,
                           text=reading.text[:limits.MAX_ANSWER_TEXT])


def _alert(record: InboundMessage, handling: Handling) -> Alert:
    """For the committee's next digest: a quarantined or unreadable reply."""
    cohort = handling.pairing.cohort if handling.pairing else current_cohort_id()
    text = (f"A reply was quarantined: {handling.reason}." if handling.outcome == QUARANTINED
            else "A reply came without a rating we could read; its text is on the pairing's page.")
    return new_alert(cohort, f"reply_{handling.outcome}", DIGEST, text, record.pairing_id)
