"""The report across program years: a closed cohort with its frozen report beside an open one counted live."""
import csv
import io
from datetime import datetime, timezone

import pytest

from chalicelib.adapters.models import Cohort
from chalicelib.adapters.store import CLOSED, open_cohort
from chalicelib.domain.roster import RosterRow, normalise_membership_id
from chalicelib.services.across_years import outcomes
from chalicelib.services.intake import create_application
from chalicelib.services.membership import replace_roster
from infra.local.demo import synthetic_applications

FROZEN = {
    "cohort": "2025", "source": "frozen", "frozen_at": "2026-07-01T00:00:00+00:00",
    "applications": {"mentors": 3, "mentees": 5, "eligible": 8},
    "pairings": {"total": 4, "by_state": {"completed": 3, "dissolved": 1, "active": 0}},
    "evaluations": {"satisfaction_avg": 4.25},
    "agreement": {"goals_met_share": 0.75}, "closures": {"no_contact": 1, "other": 0},
}


@pytest.fixture
def two_years(aws):
    """Cohort 2025, closed with its report frozen, whose mentee Sam applied again to the open cohort."""
    records = synthetic_applications(mentees=3, mentors=2, seed=7)
    replace_roster([RosterRow(normalise_membership_id(r["membership_id"]), r["email"], r["name"], None)
                    for r in records], by="test")
    earlier = Cohort(id="2025", name="=Program year 2025", status=CLOSED, report=FROZEN,
                     opened_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    earlier.save()
    returning = records[-1]
    create_application("2025", {key: value for key, value in returning.items() if key != "id"}, confirmed=True)
    current = open_cohort()
    for record in records:
        create_application(current.id, {key: value for key, value in record.items() if key != "id"}, confirmed=True)
    return earlier, current


def test_each_cohort_has_its_row_with_what_its_report_holds(client, committee_cookie, two_years):
    earlier, current = two_years
    answer = client.http.get("/admin/api/report/years", headers={"Cookie": committee_cookie})
    assert answer.status_code == 200
    first, second = answer.json_body["cohorts"]
    assert (first["id"], second["id"]) == ("2025", current.id)
    assert (first["applications"], first["pairs_made"], first["completion_rate"]) == (8, 4, 0.75)
    assert (first["goals_met_share"], first["satisfaction_avg"], first["closure_reasons"]) == (0.75, 4.25, {"no_contact": 1})
    assert first["source"] == "frozen" and first["returning"] == 0  # the first year: no one returns to it
    assert (second["applications"], second["pairs_made"], second["completion_rate"], second["returning"]) == (5, 0, None, 1)


def test_the_page_draws_charts_with_text_and_says_what_is_not_recorded(client, committee_cookie, two_years):
    page = client.http.get("/admin/report/years", headers={"Cookie": committee_cookie}).body.decode()
    assert "Across the years" in page and "Completion rate by cohort" in page
    assert "=Program year 2025: 75%." in page  # the chart's text alternative
    assert "no contact: 1" in page and "4.25 out of 5" in page
    live_report = client.http.get("/admin/api/report", headers={"Cookie": committee_cookie}).json_body
    if "agreement" not in live_report:  # before the partnership agreements keep goals
        assert "not recorded" in page


def test_the_csv_has_a_row_per_cohort_with_formulas_defused(client, committee_cookie, two_years):
    answer = client.http.get("/admin/api/export/years.csv", headers={"Cookie": committee_cookie})
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.body.decode("utf-8-sig"))))
    assert [row["id"] for row in rows] == ["2025", two_years[1].id]
    assert rows[0]["name"] == "'=Program year 2025" and rows[0]["closure_reasons"] == "no contact: 1"
    assert rows[0]["completion_rate"] == "0.75" and rows[0]["goals_met_share"] == "0.75"


def test_the_across_years_routes_need_a_session(client, two_years):
    for path in ("/admin/api/report/years", "/admin/api/export/years.csv"):
        assert client.http.get(path).status_code == 401


@pytest.mark.parametrize("report,expected", [
    ({}, {"goals_met_share": None, "closure_reasons": None}),
    ({"agreement": "broken", "closures": ["no_contact"]}, {"goals_met_share": None, "closure_reasons": None}),
    ({"agreement": {"goals_met_share": True}, "closures": {"other": "3", "no_contact": 2}},
     {"goals_met_share": None, "closure_reasons": {"no_contact": 2}}),
    ({"agreement": {"goals_met_share": 0.5}, "closures": {"other": 0}}, {"goals_met_share": 0.5, "closure_reasons": {}}),
])
def test_goals_and_closures_are_read_defensively(report, expected):
    assert outcomes(report) == expected
