"""Which step function does each kind of background job, and the job worker's entry point.

The services that start jobs define their steps; this table joins them to the generic
runner in services/jobs.py, which therefore imports none of them.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from chalicelib.services import jobs, membership, pairings, proposals, retention

STEPS: dict[str, jobs.StepFunction] = {
    pairings.APPROVAL_JOB: pairings.approval_step,
    membership.ROSTER_JOB: membership.roster_step,
    retention.CLOSE_JOB: retention.close_step,
    proposals.PROPOSAL_JOB: proposals.proposal_step,
}


def run(job_id: str, time_left: Callable[[], timedelta]) -> str:
    return jobs.run(job_id, STEPS, time_left)
