"""The partnership agreement through the year, over HTTP: the kickoff form's agreement, the
check-ins that ask about meetings and goals, the evaluation's goals met, the structured close
with its exit questions, and the letters of participation.

Tested as an adversary too: a second submission, another partner's goals, a forged token,
huge values, a mailed reply, an exit answer after the mentee was paired again."""
import json
import re
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.models import Application, Claim, Cohort, Pairing, Response
from chalicelib.domain.lifecycle import ResponseKind
from chalicelib.pages import respond
from chalicelib.services import pairings, report
from chalicelib.services.pairings import get_pairing, live_mentee_key
from tests.helpers import csrf_of, sent_mail, sign_in
from tests.helpers.workflow import approved_pairs, deliver, mails_to, reply_to, respond_link, run_days
from tests.helpers.forms import every_answer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def post_form(client, link: str, fields: list[tuple[str, str]]):
    return client.http.post(link, headers=FORM, body=urlencode(fields).encode())


def kickoff(modes=("email", "video"), frequency="monthly", goals=("Plan a summer reading program",), rating="1"):
    return [("connected", "yes"), *(("modes", mode) for mode in modes), ("frequency", frequency),
            *((f"goal_{number}", text) for number, text in enumerate(goals, 1)), ("rating", rating)]


def api(client, cookie: str, pairing_id: str) -> dict:
    answer = client.http.get(f"/admin/api/pairings/{pairing_id}", headers={"Cookie": cookie})
    assert answer.status_code == 200
    return answer.json_body


@pytest.fixture
def agreed(aws, fresh_clock, client):
    """One pair, both partners having written down their (different) agreement."""
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 15)
    mentor_link = respond_link(mails_to(pairing.mentor_email, "starting")[0])
    mentee_link = respond_link(mails_to(pairing.mentee_email, "starting")[0])
    assert post_form(client, mentor_link, kickoff(("email",), "monthly", ("Share how I lead a team",))).status_code == 200
    assert post_form(client, mentee_link, kickoff(("email", "video"), "weekly",
                                                  ("Plan a summer reading program", "Write a first grant"))).status_code == 200
    return pairing


def test_the_kickoff_form_offers_the_mentees_application_goals(aws, fresh_clock, client):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 15)
    written = Application.get(pairing.mentee_id).answers["goals"]
    page = client.http.get(respond_link(mails_to(pairing.mentor_email, "starting")[0])).body.decode()
    assert 'name="modes"' in page and 'name="frequency"' in page and 'name="goal_3"' in page
    first = re.search(r'name="goal_1"[^>]*value="([^"]*)"', page, re.S).group(1)
    assert first and first in written.replace("'", "&#39;").replace('"', "&#34;")


def test_both_sides_of_the_agreement_are_kept_side_by_side(agreed, client):
    cookie = sign_in(client)
    body = api(client, cookie, agreed.id)
    assert body["agreement"]["modes"] == {"mentor": ["email"], "mentee": ["email", "video"]}
    assert body["agreement"]["frequency"] == {"mentor": "monthly", "mentee": "weekly"}
    assert [(goal["id"], goal["text"], goal["by"], goal["status"]) for goal in body["agreement"]["goals"]] == [
        ("mentor-1", "Share how I lead a team", "mentor", None),
        ("mentee-1", "Plan a summer reading program", "mentee", None),
        ("mentee-2", "Write a first grant", "mentee", None)]
    assert body["meetings"] == []
    page = client.http.get(f"/admin/pairings/{agreed.id}", headers={"Cookie": cookie}).body.decode()
    assert "Every two weeks" not in page and "Weekly" in page and "Monthly" in page  # both frequencies shown


def test_a_kickoff_agreement_out_of_bounds_is_refused_and_nothing_is_written(aws, fresh_clock, client):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 15)
    link = respond_link(mails_to(pairing.mentee_email, "starting")[0])
    for fields in (kickoff(goals=("x" * 201,)), kickoff(goals=()), kickoff(modes=()), kickoff(frequency="hourly"),
                   kickoff(goals=("  ",)), kickoff(modes=("email", "telepathy")), kickoff(goals=("a", "x" * 300))):
        answer = post_form(client, link, fields)
        assert answer.status_code == 400, fields
    huge = client.http.post(link, headers=FORM, body=urlencode(kickoff(goals=("y" * 200_000,))).encode())
    assert huge.status_code in (400, 413)
    assert not get_pairing(pairing.id).agreement and not list(Response.query(pairing.id))


