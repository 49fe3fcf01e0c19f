"""Cohorts that overlap: A's pairs run their year while B accepts and matches."""
import json
from unittest import mock

from chalicelib.adapters.models import Application, Cohort, Pairing
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import clock
from tests.helpers import form_body, sent_mail, sign_in, valid_answers
from tests.helpers.workflow import at_first_checkin, deliver, mails_to, reply_to, run_days

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _phase(client, cookie, cohort_id, body):
    return client.http.post(f"/admin/api/cohorts/{cohort_id}/phase", headers={**JSON, "Cookie": cookie},
                            body=json.dumps(body).encode())


def test_cohorts_are_listed_with_their_phase_and_counts(client, committee_cookie):
    current = open_cohort()
    listed = client.http.get("/admin/api/cohorts", headers={"Cookie": committee_cookie})
    assert listed.status_code == 200
    [only] = listed.json_body
    assert set(only) == {"id", "name", "phase", "opened_at", "counts"} and (only["id"], only["phase"]) == (current.id, "accepting")
    assert only["counts"] == {"mentors": 0, "mentees": 0, "pairings": 0, "live_pairings": 0}
    assert client.http.get("/admin/api/cohorts").status_code == 401


def test_a_cohort_moves_forward_and_a_move_back_is_refused_with_a_reason(client, committee_cookie):
    cohort_id = open_cohort().id
    assert _phase(client, committee_cookie, cohort_id, {"phase": "matching"}).status_code == 200
    back = _phase(client, committee_cookie, cohort_id, {"phase": "accepting"})
    assert back.status_code == 409 and "cannot move back from matching" in back.json_body["errors"]["phase"]
    assert _phase(client, committee_cookie, cohort_id, {"phase": "sideways"}).status_code == 400
    assert _phase(client, committee_cookie, cohort_id, {"phase": "running", "end_live_pairings": "maybe"}).status_code == 400
    assert _phase(client, committee_cookie, "no-such", {"phase": "running"}).status_code == 404
    assert client.http.post(f"/admin/api/cohorts/{cohort_id}/phase", headers={**JSON, "Cookie": committee_cookie},
                            body=b"[1]").status_code == 400
    moved = _phase(client, committee_cookie, cohort_id, {"phase": "running"})
    assert moved.status_code == 200 and moved.json_body["cohort"]["phase"] == "running"
    assert Cohort.get(cohort_id).status == "running"


def test_of_two_members_moving_a_cohort_at_once_one_wins_and_the_other_gets_a_409(client, committee_cookie):
    cohort_id = open_cohort().id
    stale = Cohort.get(cohort_id)  # the second member read the cohort before the first moved it
    assert _phase(client, committee_cookie, cohort_id, {"phase": "matching"}).status_code == 200
    with mock.patch.object(Cohort, "get", return_value=stale):
        late = _phase(client, committee_cookie, cohort_id, {"phase": "running"})
    assert late.status_code == 409 and "moved meanwhile" in late.json_body["errors"]["phase"]
    assert Cohort.get(cohort_id).status == "matching"


def test_at_most_one_cohort_accepts_and_the_next_opens_once_the_form_closes(client, committee_cookie):
    headers = {**JSON, "Cookie": committee_cookie}
    first = open_cohort().id
    refused = client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "B year"}')
    assert refused.status_code == 409 and Cohort.count() == 1
    assert _phase(client, committee_cookie, first, {"phase": "matching"}).status_code == 200
    assert client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "B year"}').status_code == 201
    assert open_cohort().id == "B"
    assert client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "C", "name": "C year"}').status_code == 409


def test_a_cohort_written_before_phases_still_takes_applications_and_moves_on(client, committee_cookie):
    from chalicelib.adapters.models import Claim

    current = open_cohort()
    Claim(key="cohort#accepting").delete()
    current.update(actions=[Cohort.status.set("open")])  # as a cohort opened before phases was kept
    assert client.http.get("/admin/api/cohorts", headers={"Cookie": committee_cookie}).json_body[0]["phase"] == "accepting"
    assert client.http.post("/apply", headers=FORM, body=form_body(valid_answers())).status_code in (200, 303)
    assert [a.cohort for a in Application.scan()] == [current.id]
    assert _phase(client, committee_cookie, current.id, {"phase": "matching"}).status_code == 200
    assert client.http.post("/admin/api/cohorts", headers={**JSON, "Cookie": committee_cookie},
                            body=b'{"id": "next", "name": "Next year"}').status_code == 201


def test_overlapping_cohorts_a_runs_its_year_while_b_accepts_and_closing_a_needs_confirmation(client):
    pairing, checkin, _ = at_first_checkin(clock)  # cohort A: one pair, 90 days into its year
    committee_cookie = sign_in(client)
    a = pairing.cohort
    for phase in ("matching", "running"):
        assert _phase(client, committee_cookie, a, {"phase": phase}).status_code == 200
    headers = {**JSON, "Cookie": committee_cookie}
    assert client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "B year"}').status_code == 201
    # B takes applications; A's replies and ticks go on.
    assert client.http.post("/apply", headers=FORM, body=form_body(valid_answers(email="new.b@example.org"))).status_code in (200, 303)
    [joined] = [x for x in Application.scan() if x.email == "new.b@example.org"]
    assert joined.cohort == "B"
    assert deliver(reply_to(checkin, pairing.mentee_email, "1 - going well"))["outcome"] == "applied"
    before = len(sent_mail())
    run_days(clock, 100)  # the day-180 feedback request reaches A's partners
    assert mails_to(pairing.mentee_email, "halfway") and len(sent_mail()) > before
    committee_cookie = sign_in(client)
    # The admin pages show B first (it is taking applications); A is one pick away.
    page = client.http.get("/admin/pairings", headers={"Cookie": committee_cookie}).body.decode()
    assert 'id="cohort-picker"' in page and '<option value="B" selected' in page and pairing.id not in page
    picked = client.http.get(f"/admin/pairings?cohort={a}", headers={"Cookie": committee_cookie}).body.decode()
    assert pairing.id in picked
    # Closing A is refused while its pairing lives, and ends it as "program year ended" once confirmed.
    refused = _phase(client, committee_cookie, a, {"phase": "closed"})
    assert refused.status_code == 409 and "1 live pairing" in refused.json_body["errors"]["end_live_pairings"]
    assert Pairing.get(pairing.id).state not in ("dissolved", "completed") and Cohort.get(a).status == "running"
    closed = _phase(client, committee_cookie, a, {"phase": "closed", "end_live_pairings": True})
    assert closed.status_code == 200, closed.json_body
    assert closed.status_code == 200 and closed.json_body["cohort"]["phase"] == "closed"
    ended = Pairing.get(pairing.id)
    assert ended.state == "dissolved" and ended.history[-1]["reason"] == "program year ended"
    for address in (pairing.mentor_email, pairing.mentee_email):
        [told] = mails_to(address, "come to an end")
        assert "program year has ended" in told["text"]
    assert Cohort.get(a).report and open_cohort().id == "B"
    assert _phase(client, committee_cookie, a, {"phase": "closed", "end_live_pairings": True}).status_code == 409
