"""The committee's report page and its JSON: the numbers of services.report, drawn as charts."""
from __future__ import annotations

from collections.abc import Mapping

from chalicelib.adapters.store import cohort_or_open, required_cohort
from chalicelib.domain.agreement import CLOSURE_REASONS
from chalicelib.pages import web
from chalicelib.services.committee import Session
from chalicelib.services.report import SATISFACTION, report_for, response_rate

RATE_LABELS = (("kickoffs", "Kickoff checks"), ("checkins", "Check-ins"),
               ("feedback", "Mid-program feedback"), ("evaluations", "Evaluations"))


def rate_rows(report: Mapping) -> list[dict]:
    """The response-rate chart's rows: what was asked, what was answered, and the share."""
    numbers = {"kickoffs": ("sent", "answered"), "checkins": ("sent", "answered"),
               "feedback": ("requested", "received"), "evaluations": ("requested", "received")}
    rows = []
    for key, label in RATE_LABELS:
        section = report.get(key) or {}
        asked, answered = section.get(numbers[key][0], 0), section.get(numbers[key][1], 0)
        rate = response_rate(answered, asked)
        rows.append({"key": key, "label": label, "asked": asked, "answered": answered,
                     "percent": None if rate is None else round(rate * 100)})
    return rows


def satisfaction_rows(report: Mapping) -> list[dict]:
    counts = (report.get("evaluations") or {}).get("satisfaction_counts") or {}
    most = max([*counts.values(), 0])
    return [{"score": score, "count": counts.get(str(score), 0),
             "share": round(100 * counts.get(str(score), 0) / most) if most else 0} for score in SATISFACTION]


@web.json_route
def report_json(query: Mapping) -> web.Answer:
    return web.json_answer(report_for(required_cohort(query.get("cohort"))))


def report_page(session: Session, query: Mapping) -> web.Answer:
    cohort = cohort_or_open(query.get("cohort"))
    if cohort is None:
        return web.admin_page("pages/admin/report.html", session, cohort=None, report=None, rates=[], satisfaction=[], states=[],
                              closures=[])
    report = report_for(cohort)
    return web.admin_page("pages/admin/report.html", session, cohort=cohort, report=report,
                      rates=rate_rows(report), satisfaction=satisfaction_rows(report),
                      states=list(report["pairings"]["by_state"].items()), closures=closure_rows(report))


def closure_rows(report: Mapping) -> list[tuple[str, int]]:
    """Each closure reason in words with its count; a report frozen before reasons were kept has none."""
    counts = report.get("closures") or {}
    return [(label, counts.get(reason, 0)) for reason, label in CLOSURE_REASONS] if counts else []
