"""Cohorts through their life (domain/cohort_phases.py): the list the committee sees, and moving one on.

Every move is a conditional write on the phase it was read in, so of two committee
members moving a cohort at once one wins and the other is told it moved meanwhile.
Closing is retention.close_cohort's; it is refused while pairings are live unless the
committee confirms, and then each live pairing ends as "program year ended" first.
"""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.models import Application, Claim, Cohort, Job, Pairing
from chalicelib.adapters.store import ACCEPTING_CLAIM, all_cohorts, conditions_failed, transaction
from chalicelib.domain.agreement import ClosureReason
from chalicelib.domain import clock, lifecycle
from chalicelib.domain.cohort_phases import ACCEPTING, CLOSED, check_move, phase_of
from chalicelib.domain.refusals import Conflict, NotFound
from chalicelib.services import audit, retention, workflow
from chalicelib.services.pairings import LIVE_STATES


def _live_pairings(cohort_id: str) -> list[Pairing]:
    return list(Pairing.by_cohort.query(cohort_id, filter_condition=Pairing.state.is_in(*LIVE_STATES)))


def summary(cohort: Cohort) -> dict:
    """A cohort as GET /admin/api/cohorts answers it; counts are index counts, no item is read twice."""
    counts = {role + "s": Application.by_cohort_role.count(f"{cohort.id}#{role}") for role in ("mentor", "mentee")}
    counts["pairings"] = Pairing.by_cohort.count(cohort.id)
    counts["live_pairings"] = Pairing.by_cohort.count(cohort.id, filter_condition=Pairing.state.is_in(*LIVE_STATES))
    return {"id": cohort.id, "name": cohort.name, "phase": phase_of(cohort.status),
            "opened_at": clock.iso(cohort.opened_at), "counts": counts}


def summaries() -> list[dict]:
    return [summary(cohort) for cohort in all_cohorts()]


def move(member: str, cohort_id: str, target: object, *, end_live_pairings: bool = False) -> str | Job:
    """Move a cohort on to a later phase; returns what happened, in words (or the job closing a large cohort)."""
    try:
        cohort = Cohort.get(cohort_id, consistent_read=True)
    except Cohort.DoesNotExist:
        raise NotFound(f"No cohort {cohort_id}.", field="cohort") from None
    phase = check_move(cohort.status, target)
    if phase == CLOSED:
        return _close(member, cohort, end_live_pairings)
    try:
        with transaction() as write:
            write.update(cohort, actions=[Cohort.status.set(phase)], condition=Cohort.status == cohort.status)
            if phase_of(cohort.status) == ACCEPTING:  # the form closes: another cohort may open
                write.delete(Claim(key=ACCEPTING_CLAIM),
                             condition=Claim.key.does_not_exist() | (Claim.owner == cohort.id))
    except TransactWriteError as error:
        if not conditions_failed(error):
            raise
        now = Cohort.get(cohort_id, consistent_read=True)
        raise Conflict(f"Cohort {cohort.name} was moved meanwhile: it is {phase_of(now.status)} now.",
                       field="phase") from None
    audit.record(member, "cohort_phase", cohort_id, {"from": phase_of(cohort.status), "to": phase})
    return f"Cohort {cohort.name} is {phase} now."


def _close(member: str, cohort: Cohort, end_live_pairings: bool) -> str | Job:
    live = _live_pairings(cohort.id)
    if live and not end_live_pairings:
        raise Conflict(f"Cohort {cohort.name} has {len(live)} live pairing{'s' if len(live) != 1 else ''}. "
                       "Confirm to end each as \"program year ended\" (both partners are told), then close.",
                       field="end_live_pairings")
    for pairing in live:  # one trigger per cohort: a close repeated after a failure ends nothing twice
        workflow.apply_event(pairing.id, lifecycle.Event(
            lifecycle.EventKind.COMMITTEE_DISSOLVE, f"committee:{member}", f"cohort-closed/{cohort.id}",
            reason=lifecycle.PROGRAM_YEAR_ENDED, closure_reason=ClosureReason.PROGRAM_YEAR_ENDED), pairing=pairing)
    closed = retention.close_or_start(member, cohort.id)  # a large cohort closes in a background job
    if isinstance(closed, Job):
        return closed
    ended = f" {len(live)} live pairings ended as program year ended." if live else ""
    return (f"Cohort {cohort.name} is closed.{ended} Its personal data will be deleted on "
            f"{closed.date().isoformat()}; the report is kept.")