def test_check_ins_ask_meetings_and_goals_and_show_the_partners_goals(agreed, fresh_clock, client):
    run_days(fresh_clock, 76)  # day 91: the first check-in went out on day 90
    [to_mentor] = mails_to(agreed.mentor_email, "check-in")
    [to_mentee] = mails_to(agreed.mentee_email, "check-in")
    assert "Plan a summer reading program" in to_mentor["text"] and "Write a first grant" in to_mentor["text"]
    assert "Share how I lead a team" not in to_mentor["text"]
    assert "Share how I lead a team" in to_mentee["text"] and "Write a first grant" not in to_mentee["text"]

    link = respond_link(to_mentee)
    page = client.http.get(link).body.decode()
    assert 'name="meetings"' in page and 'name="goal-mentor-1"' in page and 'name="goal-mentee-2"' in page
    answer = [("meetings", "2"), ("goal-mentor-1", "in_progress"), ("goal-mentee-1", "done"),
              ("goal-mentee-2", "not_started"), ("rating", "1"),
              ("goal-mentee-9", "done"), ("goal-forged", "done")]  # goals the pair does not have: ignored
    assert post_form(client, link, answer).status_code == 200
    again = post_form(client, link, [("meetings", "3"), *answer[1:]])
    assert again.status_code == 200 and "already" in again.body.decode().lower()

    held = get_pairing(agreed.id)
    assert [(m["count"], m["by"]) for m in held.meetings] == [(2, "mentee")]  # the second submission changed nothing
    assert held.agreement["status"] == {"mentor-1": "in_progress", "mentee-1": "done", "mentee-2": "not_started"}

    for bad in ([("meetings", "4"), *answer[1:4], ("rating", "1")], [("meetings", "-1"), ("rating", "1")],
                [("meetings", "1"), ("goal-mentor-1", "met"), *answer[2:5]]):
        refused = post_form(client, respond_link(to_mentor), bad)
        assert refused.status_code == 400, bad
    assert len(get_pairing(agreed.id).meetings) == 1

    # A mailed reply still counts: its rating and text, no meetings or goals.
    outcome = deliver(reply_to(to_mentor, agreed.mentor_email, "1 - we talk every month, all good"))
    assert outcome["outcome"] == "applied"
    assert [r.rating for r in Response.query(agreed.id) if r.participant == "mentor" and r.kind == "checkin"] == [1]
    assert len(get_pairing(agreed.id).meetings) == 1


def test_a_forged_or_altered_token_records_nothing(agreed, fresh_clock, client):
    run_days(fresh_clock, 76)
    link = respond_link(mails_to(agreed.mentee_email, "check-in")[0])
    forged = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    answer = post_form(client, forged, [("meetings", "1"), ("rating", "1")])
    assert answer.status_code == 400
    assert not get_pairing(agreed.id).meetings


def test_the_evaluation_asks_per_goal_and_the_report_counts_goals_and_meetings(agreed, fresh_clock, client):
    run_days(fresh_clock, 76)
    for email in (agreed.mentor_email, agreed.mentee_email):
        link = respond_link(mails_to(email, "check-in")[0])
        assert post_form(client, link, [("meetings", "3"), ("goal-mentor-1", "in_progress"),
                                        ("goal-mentee-1", "in_progress"), ("goal-mentee-2", "in_progress"),
                                        ("rating", "1")]).status_code == 200
    run_days(fresh_clock, 275)  # day 366: the evaluation is out
    link = respond_link(mails_to(agreed.mentee_email, "evaluation")[0])
    page = client.http.get(link).body.decode()
    assert 'name="goal-mentee-1"' in page and 'value="met"' in page
    base = every_answer(respond.questions_for(ResponseKind.EVALUATION, "mentee", agreed.cohort))
    goals = urlencode([("goal-mentor-1", "met"), ("goal-mentee-1", "met"), ("goal-mentee-2", "not_met")]).encode()
    assert client.http.post(link, headers=FORM, body=base + b"&" + goals).status_code == 200

    figures = report.live_report(Cohort.get(agreed.cohort))
    year = figures["agreement"]
    assert (year["goals"], year["goals_assessed"], year["goals_met"], year["goals_met_share"]) == (3, 3, 2, 0.667)
    assert year["median_meetings"] == 3 and year["pairs_reporting_meetings"] == 1
    # Agreed: monthly (the less frequent of monthly and weekly); 3 in the only round meets it.
    assert (year["pairs_with_frequency"], year["pairs_meeting_as_agreed"]) == (1, 1)
    cookie = sign_in(client)
    shown = client.http.get(f"/admin/report?cohort={agreed.cohort}", headers={"Cookie": cookie}).body.decode()
    assert "Goals and meetings" in shown and "2 of 3 (67%)" in shown


def dissolve(client, cookie: str, pairing_id: str, **document):
    return client.http.post(f"/admin/api/pairings/{pairing_id}/actions", headers={**JSON, "Cookie": cookie},
                            body=json.dumps({"action": "dissolve", **document}).encode())


