"""What the committee should know: the daily digest and the dashboard's list.

Urgent alerts (a "need help" answer, a request for a different partner) are
mailed at once by the workflow; the rest wait here for one digest a day. The
digest also lists the concerns still open a week after they were opened,
grouped by liaison; each liaison gets their own pairings' in a mail of their own.
"""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.domain import limits
from chalicelib.services import concerns, mail
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Alert, Concern, InboundMessage, Pairing
from chalicelib.adapters.store import transaction
from chalicelib.domain import clock
from chalicelib.domain import concerns as concern_rules

DIGEST_BATCH = limits.DIGEST_ALERTS  # alerts per transaction, with their mail
NO_CONCERNS = {"concerns": [], "more_concerns": 0}  # a digest's later batches: the first lists them


def send_digest() -> int:
    """Mail the committee one digest of every alert not yet in one, and of the concerns still
    open after a week (with the first batch); returns how many alerts."""
    pending = list(Alert.pending_digest.query(Alert.PENDING))
    overdue, overdue_in_all = concerns.overdue(clock.now())
    owners = concerns.liaisons({concern.pairing_id for concern in overdue})
    names = partners({alert.pairing_id for alert in pending} - {None} | set(owners))
    open_ones = _concerns_for_mail(overdue, overdue_in_all, owners, names)
    sent = 0
    for start in range(0, max(len(pending), 1 if overdue else 0), DIGEST_BATCH):
        batch = pending[start:start + DIGEST_BATCH]
        try:
            with transaction() as write:
                for alert in batch:
                    write.update(alert, actions=[Alert.digest.remove()], condition=Alert.digest.exists())
                queued = mail.queue(write, mail.compose("committee_digest", (settings().committee_address,), {
                    "alerts": [_for_mail(alert, names) for alert in batch],
                    **(open_ones if start == 0 else NO_CONCERNS)}))
        except TransactWriteError:
            continue  # another digest run took some of these: they are in its mail
        mail.send_queued(queued)
        sent += len(batch)
    for liaison, theirs in concern_rules.by_liaison(overdue, owners).items():
        if liaison is not None:
            mail.send_queued(_queued(mail.compose("committee_digest", (liaison,), {
                "alerts": [], **_concerns_for_mail(theirs, len(theirs), owners, names)})))
    return sent


def _queued(composed: mail.Mail):
    with transaction() as write:
        return mail.queue(write, composed)


def _concerns_for_mail(overdue: list[Concern], in_all: int, owners: dict[str, str | None],
                       names: dict[str, str]) -> dict:
    """The digest's concerns: the first DIGEST_CONCERNS of `overdue`, and how many more of the
    `in_all` the dashboard lists."""
    listed = [{"kind": concern.kind, "summary": concern.summary, "pairing_id": concern.pairing_id,
               "pair": names.get(concern.pairing_id), "opened_at": clock.iso(concern.opened_at)[:10], "liaison": liaison}
              for liaison, group in concern_rules.by_liaison(overdue, owners).items() for concern in group]
    shown = listed[:concern_rules.DIGEST_CONCERNS]
    return {"concerns": shown, "more_concerns": max(0, in_all - len(shown))}


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
