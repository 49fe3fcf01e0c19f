"""The pairing workflow's pure core: the transition table, the schedule, idempotence."""
from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.agreement import ClosureReason
from chalicelib.domain.lifecycle import (
    COMMITTEE_EVENTS,
    PROGRAM_YEAR_ENDED,
    RESPONSES,
    RUNNING,
    SUSPENDED,
    TERMINAL,
    TIMER_EVENTS,
    TRANSITIONS,
    AlertCommittee,
    AlertKind,
    DuplicateTrigger,
    Event,
    EventKind,
    Flag,
    PairingView,
    Rating,
    RecordResponse,
    Schedule,
    SendMail,
    Severity,
    State,
    Template,
    TransitionRefused,
    already_applied,
    apply,
    decide,
    introduce,
    next_timer,
    timer_event,
)
from tests.helpers.lifecycle_builders import (
    CHAIR, SCHEDULE, START, alerts, armed, day, event, fire, mails, pairing_in)

# --- The transition table ---------------------------------------------------------------

ALLOWED = sorted(TRANSITIONS)
# Where the table's rules lead for pairing_in(state) and event(kind): the mentee's evaluation
# alone does not complete a pairing, and suspended pairings were suspended during the evaluation.
RULE_OUTCOMES = {
    (State.EVALUATION, EventKind.EVALUATION_RECEIVED): State.EVALUATION,
    (State.PAUSED, EventKind.COMMITTEE_RESUME): State.EVALUATION,
    (State.PAUSED, EventKind.EVALUATION_RECEIVED): State.PAUSED,
    (State.REMATCH_REQUESTED, EventKind.COMMITTEE_RESUME): State.EVALUATION,
    (State.REMATCH_REQUESTED, EventKind.EVALUATION_RECEIVED): State.REMATCH_REQUESTED,
}
REFUSED = sorted(set(itertools.product(State, EventKind)) - set(TRANSITIONS))


@pytest.mark.parametrize("state, kind", ALLOWED, ids=[f"{s}-{k}" for s, k in ALLOWED])
def test_every_transition_in_the_table_is_taken(state, kind):
    pairing = pairing_in(state)
    if kind in TIMER_EVENTS:
        pairing = armed(pairing, kind)
    happening = event(kind)
    target = TRANSITIONS[(state, kind)]
    expected = target if isinstance(target, State) else RULE_OUTCOMES[(state, kind)]

    decision = decide(pairing, happening, day(100), SCHEDULE)

    assert type(decision.state) is State and decision.state == expected
    assert decision.updates["version"] == pairing.version + 1
    assert decision.history == {
        "at": "2025-04-16T09:00:00+00:00", "event": kind, "from": state, "to": expected,
        "by": happening.by, "trigger_id": happening.trigger_id,
        **{key: value for key, value in (("reason", happening.reason), ("days", happening.days),
                                         ("closure_reason", happening.closure_reason)) if value},
    }
    assert all(type(decision.history[key]) is str for key in ("at", "event", "from", "to"))  # storable as is
    after = apply(pairing, decision)
    assert after.state == expected
    assert (after.next_due is None) == (expected not in RUNNING)


@pytest.mark.parametrize("state, kind", REFUSED, ids=[f"{s}-{k}" for s, k in REFUSED])
def test_every_event_outside_the_table_is_refused(state, kind):
    pairing = pairing_in(state)
    if kind in TIMER_EVENTS:
        pairing = armed(pairing, kind)  # a matching timer, so it is the table that refuses

    with pytest.raises(TransitionRefused) as refused:
        decide(pairing, event(kind), day(100), SCHEDULE)

    assert type(refused.value) is TransitionRefused
    assert (refused.value.state, refused.value.event) == (state, kind)
    assert f"a pairing that is {state} cannot take {kind}" in str(refused.value)


def test_the_table_covers_the_vocabulary_and_leaves_terminal_states_alone():
    assert {state for state, _ in TRANSITIONS} == RUNNING | SUSPENDED | {State.DISSOLVED, State.WITHDRAWN}
    assert {kind for _, kind in TRANSITIONS} == set(EventKind)
    # An early close takes the exit answers and nothing else; a completed year takes nothing.
    assert {(state, kind) for state, kind in TRANSITIONS if state in TERMINAL} == {
        (State.DISSOLVED, EventKind.EXIT_RECEIVED), (State.WITHDRAWN, EventKind.EXIT_RECEIVED)}
    assert all(TRANSITIONS[(state, kind)] == state for state, kind in TRANSITIONS if state in TERMINAL)


def test_the_second_evaluation_completes_the_pairing():
    pairing = pairing_in(State.EVALUATION, evaluations_returned={"mentor"}, took_part={"mentor"})
    decision = decide(pairing, event(EventKind.EVALUATION_RECEIVED), day(370), SCHEDULE)
    assert decision.state == State.COMPLETED
    # Each partner who took part gets a letter of participation, the mentor's worded for service.
    assert [(m.template, m.to) for m in mails(decision)] == [
        (Template.PARTICIPATION_LETTER_MENTOR, ("mentor",)), (Template.PARTICIPATION_LETTER_MENTEE, ("mentee",))]
    assert mails(decision)[0].context["year"] == "2025\u20132026"  # introduced in 2025, completed in 2026


