"""Bounces and complaints that SES reports, and what the system does about them.

The stage's SES configuration set publishes bounce and complaint events to an
SNS topic; its handler in app.py passes each message here. A permanent bounce
or a complaint marks the address undeliverable (the outbox then leaves it out,
see mail.undeliverable) and tells the committee, once per address. Transient
bounces (a full mailbox, a server down) are only logged: SES has already
retried them, and the next mail may well arrive. An address stays marked
KEEP_FOR; after that SES's account suppression list still holds it, and a new
bounce marks it again.

Nothing here sends mail directly; the committee's notice goes through the
outbox in the same transaction that marks the address.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta
from email.utils import parseaddr

from pynamodb.exceptions import TransactWriteError

from chalicelib.domain import clock
from chalicelib.domain.concerns import ConcernKind
from chalicelib.services import concerns, mail
from chalicelib.services.pairings import LIVE_STATES
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Concern, Pairing, UndeliverableAddress
from chalicelib.adapters.store import conditions_failed, transaction

log = logging.getLogger(__name__)

BOUNCE = "bounce"
COMPLAINT = "complaint"
KEEP_FOR = timedelta(days=365)


def record(sns_message: str) -> dict:
    """Handle one SES event notification (event publishing or identity notification)."""
    try:
        event = json.loads(sns_message)
        kind = (event.get("eventType") or event.get("notificationType") or "").lower()
        message_id = event.get("mail", {}).get("messageId")
        if kind == BOUNCE:
            bounce = event["bounce"]
            if bounce.get("bounceType") != "Permanent":
                log.info("transient bounce of SES message %s ignored", message_id)
                return {"outcome": "ignored", "reason": "transient bounce"}
            detail = bounce.get("bounceSubType")
            addresses = [entry["emailAddress"] for entry in bounce["bouncedRecipients"]]
        elif kind == COMPLAINT:
            complaint = event["complaint"]
            detail = complaint.get("complaintFeedbackType")
            addresses = [entry["emailAddress"] for entry in complaint["complainedRecipients"]]
        else:
            return {"outcome": "ignored", "reason": f"not a bounce or complaint: {kind or 'unknown'}"}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("SES event notification ignored: not a bounce or complaint notification")
        return {"outcome": "ignored", "reason": "not an SES event notification"}
    marked = [address for address in _addresses(addresses) if _mark(address, kind, detail, message_id)]
    return {"outcome": "marked" if marked else "known", "addresses": marked}


def _addresses(raw: list) -> list[str]:
    found = []
    for value in raw:
        address = parseaddr(str(value))[1].strip().lower()
        if "@" in address and address not in found:
            found.append(address)
    return found


def _concerns(address: str, reason: str) -> list[Concern]:
    """A concern on each live pairing the address belongs to: its partner no longer hears from the program."""
    found = []
    for role, index in (("mentor", Pairing.by_mentor_email), ("mentee", Pairing.by_mentee_email)):
        keys = [key.id for key in index.query(address)]
        found += [(role, pairing) for pairing in Pairing.batch_get(keys) if pairing.state in LIVE_STATES] if keys else []
    summary = {BOUNCE: "Mail to the {role}'s address bounces, so the program's mail no longer reaches them.",
               COMPLAINT: "The {role} marked the program's mail as spam, so no more mail goes to them."}[reason]
    return [concerns.opened(pairing.cohort, pairing.id, ConcernKind.BOUNCED_ADDRESS, summary.format(role=role),
                            pairing.expires_at) for role, pairing in found]


def _mark(address: str, reason: str, detail: str | None, message_id: str | None) -> bool:
    """Mark the address and queue the committee's notice; False if it was marked before."""
    now = clock.now()
    entry = UndeliverableAddress(email=address, reason=reason, detail=detail, recorded_at=now,
                                 ses_message_id=message_id, expires_at=now + KEEP_FOR)
    notice = mail.compose("address_undeliverable", to=(settings().committee_address,),
                          context={"address": address, "reason": reason, "detail": detail or ""})
    try:
        with transaction() as write:
            write.save(entry, condition=UndeliverableAddress.email.does_not_exist())
            queued = mail.queue(write, notice)
            for concern in _concerns(address, reason):
                write.save(concern)
    except TransactWriteError as error:
        if conditions_failed(error):
            return False  # marked before (SNS delivers at least once; one address may bounce often)
        raise
    log.warning("address marked undeliverable after a %s (%s)", reason, detail or "no detail")
    mail.send_queued(queued)
    return True
