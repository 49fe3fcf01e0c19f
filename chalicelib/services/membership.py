"""Membership in the association, the program's only requirement.

The committee loads the roster; an application whose membership number or
email is on the current roster (and not expired) is eligible.
"""
from __future__ import annotations

import logging
import secrets
from datetime import date

from pynamodb.exceptions import TransactWriteError

from chalicelib.services import audit
from chalicelib.domain import clock
from chalicelib.adapters.models import Application, AuditEntry, Claim, Member
from chalicelib.domain.roster import RosterRead, RosterRow, normalise_membership_id, read_roster
from chalicelib.domain.refusals import Conflict
from chalicelib.adapters.store import open_cohort, transaction
from chalicelib.services.applications import Status

log = logging.getLogger(__name__)

CURRENT_ROSTER = "roster#current"
ROSTER_REPLACED = "roster_replaced"


def current_roster() -> str | None:
    try:
        return Claim.get(CURRENT_ROSTER, consistent_read=True).owner
    except Claim.DoesNotExist:
        return None


def _valid(member: Member, today: date) -> bool:
    return not member.expires or date.fromisoformat(member.expires) >= today


def on_roster(membership_id: str, email: str) -> bool:
    roster = current_roster()
    if roster is None:
        return False
    today = clock.now().date()
    if membership_id:
        try:
            if _valid(Member.get(roster, normalise_membership_id(membership_id)), today):
                return True
        except Member.DoesNotExist:
            pass
    return any(_valid(member, today) for member in Member.by_email.query(f"{roster}#{email.lower()}"))


def status_for(membership_id: str, email: str) -> str:
    return Status.ELIGIBLE if on_roster(membership_id, email) else Status.PENDING_VERIFICATION


def replace_roster(rows: list[RosterRow], by: str) -> int:
    """Write the new roster as a new version, then switch to it in one step."""
    previous = current_roster()
    version = f"{clock.iso(clock.now())}#{secrets.token_hex(4)}"
    with Member.batch_write() as batch:
        for row in rows:
            batch.save(Member(
                roster=version, membership_id=row.membership_id, roster_email=f"{version}#{row.email}",
                email=row.email, name=row.name, expires=row.expires.isoformat() if row.expires else None,
            ))
    pointer = Claim(key=CURRENT_ROSTER, owner=version)
    unchanged = Claim.key.does_not_exist() if previous is None else Claim.owner == previous
    try:
        with transaction() as write:
            write.save(pointer, condition=unchanged)
            write.save(audit.entry(by, ROSTER_REPLACED, version, details={"members": len(rows)}))
    except TransactWriteError:
        _delete_version(version)
        raise Conflict("Another roster was loaded at the same moment. Please load yours again.") from None
    if previous:
        _delete_version(previous)
    return len(rows)


def _delete_version(version: str) -> None:
    with Member.batch_write() as batch:
        for member in Member.query(version):
            batch.delete(member)


def recheck_pending(cohort_id: str) -> int:
    """Make eligible every pending application of the cohort now on the roster."""
    newly_eligible = 0
    for role in ("mentor", "mentee"):
        for application in Application.by_cohort_role.query(f"{cohort_id}#{role}"):
            if application.status != Status.PENDING_VERIFICATION or not on_roster(application.membership_id, application.email):
                continue
            try:
                application.update(actions=[Application.status.set(Status.ELIGIBLE)],
                                   condition=Application.status == Status.PENDING_VERIFICATION)
                newly_eligible += 1
            except Exception:  # noqa: BLE001 - changed meanwhile (withdrawn, say): leave it
                log.info("application %s changed while the roster was checked", application.id)
    return newly_eligible


def roster_summary() -> dict | None:
    """The roster in use: how many members, when it was loaded and by whom (from its audit entry,
    written with it); None when none is loaded."""
    version = current_roster()
    if version is None:
        return None
    loaded_at = version.split("#", 1)[0]
    found = AuditEntry.query(loaded_at[:7], AuditEntry.at_id >= loaded_at,
                             filter_condition=AuditEntry.action == ROSTER_REPLACED)
    entry = next((entry for entry in found if entry.target in (version, None)), None)
    return {"loaded_at": loaded_at, "loaded_by": entry.member if entry else None,
            "members": (entry.details or {}).get("members") if entry else None}


def preview_roster(csv_text: str) -> RosterRead:
    """The roster as it would be loaded, and the column mapping it was read with; nothing is stored."""
    return read_roster(csv_text)


def load_roster(by: str, csv_text: str) -> dict:
    """Replace the roster from the committee's CSV, then re-check the open cohort's waiting applications."""
    members = replace_roster(read_roster(csv_text).rows, by=by)
    cohort = open_cohort()
    return {"members": members, "newly_eligible": recheck_pending(cohort.id) if cohort else 0}