def test_a_partner_who_never_answered_gets_no_letter_only_the_notice():
    pairing = armed(pairing_in(State.EVALUATION, took_part={"mentee"}), EventKind.DEADLINE_PASSED, day(395))
    decision = decide(pairing, timer_event(pairing), day(395), SCHEDULE)
    assert decision.state == State.COMPLETED
    assert [(m.template, m.to) for m in mails(decision)] == [
        (Template.PAIRING_CLOSED, ("mentor",)), (Template.PARTICIPATION_LETTER_MENTEE, ("mentee",))]
    letter = mails(decision)[1].context
    assert (letter["started_on"], letter["ended_on"]) == (START.date().isoformat(), day(395).date().isoformat())


def test_resume_returns_to_where_the_pairing_was():
    for where in RUNNING:
        for suspended in SUSPENDED:
            pairing = pairing_in(suspended, paused_from=where)
            assert decide(pairing, event(EventKind.COMMITTEE_RESUME), day(100), SCHEDULE).state == where


def test_an_evaluation_is_only_taken_while_suspended_once_it_was_requested():
    pairing = pairing_in(State.PAUSED, paused_from=State.ACTIVE)
    with pytest.raises(TransitionRefused, match="no evaluation has been requested yet"):
        decide(pairing, event(EventKind.EVALUATION_RECEIVED), day(100), SCHEDULE)


# --- A year, day by day -----------------------------------------------------------------

def simulate(schedule: Schedule = SCHEDULE, answer=lambda number, pairing, sent: [], last_day: int = 500):
    """Step a fake clock one day at a time from the introduction, firing due timers and
    letting `answer(day, pairing, mails sent that day)` deliver participants' events.
    Returns the pairing and a log of (day, template, recipients) and (day, alert kind)."""
    pairing = introduce("P1", START, schedule)
    log: list[tuple] = []
    for number in range(last_day + 1):
        now = day(number)
        sent: list[SendMail] = []
        while pairing.next_due_at is not None and pairing.next_due_at <= now:
            pairing, decision = fire(pairing, now, schedule)
            sent += mails(decision)
            log += [(number, mail.template, mail.to) for mail in mails(decision)]
            log += [(number, alert.kind) for alert in alerts(decision)]
        for happening in answer(number, pairing, sent):
            decision = decide(pairing, happening, now + timedelta(hours=2), schedule)
            pairing = apply(pairing, decision)
            log += [(number, mail.template, mail.to) for mail in mails(decision)]
            log += [(number, alert.kind) for alert in alerts(decision)]
        if pairing.state in TERMINAL:
            break
    return pairing, log


def each(number: int, template: Template) -> list[tuple]:
    return [(number, template, ("mentor",)), (number, template, ("mentee",))]


def test_a_silent_year_follows_the_schedule_to_the_day():
    pairing, log = simulate()

    assert log == [
        *each(14, Template.KICKOFF_CHECK),
        *each(21, Template.KICKOFF_NUDGE),  # nobody has answered the kickoff check
        (28, AlertKind.NOT_STARTED),  # still nobody
        *each(90, Template.CHECKIN),
        (120, AlertKind.SILENT),  # the kickoff check and the first check-in went unanswered
        *each(180, Template.FEEDBACK_REQUEST),
        *each(270, Template.CHECKIN),  # 360 would fall in the evaluation's month: skipped
        *each(365, Template.EVALUATION_REQUEST),
        *each(372, Template.EVALUATION_REMINDER),
        *each(379, Template.EVALUATION_REMINDER),
        *each(395, Template.PAIRING_CLOSED),
    ]
    assert pairing.state == State.COMPLETED and pairing.next_due is None
    assert pairing.flags == {Flag.SILENT, Flag.NOT_STARTED}


def test_the_mail_days_are_computed_from_the_schedule():
    s = SCHEDULE
    _, log = simulate()
    mail_days = sorted({entry[0] for entry in log if isinstance(entry[1], Template)})
    end = s.evaluation_day
    assert mail_days == [s.kickoff_day, s.nudge_day, s.checkin_every_days, s.feedback_day, 3 * s.checkin_every_days, end,
                         *(end + d for d in s.evaluation_reminder_days), end + s.close_after_days]


RESPONSE_TO = {
    Template.KICKOFF_CHECK: EventKind.KICKOFF_CONFIRMED, Template.CHECKIN: EventKind.REPLY_RECEIVED,
    Template.FEEDBACK_REQUEST: EventKind.FEEDBACK_RECEIVED, Template.EVALUATION_REQUEST: EventKind.EVALUATION_RECEIVED,
}


