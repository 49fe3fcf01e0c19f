"""Pairs that never start (a nudge, then a flag) and pairs that stall (from their answers)."""
from __future__ import annotations

import pytest

from chalicelib.domain import stalling
from chalicelib.domain.lifecycle import (
    AlertCommittee,
    AlertKind,
    DuplicateTrigger,
    Event,
    EventKind,
    Flag,
    Schedule,
    Severity,
    State,
    Template,
    apply,
    decide,
    introduce,
    timer_event,
)
from tests.helpers.lifecycle_builders import SCHEDULE, START, alerts, day, fire, mails, trigger_id


def answer(pairing, role, now, kind=EventKind.REPLY_RECEIVED, meetings=None):
    decision = decide(pairing, Event(kind, f"participant:{role}", trigger_id("reply"), meetings=meetings),
                      now, SCHEDULE)
    return apply(pairing, decision), decision


# --- Not started ---------------------------------------------------------------------------

def test_nobody_answers_the_kickoff_a_nudge_each_at_day_21_then_the_flag_and_alert_at_day_28():
    pairing, _ = fire(introduce("P1", START, SCHEDULE), day(14))
    assert (pairing.next_due, pairing.next_due_at) == (EventKind.NUDGE_DUE, day(21))

    nudged, nudge = fire(pairing, day(21))
    assert [(m.template, m.to) for m in mails(nudge)] == [
        (Template.KICKOFF_NUDGE, ("mentor",)), (Template.KICKOFF_NUDGE, ("mentee",))]
    assert Template.KICKOFF_NUDGE.asks == "kickoff"  # each nudge carries its own answer link
    assert not alerts(nudge) and nudged.state == State.INTRODUCED and not nudged.flags
    assert nudged.awaiting_reply_since == day(14)  # the kickoff's reply window runs on

    flagged, flag = fire(nudged, day(28))
    assert flagged.flags == {Flag.NOT_STARTED} and flagged.state == State.INTRODUCED
    assert alerts(flag) == [AlertCommittee(AlertKind.NOT_STARTED, Severity.DIGEST,
                                           "Nobody in the pair has answered the kickoff check 28 days after the "
                                           "introduction.")]
    assert not mails(flag)
    assert (flagged.next_due, flagged.next_due_at) == (EventKind.NO_REPLY, day(44))


def test_a_retried_nudge_or_flag_changes_nothing():
    pairing, _ = fire(introduce("P1", START, SCHEDULE), day(14))
    nudge = timer_event(pairing)
    nudged, _ = fire(pairing, day(21))
    with pytest.raises(DuplicateTrigger):
        decide(nudged, nudge, day(21), SCHEDULE)
    flag = timer_event(nudged)
    flagged, _ = fire(nudged, day(28))
    with pytest.raises(DuplicateTrigger):
        decide(flagged, flag, day(28), SCHEDULE)


def test_an_answer_before_day_21_means_no_nudge_and_no_flag():
    pairing, _ = fire(introduce("P1", START, SCHEDULE), day(14))
    active, _ = answer(pairing, "mentee", day(16), EventKind.KICKOFF_CONFIRMED)
    assert active.state == State.ACTIVE
    assert (active.next_due, active.next_due_at) == (EventKind.CHECKIN_DUE, day(90))


def test_a_late_answer_lowers_the_not_started_flag():
    pairing = introduce("P1", START, SCHEDULE)
    for number in (14, 21, 28):
        pairing, _ = fire(pairing, day(number))
    assert Flag.NOT_STARTED in pairing.flags
    started, _ = answer(pairing, "mentor", day(30), EventKind.KICKOFF_CONFIRMED)
    assert Flag.NOT_STARTED not in started.flags and started.state == State.ACTIVE


def test_the_days_come_from_the_schedule_and_a_later_kickoff_has_no_nudge():
    schedule = Schedule(nudge_day=30, not_started_day=40)
    pairing, _ = fire(introduce("P1", START, schedule), day(14), schedule)
    assert (pairing.next_due, pairing.next_due_at) == (EventKind.NUDGE_DUE, day(30))
    late = Schedule(kickoff_day=25)
    pairing, _ = fire(introduce("P1", START, late), day(25), late)
    assert pairing.next_due == EventKind.NOT_STARTED_DUE and pairing.next_due_at == day(28)
    with pytest.raises(ValueError, match="nudge must come before"):
        Schedule(nudge_day=28, not_started_day=28)


