"""Carry-over: earlier participants invited into a new cohort, each by one link of their own."""
import json
import re
from datetime import timedelta
from unittest import mock

from pynamodb.exceptions import PutError

from app import app
from chalicelib.adapters import uploads
from chalicelib.adapters.models import Application, Claim, Cohort, Job
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import clock, lifecycle
from chalicelib.services import carry_over, jobs, proposals, workflow
from infra.local import worker
from tests.helpers import csrf_of, form_body, sent_mail, valid_answers
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
    assert started.status_code == 202 and started.json_body["kind"] == "carry_over_invitations"
    done = client.http.get(started.headers["Location"], headers=headers).json_body
    assert done["state"] == "done" and done["result"]["invited"] >= 2
    invitations = [m for m in sent_mail() if "take part in 2028" in m["subject"]]
    [to_mentee] = [m for m in invitations if pairing.mentee_email in m["to"]]
    assert any(pairing.mentor_email in m["to"] for m in invitations)  # a mentor with a free place
    assert len({m["to"][0] for m in invitations}) == len(invitations)  # one mail each
    # Asked again (a second click, a run cut short and repeated): nobody is mailed twice.
    again = client.http.post("/admin/api/cohorts/carry-over", headers=headers, body=b"{}")
    assert again.status_code == 202 and again.json_body["id"] != started.json_body["id"]
    redone = client.http.get(again.headers["Location"], headers=headers).json_body
    assert redone["result"] == {"invited": 0, "skipped": len(invitations)}  # the standing pool is among them
    assert len([m for m in sent_mail() if "take part in 2028" in m["subject"]]) == len(invitations)

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
    mentors_b = {x.email: x for x in Application.scan() if x.cohort == "B" and x.role == "mentor"}
    for mentor in mentors_b.values():  # room for every mentee (A's capacities fall short): who is proposed is the point
        mentor.update(actions=[Application.answers.set({**mentor.answers, "capacity": 3})])
    proposal = proposals.propose(Cohort.get("B"), {}).proposal
    [pair] = [p for p in proposal["pairs"] if p["mentee_id"] == copy.id]
    assert pairing.mentor_email in mentors_b and pair["mentor_id"] != mentors_b[pairing.mentor_email].id


def _invite_into_b(client, committee_cookie) -> dict:
    """Cohort A's one pair approved, A matching, B opened as "2028", and A's people invited; the headers to go on."""
    [pairing] = approved_pairs(1)
    headers = {**JSON, "Cookie": committee_cookie}
    client.http.post(f"/admin/api/cohorts/{pairing.cohort}/phase", headers=headers, body=b'{"phase": "matching"}')
    client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "2028"}')
    client.http.post("/admin/api/cohorts/carry-over", headers=headers, body=b"{}")
    return headers


def test_not_this_time_creates_nothing(client, committee_cookie):
    _invite_into_b(client, committee_cookie)
    invitation = next(m for m in sent_mail() if "take part in 2028" in m["subject"])
    declined = client.http.post(_link(invitation, "carry-over"), headers=FORM, body=b"answer=no")
    assert declined.status_code == 200 and "Thank you for letting us know" in declined.body.decode()
    assert not [x for x in Application.scan() if x.cohort == "B"]


def test_an_invitations_claim_expires_and_erasing_the_person_removes_it(client, committee_cookie):
    headers = _invite_into_b(client, committee_cookie)
    held = [claim for claim in Claim.scan() if claim.key.startswith("carry-over#")]
    assert len(held) >= 2
    person = held[0].key.rsplit("#", 1)[1]  # the key holds the address, so it must not stay forever
    assert "@" in person
    assert all(abs(claim.expires_at - clock.now() - carry_over.CLAIM_LIFETIME) < timedelta(minutes=1) for claim in held)
    erased = client.http.post("/admin/api/people/erase", headers=headers, body=json.dumps({"email": person}).encode())
    assert erased.status_code == 200
    assert not [claim.key for claim in Claim.scan() if person in claim.key]
    assert [claim for claim in Claim.scan() if claim.key.startswith("carry-over#")]  # the others' claims stay


# The standing pool, and the invitations as a background job.

