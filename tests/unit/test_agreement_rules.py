"""The partnership agreement, meetings and closure reasons as pure rules (domain/agreement.py),
and how the workflow's core keeps them."""
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import agreement
from chalicelib.domain.agreement import ClosureReason, PartnerTerms
from chalicelib.domain.lifecycle import Event, EventKind, PairingView, Schedule, State, apply, decide
from chalicelib.domain.refusals import Invalid

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def day(number: int) -> datetime:
    return START + timedelta(days=number)


def terms(*goals: str, modes=("email", "video"), frequency="monthly") -> PartnerTerms:
    return PartnerTerms(modes, frequency, goals or ("Plan a summer reading program.",))


def held(mentor=None, mentee=None) -> dict:
    kept: dict = {}
    if mentor:
        kept = agreement.with_terms(kept, "mentor", mentor, "2026-01-20T09:00:00+00:00")
    if mentee:
        kept = agreement.with_terms(kept, "mentee", mentee, "2026-01-21T09:00:00+00:00")
    return kept


# --- One partner's terms ---------------------------------------------------------------

@pytest.mark.parametrize("modes, frequency, goals, field", [
    ((), "monthly", ("A goal",), "modes"),
    (("email", "carrier_pigeon"), "monthly", ("A goal",), "modes"),
    (("email",), "hourly", ("A goal",), "frequency"),
    (("email",), "monthly", (), "goal_1"),
    (("email",), "monthly", ("  ", "\t"), "goal_1"),
    (("email",), "monthly", ("a", "b", "c", "d"), "goal_1"),
    (("email",), "monthly", ("fine", "x" * 201), "goal_2"),
])
def test_terms_out_of_bounds_are_refused_with_the_field_to_fix(modes, frequency, goals, field):
    with pytest.raises(Invalid) as refused:
        PartnerTerms(modes, frequency, goals)
    assert field in refused.value.errors


def test_terms_are_cleaned_and_kept_in_the_vocabulary_order():
    kept = PartnerTerms(("video", "email"), "weekly", (" Learn\x00 cataloguing ", "", "x" * 200))
    assert kept.modes == ("email", "video")
    assert kept.goals == ("Learn cataloguing", "x" * 200)


def test_both_sides_are_kept_apart_and_a_second_answer_replaces_only_its_own_side():
    both = held(terms("Mentor goal"), terms("Mentee goal one", "Mentee goal two", frequency="weekly"))
    both = agreement.with_progress(both, {"mentor-1": "in_progress", "mentee-2": "done"})
    view = agreement.api_view(both)
    assert view["frequency"] == {"mentor": "monthly", "mentee": "weekly"}  # the difference stays visible
    assert view["goals"] == [
        {"id": "mentor-1", "text": "Mentor goal", "by": "mentor", "status": "in_progress"},
        {"id": "mentee-1", "text": "Mentee goal one", "by": "mentee", "status": None},
        {"id": "mentee-2", "text": "Mentee goal two", "by": "mentee", "status": "done"},
    ]
    again = agreement.with_terms(both, "mentee", terms("A new goal"), "2026-02-01T09:00:00+00:00")
    assert [goal["text"] for goal in agreement.goals(again)] == ["Mentor goal", "A new goal"]
    assert again["status"] == {"mentor-1": "in_progress"}  # the mentee's old goals' progress went with them


def test_progress_on_goals_the_agreement_does_not_hold_is_dropped():
    both = held(terms("Mentor goal"))
    assert agreement.with_progress(both, {"mentee-3": "done", "forged": "done"}) == both


def test_the_partners_goals_as_the_check_in_lists_them():
    both = held(terms("Lead a team"), terms("Plan a program", "Write a grant"))
    assert agreement.partner_goals_text(both, "mentor") == (
        "The goals your mentee listed for the year:\n- Plan a program\n- Write a grant")
    assert agreement.partner_goals_text(both, "mentee") == "The goals your mentor listed for the year:\n- Lead a team"
    assert agreement.partner_goals_text(held(terms("Lead a team")), "mentor") == ""


def test_the_application_goals_offered_as_a_start():
    assert agreement.application_goals("Learn grant writing. Plan a summer program!\n- Meet other librarians\nMore") == [
        "Learn grant writing.", "Plan a summer program!", "Meet other librarians"]
    assert agreement.application_goals("x" * 900) == ["x" * 200]
    assert agreement.application_goals(None) == []


@pytest.mark.parametrize("value", [None, "", "because", ["other"], 3])
def test_a_closure_reason_is_one_of_the_vocabulary(value):
    with pytest.raises(Invalid):
        agreement.closure_reason(value)


def test_a_note_is_bounded():
    assert agreement.bounded_note("  a note\r\n") == "a note"
    with pytest.raises(Invalid):
        agreement.bounded_note("x" * 2001)
    with pytest.raises(Invalid):
        agreement.bounded_note({"note": 1})


# --- The core keeps them ----------------------------------------------------------------

SCHEDULE = Schedule()


