"""Two overlapping cohorts in the sandbox, over HTTP: cohort A's pairs run their year while cohort B
accepts and matches; an unmatched mentee of A says yes by link and is matched in B, never with their
former partner; closing A while its pairing lives needs the committee's confirmation."""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

from tests.helpers import COMMITTEE_EMAIL, _NoRedirect, start_sandbox, stop_sandbox

FORM = "application/x-www-form-urlencoded"


class Committee:
    """The committee's JSON API with one signed-in session, answering (status, body) for 4xx too. The
    sign-in link is found by its address, not as the last mail: a job may be mailing meanwhile."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.sign_in()

    def sign_in(self) -> None:
        seen = {m["id"] for m in self.sandbox.mailbox() if "/admin/login/" in m["text"]}
        self.sandbox.post_json("/admin/login", {"email": COMMITTEE_EMAIL})
        [mail] = [m for m in self.sandbox.mailbox() if "/admin/login/" in m["text"] and m["id"] not in seen]
        link = re.search(r"/admin/login/[a-z0-9]+", mail["text"]).group(0)
        answer = urllib.request.build_opener(_NoRedirect).open(urllib.request.Request(
            self.sandbox.base_url + link, data=b"", method="POST", headers={"Content-Type": FORM}))
        self.cookie = answer.headers["Set-Cookie"].split(";")[0]

    def __call__(self, method: str, path: str, document=None) -> tuple[int, dict]:
        body = json.dumps(document).encode() if document is not None else None
        call = urllib.request.Request(self.sandbox.base_url + path, data=body, method=method,
                                      headers={"Content-Type": "application/json", "Cookie": self.cookie})
        try:
            with urllib.request.urlopen(call, timeout=120) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def ok(self, method: str, path: str, document=None) -> dict:
        status, body = self(method, path, document)
        assert status in (200, 201, 202), (path, status, body)
        return body

    def finished_job(self, started: dict) -> dict:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = self.ok("GET", f"/admin/api/jobs/{started['id']}")
            if job["state"] in ("done", "failed"):
                return job
            time.sleep(0.3)
        raise AssertionError(f"job {started['id']} did not finish")


def _link(mail: dict, path: str) -> str:
    return re.search(rf"/{path}/[a-z0-9]+", mail["text"]).group(0)


def _reply(sandbox, mail: dict, sender: str, words: str, message_id: str) -> dict:
    raw = (f"From: {sender}\r\nTo: {mail['reply_to'][0]}\r\nSubject: Re: {mail['subject']}\r\n"
           f"Message-ID: <{message_id}@example.org>\r\n\r\n{words}\r\n").encode()
    status, outcome = sandbox.post("/_sandbox/inbound", raw, "message/rfc822")
    assert status == 200, outcome
    return outcome


def _phase(admin: Committee, cohort_id: str, phase: str, **more) -> tuple[int, dict]:
    return admin("POST", f"/admin/api/cohorts/{cohort_id}/phase", {"phase": phase, **more})


def test_cohort_a_runs_its_year_while_b_accepts_and_matches_a_carried_over_mentee(tmp_path):
    sandbox = start_sandbox(tmp_path, "--demo")
    try:
        admin = Committee(sandbox)
        [a] = [c["id"] for c in admin.ok("GET", "/admin/api/cohorts")]
        proposal = admin.ok("POST", f"/admin/api/matching/proposal?cohort={a}", {})
        pairs = [{"mentor_id": p["mentor_id"], "mentee_id": p["mentee_id"]} for p in proposal["pairs"][:2]]
        staying, parting = admin.ok("POST", "/admin/api/pairings", {"pairs": pairs})["pairings"]
        admin.ok("POST", f"/admin/api/pairings/{parting['id']}/actions",
                 {"action": "dissolve", "closure_reason": "not_a_good_fit", "reason": "Different goals."})
        listed = admin.ok("GET", f"/admin/api/applications?cohort={a}")["applications"]
        people = {x["id"]: x["answers"]["email"] for x in listed}
        mentor_emails = {x["answers"]["email"] for x in listed if x["role"] == "mentor"}
        mentee, former_mentor = people[parting["mentee_id"]], people[parting["mentor_id"]]
        staying_mentee = people[staying["mentee_id"]]
        for phase in ("matching", "running"):
            assert _phase(admin, a, phase)[0] == 200

        # B opens while A runs; the committee invites A's people, and the mentee and every mentor say yes.
        assert admin("POST", "/admin/api/cohorts", {"id": "B", "name": "2028"})[0] == 201
        invited = admin.finished_job(admin.ok("POST", "/admin/api/cohorts/carry-over", {}))
        assert invited["state"] == "done" and invited["result"]["invited"] > 0
        invitations = [m for m in sandbox.mailbox() if m["subject"] == "Would you like to take part in 2028?"]
        assert len({m["to"][0] for m in invitations}) == len(invitations)  # one each
        assert staying_mentee not in {m["to"][0] for m in invitations}  # in a live pairing: not invited
        saying_yes = [m for m in invitations if m["to"][0] == mentee or m["to"][0] in mentor_emails]
        assert any(m["to"][0] == former_mentor for m in saying_yes)
        for invitation in saying_yes:
            status, page = sandbox.post(_link(invitation, "carry-over"), b"answer=yes", FORM)
            assert status == 200 and "Apply to the Mentoring Program" in page  # their copy, to check
        for confirmation in [m for m in sandbox.mailbox() if "/confirm/" in m["text"]]:
            with urllib.request.urlopen(sandbox.base_url + _link(confirmation, "confirm"), timeout=30) as answer:
                assert answer.status == 200

        # A's year goes on: the day-14 kickoff reaches A's live pair, and a reply to it is applied.
        sandbox.post_json("/_sandbox/clock", {"advance_days": 15})
        [a_kickoff] = [m for m in sandbox.mailbox() if "starting" in m["subject"] and m["to"] == [staying_mentee]]
        assert _reply(sandbox, a_kickoff, staying_mentee, "1 - going well.", "a-kickoff")["pairing_id"] == staying["id"]

        # B matches: the carried-over mentee is proposed, never with their former mentor.
        admin.sign_in()  # sessions last 12 hours of sandbox time
        assert _phase(admin, "B", "matching")[0] == 200
        in_b = {x["answers"]["email"]: x for x in admin.ok("GET", "/admin/api/applications?cohort=B")["applications"]}
        assert in_b[mentee]["email_confirmed"] and in_b[former_mentor]["email_confirmed"]
        proposed = admin.ok("POST", "/admin/api/matching/proposal?cohort=B", {})
        [theirs] = [p for p in proposed["pairs"] if p["mentee_id"] == in_b[mentee]["id"]]
        assert theirs["mentor_id"] != in_b[former_mentor]["id"]
        [b_pairing] = admin.ok("POST", "/admin/api/pairings", {"pairs": [
            {"mentor_id": theirs["mentor_id"], "mentee_id": theirs["mentee_id"]}]})["pairings"]
        assert admin.ok("GET", f"/admin/api/pairings/{b_pairing['id']}")["cohort"] == "B"
        assert _phase(admin, "B", "running")[0] == 200

        # Ticks and replies serve both: B's kickoff goes out and is answered while A's pair is mid-year.
        sandbox.post_json("/_sandbox/clock", {"advance_days": 15})
        [b_kickoff] = [m for m in sandbox.mailbox() if "starting" in m["subject"] and m["to"] == [mentee]]
        assert _reply(sandbox, b_kickoff, mentee, "1 - going well, we met.", "b-kickoff")["pairing_id"] == b_pairing["id"]
        admin.sign_in()
        assert admin.ok("GET", f"/admin/api/pairings/{b_pairing['id']}")["state"] == "active"
        assert admin.ok("GET", f"/admin/api/pairings/{staying['id']}")["state"] == "active"

        # Closing A while its pair lives needs confirmation; confirmed, it ends A's pair only.
        refused, why = _phase(admin, a, "closed")
        assert refused == 409 and "1 live pairing" in why["errors"]["end_live_pairings"]
        assert _phase(admin, a, "closed", end_live_pairings=True)[0] == 200
        assert admin.ok("GET", f"/admin/api/pairings/{staying['id']}")["state"] == "dissolved"
        assert admin.ok("GET", f"/admin/api/pairings/{b_pairing['id']}")["state"] == "active"
        phases = {c["id"]: c["phase"] for c in admin.ok("GET", "/admin/api/cohorts")}
        assert phases == {a: "closed", "B": "running"}
    finally:
        stop_sandbox(sandbox)