def _apply_confirmed_mentor(client, committee_cookie, email: str, **answers) -> Application:
    assert client.http.post("/apply", headers=FORM, body=form_body(valid_answers(
        "mentor", email=email, **answers))).status_code in (200, 303)
    confirmation = [m for m in sent_mail() if email in m["to"] and "confirm" in m["subject"].lower()][-1]
    client.http.get(_link(confirmation, "confirm"))
    [application] = [x for x in Application.scan() if x.email == email and x.cohort == open_cohort().id]
    client.http.post(f"/admin/api/applications/{application.id}", headers={**JSON, "Cookie": committee_cookie},
                     body=b'{"action": "mark_eligible"}')
    return Application.get(application.id)


def _invitations_to(address: str, cohort_name: str = "2028") -> list[dict]:
    return [m for m in sent_mail() if f"take part in {cohort_name}" in m["subject"] and address in m["to"]]


def _tick(client) -> dict:
    """The daily tick, as EventBridge starts it."""
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
    return client.lambda_.invoke("fire_due_timers", event).payload


def _open_b(client, committee_cookie):
    a = open_cohort().id
    headers = {**JSON, "Cookie": committee_cookie}
    client.http.post(f"/admin/api/cohorts/{a}/phase", headers=headers, body=b'{"phase": "matching"}')
    token = csrf_of(client, committee_cookie)
    return client.http.post("/admin/cohorts/open", headers={**FORM, "Cookie": committee_cookie},
                            body=f"csrf_token={token}&id=B&name=2028".encode())


def test_a_mentor_in_the_standing_pool_is_invited_when_a_cohort_opens_without_anyone_asking(client, committee_cookie):
    form = client.http.get("/apply").body.decode()
    assert 'name="standing_pool"' in form and "glad to stay in the standing pool" in form
    staying = _apply_confirmed_mentor(client, committee_cookie, "stays@example.org", standing_pool="yes")
    other = _apply_confirmed_mentor(client, committee_cookie, "once@example.org", membership_id="KLA-2003")
    assert staying.answers["standing_pool"] is True and other.answers.get("standing_pool") is not True
    assert (staying.status, other.status) == ("eligible", "eligible")

    opened = _open_b(client, committee_cookie)
    assert opened.status_code == 200 and "standing pool are being invited" in opened.body.decode()
    [invitation] = _invitations_to("stays@example.org")
    assert not _invitations_to("once@example.org")  # a mentor with a free place waits for the committee
    [job] = [j for j in Job.scan() if j.params.get("scope") == "standing_pool"]
    assert job.state == "done" and job.result == {"invited": 1, "skipped": 0} and job.params["cohort"] == "B"
    page = client.http.get("/admin/cohorts", headers={"Cookie": committee_cookie}).body.decode()
    assert "The standing pool:" in page and "1 invitation sent." in page and f'href="/admin/jobs/{job.id}"' in page

    # The daily tick finds the standing pool invited; the committee's invitation mails the others only.
    assert _tick(client)["standing_pool"] == "nothing to do"
    started = client.http.post("/admin/api/cohorts/carry-over", headers={**JSON, "Cookie": committee_cookie}, body=b"{}")
    assert started.status_code == 202
    assert len(_invitations_to("once@example.org")) == 1 and len(_invitations_to("stays@example.org")) == 1
    # Yes by link: the copy keeps the answer, so the mentor is in the pool again next year.
    assert client.http.post(_link(invitation, "carry-over"), headers=FORM, body=b"answer=yes").status_code == 200
    [copy] = [x for x in Application.scan() if x.cohort == "B"]
    assert copy.email == "stays@example.org" and copy.answers["standing_pool"] is True


def test_a_mentor_who_leaves_the_standing_pool_on_a_later_application_is_not_invited(client, committee_cookie):
    _apply_confirmed_mentor(client, committee_cookie, "changed@example.org", standing_pool="yes")
    first = open_cohort().id
    _open_b(client, committee_cookie)
    headers = {**JSON, "Cookie": committee_cookie}
    assert client.http.post(f"/admin/api/cohorts/{first}/phase", headers=headers, body=b'{"phase": "running"}').status_code == 200
    _apply_confirmed_mentor(client, committee_cookie, "changed@example.org")  # B's form, without the box ticked
    client.http.post("/admin/api/cohorts/B/phase", headers=headers, body=b'{"phase": "matching"}')
    assert client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "C", "name": "2029"}').status_code == 201
    assert _invitations_to("changed@example.org", "2028") and not _invitations_to("changed@example.org", "2029")