def answering_pair():
    """Both partners answer every mail that asks something, two days after it was sent."""
    waiting: dict[int, list[SendMail]] = {}

    def answer(number, pairing, sent):
        waiting[number + 2] = [mail for mail in sent if mail.template in RESPONSE_TO]
        return [event(RESPONSE_TO[mail.template], by=f"participant:{role}", rating=Rating.GOING_WELL, text="All good.")
                for mail in waiting.pop(number, []) for role in mail.to]
    return answer


def test_a_pair_that_answers_becomes_active_and_completes_once_both_have_evaluated():
    pairing, log = simulate(answer=answering_pair())

    assert log == [
        *each(14, Template.KICKOFF_CHECK),
        *each(90, Template.CHECKIN),
        *each(180, Template.FEEDBACK_REQUEST),
        *each(270, Template.CHECKIN),
        *each(365, Template.EVALUATION_REQUEST),
        (367, Template.PARTICIPATION_LETTER_MENTOR, ("mentor",)),  # no reminders: both evaluations came back,
        (367, Template.PARTICIPATION_LETTER_MENTEE, ("mentee",)),  # and each who took part has their letter
    ]
    assert pairing.state == State.COMPLETED
    assert pairing.unanswered_checkins == 0 and not pairing.flags
    assert pairing.evaluations_returned == {"mentor", "mentee"}


def test_the_first_answer_to_the_kickoff_check_makes_the_pairing_active():
    pairing, _ = fire(introduce("P1", START, SCHEDULE), day(14))
    decision = decide(pairing, event(EventKind.KICKOFF_CONFIRMED, text="We have not met yet."), day(15), SCHEDULE)

    assert decision.state == State.ACTIVE
    assert decision.effects == (RecordResponse("mentee", "kickoff", None, "We have not met yet."),)
    # The reply window closed with the answer: the next timer is the first check-in.
    assert (decision.updates["next_due"], decision.updates["next_due_at"]) == (EventKind.CHECKIN_DUE, day(90))
    assert decision.updates["awaiting_reply_since"] is None


def test_the_kickoff_check_asks_each_partner_on_their_own_and_both_answers_are_recorded():
    pairing, due = fire(introduce("P1", START, SCHEDULE), day(14))
    assert [(m.template, m.to, m.context) for m in mails(due)] == [
        (Template.KICKOFF_CHECK, (role,), {"pairing_id": "P1", "role": role}) for role in ("mentor", "mentee")]

    needs_help = event(EventKind.KICKOFF_CONFIRMED, by="participant:mentor", rating=Rating.NEED_HELP, text="No reply.")
    first = decide(pairing, needs_help, day(15), SCHEDULE)
    pairing = apply(pairing, first)
    second = decide(pairing, event(EventKind.KICKOFF_CONFIRMED, by="participant:mentee", rating=Rating.NEED_HELP,
                                   text="My mentor never answers."), day(16), SCHEDULE)
    for decision, who in ((first, "mentor"), (second, "mentee")):
        assert [r.participant for r in decision.effects if isinstance(r, RecordResponse)] == [who]
        assert [(a.kind, a.text) for a in alerts(decision)] == [
            (AlertKind.NEED_HELP, f"The {who} answered the kickoff check with \"Need help\".")]
    assert (first.state, second.state) == (State.ACTIVE, State.ACTIVE)


@pytest.mark.parametrize("template", [template for template in Template if template.asks])
@pytest.mark.parametrize("to", [("mentor", "mentee"), ("committee",), ()])
def test_a_mail_that_asks_for_an_answer_goes_to_exactly_one_participant(template, to):
    with pytest.raises(ValueError, match="exactly one participant"):
        SendMail(template, to, {})
    assert SendMail(template, ("mentee",), {}).to == ("mentee",)


def test_only_the_mails_that_ask_name_the_answer_they_ask_for():
    assert {template: template.asks for template in Template if template.asks} == {
        Template.KICKOFF_CHECK: "kickoff", Template.KICKOFF_NUDGE: "kickoff", Template.CHECKIN: "checkin",
        Template.FEEDBACK_REQUEST: "feedback", Template.EVALUATION_REQUEST: "evaluation",
        Template.EVALUATION_REMINDER: "evaluation", Template.EXIT_QUESTIONS: "exit"}


@pytest.mark.parametrize("kind", [*RESPONSES, EventKind.REMATCH_REQUESTED])
def test_a_mail_also_addressed_to_the_partner_is_applied_and_the_committee_is_told_on_the_pairing(kind):
    pairing = pairing_in({EventKind.EVALUATION_RECEIVED: State.EVALUATION,
                          EventKind.EXIT_RECEIVED: State.DISSOLVED}.get(kind, State.ACTIVE))
    plain = decide(pairing, event(kind, by="participant:mentee", rating=Rating.GOING_WELL), day(100), SCHEDULE)
    copied = decide(pairing, event(kind, by="participant:mentee", rating=Rating.GOING_WELL, partner_addressed=True),
                    day(100), SCHEDULE)
    assert copied.state == plain.state and copied.updates == plain.updates
    assert [effect for effect in copied.effects if effect not in plain.effects] == [AlertCommittee(
        AlertKind.PARTNER_ADDRESSED, Severity.DIGEST,
        "The mentee's mail to the committee was also addressed to their partner, who may have seen it.")]
    assert copied.history["partner_addressed"] is True and "partner_addressed" not in plain.history


