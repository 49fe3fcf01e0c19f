"""The committee's cohort report (pure aggregation, JSON, HTML, freezing) and the CSV exports."""
import csv
import io
import re
from urllib.parse import urlencode

import pytest

from chalicelib.pages import admin_report
from chalicelib.services import intake, report
from chalicelib.domain.lifecycle import State
from chalicelib.adapters.models import Application, Cohort, Pairing, Response
from chalicelib.services.pairings import get_pairing
from chalicelib.pages.respond import PROGRAM_QUESTIONS
from chalicelib.domain.schema import FIELDS
from chalicelib.adapters.store import open_cohort
from infra.local.seed import DEMO_MENTEES, DEMO_MENTORS
from tests.helpers import sign_in, valid_answers
from tests.helpers.workflow import approved_pairs, deliver, mails_to, reply_to, respond_link, run_days

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EXPORTS = ("applications", "pairings", "responses")


# --- The pure aggregation ----------------------------------------------------------------

def entry(at, event):
    return {"at": at, "event": event, "from": "active", "to": "active", "by": "schedule", "trigger_id": f"{event}/{at}"}


def answer(pairing_id, participant, kind, at, rating=None, satisfaction=None):
    return {"pairing_id": pairing_id, "participant": participant, "kind": kind, "rating": rating, "at": at,
            "answers": {} if satisfaction is None else {"satisfaction": satisfaction, "goals_set": "yes"}}


APPLICATIONS = [
    {"role": "mentor", "status": "eligible", "email_confirmed": True},
    {"role": "mentor", "status": "pending_verification", "email_confirmed": False},
    {"role": "mentee", "status": "eligible", "email_confirmed": True},
    {"role": "mentee", "status": "eligible", "email_confirmed": True},
    {"role": "mentee", "status": "withdrawn", "email_confirmed": True},
]
PAIRINGS = [
    {"id": "p1", "state": "completed", "history": [
        entry("2026-01-15T12:00:00+00:00", "kickoff_due"),
        entry("2026-03-31T12:00:00+00:00", "checkin_due"),
        entry("2026-04-30T12:00:00+00:00", "no_reply"),
        entry("2026-06-29T12:00:00+00:00", "feedback_due"),
        entry("2026-09-27T12:00:00+00:00", "checkin_due"),
        entry("2027-01-01T12:00:00+00:00", "evaluation_due"),
        entry("2027-01-08T12:00:00+00:00", "reminder_due"),  # a reminder is not a new request
    ]},
    {"id": "p2", "state": "evaluation", "history": [
        entry("2026-01-15T12:00:00+00:00", "kickoff_due"),
        entry("2026-03-31T12:00:00+00:00", "checkin_due"),
        entry("2027-01-01T12:00:00+00:00", "evaluation_due"),
    ]},
    {"id": "p3", "state": "dissolved", "history": [entry("2026-01-10T12:00:00+00:00", "committee_dissolve")]},
]
RESPONSES = [
    answer("p1", "mentor", "kickoff", "2026-01-16T09:00:00+00:00", rating=1),
    answer("p1", "mentee", "kickoff", "2026-01-17T09:00:00+00:00", rating=1),  # each partner answers their own
    answer("p1", "mentee", "kickoff", "2026-01-17T10:00:00+00:00", rating=1),  # by mail and the web: counted once
    answer("p1", "mentee", "checkin", "2026-04-01T09:00:00+00:00", rating=1),
    answer("p1", "mentee", "checkin", "2026-04-02T09:00:00+00:00", rating=2),  # the same check-in, again by the web form
    answer("p1", "mentee", "checkin", "2026-09-28T09:00:00+00:00", rating=3),  # the second check-in
    answer("p2", "mentor", "checkin", "2026-04-03T09:00:00+00:00", rating=1),
    answer("p1", "mentor", "feedback", "2026-07-01T09:00:00+00:00", satisfaction=3),
    answer("p1", "mentor", "evaluation", "2027-01-03T09:00:00+00:00", satisfaction=5),  # their latest score counts,
    answer("p1", "mentor", "evaluation", "2027-01-02T09:00:00+00:00", satisfaction=2),  # whatever the order read
    answer("p1", "mentee", "evaluation", "2027-01-04T09:00:00+00:00", satisfaction=4),
    answer("p2", "mentee", "evaluation", "2027-01-05T09:00:00+00:00"),  # by mail: no satisfaction score
]