def test_when_opening_cannot_start_the_invitations_the_daily_tick_does(client, committee_cookie, monkeypatch):
    _apply_confirmed_mentor(client, committee_cookie, "stays@example.org", standing_pool="yes")
    with mock.patch.object(jobs, "submit", side_effect=PutError("the store is failing")):
        assert _open_b(client, committee_cookie).status_code == 200  # the cohort opens all the same
    assert open_cohort().id == "B" and not _invitations_to("stays@example.org") and not list(Job.scan())
    assert _tick(client)["standing_pool"] == "started"
    assert len(_invitations_to("stays@example.org")) == 1
    assert _tick(client)["standing_pool"] == "nothing to do"


def test_invitations_of_both_kinds_started_at_the_same_moment_each_keep_their_link(client, committee_cookie):
    _apply_confirmed_mentor(client, committee_cookie, "stays@example.org", standing_pool="yes")
    with mock.patch("chalicelib.adapters.job_worker.start"):  # the jobs wait: only their links matter here
        _open_b(client, committee_cookie)
        [pool_job] = list(Job.scan())
        Cohort.get("B").update(actions=[Cohort.carry_over.remove()])  # as if the pool's link were not written yet
        submit = jobs.submit

        def submit_while_the_pool_starts(*args, **kwargs):
            job = submit(*args, **kwargs)
            if kwargs.get("job_id") is None:  # the committee's job: the pool's starts meanwhile, elsewhere
                carry_over.invite_standing_pool("other@example.org", Cohort.get("B"))
            return job

        with mock.patch.object(jobs, "submit", side_effect=submit_while_the_pool_starts):
            everyone = carry_over.invite_previous("c@example.org")
    assert Cohort.get("B").carry_over == {"standing_pool": pool_job.id, "everyone": everyone.id}


def test_a_job_whose_worker_could_not_start_is_run_again_by_the_tick_and_mails_nobody_twice(client, committee_cookie):
    _apply_confirmed_mentor(client, committee_cookie, "stays@example.org", standing_pool="yes")
    with mock.patch("chalicelib.adapters.job_worker.start", side_effect=RuntimeError("no Lambda today")):
        _open_b(client, committee_cookie)
    [job] = list(Job.scan())
    assert job.state == "failed" and not _invitations_to("stays@example.org")
    page = client.http.get("/admin/cohorts", headers={"Cookie": committee_cookie}).body.decode()
    assert "the invitations stopped after 0 of 0" in page and "run them again" in page
    assert _tick(client)["standing_pool"] == "started again"
    assert Job.get(job.id).state == "done" and len(_invitations_to("stays@example.org")) == 1
    jobs.get(job.id)  # the same job, finished: asking for the standing pool again starts nothing new
    assert carry_over.invite_standing_pool("c@example.org", open_cohort()).id == job.id
    assert len(_invitations_to("stays@example.org")) == 1


