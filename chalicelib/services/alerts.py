"""What the committee should know: the daily digest and the dashboard's list.

Urgent alerts (a "need help" answer, a request for a different partner) are
mailed at once by the workflow; the rest wait here for one digest a day.
"""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.domain import limits
from chalicelib.services import mail
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Alert, InboundMessage, Pairing
from chalicelib.adapters.store import transaction

DIGEST_BATCH = limits.DIGEST_ALERTS  # alerts per transaction, with their mail


def send_digest() -> int:
    """Mail the committee one digest of every alert not yet in one; returns how many."""
    pending = list(Alert.pending_digest.query(Alert.PENDING))
    sent = 0
    for start in range(0, len(pending), DIGEST_BATCH):
        batch = pending[start:start + DIGEST_BATCH]
        names = partners({alert.pairing_id for alert in batch} - {None})
        try:
            with transaction() as write:
                for alert in batch:
                    write.update(alert, actions=[Alert.digest.remove()], condition=Alert.digest.exists())
                queued = mail.queue(write, mail.compose("committee_digest", (settings().committee_address,),
                                                        {"alerts": [_for_mail(alert, names) for alert in batch]}))
        except TransactWriteError:
            continue  # another digest run took some of these: they are in its mail
        mail.send_queued(queued)
        sent += len(batch)
    return sent


def partners(pairing_ids: set[str]) -> dict[str, str]:
    """"Mentee and Mentor" for each pairing, so an alert says whose it is."""
    found = Pairing.batch_get(sorted(pairing_ids)) if pairing_ids else []
    return {pairing.id: f"{pairing.mentee_name} and {pairing.mentor_name}" for pairing in found}


def _for_mail(alert: Alert, names: dict[str, str]) -> dict:
    """Every field the digest names, absent ones as None (a quarantined mail may have no pairing)."""
    return {"kind": alert.kind, "text": alert.text, "pairing_id": alert.pairing_id,
            "pair": names.get(alert.pairing_id), "at": alert.at_id.split("#", 1)[0]}


def recent(cohort_id: str, limit: int = 30) -> list[Alert]:
    return list(Alert.query(cohort_id, scan_index_forward=False, limit=limit))


def replies_to_read(outcome: str, limit: int = 50) -> list[InboundMessage]:
    return list(InboundMessage.by_outcome.query(outcome, scan_index_forward=False, limit=limit))
