"""Carry-over: earlier participants invited into a new cohort, each by one link of their own."""
import json
import re

from chalicelib.adapters.models import Application, Cohort
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import lifecycle
from chalicelib.services import carry_over, proposals, workflow
from tests.helpers import sent_mail
from tests.helpers.workflow import approved_pairs

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _link(mail: dict, path: str) -> str:
    return re.search(rf"/{path}/[a-z0-9]+", mail["text"]).group(0)


def test_an_unmatched_mentee_says_yes_appears_in_b_and_is_matched_never_with_their_former_partner(client, committee_cookie):
    [pairing] = approved_pairs(1)
    a = pairing.cohort
    workflow.apply_event(pairing.id, lifecycle.Event(lifecycle.EventKind.COMMITTEE_DISSOLVE, "committee:c@example.org",
                                                     "test/dissolve", reason="Different goals.",
                                                     closure_reason=lifecycle.ClosureReason.NOT_A_GOOD_FIT))
    headers = {**JSON, "Cookie": committee_cookie}
    for phase in ("matching", "running"):
        client.http.post(f"/admin/api/cohorts/{a}/phase", headers=headers, body=json.dumps({"phase": phase}).encode())
    assert client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "2028"}').status_code == 201

    started = client.http.post("/admin/api/cohorts/carry-over", headers=headers, body=b"{}")
    assert started.status_code == 202 and started.json_body["invited"] >= 2 and started.json_body["done"]
    invitations = [m for m in sent_mail() if "take part in 2028" in m["subject"]]
    [to_mentee] = [m for m in invitations if pairing.mentee_email in m["to"]]
    assert any(pairing.mentor_email in m["to"] for m in invitations)  # a mentor with a free place
    assert len({m["to"][0] for m in invitations}) == len(invitations)  # one mail each
    # Asked again (a second click, a run cut short and repeated): nobody is mailed twice.
    again = client.http.post("/admin/api/cohorts/carry-over", headers=headers, body=b"{}")
    assert again.status_code == 202 and again.json_body["invited"] == 0
    assert carry_over.continue_invitations()["invited"] == 0

    link = _link(to_mentee, "carry-over")
    shown = client.http.get(link)
    assert shown.status_code == 200 and "Yes, count me in for 2028" in shown.body.decode() and "Not this time" in shown.body.decode()
    assert not [x for x in Application.scan() if x.cohort == "B"]  # looking at the link changes nothing
    forged = client.http.get(link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb"))
    assert forged.status_code == 400

    # Everyone says yes; the mentee's copy is shown to check, and counts once confirmed.
    for invitation in invitations:
        answered = client.http.post(_link(invitation, "carry-over"), headers=FORM, body=b"answer=yes")
        assert answered.status_code == 200
    assert client.http.post(link, headers=FORM, body=b"answer=yes").status_code == 200  # twice: one application
    [copy] = [x for x in Application.scan() if x.cohort == "B" and x.email == pairing.mentee_email]
    assert copy.email_confirmed_at is None and copy.answers["name"] in shown.body.decode()
    assert copy.id not in proposals.propose(open_cohort(), {}).mentee_ids  # it counts once confirmed
    for confirmation in [m for m in sent_mail() if "confirm" in m["subject"].lower()]:
        client.http.get(_link(confirmation, "confirm"))
    proposal = proposals.propose(Cohort.get("B"), {}).proposal
    mentors_b = {x.email: x.id for x in Application.scan() if x.cohort == "B" and x.role == "mentor"}
    [pair] = [p for p in proposal["pairs"] if p["mentee_id"] == copy.id]
    assert pairing.mentor_email in mentors_b and pair["mentor_id"] != mentors_b[pairing.mentor_email]


def test_not_this_time_creates_nothing(client, committee_cookie):
    [pairing] = approved_pairs(1)
    headers = {**JSON, "Cookie": committee_cookie}
    client.http.post(f"/admin/api/cohorts/{pairing.cohort}/phase", headers=headers, body=b'{"phase": "matching"}')
    client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "2028"}')
    client.http.post("/admin/api/cohorts/carry-over", headers=headers, body=b"{}")
    invitation = next(m for m in sent_mail() if "take part in 2028" in m["subject"])
    declined = client.http.post(_link(invitation, "carry-over"), headers=FORM, body=b"answer=no")
    assert declined.status_code == 200 and "Thank you for letting us know" in declined.body.decode()
    assert not [x for x in Application.scan() if x.cohort == "B"]
