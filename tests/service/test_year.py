"""A whole program year, by the clock: schedule, replies, feedback, evaluation, close."""
from chalicelib.domain import lifecycle
from chalicelib.adapters.models import Alert, Pairing, Response
from chalicelib.services.pairings import get_pairing
from tests.helpers import sent_mail
from tests.helpers.workflow import approved_pairs, deliver, mails_to, reply_to, run_days


def test_a_pair_that_answers_everything_completes_its_year(aws, fresh_clock):
    [pairing] = approved_pairs(1)
    mentor, mentee = pairing.mentor_email, pairing.mentee_email
    run_days(fresh_clock, 14)
    [kickoff] = mails_to(mentor, "starting")
    assert kickoff["to"] == [mentor] and kickoff["reply_to"][0].startswith("reply+")
    [own_kickoff] = mails_to(mentee, "starting")
    assert own_kickoff["to"] == [mentee] and own_kickoff["reply_to"] != kickoff["reply_to"]
    assert deliver(reply_to(own_kickoff, mentee, "1 - going well. We met for coffee and set three goals."))["outcome"] == "applied"
    assert get_pairing(pairing.id).state == "active"

    run_days(fresh_clock, 90 - 14)
    [checkin] = mails_to(mentee, "check-in")
    assert checkin["to"] == [mentee] and "reply+" in checkin["reply_to"][0]
    outcome = deliver(reply_to(checkin, mentee, "2\nSome concerns: we keep missing our calls."))
    assert outcome["outcome"] == "applied"
    assert any(a.kind == "some_concerns" for a in Alert.scan())

    run_days(fresh_clock, 180 - 90)
    [feedback] = mails_to(mentor, "feedback")
    deliver(reply_to(feedback, mentor, "1 - going well. We meet monthly by video."))

    run_days(fresh_clock, 365 - 180)
    evaluations = mails_to(mentor, "evaluation") + mails_to(mentee, "evaluation")
    assert len(evaluations) == 2 and get_pairing(pairing.id).state == "evaluation"
    for mail, sender in ((evaluations[0], evaluations[0]["to"][0]), (evaluations[1], evaluations[1]["to"][0])):
        deliver(reply_to(mail, sender, "1: a wonderful year, thank you."))
    final = get_pairing(pairing.id)
    assert final.state == "completed" and final.next_due_at is None
    kinds = sorted(r.kind for r in Response.query(pairing.id))
    assert kinds == ["checkin", "evaluation", "evaluation", "feedback", "kickoff"]
    assert [entry["to"] for entry in final.history][-1] == "completed"
    assert len(mails_to(mentor, "reminder")) == 0  # nobody is reminded after answering


def test_a_silent_pair_is_flagged_reminded_and_closed_at_the_deadline(aws, fresh_clock):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 400)
    final = get_pairing(pairing.id)
    assert final.state == "completed"
    assert "silent" in final.flags
    assert any(a.kind == "silent" for a in Alert.scan())
    mentee = final.mentee_email
    subjects = [m["subject"] for m in sent_mail() if mentee in m["to"]]
    assert sum("check-in" in s.lower() for s in subjects) == 2  # days 90 and 270
    assert sum("reminder" in s.lower() for s in subjects) == 2  # +7 and +14 days
    assert sum("evaluation" in s.lower() and "reminder" not in s.lower() for s in subjects) == 1
    assert any("come to an end" in s for s in subjects)
    digests = [m for m in sent_mail() if m["to"] == ["committee@example.org"] and "for the committee" in m["subject"]]
    assert "has answered the kickoff check 28 days" in digests[0]["text"]  # the not-started flag's digest first
    assert any("check-ins in a row unanswered" in digest["text"] for digest in digests)
    assert sum("Have you been able to connect?" == s for s in subjects) == 1  # the nudge of day 21


def test_the_whole_demo_cohort_walks_through_the_year(aws, fresh_clock):
    created = approved_pairs()
    run_days(fresh_clock, 400)
    states = {p.state for p in Pairing.scan()}
    assert states == {"completed"} and len(created) >= 10
    assert all(p.next_due_at is None for p in Pairing.scan())
    assert not list(Pairing.due.query(Pairing.TIMER))  # nothing left for the tick to read


def test_the_tick_delivered_three_times_a_day_changes_nothing_more(aws, fresh_clock):
    from chalicelib.services import workflow

    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 14)
    history, mails = len(get_pairing(pairing.id).history), len(sent_mail())
    for _ in range(3):
        assert workflow.tick().applied == 0
    assert len(get_pairing(pairing.id).history) == history and len(sent_mail()) == mails


def test_a_schedule_change_moves_the_next_check_in_of_new_pairings(aws, fresh_clock):
    from chalicelib.services import settings_store
    from chalicelib.adapters.store import open_cohort

    cohort = open_cohort()
    document = settings_store.current(cohort.id).document
    settings_store.save(cohort.id, {**document, "schedule": {**document["schedule"], "kickoff_day": 7}}, "test")
    [pairing] = approved_pairs(1)
    assert (pairing.next_due_at - pairing.introduced_at).days == 7
    assert pairing.next_due == lifecycle.EventKind.KICKOFF_DUE