def test_the_kickoff_answer_check_ins_and_evaluation_fill_the_agreement_in_one_decision_each():
    pairing = PairingView("P1", State.INTRODUCED, version=2, introduced_at=START)
    kickoff = decide(pairing, Event(EventKind.KICKOFF_CONFIRMED, "participant:mentee", "t1",
                                    terms=terms("Plan a program")), day(15), SCHEDULE)
    assert kickoff.updates["agreement"]["mentee"]["goals"] == [{"id": "mentee-1", "text": "Plan a program"}]
    pairing = apply(pairing, kickoff)

    checkin = decide(pairing, Event(EventKind.REPLY_RECEIVED, "participant:mentor", "t2", meetings=2,
                                    goal_statuses={"mentee-1": "in_progress"}), day(95), SCHEDULE)
    assert checkin.updates["meetings"] == ({"at": "2026-04-10T09:00:00+00:00", "count": 2, "by": "mentor"},)
    assert checkin.updates["agreement"]["status"] == {"mentee-1": "in_progress"}
    assert checkin.updates["took_part"] == {"mentee", "mentor"}
    pairing = apply(pairing, checkin)

    evaluation = decide(pairing, Event(EventKind.REPLY_RECEIVED, "participant:mentee", "t3"), day(96), SCHEDULE)
    assert "meetings" not in evaluation.updates and "agreement" not in evaluation.updates  # a mailed reply


@pytest.mark.parametrize("kind, fields", [
    (EventKind.REPLY_RECEIVED, {"meetings": 4}),
    (EventKind.REPLY_RECEIVED, {"meetings": -1}),
    (EventKind.REPLY_RECEIVED, {"meetings": True}),
    (EventKind.PARTICIPANT_WITHDREW, {"meetings": 1}),  # a count comes with an answer
    (EventKind.REPLY_RECEIVED, {"goal_statuses": {"mentee-1": "met"}}),
    (EventKind.EVALUATION_RECEIVED, {"goal_statuses": {"mentee-1": "in_progress"}}),
    (EventKind.REPLY_RECEIVED, {"terms": terms()}),
    (EventKind.REPLY_RECEIVED, {"closure_reason": "other"}),
    (EventKind.COMMITTEE_PAUSE, {"closure_reason": "other"}),
    (EventKind.REMATCH_REQUESTED, {"reason": "x" * 5001}),
])
def test_answers_that_do_not_fit_the_event_are_refused_at_the_edge(kind, fields):
    by = "committee:chair@example.org" if kind == EventKind.COMMITTEE_PAUSE else "participant:mentee"
    with pytest.raises(ValueError):
        Event(kind, by, "t", **fields)


def test_an_exit_answer_after_an_early_close_is_recorded_and_sends_nothing():
    closed = PairingView("P1", State.DISSOLVED, version=5, introduced_at=START)
    decision = decide(closed, Event(EventKind.EXIT_RECEIVED, "participant:mentor", "t", text="More time."),
                      day(100), SCHEDULE)
    assert decision.state == State.DISSOLVED
    assert [type(effect).__name__ for effect in decision.effects] == ["RecordResponse"]


# --- The year's figures -----------------------------------------------------------------

def test_the_year_figures_count_goals_met_meetings_and_pairs_meeting_as_agreed():
    checkins = [day(90), day(270)]
    met_all = held(terms("a", "b"), terms("c", frequency="weekly"))  # agreed: monthly (the less frequent)
    met_all = agreement.with_progress(met_all, {"mentor-1": "met", "mentor-2": "not_met", "mentee-1": "met"})
    pairs = [
        {"agreement": met_all, "checkins": checkins, "meetings": [
            {"at": "2026-04-05T12:00:00+00:00", "count": 3, "by": "mentor"},
            {"at": "2026-04-06T00:00:00+00:00", "count": 2, "by": "mentee"},  # same round: the larger counts
            {"at": "2026-10-05T00:00:00+00:00", "count": 3, "by": "mentee"}]},
        {"agreement": held(terms("d"), terms("e", frequency="quarterly")), "checkins": checkins, "meetings": [
            {"at": "2026-04-05T12:00:00+00:00", "count": 0, "by": "mentor"}]},
        {"agreement": held(terms("f", frequency="flexible"), terms("g")), "checkins": checkins, "meetings": [
            {"at": "2026-04-05T12:00:00+00:00", "count": 1, "by": "mentor"}]},
        {"agreement": {}, "checkins": checkins, "meetings": []},
    ]
    figures = agreement.year_figures(pairs, 90)
    assert figures == {
        "pairs_with_agreement": 3, "goals": 7, "goals_assessed": 3, "goals_met": 2, "goals_met_share": 0.667,
        "pairs_reporting_meetings": 3, "median_meetings": 1,  # totals 6, 0, 1
        "pairs_with_frequency": 2, "pairs_meeting_as_agreed": 1, "meeting_as_agreed_share": 0.5,
    }


def test_no_figures_is_none_not_zero():
    figures = agreement.year_figures([], 90)
    assert figures["goals_met_share"] is None and figures["median_meetings"] is None
    assert figures["meeting_as_agreed_share"] is None


def test_closures_are_counted_by_reason():
    pairings = [{"history": [{"event": "committee_dissolve", "closure_reason": reason}]}
                for reason in ("no_contact", "no_contact", "other")] + [{"history": [{"event": "introduced"}]}]
    counts = agreement.closure_counts(pairings)
    assert counts == {reason.value: {"no_contact": 2, "other": 1}.get(reason.value, 0) for reason in ClosureReason}
