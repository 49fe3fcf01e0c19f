"""Small storage helpers shared by the services: transactions, cohorts, roster.

Reads are gets and index queries; nothing here scans a table.
"""
from __future__ import annotations

import secrets
from functools import lru_cache

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain import clock
from chalicelib.domain.cohort_phases import ACCEPTING, CLOSED, LEGACY_OPEN, PHASES, needing_attention  # noqa: F401 - CLOSED for the services
from chalicelib.domain.refusals import NotFound
from chalicelib.adapters.models import Alert, Application, Claim, Cohort

ACCEPTING_CLAIM = "cohort#accepting"  # held by the one cohort that takes applications
NO_COHORT = "none"  # the cohort of an alert raised while none is open
ALERT_RETENTION_MONTHS = 13  # an alert outlives its program year, then goes; it names no one
DIGEST = "digest"  # an alert's severity when it waits for the committee's daily digest


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
    """The cohort taking applications (at most one is)."""
    for status in (ACCEPTING, LEGACY_OPEN):
        for cohort in Cohort.by_status.query(status, scan_index_forward=False, limit=1):
            return cohort
    return None


def all_cohorts() -> list[Cohort]:
    """Every cohort, newest first: one index query per phase."""
    found = [cohort for status in (*PHASES, LEGACY_OPEN) for cohort in Cohort.by_status.query(status)]
    return sorted(found, key=lambda cohort: cohort.opened_at, reverse=True)


def cohort_or_open(cohort_id: str | None) -> Cohort | None:
    """The cohort asked for by id, else the one that needs the committee's attention
    (cohort_phases.ATTENTION); None when neither exists."""
    if cohort_id:
        try:
            return Cohort.get(cohort_id)
        except Cohort.DoesNotExist:
            return None
    cohorts = {cohort.id: cohort for cohort in all_cohorts()}
    chosen = needing_attention([(c.id, c.status, c.opened_at) for c in cohorts.values()])
    return cohorts.get(chosen) if chosen else None


def required_cohort(cohort_id: str | None) -> Cohort:
    cohort = cohort_or_open(cohort_id)
    if cohort is None:
        raise NotFound("No such cohort.", field="cohort")
    return cohort
def new_alert(cohort: str, kind: str, severity: str, text: str, pairing_id: str | None = None) -> Alert:
    """An alert for the committee's dashboard (and digest, unless it was mailed at once), to save.
    Its text must name no one: the dashboard and the digest show whose pairing it is."""
    now = clock.now()
    return Alert(cohort=cohort, at_id=f"{clock.iso(now)}#{secrets.token_hex(4)}", pairing_id=pairing_id,
                 kind=kind, severity=severity, text=text, digest=Alert.PENDING if severity == DIGEST else None,
                 expires_at=clock.months_after(now, ALERT_RETENTION_MONTHS))


def current_cohort_id() -> str:
    """The accepting cohort's id, for an alert that belongs to no pairing."""
    cohort = open_cohort()
    return cohort.id if cohort else NO_COHORT


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
    """A new accepting cohort, with the claim that makes it the only one; raises
    TransactWriteError when the id is taken or another cohort holds the claim."""
    cohort = Cohort(id=cohort_id, name=name, status=ACCEPTING, opened_at=clock.now())
    with transaction() as write:
        write.save(Claim(key=ACCEPTING_CLAIM, owner=cohort_id), condition=Claim.key.does_not_exist())
        write.save(cohort, condition=Cohort.id.does_not_exist())
    return cohort


def reset() -> None:
    """Forget the cached connection (tests start each case afresh)."""
    _connection.cache_clear()