def test_the_aggregation_counts_every_number_from_the_records():
    built = report.aggregate("2026", APPLICATIONS, PAIRINGS, RESPONSES)
    assert built["cohort"] == "2026"
    assert built["applications"] == {"mentors": 2, "mentees": 3, "eligible": 3, "pending_verification": 1,
                                     "withdrawn": 1, "email_confirmed": 4}
    assert built["pairings"]["total"] == 3
    assert built["pairings"]["by_state"] == {**{state.value: 0 for state in State},
                                             "completed": 1, "evaluation": 1, "dissolved": 1}
    assert built["kickoffs"] == {"sent": 2 * 2, "answered": 2, "responses": 3}
    assert built["checkins"] == {"sent": 2 * 3, "answered": 3, "responses": 4,
                                 "ratings": {"going_well": 2, "some_concerns": 1, "need_help": 1}}
    assert built["feedback"] == {"requested": 2, "received": 1, "responses": 1, "satisfaction_avg": 3.0,
                                 "satisfaction_count": 1, "satisfaction_counts": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0}}
    assert built["evaluations"] == {"requested": 4, "received": 3, "responses": 4, "satisfaction_avg": 4.5,
                                    "satisfaction_count": 2, "satisfaction_counts": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}}
    assert built["response_rates"] == {"kickoffs": 0.5, "checkins": 0.5, "feedback": 0.5, "evaluations": 0.75}


def test_an_empty_cohort_reports_zeros_and_no_averages():
    built = report.aggregate("2027", [], [], [])
    assert built["applications"] == {"mentors": 0, "mentees": 0, "eligible": 0, "pending_verification": 0,
                                     "withdrawn": 0, "email_confirmed": 0}
    assert built["pairings"] == {"total": 0, "by_state": {state.value: 0 for state in State}}
    assert built["checkins"]["sent"] == built["checkins"]["answered"] == 0
    assert (built["feedback"]["requested"], built["feedback"]["received"]) == (0, 0)
    assert built["evaluations"]["satisfaction_avg"] is None and built["evaluations"]["satisfaction_count"] == 0
    assert built["response_rates"] == {"kickoffs": None, "checkins": None, "feedback": None, "evaluations": None}


@pytest.mark.parametrize("scores,average", [([1, 2], 1.5), ([5, 4, 4], 4.33), ([3], 3.0), (["4", 9, None, True], 4.0)])
def test_the_satisfaction_average_takes_valid_scores_only(scores, average):
    pairing = {"id": "p", "state": "evaluation", "history": [entry("2027-01-01T12:00:00+00:00", "evaluation_due")]}
    responses = [answer(f"p{index}", "mentor", "evaluation", "2027-01-02T09:00:00+00:00", satisfaction=score)
                 for index, score in enumerate(scores)]
    assert report.aggregate("c", [], [pairing], responses)["evaluations"]["satisfaction_avg"] == average


def test_the_chart_rows_show_shares_and_nothing_asked():
    rows = admin_report.rate_rows(report.aggregate("2026", APPLICATIONS, PAIRINGS, RESPONSES))
    assert [(row["key"], row["asked"], row["answered"], row["percent"]) for row in rows] == [
        ("kickoffs", 4, 2, 50), ("checkins", 6, 3, 50), ("feedback", 2, 1, 50), ("evaluations", 4, 3, 75)]
    assert all(row["percent"] is None for row in admin_report.rate_rows(report.aggregate("c", [], [], [])))


# --- Through the routes, after part of a year ----------------------------------------------

PROGRAM_FORM = {"goals_set": "yes", "goals_progress": "Two of three", "communication_modes": ["video"],
                "communication_frequency": "monthly", "what_worked": "Video calls", "what_to_change": "=1+2 more events",
                "take_part_again": "yes"}


def program_form(satisfaction):
    return urlencode({**PROGRAM_FORM, "satisfaction": satisfaction}, doseq=True).encode()