# --- Silence ------------------------------------------------------------------------------

def test_two_unanswered_check_ins_flag_the_pair_once_and_an_answer_clears_it():
    pairing = pairing_in(State.ACTIVE, awaiting_reply_since=day(90))

    first = decide(armed(pairing, EventKind.NO_REPLY, day(120)),
                   event(EventKind.NO_REPLY, due=day(120)), day(120), SCHEDULE)
    assert first.updates["unanswered_checkins"] == 1 and not first.effects and "flags" not in first.updates

    pairing = replace(pairing, unanswered_checkins=1, awaiting_reply_since=day(270))
    second = decide(armed(pairing, EventKind.NO_REPLY, day(300)),
                    event(EventKind.NO_REPLY, due=day(300)), day(300), SCHEDULE)
    assert second.state == State.ACTIVE
    assert second.updates["flags"] == {Flag.SILENT}
    assert second.effects == (AlertCommittee(AlertKind.SILENT, Severity.DIGEST,
                                    "The pair has left 2 check-ins in a row unanswered."),)

    pairing = replace(pairing, unanswered_checkins=2, flags={Flag.SILENT}, awaiting_reply_since=day(330))
    third = decide(armed(pairing, EventKind.NO_REPLY, day(360)),
                   event(EventKind.NO_REPLY, due=day(360)), day(360), SCHEDULE)
    assert third.updates["unanswered_checkins"] == 3 and not third.effects  # the committee knows already

    answered = decide(replace(pairing, unanswered_checkins=3), event(EventKind.REPLY_RECEIVED), day(361), SCHEDULE)
    assert answered.updates["unanswered_checkins"] == 0 and answered.updates["flags"] == frozenset()


def test_an_answer_from_either_partner_closes_the_reply_window():
    pairing, _ = fire(armed(pairing_in(State.ACTIVE), EventKind.CHECKIN_DUE, day(90)), day(90))
    assert pairing.next_due == EventKind.NO_REPLY and pairing.next_due_at == day(120)

    decision = decide(pairing, event(EventKind.REPLY_RECEIVED, by="participant:mentor"), day(100), SCHEDULE)

    assert decision.updates["next_due"] == EventKind.FEEDBACK_DUE
    assert decision.updates["next_due_at"] == day(180)


# --- Responses and ratings ----------------------------------------------------------------

@pytest.mark.parametrize("kind", list(RESPONSES))
def test_a_response_is_recorded_and_a_worrying_rating_reaches_the_committee(kind):
    pairing = pairing_in(State.DISSOLVED if kind == EventKind.EXIT_RECEIVED else State.EVALUATION, unanswered_checkins=1)

    fine = decide(pairing, event(kind, rating=1, text="Fine."), day(366), SCHEDULE)
    assert fine.effects[0] == RecordResponse("mentee", RESPONSES[kind], Rating.GOING_WELL, "Fine.")
    assert not alerts(fine) and fine.updates["unanswered_checkins"] == 0

    concerns = decide(pairing, event(kind, rating=2, text="Hmm."), day(366), SCHEDULE)
    assert [(a.kind, a.severity) for a in alerts(concerns)] == [(AlertKind.SOME_CONCERNS, Severity.DIGEST)]
    assert not [mail for mail in mails(concerns) if "committee" in mail.to]

    help_needed = decide(pairing, event(kind, rating=3, text="We are stuck."), day(366), SCHEDULE)
    assert [(a.kind, a.severity) for a in alerts(help_needed)] == [(AlertKind.NEED_HELP, Severity.IMMEDIATE)]
    assert [(m.template, m.to, m.context["text"]) for m in mails(help_needed)] == [
        (Template.HELP_ALERT, ("committee",), "We are stuck.")]


def test_an_evaluation_reminder_goes_only_to_whoever_has_not_returned_it():
    pairing, decision = fire(replace(introduce("P1", START, SCHEDULE), **{
        "state": State.EVALUATION, "evaluations_returned": {"mentor"},
        "next_due": EventKind.REMINDER_DUE, "next_due_at": day(379)}), day(379))

    assert [(m.template, m.to, m.context["reminder"]) for m in mails(decision)] == [
        (Template.EVALUATION_REMINDER, ("mentee",), 2)]
    assert mails(decision)[0].context["closes_at"] == "2026-02-05T09:00:00+00:00"  # day 395
    assert (pairing.next_due, pairing.next_due_at) == (EventKind.DEADLINE_PASSED, day(395))


def test_an_answer_before_the_tick_keeps_the_overdue_check_in():
    pairing = armed(pairing_in(State.ACTIVE), EventKind.CHECKIN_DUE, day(90))
    decision = decide(pairing, event(EventKind.REPLY_RECEIVED), day(90.5), SCHEDULE)
    assert "next_due" not in decision.updates and "next_due_at" not in decision.updates


