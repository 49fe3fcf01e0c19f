"""The report across program years: a page of charts with text alternatives, its JSON and its CSV."""
from __future__ import annotations

from collections.abc import Mapping

from chalicelib.pages import web
from chalicelib.pages.exports import CSV_CONTENT_TYPE, to_csv
from chalicelib.services.across_years import NOT_RECORDED, across_years
from chalicelib.services.committee import Session

CSV_COLUMNS = ("id", "name", "status", "opened_at", "applications", "mentors", "mentees", "pairs_made", "completed",
               "ended", "completion_rate", "goals_met_share", "satisfaction_avg", "closure_reasons", "returning")
# What each chart shows: its title, the row's figure, and the figure's top (the bar's full length).
CHARTS = (("completion", "Completion rate", "completion_rate", 1), ("goals", "Share of goals met", "goals_met_share", 1),
          ("satisfaction", "Mean satisfaction (out of 5)", "satisfaction_avg", 5))


def closure_words(reasons: Mapping[str, int] | None) -> str:
    if reasons is None:
        return NOT_RECORDED
    return "; ".join(f"{reason.replace('_', ' ')}: {count}" for reason, count in reasons.items()) or "none"


def csv_row(row: Mapping) -> dict:
    return {**row, "closure_reasons": closure_words(row["closure_reasons"]),
            **{name: NOT_RECORDED for name in ("goals_met_share", "returning") if row[name] is None}}


def chart_rows(rows: list[dict]) -> list[dict]:
    """Each chart with, per cohort, its figure in words and the bar's share of the full length (0-100)."""
    charts = []
    for key, title, figure, top in CHARTS:
        bars = []
        for row in rows:
            value = row[figure]
            words = (NOT_RECORDED if value is None else f"{round(value * 100)}%" if top == 1 else f"{value} out of {top}")
            bars.append({"name": row["name"], "words": words, "share": 0 if value is None else round(100 * value / top, 1)})
        charts.append({"key": key, "title": title, "bars": bars})
    return charts


@web.json_route
def years_json() -> web.Answer:
    return web.json_answer(across_years())


@web.json_route
def years_csv() -> web.Answer:
    rows = [csv_row(row) for row in across_years()["cohorts"]]
    return web.Answer(200, to_csv(CSV_COLUMNS, rows), CSV_CONTENT_TYPE,
                      {"Content-Disposition": 'attachment; filename="across-years.csv"'})


def years_page(session: Session) -> web.Answer:
    figures = across_years()
    return web.admin_page("pages/admin/years.html", session, years=figures["cohorts"], computed_at=figures["computed_at"],
                          charts=chart_rows(figures["cohorts"]), closure_words=closure_words, not_recorded=NOT_RECORDED)