def csv_rows(answer):
    text = answer.body.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def two_pairs_with_different_mentors():
    """Two demo pairs whose mentors differ, so each person's latest mail belongs to one pairing."""
    from chalicelib.services import pairings, proposals
    from infra.local.seed import seed_demo_cohort

    seed_demo_cohort()
    chosen = {}
    for pair in proposals.propose(open_cohort(), {}).proposal["pairs"]:
        chosen.setdefault(pair["mentor_id"], pair)
    first, second = list(chosen.values())[:2]
    return pairings.approve("committee@example.org", [pairings.PairRequest(p["mentor_id"], p["mentee_id"])
                                                      for p in (first, second)])


def test_a_year_of_two_pairs_fills_the_report_and_the_exports(client, fresh_clock):
    first, second = two_pairs_with_different_mentors()
    assert first.mentor_email != second.mentor_email
    run_days(fresh_clock, 14)  # the kickoff checks: one mail to each partner of both pairs
    kickoff = mails_to(first.mentee_email, "starting")[-1]
    assert deliver(reply_to(kickoff, first.mentee_email, "1 - going well, we have met."))["outcome"] == "applied"

    run_days(fresh_clock, 90 - 14)  # the first check-in, to each partner of both pairs
    checkin = mails_to(first.mentee_email, "check-in")[-1]
    assert deliver(reply_to(checkin, first.mentee_email, "1 - going well"))["outcome"] == "applied"
    again = client.http.post(respond_link(checkin), headers=FORM, body=b"rating=2&comments=Busy+month")
    assert again.status_code == 200  # the same check-in answered twice: counted once

    run_days(fresh_clock, 180 - 90)  # the mid-program feedback
    feedback = mails_to(first.mentor_email, "feedback")[-1]
    assert client.http.post(respond_link(feedback), headers=FORM, body=program_form(3)).status_code == 200

    run_days(fresh_clock, 270 - 180)  # the second check-in
    checkin = mails_to(first.mentor_email, "check-in")[-1]
    assert deliver(reply_to(checkin, first.mentor_email, "3 - I need help with scheduling"))["outcome"] == "applied"

    run_days(fresh_clock, 365 - 270)  # the evaluation requests
    for person, score in ((first.mentor_email, 5), (first.mentee_email, 4)):
        evaluation = mails_to(person, "evaluation")[-1]
        assert client.http.post(respond_link(evaluation), headers=FORM, body=program_form(score)).status_code == 200
    evaluation = mails_to(second.mentor_email, "evaluation")[-1]
    assert deliver(reply_to(evaluation, second.mentor_email, "1: a good year."))["outcome"] == "applied"
    assert (get_pairing(first.id).state, get_pairing(second.id).state) == ("completed", "evaluation")

    cookie = {"Cookie": sign_in(client)}  # a session lasts 12 hours; the year has passed
    answer = client.http.get("/admin/api/report", headers=cookie)
    assert answer.status_code == 200
    got = answer.json_body
    assert got["cohort"] == open_cohort().id and got["source"] == "live"
    assert got["applications"]["mentors"] == DEMO_MENTORS and got["applications"]["mentees"] == DEMO_MENTEES
    assert got["applications"]["eligible"] == DEMO_MENTORS + DEMO_MENTEES
    assert got["pairings"]["by_state"] == {**{state.value: 0 for state in State}, "completed": 1, "evaluation": 1}
    assert got["kickoffs"] == {"sent": 2 * 2, "answered": 1, "responses": 1}
    assert got["checkins"] == {"sent": 2 * 2 * 2, "answered": 2, "responses": 3,
                               "ratings": {"going_well": 1, "some_concerns": 1, "need_help": 1}}
    assert {key: got["feedback"][key] for key in ("requested", "received", "satisfaction_avg")} == \
        {"requested": 4, "received": 1, "satisfaction_avg": 3.0}
    assert {key: got["evaluations"][key] for key in ("requested", "received", "satisfaction_avg", "satisfaction_count")} == \
        {"requested": 4, "received": 3, "satisfaction_avg": 4.5, "satisfaction_count": 2}
    assert got["response_rates"] == {"kickoffs": 0.25, "checkins": 0.25, "feedback": 0.25, "evaluations": 0.75}
    assert client.http.get(f"/admin/api/report?cohort={got['cohort']}", headers=cookie).json_body["checkins"] == got["checkins"]

    page = client.http.get("/admin/report", headers=cookie)
    assert page.status_code == 200
    html = page.body.decode()
    assert html.count('<svg role="img"') == 2 and "<script" not in html and " src=" not in html  # nothing to fetch
    assert '<title id="rates-title">' in html and "Check-ins: 25% (2 of 8)." in html  # the chart's text alternative
    assert "Score 5: 1." in html and "4.5 out of 5" in html
    assert re.search(r"<th scope=\"row\">Evaluations</th><td>4</td><td>3</td><td>75%</td>", html)
    assert '<a href="/admin/report" aria-current="page">Report</a>' in html  # the navigation marks where you are

    responses = csv_rows(client.http.get("/admin/api/export/responses.csv", headers=cookie))
    header, rows = responses[0], responses[1:]
    assert header == ["pairing_id", "participant", "kind", "rating", "source", "at", "text",
                      *[question.name for question in PROGRAM_QUESTIONS],
                      "comments"]  # the check-in form's answer, after the declared questions
    stored = [r for pairing in (first, second) for r in Response.query(pairing.id)]
    assert len(rows) == len(stored) == 8
    scores = sorted(row[header.index("satisfaction")] for row in rows if row[header.index("satisfaction")])
    assert scores == ["3", "4", "5"]
    assert {row[header.index("what_to_change")] for row in rows} == {"", "'=1+2 more events"}

    pairings = csv_rows(client.http.get("/admin/api/export/pairings.csv", headers=cookie))
    assert sorted((row[0], row[6]) for row in pairings[1:]) == sorted([(first.id, "completed"), (second.id, "evaluation")])


