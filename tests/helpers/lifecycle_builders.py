"""Builders for tests of the pairing workflow's pure core (domain/lifecycle): a start day,
pairings in a state, well-formed events, timers fired, and the effects a decision holds."""
from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from chalicelib.domain.agreement import ClosureReason
from chalicelib.domain.lifecycle import (
    COMMITTEE_EVENTS,
    SUSPENDED,
    TIMER_EVENTS,
    AlertCommittee,
    Event,
    EventKind,
    PairingView,
    Schedule,
    SendMail,
    State,
    apply,
    decide,
    timer_event,
)

START = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
SCHEDULE = Schedule()
CHAIR = "committee:chair@example.org"
_triggers = itertools.count()


def day(number: float) -> datetime:
    return START + timedelta(days=number)


def trigger_id(prefix: str = "trigger") -> str:
    """A trigger id no other event in the test run has."""
    return f"{prefix}-{next(_triggers)}"


def pairing_in(state: State, **fields) -> PairingView:
    """A plausible pairing in `state`; suspended ones were suspended during the evaluation."""
    defaults = {"paused_from": State.EVALUATION if state in SUSPENDED else None}
    return PairingView("P1", state, version=3, introduced_at=START, **defaults | fields)


def event(kind: EventKind, **fields) -> Event:
    """A well-formed event of any kind, from whoever may send it."""
    defaults: dict = {"trigger_id": trigger_id()}
    if kind in TIMER_EVENTS:
        defaults.update(by="schedule", due=day(100))
    elif kind in COMMITTEE_EVENTS:
        defaults.update(by=CHAIR, reason="the committee decided", days=30 if kind == EventKind.COMMITTEE_EXTEND else None,
                        closure_reason=ClosureReason.OTHER if kind == EventKind.COMMITTEE_DISSOLVE else None)
    else:
        defaults.update(by="participant:mentee")
    return Event(kind, **defaults | fields)


def armed(pairing: PairingView, kind: EventKind, at: datetime = day(100)) -> PairingView:
    """The pairing with a timer for `kind` pending, so the table alone decides."""
    return replace(pairing, next_due_at=at, next_due=kind)


def fire(pairing: PairingView, now: datetime, schedule: Schedule = SCHEDULE):
    """Fire the pairing's pending timer at `now`: (the pairing after it, the decision)."""
    decision = decide(pairing, timer_event(pairing), now, schedule)
    return apply(pairing, decision), decision


def mails(decision) -> list[SendMail]:
    return [effect for effect in decision.effects if isinstance(effect, SendMail)]


def alerts(decision) -> list[AlertCommittee]:
    return [effect for effect in decision.effects if isinstance(effect, AlertCommittee)]