def test_an_event_at_the_instant_a_timer_fired_does_not_fire_it_again():
    pairing, _ = fire(armed(pairing_in(State.ACTIVE), EventKind.CHECKIN_DUE, day(90)), day(90))
    decision = decide(pairing, event(EventKind.COMMITTEE_EXTEND, days=1), day(90), SCHEDULE)
    assert apply(pairing, decision).next_due == EventKind.NO_REPLY


def test_a_late_tick_skips_the_contacts_that_fell_meanwhile_but_not_the_close():
    pairing = replace(introduce("P1", START, SCHEDULE), state=State.EVALUATION,
                      next_due=EventKind.REMINDER_DUE, next_due_at=day(372))
    skipped, _ = fire(pairing, day(380))  # the reminder of day 379 is skipped
    assert (skipped.next_due, skipped.next_due_at) == (EventKind.DEADLINE_PASSED, day(395))
    overdue, _ = fire(pairing, day(400))  # the close of day 395 is due at once
    assert (overdue.next_due, overdue.next_due_at) == (EventKind.DEADLINE_PASSED, day(400))

    late_kickoff, _ = fire(introduce("P1", START, SCHEDULE), day(22))
    # The nudge of day 21 fell meanwhile: skipped; the not-started flag is next.
    assert (late_kickoff.next_due, late_kickoff.next_due_at) == (EventKind.NOT_STARTED_DUE, day(28))
    flagged, _ = fire(late_kickoff, day(29))
    # The reply window runs from when the kickoff check went out.
    assert (flagged.next_due, flagged.next_due_at) == (EventKind.NO_REPLY, day(52))


def test_the_evaluation_request_closes_the_check_in_reply_window():
    pairing = armed(pairing_in(State.ACTIVE, awaiting_reply_since=day(300)), EventKind.EVALUATION_DUE, day(365))
    assert decide(pairing, timer_event(pairing), day(365), SCHEDULE).updates["awaiting_reply_since"] is None


# --- Pause, resume, extend ----------------------------------------------------------------

def test_pause_suspends_timers_and_resume_recomputes_them_from_now():
    pairing = introduce("P1", START, SCHEDULE)
    paused = apply(pairing, decide(pairing, event(EventKind.COMMITTEE_PAUSE), day(10), SCHEDULE))
    assert (paused.state, paused.paused_from, paused.next_due) == (State.PAUSED, State.INTRODUCED, None)
    with pytest.raises(DuplicateTrigger):  # the tick for the kickoff was overtaken by the pause
        decide(paused, timer_event(pairing), day(14), SCHEDULE)

    resumed = decide(paused, event(EventKind.COMMITTEE_RESUME), day(200), SCHEDULE)

    assert resumed.state == State.INTRODUCED and not resumed.effects
    # Kickoff (14), check-in (90) and feedback (180) are in the past: no burst, the next is 270.
    assert (resumed.updates["next_due"], resumed.updates["next_due_at"]) == (EventKind.CHECKIN_DUE, day(270))
    assert resumed.updates["paused_from"] is None


def test_a_contact_due_at_the_instant_of_resuming_is_sent():
    paused = pairing_in(State.PAUSED, paused_from=State.ACTIVE)
    decision = decide(paused, event(EventKind.COMMITTEE_RESUME), day(270), SCHEDULE)
    assert (decision.updates["next_due"], decision.updates["next_due_at"]) == (EventKind.CHECKIN_DUE, day(270))


def test_resume_after_the_evaluation_date_asks_for_the_evaluation_at_once():
    paused = pairing_in(State.PAUSED, paused_from=State.ACTIVE)
    decision = decide(paused, event(EventKind.COMMITTEE_RESUME), day(380), SCHEDULE)
    assert (decision.updates["next_due"], decision.updates["next_due_at"]) == (EventKind.EVALUATION_DUE, day(380))


def test_nothing_is_mailed_while_paused():
    def pause_in_spring(number, pairing, sent):
        if number == 60:
            return [event(EventKind.COMMITTEE_PAUSE)]
        if number == 250:
            return [event(EventKind.COMMITTEE_RESUME)]
        return []

    _, log = simulate(answer=pause_in_spring)
    assert not [entry for entry in log if 60 <= entry[0] < 250]
    assert log[-2:] == each(395, Template.PAIRING_CLOSED)


def test_a_pairing_resumed_with_both_evaluations_in_waits_only_for_the_close():
    paused = pairing_in(State.PAUSED, evaluations_returned={"mentor", "mentee"})
    decision = decide(paused, event(EventKind.COMMITTEE_RESUME), day(370), SCHEDULE)
    assert (decision.updates["next_due"], decision.updates["next_due_at"]) == (EventKind.DEADLINE_PASSED, day(395))


