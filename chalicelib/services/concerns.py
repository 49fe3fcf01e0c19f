"""Concerns the committee owns: opened with the trigger that raised them, open until handled.

Each trigger that opens a concern saves it in its own transaction (`opened` returns the
record to save), so a retried trigger opens none again. Marking one handled is one
conditional transaction with its audit entry: who handled it, and when. The open ones
are read from a sparse index, oldest first; a pairing's own by its key.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.models import Concern, Pairing
from chalicelib.adapters.store import ALERT_RETENTION_MONTHS, conditions_failed, transaction
from chalicelib.domain import clock
from chalicelib.domain import concerns as rules
from chalicelib.domain.concerns import ConcernKind
from chalicelib.domain.refusals import Conflict, Invalid, NotFound
from chalicelib.services import audit, committee
from chalicelib.services.pairings import get_pairing

MAX_LISTED = 500  # open concerns read for a dashboard or a digest; past that they are only counted


def opened(cohort: str, pairing_id: str, kind: ConcernKind, summary: str, expires_at: datetime | None = None,
           concern_id: str | None = None) -> Concern:
    """A new open concern, to save in the transaction of what raised it. Its summary names no one.
    A trigger that may be handled twice (a bounce) passes an id of its own, saved on the condition
    that it does not exist yet."""
    now = clock.now()
    return Concern(pairing_id=pairing_id, id=concern_id or secrets.token_hex(8), cohort=cohort,
                   kind=ConcernKind(kind).value, summary=summary, opened_at=now, open=Concern.OPEN,
                   expires_at=expires_at or clock.months_after(now, ALERT_RETENTION_MONTHS))


def record(concern: Concern) -> dict:
    """A concern as the API and the pages show it."""
    return {"id": concern.id, "kind": concern.kind, "opened_at": clock.iso(concern.opened_at),
            "summary": concern.summary, "handled_at": clock.iso(concern.handled_at) if concern.handled_at else None,
            "handled_by": concern.handled_by, "note": concern.note}


def of_pairing(pairing_id: str) -> list[dict]:
    """The pairing's concerns, open ones first, each group oldest first."""
    found = sorted(Concern.query(pairing_id), key=lambda concern: (concern.open is None, concern.opened_at))
    return [record(concern) for concern in found]


def open_for(member: str) -> tuple[list[dict], int]:
    """The oldest MAX_LISTED open concerns, as `member` reads them: their pairings' first, then the
    oldest first; each with its pairing and that pairing's liaison. And how many are open in all."""
    found, total = _oldest_open()
    return in_order_for(member, found), total


def in_order_for(member: str | None, found: list[Concern]) -> list[dict]:
    owners = liaisons({concern.pairing_id for concern in found})
    return [{**record(concern), "pairing_id": concern.pairing_id, "liaison": owners.get(concern.pairing_id)}
            for concern in rules.in_order_for(member, found, owners)]


def liaisons(pairing_ids: set[str]) -> dict[str, str | None]:
    found = Pairing.batch_get(sorted(pairing_ids), attributes_to_get=["id", "liaison"]) if pairing_ids else []
    return {pairing.id: pairing.liaison for pairing in found}


def overdue(now: datetime) -> tuple[list[Concern], int]:
    """The oldest MAX_LISTED concerns still open DIGEST_AFTER after they were opened, oldest first;
    and how many there are in all."""
    return _oldest_open(opened_by=now - rules.DIGEST_AFTER)


def _oldest_open(opened_by: datetime | None = None) -> tuple[list[Concern], int]:
    """The oldest MAX_LISTED open concerns (those opened by `opened_by`, if given), and how many in all."""
    opened_in_time = None if opened_by is None else Concern.opened_at <= opened_by
    found = list(Concern.open_concerns.query(Concern.OPEN, opened_in_time, limit=MAX_LISTED))
    if len(found) < MAX_LISTED:
        return found, len(found)
    # Past the cap they are counted, not read, and only then: a COUNT query's pages carry no items,
    # so the Lambda holds one number however many there are. DynamoDB still bills the index it
    # reads: 128 read units a 1 MB page, about 4,000 concerns of ~250 bytes.
    # (One handled since the list was read is not counted: never below the list.)
    return found, max(len(found), Concern.open_concerns.count(Concern.OPEN, opened_in_time))


def mark_handled(member: str, pairing_id: str, concern_id: str, note: object) -> dict:
    """Mark one open concern handled, with the member's note; refuses one handled before (Conflict)."""
    note = rules.handled_note(note)
    concern = _get(pairing_id, concern_id)
    if concern.open is None:
        raise _handled_before(concern)
    now = clock.now()
    try:
        with transaction() as write:
            write.update(concern, actions=[Concern.open.remove(), Concern.handled_at.set(now),
                                           Concern.handled_by.set(member), Concern.note.set(note)],
                         condition=Concern.open.exists())
            write.save(audit.entry(member, "concern_handled", pairing_id,
                                   {"concern_id": concern.id, "kind": concern.kind}))
    except TransactWriteError as error:
        if not conditions_failed(error):
            raise
        raise _handled_before(_get(pairing_id, concern_id)) from None  # someone else, a moment ago
    concern.refresh(consistent_read=True)
    return record(concern)


def _get(pairing_id: str, concern_id: str) -> Concern:
    try:
        return Concern.get(pairing_id, concern_id, consistent_read=True)
    except Concern.DoesNotExist:
        raise NotFound(f"The pairing has no concern {concern_id}.") from None


def _handled_before(concern: Concern) -> Conflict:
    return Conflict(f"This concern was already marked handled by {concern.handled_by} "
                    f"on {clock.iso(concern.handled_at)[:10]}.")


def name_liaison(member: str, pairing_id: str, liaison: str) -> str | None:
    """Name the committee member who looks after the pairing first ("" for nobody); audited."""
    liaison = (liaison or "").strip().lower()
    if liaison and not committee.on_committee(liaison):
        raise Invalid("The liaison must be a committee member.", field="liaison")
    pairing = get_pairing(pairing_id)
    with transaction() as write:
        write.update(pairing, actions=[Pairing.liaison.set(liaison) if liaison else Pairing.liaison.remove()],
                     condition=Pairing.id.exists())
        write.save(audit.entry(member, "liaison_named", pairing_id, {"liaison": liaison or None}))
    return liaison or None