def test_dissolving_asks_a_reason_from_the_vocabulary_and_a_bounded_note(agreed, client):
    cookie = sign_in(client)
    for document in ({}, {"closure_reason": "bored"}, {"closure_reason": ["other"]},
                     {"closure_reason": "other", "reason": "x" * 2001}):
        assert dissolve(client, cookie, agreed.id, **document).status_code == 400, document
    assert dissolve(client, cookie, agreed.id, closure_reason="no_contact", reason="x" * 2000).status_code == 200
    held = get_pairing(agreed.id)
    assert held.state == "dissolved" and held.history[-1]["closure_reason"] == "no_contact"


def test_an_early_close_asks_each_partner_the_exit_questions_by_their_own_link(agreed, client, fresh_clock):
    cookie = sign_in(client)
    token = csrf_of(client, cookie)
    before = len(sent_mail())
    answer = client.http.post(f"/admin/pairings/{agreed.id}", headers={**FORM, "Cookie": cookie},
                              body=urlencode({"csrf_token": token, "action": "dissolve",
                                              "closure_reason": "schedule_change", "reason": "New job"}).encode())
    assert answer.status_code in (302, 303)
    exits = [m for m in sent_mail()[before:] if "two questions" in m["subject"]]
    assert sorted(m["to"][0] for m in exits) == sorted([agreed.mentor_email, agreed.mentee_email])
    links = {m["to"][0]: respond_link(m) for m in exits}
    assert len(set(links.values())) == 2  # each their own link

    # The mentee is paired again at once; the old pairing's exit answers must not free the new claim.
    [again] = [p for p in approved_pairs_again(agreed)]
    mentee_link = links[agreed.mentee_email]
    assert "Would you take part" in client.http.get(mentee_link).body.decode()
    answered = post_form(client, mentee_link, [("would_have_helped", "More time"), ("take_part_again", "yes")])
    assert answered.status_code == 200
    assert post_form(client, mentee_link, [("would_have_helped", "x"), ("take_part_again", "no")]).status_code == 200
    assert post_form(client, links[agreed.mentor_email],
                     [("would_have_helped", "z" * 2001), ("take_part_again", "no")]).status_code == 400
    exit_answers = [r for r in Response.query(agreed.id) if r.kind == "exit"]
    assert [(r.participant, r.answers["take_part_again"]) for r in exit_answers] == [("mentee", "yes")]
    assert get_pairing(agreed.id).state == "dissolved"
    assert Claim.get(live_mentee_key(agreed.mentee_id)).owner == again.id
    # A mailed answer to the exit questions counts too.
    outcome = deliver(reply_to([m for m in exits if m["to"][0] == agreed.mentor_email][0], agreed.mentor_email,
                               "Clearer expectations at the start would have helped."))
    assert outcome["outcome"] == "unrated"  # applied; the exit questions ask no rating, the committee reads it
    assert sorted(r.participant for r in Response.query(agreed.id) if r.kind == "exit") == ["mentee", "mentor"]

    figures = report.live_report(Cohort.get(agreed.cohort))
    assert figures["closures"]["schedule_change"] == 1 and sum(figures["closures"].values()) == 1


def approved_pairs_again(old: Pairing) -> list:
    """Pair the mentee of a closed pairing with another mentor who has room."""
    from chalicelib.adapters.store import cohort_applications

    mentors = [a for a in cohort_applications(old.cohort, "mentor", "eligible")
               if a.id != old.mentor_id and a.email_confirmed_at is not None]
    for mentor in mentors:
        try:
            return pairings.approve("committee@example.org", [pairings.PairRequest(mentor.id, old.mentee_id)])
        except pairings.PairingRefused:
            continue
    pytest.skip("no other mentor can take this mentee in the demo cohort")


def test_completion_sends_each_partner_who_took_part_a_letter(agreed, fresh_clock, client):
    run_days(fresh_clock, 360)  # day 375
    for email in (agreed.mentor_email, agreed.mentee_email):
        link = respond_link(mails_to(email, "evaluation")[0])
        role = "mentor" if email == agreed.mentor_email else "mentee"
        held = get_pairing(agreed.id).agreement
        body = every_answer(respond.questions_for(ResponseKind.EVALUATION, role, agreed.cohort, held))
        assert client.http.post(link, headers=FORM, body=body).status_code == 200
    assert get_pairing(agreed.id).state == "completed"
    [mentor_letter] = mails_to(agreed.mentor_email, "letter of service")
    [mentee_letter] = mails_to(agreed.mentee_email, "letter of participation")
    assert "served as a volunteer mentor" in mentor_letter["text"] and agreed.mentor_name in mentor_letter["text"]
    assert "as a mentee" in mentee_letter["text"] and agreed.mentee_name in mentee_letter["text"]
    assert not mails_to(agreed.mentor_email, "come to an end")  # the letter is the closing mail
    assert "/respond/" not in mentor_letter["text"]  # a letter asks nothing
