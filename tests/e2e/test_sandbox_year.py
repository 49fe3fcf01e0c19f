"""The sandbox walks the demo cohort through its whole year when its clock moves 400 days."""
import re

import pytest

from tests.helpers import start_sandbox, stop_sandbox
from tests.helpers.forms import filled_in


@pytest.fixture
def sandbox(tmp_path):
    """The sandbox with the demo cohort, over HTTP."""
    running = start_sandbox(tmp_path, "--demo")
    yield running
    stop_sandbox(running)


def test_four_hundred_sandbox_days_walk_the_demo_cohort_through_the_year(sandbox):
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


def test_a_pair_that_never_answers_is_nudged_flagged_and_its_concern_handled_with_a_note(sandbox):
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


def test_a_year_with_an_agreement_check_ins_on_goals_an_early_close_and_the_letters(sandbox):
    admin = sandbox.as_committee
    settings = admin("GET", "/admin/api/settings")
    # Three check-ins in the year (days 100, 200 and 300; the feedback has day 180).
    admin("PUT", "/admin/api/settings", {**settings, "schedule": {**settings["schedule"], "checkin_every_days": 100}})
    proposal = admin("POST", "/admin/api/matching/proposal", {})
    first = proposal["pairs"][0]
    other = next(p for p in proposal["pairs"] if p["mentor_id"] != first["mentor_id"])  # each mail its own person
    pairs = [{"mentor_id": p["mentor_id"], "mentee_id": p["mentee_id"]} for p in (first, other)]
    kept, closing = (admin("GET", f"/admin/api/pairings/{p['id']}")
                     for p in admin("POST", "/admin/api/pairings", {"pairs": pairs})["pairings"])
    address = {a["id"]: a["answers"]["email"]
               for a in admin("GET", f"/admin/api/applications?cohort={kept['cohort']}")["applications"]}
    email = {role: address[kept[f"{role}_id"]] for role in ("mentor", "mentee")}

    def mails(address: str, word: str) -> list[dict]:
        return [m for m in sandbox.mailbox() if m["to"] == [address] and word in m["subject"].lower()]

    def answer(mail: dict, **answers) -> str:
        link = re.search(r"/respond/[a-z0-9]+", mail["text"]).group(0)
        status, page = sandbox.post_form(link, filled_in(sandbox.get_text(link), **answers))
        assert status == 200 and "problem" not in page, page
        return page

    sandbox.post_json("/_sandbox/clock", {"advance_days": 15})
    [to_mentor] = mails(email["mentor"], "starting")
    [to_mentee] = mails(email["mentee"], "starting")
    answer(to_mentor, connected="yes", modes=["email"], frequency="monthly",
           goal_1="Share how I lead a team", goal_2="", goal_3="", rating="1")
    answer(to_mentee, connected="yes", modes=["email", "video"], frequency="weekly",
           goal_1="Plan a summer reading program", goal_2="Write a first grant", goal_3="", rating="1")
    held = admin("GET", f"/admin/api/pairings/{kept['id']}")["agreement"]
    assert held["frequency"] == {"mentor": "monthly", "mentee": "weekly"}
    assert [goal["id"] for goal in held["goals"]] == ["mentor-1", "mentee-1", "mentee-2"]

    # The other pair ends early: each partner is asked the exit questions, by their own link.
    admin("POST", f"/admin/api/pairings/{closing['id']}/actions",
          {"action": "dissolve", "closure_reason": "no_contact", "reason": "Neither could find the time."})
    exits = {role: mails(address[closing[f"{role}_id"]], "two questions") for role in ("mentor", "mentee")}
    assert [len(found) for found in exits.values()] == [1, 1]
    answer(exits["mentee"][0], would_have_helped="A first meeting set by the committee.", take_part_again="yes")

    # Three check-ins, each partner reporting meetings (a round counts the larger) and goal progress.
    rounds = (("3", "2", "in_progress"), ("2", "1", "in_progress"), ("3", "3", "done"))
    for number, (by_mentor, by_mentee, progress) in enumerate(rounds, 1):
        sandbox.post_json("/_sandbox/clock", {"advance_days": 100 if number > 1 else 86})
        [mentor_checkin] = mails(email["mentor"], "check-in")[-1:]
        [mentee_checkin] = mails(email["mentee"], "check-in")[-1:]
        assert len(mails(email["mentor"], "check-in")) == number
        assert "Write a first grant" in mentor_checkin["text"] and "Share how I lead" not in mentor_checkin["text"]
        assert "Share how I lead a team" in mentee_checkin["text"]
        goals = {"goal-mentor-1": progress, "goal-mentee-1": progress, "goal-mentee-2": "not_started"}
        answer(mentor_checkin, meetings=by_mentor, rating="1", **goals)
        answer(mentee_checkin, meetings=by_mentee, rating="1", **goals)
    during = admin("GET", f"/admin/api/pairings/{kept['id']}")
    assert [(m["by"], m["count"]) for m in during["meetings"]] == [
        (role, int(count)) for counts in rounds for role, count in zip(("mentor", "mentee"), counts[:2])]
    assert {goal["id"]: goal["status"] for goal in during["agreement"]["goals"]} == {
        "mentor-1": "done", "mentee-1": "done", "mentee-2": "not_started"}
    assert during["flags"] == [] and during["concerns"] == []

    sandbox.post_json("/_sandbox/clock", {"advance_days": 66})  # day 367: the evaluation is out
    outcomes = {"goal-mentor-1": "met", "goal-mentee-1": "met", "goal-mentee-2": "not_met"}
    for role in ("mentor", "mentee"):
        [evaluation] = mails(email[role], "evaluation")
        answer(evaluation, **outcomes)
    assert admin("GET", f"/admin/api/pairings/{kept['id']}")["state"] == "completed"
    [mentor_letter] = mails(email["mentor"], "letter of service")
    [mentee_letter] = mails(email["mentee"], "letter of participation")
    assert kept["mentor_name"] in mentor_letter["text"] and "served as a volunteer mentor" in mentor_letter["text"]
    assert kept["mentee_name"] in mentee_letter["text"] and "as a mentee" in mentee_letter["text"]
    assert not any(mails(address[closing[f"{role}_id"]], "letter") for role in ("mentor", "mentee"))

    report = admin("GET", "/admin/api/report")
    year = report["agreement"]
    assert (year["goals"], year["goals_assessed"], year["goals_met"], year["goals_met_share"]) == (3, 3, 2, 0.667)
    # 3 + 2 + 3 meetings; the agreed monthly (the less frequent of the two) expects 3 a round.
    assert (year["pairs_reporting_meetings"], year["median_meetings"]) == (1, 8)
    assert (year["pairs_with_frequency"], year["pairs_meeting_as_agreed"]) == (1, 0)
    assert report["closures"]["no_contact"] == 1 and sum(report["closures"].values()) == 1