# --- Stalled: the domain rule ------------------------------------------------------------------

@pytest.mark.parametrize("contacts, latest_is_open, expected", [
    ([{"mentor": 0, "mentee": 2}, {"mentor": 0}], True, "The mentor reported no meetings in 2 check-ins in a row."),
    ([{"mentor": 0, "mentee": 2}, {"mentor": 1}], True, None),
    ([{"mentor": 0}, {"mentor": None}], True, None),  # a mailed reply without a count is not a 0
    ([{"mentee": 3}, {"mentee": None}], False, "The mentee answered 2 check-ins in a row; the mentor answered neither."),
    ([{"mentee": 3}, {"mentee": None}], True, None),  # the mentor may still answer the open one
    ([{"mentee": 3}, {"mentee": 1, "mentor": 1}], False, None),
    ([{"mentee": 3}], False, None),
    ([{}, {}], False, None),  # nobody answered: silence, not a stall
])
def test_the_stall_rule(contacts, latest_is_open, expected):
    assert stalling.stall_reason(contacts, latest_is_open=latest_is_open) == expected


def test_only_the_last_contacts_are_kept():
    contacts = ()
    for _ in range(10):
        contacts = stalling.answered(stalling.opened(contacts), "mentor", 1)
    assert contacts == ({"mentor": 1}, {"mentor": 1}) and len(contacts) == stalling.KEPT_CONTACTS


@pytest.mark.parametrize("meetings", [-1, 1.5, "2", True])
def test_a_meetings_count_is_a_whole_number(meetings):
    with pytest.raises(ValueError):
        stalling.answered(({},), "mentor", meetings)
    with pytest.raises(ValueError):
        Event(EventKind.REPLY_RECEIVED, "participant:mentor", "t", meetings=meetings)


# --- Stalled: through the lifecycle --------------------------------------------------------------

def _active_at_checkin(number=90):
    pairing, _ = fire(introduce("P1", START, SCHEDULE), day(14))
    pairing, _ = answer(pairing, "mentor", day(15), EventKind.KICKOFF_CONFIRMED)
    pairing, _ = answer(pairing, "mentee", day(15), EventKind.KICKOFF_CONFIRMED)
    return fire(pairing, day(number))[0]


def test_two_check_ins_with_no_meetings_flag_the_pair_once_and_meetings_lower_it():
    pairing = _active_at_checkin()
    pairing, first = answer(pairing, "mentee", day(91), meetings=0)
    assert not alerts(first) and Flag.STALLED not in pairing.flags
    pairing, _ = fire(pairing, day(180))  # the feedback request
    pairing, second = answer(pairing, "mentee", day(181), kind=EventKind.FEEDBACK_RECEIVED, meetings=0)
    assert Flag.STALLED in pairing.flags
    assert [(a.kind, a.severity, a.text) for a in alerts(second)] == [
        (AlertKind.STALLED, Severity.DIGEST,
         "The pair may have stalled: The mentee reported no meetings in 2 check-ins in a row.")]
    pairing, again = answer(pairing, "mentee", day(182), kind=EventKind.FEEDBACK_RECEIVED, meetings=0)
    assert not alerts(again)  # flagged once
    pairing, _ = fire(pairing, day(270))
    pairing, _ = answer(pairing, "mentee", day(271), meetings=2)
    assert Flag.STALLED in pairing.flags  # the mentor has not answered this one yet
    pairing, _ = answer(pairing, "mentor", day(272), meetings=2)
    assert Flag.STALLED not in pairing.flags


def test_one_partner_answering_while_the_other_does_not_twice_flags_the_pair_when_the_next_goes_out():
    pairing = _active_at_checkin()
    pairing, _ = answer(pairing, "mentor", day(91), meetings=1)
    pairing, _ = fire(pairing, day(180))
    pairing, on_time = answer(pairing, "mentor", day(181), kind=EventKind.FEEDBACK_RECEIVED, meetings=1)
    assert not alerts(on_time)  # the mentee may still answer
    pairing, next_contact = fire(pairing, day(270))
    assert Flag.STALLED in pairing.flags
    assert [a.text for a in alerts(next_contact)] == [
        "The pair may have stalled: The mentor answered 2 check-ins in a row; the mentee answered neither."]