def test_an_answer_while_paused_makes_an_introduced_pairing_resume_as_active():
    paused = pairing_in(State.PAUSED, paused_from=State.INTRODUCED)
    decision = decide(paused, event(EventKind.REPLY_RECEIVED), day(30), SCHEDULE)
    assert decision.state == State.PAUSED and decision.updates["paused_from"] == State.ACTIVE


def test_extend_moves_the_end_and_brings_back_a_check_in_that_now_fits():
    def extend_in_autumn(number, pairing, sent):
        return [event(EventKind.COMMITTEE_EXTEND, days=30)] if number == 320 else []

    pairing, log = simulate(answer=extend_in_autumn)

    assert pairing.extension_days == 30
    # 360 + 30 < 395: a check-in fits before the moved evaluation request.
    assert sorted({entry[0] for entry in log if isinstance(entry[1], Template)}) == [
        14, 21, 90, 180, 270, 360, 395, 402, 409, 425]


def test_extend_during_the_evaluation_moves_the_reminders_and_the_close():
    pairing = replace(introduce("P1", START, SCHEDULE), state=State.EVALUATION,
                      next_due=EventKind.REMINDER_DUE, next_due_at=day(372))
    decision = decide(pairing, event(EventKind.COMMITTEE_EXTEND, days=4), day(370), SCHEDULE)
    pairing = apply(pairing, decision)
    decision = decide(pairing, event(EventKind.COMMITTEE_EXTEND, days=6), day(370), SCHEDULE)
    assert decision.updates["extension_days"] == 10
    assert decision.updates["next_due_at"] == day(382)
    assert next_timer(apply(pairing, decision), SCHEDULE, day(382), EventKind.REMINDER_DUE).at == day(389)


# --- Idempotence --------------------------------------------------------------------------

def test_the_same_tick_delivered_twice_changes_nothing_the_second_time():
    pairing = introduce("P1", START, SCHEDULE)
    tick = timer_event(pairing)
    after, decision = fire(pairing, day(14))

    assert already_applied([decision.history], tick.trigger_id)
    assert not already_applied([decision.history], "another-trigger")
    with pytest.raises(DuplicateTrigger, match="no kickoff_due is pending"):
        decide(after, tick, day(14), SCHEDULE)


def test_a_stale_or_early_timer_is_refused():
    pairing = introduce("P1", START, SCHEDULE)
    with pytest.raises(DuplicateTrigger):
        decide(pairing, event(EventKind.KICKOFF_DUE, due=day(13)), day(14), SCHEDULE)
    with pytest.raises(DuplicateTrigger):
        decide(pairing, event(EventKind.CHECKIN_DUE, due=day(14)), day(14), SCHEDULE)
    with pytest.raises(TransitionRefused, match="not due until") as early:
        decide(pairing, timer_event(pairing), day(13), SCHEDULE)
    assert type(early.value) is TransitionRefused


def test_a_completed_pairing_ignores_a_late_tick_as_a_duplicate():
    pairing, _ = simulate()
    with pytest.raises(DuplicateTrigger):
        decide(pairing, event(EventKind.DEADLINE_PASSED, due=day(395)), day(396), SCHEDULE)


# --- Rematch ------------------------------------------------------------------------------

def test_a_rematch_request_reaches_only_the_committee():
    pairing = introduce("P1", START, SCHEDULE)
    active = apply(pairing, decide(pairing, event(EventKind.REPLY_RECEIVED), day(20), SCHEDULE))

    asked = decide(active, event(EventKind.REMATCH_REQUESTED, by="participant:mentee", reason="Different goals."),
                   day(40), SCHEDULE)

    assert asked.state == State.REMATCH_REQUESTED
    assert alerts(asked) == [AlertCommittee(AlertKind.REMATCH, Severity.IMMEDIATE,
                                   "The mentee asks for a different partner.")]
    assert [(m.template, m.to) for m in mails(asked)] == [(Template.REMATCH_ALERT, ("committee",))]
    assert mails(asked)[0].context == {"pairing_id": "P1", "asked_by": "mentee", "reason": "Different goals."}
    requested = apply(active, asked)
    assert (requested.paused_from, requested.next_due) == (State.ACTIVE, None)

    dissolved = decide(requested, event(EventKind.COMMITTEE_DISSOLVE, reason="Rematched after a request.",
                                        closure_reason=ClosureReason.REMATCH_REQUEST), day(45), SCHEDULE)
    assert dissolved.state == State.DISSOLVED and dissolved.history["reason"] == "Rematched after a request."
    assert dissolved.history["closure_reason"] == "rematch_request"
    # The partners hear that the pairing ended, each on their own with the exit questions, never why.
    assert [(m.template, m.to, m.context) for m in mails(dissolved)] == [
        (Template.EXIT_QUESTIONS, (role,), {"pairing_id": "P1", "outcome": "dissolved", "role": role})
        for role in ("mentor", "mentee")]