# --- The page without data, unknown cohorts ------------------------------------------------

def test_the_report_page_renders_for_an_empty_cohort(client, committee_cookie):
    page = client.http.get("/admin/report", headers={"Cookie": committee_cookie})
    html = page.body.decode()
    assert page.status_code == 200 and "Cohort report" in html
    assert "Kickoff checks: nothing asked yet." in html and "no scores yet" in html
    assert all(f"<th scope=\"row\">{state.value.replace('_', ' ')}</th><td>0</td>" in html for state in State)


def test_an_unknown_cohort_is_a_404(client, committee_cookie):
    answer = client.http.get("/admin/api/report?cohort=1999", headers={"Cookie": committee_cookie})
    assert answer.status_code == 404 and "cohort" in answer.json_body["errors"]
    for kind in EXPORTS:
        assert client.http.get(f"/admin/api/export/{kind}.csv?cohort=1999", headers={"Cookie": committee_cookie}).status_code == 404


def test_without_an_open_cohort_the_latest_closed_one_is_shown_and_without_any_it_is_a_404(client, committee_cookie):
    cohort = open_cohort()
    cohort.update(actions=[Cohort.status.set(report.CLOSED)])
    shown = client.http.get("/admin/api/report", headers={"Cookie": committee_cookie})
    assert shown.status_code == 200 and shown.json_body["cohort"] == cohort.id
    cohort.delete()
    assert client.http.get("/admin/api/report", headers={"Cookie": committee_cookie}).status_code == 404
    assert b"No cohort is open" in client.http.get("/admin/report", headers={"Cookie": committee_cookie}).body


# --- CSV exports -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", EXPORTS)
def test_every_export_needs_a_session(client, kind):
    answer = client.http.get(f"/admin/api/export/{kind}.csv")
    assert answer.status_code == 401 and "Sign in" in answer.json_body["errors"]["_body"]


def test_the_applications_export_names_the_form_fields_and_defuses_formulas(client, committee_cookie):
    hostile = valid_answers("mentee", name="=HYPERLINK(\"http://evil.example\",\"x\")", library_name="+SUM(A1:A9)",
                            position="@cmd", comments="-2+3 Thank you", region="Zoë's town")
    plain = valid_answers("mentor")
    for answers in (hostile, plain):
        intake.submit({name: value if isinstance(value, list) else [value] for name, value in answers.items()})

    answer = client.http.get("/admin/api/export/applications.csv", headers={"Cookie": committee_cookie})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="applications-[A-Za-z0-9_-]+\.csv"', answer.headers["Content-Disposition"])
    rows = csv_rows(answer)
    header = rows[0]
    assert header[:6] == ["id", "cohort", "role", "status", "email_confirmed", "created_at"]
    assert header[6:] == [field.name for field in FIELDS if field.name != "role"]
    assert len(rows) == 1 + 2
    records = {row[header.index("role")]: dict(zip(header, row)) for row in rows[1:]}
    mentee, mentor = records["mentee"], records["mentor"]
    assert mentee["name"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert mentee["library_name"] == "'+SUM(A1:A9)" and mentee["position"] == "'@cmd"
    assert mentee["comments"] == "'-2+3 Thank you" and mentee["region"] == "Zoë's town"
    assert sorted(mentee["interests"].split("; ")) == ["technology", "youth_services"]
    assert sorted(mentee["communication"].split("; ")) == ["email", "video"]
    assert mentee["email_confirmed"] == "no" and mentee["consent_confidentiality"] == "yes"
    assert mentor["capacity"] == "2" and mentor["cross_type_ok"] == "yes" and mentor["preferred_library_type"] == ""
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for value in row)


