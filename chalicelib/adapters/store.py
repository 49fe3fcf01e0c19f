"""Small storage helpers shared by the services: transactions, cohorts, roster.

Reads are gets and index queries; nothing here scans a table.
"""
from __future__ import annotations

from functools import lru_cache

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain import clock
from chalicelib.domain.refusals import NotFound
from chalicelib.adapters.models import Application, Cohort

OPEN = "open"
CLOSED = "closed"  # a cohort whose year is over; its frozen report stands for it


@lru_cache(maxsize=1)
def _connection():
    from pynamodb.connection import Connection

    return Connection()


def transaction() -> TransactWrite:
    return TransactWrite(connection=_connection())


def conditions_failed(error: TransactWriteError) -> list[int]:
    """Positions of the transaction items whose condition failed."""
    reasons = error.cancellation_reasons or []
    return [index for index, reason in enumerate(reasons) if reason and reason.code == "ConditionalCheckFailed"]


def open_cohort() -> Cohort | None:
    for cohort in Cohort.by_status.query(OPEN, scan_index_forward=False, limit=1):
        return cohort
    return None


def cohort_or_open(cohort_id: str | None) -> Cohort | None:
    """The cohort asked for by id, else the open one; None when neither exists."""
    if cohort_id:
        try:
            return Cohort.get(cohort_id)
        except Cohort.DoesNotExist:
            return None
    return open_cohort()


def required_cohort(cohort_id: str | None) -> Cohort:
    cohort = cohort_or_open(cohort_id)
    if cohort is None:
        raise NotFound("No such cohort, and none is open.", field="cohort")
    return cohort


def cohort_applications(cohort_id: str, role: str | None = None, status: str | None = None) -> list[Application]:
    roles = [role] if role in ("mentor", "mentee") else ["mentor", "mentee"]
    return [application for each_role in roles
            for application in Application.by_cohort_role.query(f"{cohort_id}#{each_role}")
            if status in (None, "", application.status)]


def cohort_size_at_most(cohort_id: str, limit: int) -> bool:
    """Whether the cohort has at most `limit` applications, found by reading no more than that:
    a request asks this before doing work that grows with the cohort."""
    counted = 0
    for role in ("mentor", "mentee"):
        counted += Application.by_cohort_role.count(f"{cohort_id}#{role}", limit=limit + 1 - counted)
        if counted > limit:
            return False
    return True


def open_new_cohort(cohort_id: str, name: str) -> Cohort:
    cohort = Cohort(id=cohort_id, name=name, status=OPEN, opened_at=clock.now())
    cohort.save(condition=Cohort.id.does_not_exist())
    return cohort


def reset() -> None:
    """Forget the cached connection (tests start each case afresh)."""
    _connection.cache_clear()
