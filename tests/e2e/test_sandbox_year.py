"""The sandbox walks the demo cohort through its whole year when its clock moves 400 days."""
from tests.helpers import start_sandbox, stop_sandbox


def test_four_hundred_sandbox_days_walk_the_demo_cohort_through_the_year(tmp_path):
    sandbox = start_sandbox(tmp_path, "--demo")
    try:
        admin = sandbox.as_committee

        proposal = admin("POST", "/admin/api/matching/proposal", {})
        pairs = [{"mentor_id": p["mentor_id"], "mentee_id": p["mentee_id"]} for p in proposal["pairs"]]
        created = admin("POST", "/admin/api/pairings", {"pairs": pairs})["pairings"]
        assert len(created) == len(pairs) >= 10

        sandbox.post_json("/_sandbox/clock", {"advance_days": 15})
        kickoff = next(m for m in sandbox.mailbox() if "starting" in m["subject"])
        reply = (f"From: {kickoff['to'][0]}\r\nTo: {kickoff['reply_to'][0]}\r\nSubject: Re: {kickoff['subject']}\r\n"
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