def test_a_cell_is_defused_only_where_a_spreadsheet_would_run_it():
    from chalicelib.pages.exports import cell

    assert [cell(value) for value in ("=1", "+1", "-1", "@x", "\tx", "\rx", "a=1", "", None, -1, 2.5, True, ["=a", "b"])] == \
        ["'=1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "a=1", "", "", -1, 2.5, "yes", "'=a; b"]


def test_the_pairings_export_has_one_row_per_pairing(client, committee_cookie):
    created = approved_pairs(2)
    answer = client.http.get("/admin/api/export/pairings.csv", headers={"Cookie": committee_cookie})
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="pairings-')
    rows = csv_rows(answer)
    assert rows[0] == ["id", "cohort", "mentor_id", "mentee_id", "mentor_name", "mentee_name", "state",
                       "introduced_at", "last_contact_at", "flags", "next_due", "next_due_at"]
    assert sorted(row[0] for row in rows[1:]) == sorted(pairing.id for pairing in created)
    by_id = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    for pairing in created:
        row = by_id[pairing.id]
        assert (row["mentor_name"], row["mentee_name"], row["state"], row["next_due"]) == \
            (pairing.mentor_name, pairing.mentee_name, "introduced", "kickoff_due")


# --- Keeping the report past retention ---------------------------------------------------------

def test_a_frozen_report_outlives_the_personal_data(client, fresh_clock):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 14)
    kickoff = mails_to(pairing.mentor_email, "starting")[-1]
    deliver(reply_to(kickoff, pairing.mentor_email, "1 - going well"))
    cohort = open_cohort()
    kept = report.freeze(cohort.id)
    assert kept["source"] == "frozen" and kept["frozen_at"]
    assert Cohort.get(cohort.id).report["kickoffs"] == {"sent": 2, "answered": 1, "responses": 1}

    # Retention deletes the personal data: applications, pairings and their answers.
    for application in Application.scan():
        application.delete()
    for response in Response.scan():
        response.delete()
    for stored in Pairing.scan():
        stored.delete()
    assert report.live_report(cohort)["applications"]["mentors"] == 0
    assert report.freeze(cohort.id)["applications"]["mentors"] == DEMO_MENTORS  # freezing again keeps it

    cookie = {"Cookie": sign_in(client)}
    served = client.http.get("/admin/api/report", headers=cookie).json_body
    assert served["source"] == "frozen"
    assert served["applications"]["mentees"] == DEMO_MENTEES and served["pairings"]["by_state"]["active"] == 1
    assert served["kickoffs"] == {"sent": 2, "answered": 1, "responses": 1}

    cohort.update(actions=[Cohort.status.set(report.CLOSED)])
    closed = client.http.get(f"/admin/api/report?cohort={cohort.id}", headers=cookie).json_body
    assert closed["source"] == "frozen" and closed["applications"] == served["applications"]
    page = client.http.get(f"/admin/report?cohort={cohort.id}", headers=cookie).body.decode()
    assert "This is the report kept on" in page and "Kickoff checks: 50% (1 of 2)." in page


def test_an_open_cohort_with_live_data_serves_the_live_report_after_freezing(client, committee_cookie):
    approved_pairs(1)
    cohort = open_cohort()
    assert report.freeze(cohort.id)["pairings"]["total"] == 1
    approved_pairs(3)  # more pairs after the freeze
    got = client.http.get("/admin/api/report", headers={"Cookie": committee_cookie}).json_body
    assert got["source"] == "live" and got["pairings"]["total"] == len(list(Pairing.scan())) > 1
