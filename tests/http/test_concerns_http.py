"""Concerns over HTTP: the pairing's JSON, marking one handled (API and form with CSRF),
the pages that show flags and concerns, the board's flag filter and the schedule editor."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

from chalicelib.adapters.models import Concern, Pairing
from chalicelib.services import concerns
from tests.helpers import csrf_of
from tests.helpers.workflow import approved_pairs

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _pairing_with_concern(flag: str | None = "not_started"):
    first, second = approved_pairs(2)
    if flag:
        Pairing.get(first.id).update(actions=[Pairing.flags.set([flag])])
    concern = concerns.opened(first.cohort, first.id, "not_started",
                              "Nobody in the pair has answered the kickoff check 28 days after the introduction.")
    concern.save()
    return first, second, concern


def test_the_pairing_json_lists_its_concerns_exactly_as_specified(client, committee_cookie):
    pairing, _, concern = _pairing_with_concern()
    answer = client.http.get(f"/admin/api/pairings/{pairing.id}", headers={"Cookie": committee_cookie})
    assert answer.status_code == 200
    [listed] = json.loads(answer.body)["concerns"]
    assert listed == {"id": concern.id, "kind": "not_started", "opened_at": listed["opened_at"],
                      "summary": concern.summary, "handled_at": None, "handled_by": None, "note": None}
    assert listed["opened_at"].startswith(concern.opened_at.date().isoformat())


def test_the_api_marks_one_handled_once_and_refuses_again_with_409(client, committee_cookie):
    pairing, _, concern = _pairing_with_concern()
    path = f"/admin/api/pairings/{pairing.id}/concerns/{concern.id}"
    headers = {**JSON, "Cookie": committee_cookie}

    answer = client.http.post(path, headers=headers, body=json.dumps({"note": "Wrote to both; they meet on Friday."}))
    assert answer.status_code == 200
    handled = json.loads(answer.body)
    assert (handled["handled_by"], handled["note"]) == ("committee@example.org", "Wrote to both; they meet on Friday.")

    again = client.http.post(path, headers=headers, body=json.dumps({"note": "Again."}))
    assert again.status_code == 409
    assert "already marked handled" in json.loads(again.body)["errors"]["_body"]
    [listed] = json.loads(client.http.get(f"/admin/api/pairings/{pairing.id}", headers=headers).body)["concerns"]
    assert listed["note"] == "Wrote to both; they meet on Friday." and listed["handled_at"]


def test_the_api_refuses_bad_notes_unknown_concerns_and_strangers(client, committee_cookie):
    pairing, _, concern = _pairing_with_concern()
    path = f"/admin/api/pairings/{pairing.id}/concerns/{concern.id}"
    headers = {**JSON, "Cookie": committee_cookie}
    for body, status in ((json.dumps({"note": ""}), 400), (json.dumps({"note": "x" * 2001}), 400),
                         (json.dumps(["a note"]), 400), ("{not json", 400), (json.dumps({}), 400)):
        assert client.http.post(path, headers=headers, body=body).status_code == status, body
    assert client.http.post(f"/admin/api/pairings/{pairing.id}/concerns/nope", headers=headers,
                            body=json.dumps({"note": "Done."})).status_code == 404
    assert client.http.post(path, headers=JSON, body=json.dumps({"note": "Done."})).status_code == 401
    assert Concern.get(pairing.id, concern.id).open == Concern.OPEN


def test_the_form_marks_it_handled_with_csrf_and_the_page_shows_who(client, committee_cookie):
    pairing, _, concern = _pairing_with_concern()
    path = f"/admin/pairings/{pairing.id}/concerns/{concern.id}"
    headers = {**FORM, "Cookie": committee_cookie}

    page = client.http.get(f"/admin/pairings/{pairing.id}", headers={"Cookie": committee_cookie}).body.decode()
    assert page.index("Open concerns") < page.index("History")
    assert "Not started: nobody answered the kickoff" in page and concern.summary in page

    forged = client.http.post(path, headers=headers, body=urlencode({"note": "Done.", "csrf_token": "0" * 32}))
    assert forged.status_code == 403 and Concern.get(pairing.id, concern.id).open == Concern.OPEN

    csrf = csrf_of(client, committee_cookie)
    empty = client.http.post(path, headers=headers, body=urlencode({"note": " ", "csrf_token": csrf}))
    assert empty.status_code == 400 and "Write a short note" in empty.body.decode()

    done = client.http.post(path, headers=headers, body=urlencode({"note": "Called them.", "csrf_token": csrf}))
    assert done.status_code == 303 and done.headers["Location"] == f"/admin/pairings/{pairing.id}"
    page = client.http.get(f"/admin/pairings/{pairing.id}", headers={"Cookie": committee_cookie}).body.decode()
    assert "No open concerns." in page and "Handled by committee@example.org" in page and "Called them." in page

    again = client.http.post(path, headers=headers, body=urlencode({"note": "Again.", "csrf_token": csrf}))
    assert again.status_code == 409 and "already marked handled" in again.body.decode()


def test_naming_a_liaison_puts_their_concerns_first_on_their_dashboard(client, committee_cookie):
    first, second, concern = _pairing_with_concern()
    mine = concerns.opened(second.cohort, second.id, "stalled", "The pair may have stalled.")
    mine.save()
    csrf = csrf_of(client, committee_cookie)
    answer = client.http.post(f"/admin/pairings/{second.id}/liaison", headers={**FORM, "Cookie": committee_cookie},
                              body=urlencode({"liaison": "committee@example.org", "csrf_token": csrf}))
    assert answer.status_code == 303 and Pairing.get(second.id).liaison == "committee@example.org"
    dashboard = client.http.get("/admin", headers={"Cookie": committee_cookie}).body.decode()
    assert dashboard.index("The pair may have stalled.") < dashboard.index(concern.summary)
    assert "yours (as liaison) at the top" in dashboard

    stranger = client.http.post(f"/admin/pairings/{second.id}/liaison", headers={**FORM, "Cookie": committee_cookie},
                                body=urlencode({"liaison": "stranger@example.net", "csrf_token": csrf}))
    assert stranger.status_code == 400 and Pairing.get(second.id).liaison == "committee@example.org"


def test_the_board_shows_flags_in_words_and_filters_by_flag(client, committee_cookie):
    flagged, other, _ = _pairing_with_concern()
    names = {p.id: p.mentee_name for p in (flagged, other)}
    board = client.http.get("/admin/pairings?flag=not_started", headers={"Cookie": committee_cookie}).body.decode()
    assert names[flagged.id] in board and names[other.id] not in board
    assert "Not started: nobody answered the kickoff" in board
    everyone = client.http.get("/admin/pairings?flag=bogus", headers={"Cookie": committee_cookie}).body.decode()
    assert names[flagged.id] in everyone and names[other.id] in everyone


def test_the_schedule_editor_shows_the_nudge_and_not_started_days(client, committee_cookie):
    page = client.http.get("/admin/settings/schedule", headers={"Cookie": committee_cookie}).body.decode()
    assert 'id="nudge_day" name="nudge_day" value="21"' in page
    assert 'id="not_started_day" name="not_started_day" value="28"' in page


def test_the_dashboard_counts_every_open_concern_past_those_it_lists(client, committee_cookie, monkeypatch,
                                                                     fresh_clock):
    pairing, _, _ = _pairing_with_concern()
    caption = "<caption>{}</caption>"
    page = client.http.get("/admin", headers={"Cookie": committee_cookie}).body.decode()
    assert caption.format("1 open concern, oldest first") in page

    monkeypatch.setattr(concerns, "MAX_LISTED", 3)
    for number in range(4):
        fresh_clock.shift_by(timedelta(seconds=1))  # oldest first, in a known order
        concerns.opened(pairing.cohort, pairing.id, "stalled", f"Stalled {number}.").save()
    page = client.http.get("/admin", headers={"Cookie": committee_cookie}).body.decode()
    assert caption.format("5 open concerns, the oldest 3 listed") in page
    assert page.count("Stalled ") == 2  # the list stays capped
