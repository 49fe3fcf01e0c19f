"""The sandbox walks the demo cohort through its whole year when its clock moves 400 days."""
import json
import re
import urllib.request

from tests.helpers import start_sandbox, stop_sandbox


def test_four_hundred_sandbox_days_walk_the_demo_cohort_through_the_year(tmp_path):
    sandbox = start_sandbox(tmp_path, "--demo")
    try:
        def admin(method, path, document=None):
            # Sessions last 12 hours of sandbox time, so sign in afresh for each call.
            sandbox.post_json("/admin/login", {"email": "committee@example.org"})
            link = re.search(r"/admin/login/[a-z0-9]+", sandbox.mailbox()[-1]["text"]).group(0)
            sign_in = urllib.request.Request(sandbox.base_url + link, data=b"", method="POST",
                                             headers={"Content-Type": "application/x-www-form-urlencoded"})
            cookie = urllib.request.build_opener(NoRedirect).open(sign_in).headers["Set-Cookie"].split(";")[0]
            body = json.dumps(document).encode() if document is not None else None
            call = urllib.request.Request(sandbox.base_url + path, data=body, method=method,
                                          headers={"Content-Type": "application/json", "Cookie": cookie})
            with urllib.request.urlopen(call, timeout=120) as answer:
                return json.loads(answer.read())

        proposal = admin("POST", "/admin/api/matching/proposal", {})
        pairs = [{"mentor_id": p["mentor_id"], "mentee_id": p["mentee_id"]} for p in proposal["pairs"]]
        created = admin("POST", "/admin/api/pairings", {"pairs": pairs})["pairings"]
        assert len(created) == len(pairs) >= 10

        sandbox.post_json("/_sandbox/clock", {"advance_days": 15})
        kickoff = next(m for m in sandbox.mailbox() if "starting" in m["subject"])
        reply = (f"From: {kickoff['to'][1]}\r\nTo: {kickoff['reply_to'][0]}\r\nSubject: Re: {kickoff['subject']}\r\n"
                 f"Message-ID: <kickoff-reply@example.org>\r\n\r\n1 - going well, we have set three goals.\r\n").encode()
        status, outcome = sandbox.post("/_sandbox/inbound", reply, "message/rfc822")
        assert status == 200 and outcome["outcome"] == "applied"
        assert admin("GET", f"/admin/api/pairings/{outcome['pairing_id']}")["state"] == "active"

        status, moved = sandbox.post_json("/_sandbox/clock", {"advance_days": 385})
        assert status == 200
        subjects = [m["subject"].lower() for m in sandbox.mailbox()]
        for expected in ("meet your mentoring partner", "how is your mentoring partnership starting", "check-in",
                         "halfway", "program evaluation", "reminder", "come to an end"):
            assert any(expected in subject for subject in subjects), expected

        report = admin("GET", "/admin/api/report")
        assert report["pairings"]["by_state"]["completed"] == len(created)
        assert report["checkins"]["sent"] == 4 * len(created)  # days 90 and 270, to each partner
        assert report["feedback"]["requested"] == 2 * len(created)
        assert report["evaluations"]["requested"] == 2 * len(created)
        assert report["applications"]["mentors"] + report["applications"]["mentees"] == 40
    finally:
        stop_sandbox(sandbox)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_303(self, request, response, code, message, headers):
        return response
