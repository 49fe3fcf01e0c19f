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



def test_a_pair_that_never_answers_is_nudged_flagged_and_its_concern_handled_with_a_note(tmp_path):
    sandbox = start_sandbox(tmp_path, "--demo")
    try:
        admin = sandbox.as_committee
        proposal = admin("POST", "/admin/api/matching/proposal", {})
        pairs = [{"mentor_id": p["mentor_id"], "mentee_id": p["mentee_id"]} for p in proposal["pairs"][:2]]
        silent, answering = admin("POST", "/admin/api/pairings", {"pairs": pairs})["pairings"]
        silent_pairing = admin("GET", f"/admin/api/pairings/{silent['id']}")
        mentee_name = admin("GET", f"/admin/api/pairings/{answering['id']}")["mentee_name"]

        sandbox.post_json("/_sandbox/clock", {"advance_days": 15})
        [theirs] = [m for m in sandbox.mailbox() if "starting" in m["subject"]
                    and m["text"].startswith(f"Dear {mentee_name},")]
        reply = (f"From: {theirs['to'][0]}\r\nTo: {theirs['reply_to'][0]}\r\nSubject: Re: {theirs['subject']}\r\n"
                 f"Message-ID: <kickoff-answer@example.org>\r\n\r\n1 - going well, we met last week.\r\n").encode()
        assert sandbox.post("/_sandbox/inbound", reply, "message/rfc822")[1]["pairing_id"] == answering["id"]

        sandbox.post_json("/_sandbox/clock", {"advance_days": 7})  # day 22: the nudges of day 21 are out
        nudges = [m for m in sandbox.mailbox() if m["subject"] == "Have you been able to connect?"]
        # One each, to the silent pair only, each partner on their own with their own answer link.
        assert sorted(m["text"].split(",")[0] for m in nudges) == sorted(
            f"Dear {silent_pairing[name]}" for name in ("mentor_name", "mentee_name"))
        assert all(len(m["to"]) == 1 and m["reply_to"][0].startswith("reply+") for m in nudges)
        assert nudges[0]["to"] != nudges[1]["to"]
        assert admin("GET", f"/admin/api/pairings/{silent['id']}")["flags"] == []

        sandbox.post_json("/_sandbox/clock", {"advance_days": 7})  # day 29: not started
        flagged = admin("GET", f"/admin/api/pairings/{silent['id']}")
        assert flagged["flags"] == ["not_started"] and flagged["state"] == "introduced"
        assert admin("GET", f"/admin/api/pairings/{answering['id']}")["flags"] == []
        digests = [m for m in sandbox.mailbox() if "for the committee" in m["subject"]]
        assert any("Nobody in the pair has answered the kickoff check 28 days" in m["text"] for m in digests)
        [concern] = flagged["concerns"]
        assert concern["kind"] == "not_started" and concern["handled_at"] is None

        handled = admin("POST", f"/admin/api/pairings/{silent['id']}/concerns/{concern['id']}",
                        {"note": "Phoned the mentee; they meet next week."})
        assert handled["handled_by"] == "committee@example.org" and handled["note"].startswith("Phoned")
        assert admin("GET", f"/admin/api/pairings/{silent['id']}")["concerns"][0]["handled_at"] == handled["handled_at"]
        month = handled["handled_at"][:7]
        entries = admin("GET", f"/admin/api/audit?month={month}")["entries"]
        assert [(e["member"], e["target"], e["details"]["concern_id"]) for e in entries
                if e["action"] == "concern_handled"] == [("committee@example.org", silent["id"], concern["id"])]
    finally:
        stop_sandbox(sandbox)

