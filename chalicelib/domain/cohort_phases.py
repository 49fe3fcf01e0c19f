"""A cohort's life: accepting -> matching -> running -> closed, forward only.

Cohorts written before phases existed say "open" (read as accepting) or "closed".
"""
from __future__ import annotations

from datetime import datetime

from chalicelib.domain.refusals import Conflict, Invalid

ACCEPTING, MATCHING, RUNNING, CLOSED = "accepting", "matching", "running", "closed"
PHASES = (ACCEPTING, MATCHING, RUNNING, CLOSED)
LEGACY_OPEN = "open"  # a cohort opened before phases: it takes applications

MEANING = {
    ACCEPTING: "applications join it",
    MATCHING: "the form is closed; proposals and approvals happen",
    RUNNING: "its pairings live their year",
    CLOSED: "report frozen, retention clock started",
}
# Which cohort the admin pages show first: one waiting for proposals and approvals, then
# one taking applications, then one whose pairs are mid-year, then the latest closed.
ATTENTION = (MATCHING, ACCEPTING, RUNNING, CLOSED)


def phase_of(status: str) -> str:
    """The phase a stored status stands for."""
    return ACCEPTING if status == LEGACY_OPEN else status


def check_move(current_status: str, target: object) -> str:
    """The phase to move to; refused (with the reason) unless it is later than the current one."""
    if target not in PHASES:
        raise Invalid(f"Use one of: {', '.join(PHASES)}.", field="phase")
    current = phase_of(current_status)
    if target == current:
        raise Conflict(f"The cohort is {current} already.", field="phase")
    if PHASES.index(target) < PHASES.index(current):
        raise Conflict(f"A cohort cannot move back from {current} to {target}: a cohort's life runs one way "
                       f"({' -> '.join(PHASES)}). To take applications again, open a new cohort.", field="phase")
    return str(target)


def needing_attention(cohorts: list[tuple[str, str, datetime]]) -> str | None:
    """Of (id, status, opened_at) triples, the id of the cohort the committee should see first."""
    if not cohorts:
        return None
    return min(cohorts, key=lambda c: (ATTENTION.index(phase_of(c[1])), -c[2].timestamp()))[0]