def test_the_committee_can_resume_a_pairing_after_a_rematch_request():
    requested = pairing_in(State.REMATCH_REQUESTED, paused_from=State.ACTIVE)
    resumed = decide(requested, event(EventKind.COMMITTEE_RESUME), day(100), SCHEDULE)
    assert resumed.state == State.ACTIVE and not resumed.effects
    assert (resumed.updates["next_due"], resumed.updates["next_due_at"]) == (EventKind.FEEDBACK_DUE, day(180))


def test_a_participant_who_withdraws_ends_the_pairing():
    decision = decide(pairing_in(State.ACTIVE), event(EventKind.PARTICIPANT_WITHDREW, by="participant:mentor"),
                      day(100), SCHEDULE)
    assert decision.state == State.WITHDRAWN
    assert [(a.kind, a.severity) for a in alerts(decision)] == [(AlertKind.WITHDRAWN, Severity.DIGEST)]
    # The partner who stays is asked the exit questions; the one who left is only told.
    assert [(m.template, m.to) for m in mails(decision)] == [
        (Template.PAIRING_CLOSED, ("mentor",)), (Template.EXIT_QUESTIONS, ("mentee",))]


# --- A cohort's own schedule --------------------------------------------------------------

def test_a_custom_schedule_from_a_dict_drives_the_timers():
    settings_ = {"kickoff_day": 7, "checkin_every_days": 30, "feedback_day": 60, "evaluation_day": 120,
                 "evaluation_reminder_days": [3], "close_after_days": 10, "reply_window_days": 10}
    schedule = Schedule.from_dict(settings_)
    assert schedule.to_dict() == settings_ | {"silent_after": 2, "nudge_day": 21, "not_started_day": 28}
    assert Schedule.from_dict(schedule.to_dict()) == schedule

    _, log = simulate(schedule)
    assert sorted({entry[:2] for entry in log}) == [
        (7, Template.KICKOFF_CHECK), (21, Template.KICKOFF_NUDGE), (28, AlertKind.NOT_STARTED),
        (30, Template.CHECKIN), (40, AlertKind.SILENT), (60, Template.FEEDBACK_REQUEST),
        (90, Template.CHECKIN), (120, Template.EVALUATION_REQUEST), (123, Template.EVALUATION_REMINDER),
        (130, Template.PAIRING_CLOSED)]


@pytest.mark.parametrize("settings_, why", [
    ({"kickoff_days": 7}, "unknown schedule settings: kickoff_days"),
    ({"checkin_every_days": 0}, "at least 1"),
    ({"evaluation_day": "365"}, "whole number"),
    ({"close_after_days": True}, "whole number"),
    ({"feedback_day": 400}, "before the evaluation"),
    ({"evaluation_reminder_days": [14, 7]}, "increasing order"),
    ({"evaluation_reminder_days": [7, 30]}, "before the close"),
])
def test_a_schedule_that_makes_no_sense_is_refused(settings_, why):
    with pytest.raises(ValueError, match=why):
        Schedule.from_dict(settings_)


# --- Input checks -------------------------------------------------------------------------

@pytest.mark.parametrize("kind, fields, why", [
    (EventKind.REPLY_RECEIVED, {"by": "mentee"}, "by must be"),
    (EventKind.REPLY_RECEIVED, {"by": "participant:mentor", "participant": "mentee"}, "cannot answer for"),
    (EventKind.REPLY_RECEIVED, {"by": CHAIR}, "a participant is one of"),
    (EventKind.REPLY_RECEIVED, {"rating": 4}, "not a valid Rating"),
    (EventKind.REPLY_RECEIVED, {"trigger_id": ""}, "trigger_id"),
    (EventKind.CHECKIN_DUE, {"by": CHAIR}, "comes from the schedule"),
    (EventKind.CHECKIN_DUE, {"due": None}, "carry the instant"),
    (EventKind.CHECKIN_DUE, {"due": datetime(2025, 4, 16, 9)}, "aware UTC"),
    (EventKind.COMMITTEE_PAUSE, {"by": "participant:mentor"}, "only the committee"),
    (EventKind.COMMITTEE_DISSOLVE, {"closure_reason": None}, "needs a closure reason"),
    (EventKind.COMMITTEE_EXTEND, {"days": 0}, "at least 1"),
    (EventKind.COMMITTEE_PAUSE, {"partner_addressed": True}, "only a participant's own mail"),
])
def test_a_malformed_event_is_refused_at_the_edge(kind, fields, why):
    with pytest.raises(ValueError, match=why):
        event(kind, **fields)


def test_now_must_be_an_aware_utc_datetime():
    with pytest.raises(ValueError, match="aware UTC"):
        decide(pairing_in(State.ACTIVE), event(EventKind.REPLY_RECEIVED), datetime(2025, 4, 16), SCHEDULE)


def test_stored_values_become_the_vocabulary():
    pairing = PairingView("P1", "paused", 2, START, paused_from="active", flags=["silent"],
                          evaluations_returned=["mentor"], next_due_at=None, next_due=None)
    assert (type(pairing.state), type(pairing.paused_from)) == (State, State)
    assert pairing.flags == {Flag.SILENT} and pairing.evaluations_returned == {"mentor"}
    with pytest.raises(ValueError):
        PairingView("P1", "archived", 2, START)
    with pytest.raises(ValueError, match="knows where it resumes"):
        PairingView("P1", "paused", 2, START)