def test_the_cohorts_page_asks_to_confirm_then_follows_the_job_to_its_outcome(client, committee_cookie):
    [pairing] = approved_pairs(1)
    headers = {**JSON, "Cookie": committee_cookie}
    client.http.post(f"/admin/api/cohorts/{pairing.cohort}/phase", headers=headers, body=b'{"phase": "matching"}')
    client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "2028"}')
    standing = len([m for m in sent_mail() if "take part in 2028" in m["subject"]])  # the demo's standing pool
    page = client.http.get("/admin/cohorts", headers={"Cookie": committee_cookie}).body.decode()
    assert "Invite earlier participants to 2028</button>" in page
    form = {**FORM, "Cookie": committee_cookie}
    token = csrf_of(client, committee_cookie)
    asked = client.http.post("/admin/cohorts/carry-over", headers=form, body=f"csrf_token={token}".encode())
    assert asked.status_code == 200 and "Yes, send the invitations" in asked.body.decode()
    assert len([m for m in sent_mail() if "take part in 2028" in m["subject"]]) == standing  # nothing sent yet
    assert not [j for j in Job.scan() if j.params.get("scope") == "everyone"]
    forged = client.http.post("/admin/cohorts/carry-over", headers={**form, "Sec-Fetch-Site": "cross-site"},
                              body=f"csrf_token={token}&confirm=yes".encode())
    assert forged.status_code == 403
    confirmed = client.http.post("/admin/cohorts/carry-over", headers=form, body=f"csrf_token={token}&confirm=yes".encode())
    assert confirmed.status_code == 303 and confirmed.headers["Location"].startswith("/admin/jobs/")
    sent = len([m for m in sent_mail() if "take part in 2028" in m["subject"]]) - standing
    assert sent > 2
    job_page = client.http.get(confirmed.headers["Location"], headers={"Cookie": committee_cookie}).body.decode()
    assert "Inviting earlier participants to the new year" in job_page and f"{sent} invitations sent." in job_page
    assert f"{standing} of the people found had been invited already" in job_page
    cohorts = client.http.get("/admin/cohorts", headers={"Cookie": committee_cookie}).body.decode()
    assert f"Earlier participants: {sent} invitations sent." in cohorts
    # With no cohort taking applications, the button is gone and the request is refused calmly.
    client.http.post("/admin/api/cohorts/B/phase", headers=headers, body=b'{"phase": "matching"}')
    refused = client.http.post("/admin/cohorts/carry-over", headers=form, body=f"csrf_token={token}&confirm=yes".encode())
    assert refused.status_code == 409 and "No cohort is taking applications" in refused.body.decode()
    assert client.http.post("/admin/api/cohorts/carry-over", headers=headers, body=b"{}").status_code == 409


def test_invitations_stop_when_the_cohort_stops_taking_applications(client, committee_cookie):
    [pairing] = approved_pairs(1)
    headers = {**JSON, "Cookie": committee_cookie}
    client.http.post(f"/admin/api/cohorts/{pairing.cohort}/phase", headers=headers, body=b'{"phase": "matching"}')
    client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "2028"}')
    runner = worker.Deferred()
    installed = worker.install(app, runner)
    try:
        started = client.http.post("/admin/api/cohorts/carry-over", headers=headers, body=b"{}")
        before = len(sent_mail())
        client.http.post("/admin/api/cohorts/B/phase", headers=headers, body=b'{"phase": "matching"}')
        runner.run_all()
    finally:
        worker.uninstall(installed)
    stopped = client.http.get(started.headers["Location"], headers=headers).json_body
    assert stopped["state"] == "failed" and "2028 no longer takes applications" in stopped["errors"][0]
    assert len(sent_mail()) == before


def test_a_step_repeated_or_a_list_lost_mails_nobody_twice(client, committee_cookie, monkeypatch):
    approved_pairs(1)
    headers = {**JSON, "Cookie": committee_cookie}
    client.http.post(f"/admin/api/cohorts/{open_cohort().id}/phase", headers=headers, body=b'{"phase": "matching"}')
    monkeypatch.setattr(carry_over, "invite_standing_pool", lambda member, cohort: None)  # nobody invited yet
    client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": "B", "name": "2028"}')
    monkeypatch.setattr(carry_over, "INVITE_STEP", 3)
    runner = worker.Deferred()
    installed = worker.install(app, runner)
    try:
        started = client.http.post("/admin/api/cohorts/carry-over", headers=headers, body=b"{}")
    finally:
        worker.uninstall(installed)
    job = Job.get(started.json_body["id"])
    listed = carry_over.invitation_step(job)
    job.cursor, job.done, job.total = listed.cursor, listed.done, listed.total
    first = carry_over.invitation_step(job)
    assert first.cursor == {"next": 3, "invited": 3} and len(sent_mail()) == (mailed := len(sent_mail()))
    assert carry_over.invitation_step(job).cursor == {"next": 3, "invited": 0}  # the step repeated: nobody mailed
    assert len(sent_mail()) == mailed
    job.cursor = first.cursor
    uploads.delete(carry_over._list_key(job.id))  # kept a day only: a job stalled longer finds it gone
    remade = carry_over.invitation_step(job)
    assert remade.cursor == {"next": 0, "invited": 3}
    job.cursor = remade.cursor
    while not (step := carry_over.invitation_step(job)).finished:
        job.cursor = step.cursor
    invitations = [m["to"][0] for m in sent_mail() if "take part in 2028" in m["subject"]]
    assert len(invitations) == len(set(invitations)) == listed.total == step.result["invited"]
    assert step.result["skipped"] == 0
