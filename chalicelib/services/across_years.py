"""The committee's view across program years: one row per cohort, from each cohort's own report.

Each row comes from services.report.report_for (the frozen report of a closed
cohort, else the live one), so the figures agree with each cohort's report:

applications: mentors + mentees received (withdrawn ones included).
pairs_made: every pairing the cohort approved.
completion_rate: completed / pairings whose year is over (completed,
    dissolved or withdrawn), rounded to three decimals; None while none is over.
goals_met_share, closure_reasons: read by `outcomes` alone (see there);
    None where the report does not hold them ("not recorded").
satisfaction_avg: the evaluations' mean satisfaction (1-5), as the report has it.
returning: people (by email) in the cohort who applied to an earlier one,
    among the applications still stored; None once the cohort's own
    applications are gone (retention), since it can no longer be counted.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from chalicelib.adapters.models import Cohort
from chalicelib.adapters.store import cohort_applications
from chalicelib.domain import clock
from chalicelib.domain.lifecycle import TERMINAL, State
from chalicelib.services.report import report_for

NOT_RECORDED = "not recorded"


def outcomes(report: Mapping) -> dict:
    """The share of goals met and the closure reasons, as the report holds them, or None.

    The one place that reads them, so that it can follow where the partnership
    agreements keep them: report["agreement"]["goals_met_share"] (0-1) and
    report["closures"] ({reason: count}). A report frozen before they were kept
    has neither."""
    agreement = report.get("agreement")
    share = agreement.get("goals_met_share") if isinstance(agreement, Mapping) else None
    closures = report.get("closures")
    reasons = ({str(reason): count for reason, count in closures.items()
                if isinstance(count, int) and not isinstance(count, bool) and count > 0}
               if isinstance(closures, Mapping) else None)
    return {"goals_met_share": share if isinstance(share, (int, float)) and not isinstance(share, bool) else None,
            "closure_reasons": reasons}


def year_row(cohort: Mapping, report: Mapping, returning: int | None) -> dict:
    """One cohort's row. cohort: {"id", "name", "status", "opened_at"}."""
    by_state = (report.get("pairings") or {}).get("by_state") or {}
    ended = sum(by_state.get(state.value, 0) for state in TERMINAL)
    completed = by_state.get(State.COMPLETED.value, 0)
    applications = report.get("applications") or {}
    return {
        **{name: cohort[name] for name in ("id", "name", "status", "opened_at")},
        "source": report.get("source"),
        "applications": applications.get("mentors", 0) + applications.get("mentees", 0),
        "mentors": applications.get("mentors", 0),
        "mentees": applications.get("mentees", 0),
        "pairs_made": (report.get("pairings") or {}).get("total", 0),
        "completed": completed,
        "ended": ended,
        "completion_rate": round(completed / ended, 3) if ended else None,
        "satisfaction_avg": (report.get("evaluations") or {}).get("satisfaction_avg"),
        "returning": returning,
        **outcomes(report),
    }


def returning_counts(emails_by_cohort: Iterable[set[str]]) -> list[int | None]:
    """For cohorts in the order they opened: how many of each one's people applied to an earlier one."""
    seen: set[str] = set()
    counts = []
    for emails in emails_by_cohort:
        counts.append(len(emails & seen) if emails else None)
        seen |= emails
    return counts


def across_years() -> dict:
    cohorts = sorted(Cohort.scan(), key=lambda cohort: cohort.opened_at)
    emails = [{application.email.casefold() for application in cohort_applications(cohort.id)} for cohort in cohorts]
    rows = [year_row({"id": cohort.id, "name": cohort.name, "status": cohort.status,
                      "opened_at": clock.iso(cohort.opened_at)}, report_for(cohort), returning)
            for cohort, returning in zip(cohorts, returning_counts(emails))]
    return {"cohorts": rows, "computed_at": clock.iso(clock.now())}