def test_the_core_imports_no_framework_and_reads_no_clock():
    source = Path(__file__).resolve().parents[2] / "chalicelib" / "domain" / "lifecycle.py"
    tree = ast.parse(source.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "collections", "dataclasses", "datetime", "enum", "chalicelib"}
    assert not {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} & {
        "now", "utcnow", "today", "time", "monotonic"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, chalicelib.domain.lifecycle; "
         "print(sorted({'chalice', 'boto3', 'botocore', 'pynamodb'} & {m.split('.')[0] for m in sys.modules}))"],
        cwd=source.parents[2], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


# --- Random sequences ---------------------------------------------------------------------

# Events that end a pairing come up less often, so that sequences get far enough.
ENDING = {EventKind.COMMITTEE_DISSOLVE, EventKind.PARTICIPANT_WITHDREW}
NOT_TIMERS = [kind for kind in EventKind if kind not in TIMER_EVENTS for _ in range(1 if kind in ENDING else 4)]
EVENTS = st.tuples(st.just("event"), st.sampled_from(NOT_TIMERS), st.sampled_from(["mentor", "mentee"]),
                   st.sampled_from([None, 1, 2, 3]), st.booleans())
STEPS = st.one_of(
    st.tuples(st.just("ticks"), st.integers(1, 6)),  # the daily tick fires this many timers in a row
    st.tuples(st.just("wait"), st.integers(1, 120)),
    EVENTS, EVENTS,
    st.tuples(st.just("stray timer"), st.sampled_from(TIMER_EVENTS), st.integers(-30, 430)),
)


def _taken(pairing: PairingView, happening: Event, now: datetime, history: list) -> PairingView:
    """Decide, check what must always hold, and return the pairing as written."""
    decision = decide(pairing, happening, now, SCHEDULE)
    assert pairing.state not in TERMINAL or happening.kind == EventKind.EXIT_RECEIVED
    after = apply(pairing, decision)
    history.append(decision.history)

    assert type(decision.state) is State and after.state is decision.state
    assert (decision.history["from"], decision.history["to"]) == (pairing.state, decision.state)
    assert after.version == pairing.version + 1
    assert already_applied(history, happening.trigger_id)
    assert all(len(mail.to) == 1 for mail in mails(decision) if mail.template.asks)
    # Exactly one timer while the schedule runs, and it is one the table takes.
    assert (after.next_due is None) == (after.state not in RUNNING)
    if after.next_due is not None:
        assert (after.state, after.next_due) in TRANSITIONS
    assert (after.paused_from is not None) == (after.state in SUSPENDED)
    return after


@settings(max_examples=200, deadline=None)
@given(st.lists(STEPS, min_size=5, max_size=50))
def test_random_event_sequences_keep_the_workflow_consistent(steps):
    pairing, now, history = introduce("P1", START, SCHEDULE), START, []
    for step in steps:
        match step:
            case ("wait", days):
                now += timedelta(days=days)
                continue
            case ("ticks", count):
                for _ in range(count):
                    if pairing.next_due is not None:
                        now = max(now, pairing.next_due_at)
                        # The schedule's own pending timer is always taken.
                        pairing = _taken(pairing, timer_event(pairing), now, history)
                continue
            case ("event", kind, role, rating, by_committee):
                by = CHAIR if by_committee or kind in COMMITTEE_EVENTS else f"participant:{role}"
                happening = event(kind, by=by, participant=None if kind in COMMITTEE_EVENTS else role,
                                  rating=rating, days=7 if kind == EventKind.COMMITTEE_EXTEND else None)
            case ("stray timer", kind, number):
                happening = event(kind, due=day(number))
        try:
            pairing = _taken(pairing, happening, now, history)
        except TransitionRefused:
            pass

    if pairing.state in TERMINAL:
        for kind in set(EventKind) - {EventKind.EXIT_RECEIVED}:
            forged = armed(pairing, kind, now) if kind in TIMER_EVENTS else pairing
            with pytest.raises(TransitionRefused):
                decide(forged, event(kind, due=now) if kind in TIMER_EVENTS else event(kind), now, SCHEDULE)


def test_a_pairing_ended_because_its_program_year_ended_tells_both_partners_so():
    pairing = introduce("P1", START, SCHEDULE)
    ended = decide(pairing, event(EventKind.COMMITTEE_DISSOLVE, reason=PROGRAM_YEAR_ENDED,
                                  closure_reason=ClosureReason.PROGRAM_YEAR_ENDED), day(200), SCHEDULE)
    assert ended.state == State.DISSOLVED and ended.history["reason"] == "program year ended"
    assert [(m.to, m.context["outcome"]) for m in mails(ended)] == [(("mentor",), "year_ended"), (("mentee",), "year_ended")]
