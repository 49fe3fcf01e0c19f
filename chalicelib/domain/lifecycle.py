"""The pairing workflow: its vocabulary, one transition table and the schedule.

This is the functional core. `decide(pairing, event, now, schedule)` takes what
the core needs to know about a pairing (a PairingView), one event and the time,
and returns a Decision: the new state, the fields to write, one history entry
and the effects (mails, committee alerts, answers to record) as plain values.
The shell loads the pairing, calls `decide`, and writes the decision and its
outbox mails in one conditional transaction.

Nothing here does I/O or reads the clock (`now` is always a parameter), and
nothing here may import chalice, boto3 or pynamodb.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from chalicelib.domain import agreement, stalling
from chalicelib.domain.agreement import ClosureReason, PartnerTerms
from chalicelib.domain.clock import iso
from chalicelib.domain.refusals import Conflict
from chalicelib.domain.schema import BOTH_ROLES


class State(StrEnum):
    INTRODUCED = "introduced"
    ACTIVE = "active"
    EVALUATION = "evaluation"
    PAUSED = "paused"
    REMATCH_REQUESTED = "rematch_requested"
    COMPLETED = "completed"
    DISSOLVED = "dissolved"
    WITHDRAWN = "withdrawn"


RUNNING = frozenset({State.INTRODUCED, State.ACTIVE, State.EVALUATION})  # the schedule runs
SUSPENDED = frozenset({State.PAUSED, State.REMATCH_REQUESTED})  # waiting for the committee
TERMINAL = frozenset({State.COMPLETED, State.DISSOLVED, State.WITHDRAWN})
PROGRAM_YEAR_ENDED = "program year ended"  # the committee's reason when closing a cohort ends a live pairing


class EventKind(StrEnum):
    # Fired by the schedule.
    NO_REPLY = "no_reply"
    KICKOFF_DUE = "kickoff_due"
    NUDGE_DUE = "nudge_due"
    NOT_STARTED_DUE = "not_started_due"
    CHECKIN_DUE = "checkin_due"
    FEEDBACK_DUE = "feedback_due"
    EVALUATION_DUE = "evaluation_due"
    REMINDER_DUE = "reminder_due"
    DEADLINE_PASSED = "deadline_passed"
    # A participant answers.
    KICKOFF_CONFIRMED = "kickoff_confirmed"
    REPLY_RECEIVED = "reply_received"
    FEEDBACK_RECEIVED = "feedback_received"
    EVALUATION_RECEIVED = "evaluation_received"
    EXIT_RECEIVED = "exit_received"  # the exit questions, answered after an early close
    # A participant asks.
    REMATCH_REQUESTED = "rematch_requested"
    PARTICIPANT_WITHDREW = "participant_withdrew"
    # The committee acts.
    COMMITTEE_PAUSE = "committee_pause"
    COMMITTEE_RESUME = "committee_resume"
    COMMITTEE_DISSOLVE = "committee_dissolve"
    COMMITTEE_EXTEND = "committee_extend"


# The schedule's events, in the order they fire when due at the same instant: a
# reply window closes before the next contact opens a new one.
TIMER_EVENTS = (
    EventKind.NO_REPLY, EventKind.KICKOFF_DUE, EventKind.NUDGE_DUE, EventKind.NOT_STARTED_DUE, EventKind.CHECKIN_DUE, EventKind.FEEDBACK_DUE,
    EventKind.EVALUATION_DUE, EventKind.REMINDER_DUE, EventKind.DEADLINE_PASSED,
)


class ResponseKind(StrEnum):
    KICKOFF = "kickoff"
    CHECKIN = "checkin"
    FEEDBACK = "feedback"
    EVALUATION = "evaluation"
    EXIT = "exit"  # last, so the reply tokens' codes of the others stay as they were

    @property
    def label(self) -> str:
        return {"kickoff": "kickoff check", "checkin": "check-in", "feedback": "mid-program feedback",
                "evaluation": "evaluation", "exit": "exit questions"}[self.value]


RESPONSES = {
    EventKind.KICKOFF_CONFIRMED: ResponseKind.KICKOFF,
    EventKind.REPLY_RECEIVED: ResponseKind.CHECKIN,
    EventKind.FEEDBACK_RECEIVED: ResponseKind.FEEDBACK,
    EventKind.EVALUATION_RECEIVED: ResponseKind.EVALUATION,
    EventKind.EXIT_RECEIVED: ResponseKind.EXIT,
}
PARTICIPANT_EVENTS = (*RESPONSES, EventKind.REMATCH_REQUESTED, EventKind.PARTICIPANT_WITHDREW)
COMMITTEE_EVENTS = (
    EventKind.COMMITTEE_PAUSE, EventKind.COMMITTEE_RESUME,
    EventKind.COMMITTEE_DISSOLVE, EventKind.COMMITTEE_EXTEND,
)


class Rating(IntEnum):
    GOING_WELL = 1
    SOME_CONCERNS = 2
    NEED_HELP = 3

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


class Template(StrEnum):
    KICKOFF_CHECK = "kickoff_check"
    KICKOFF_NUDGE = "kickoff_nudge"
    CHECKIN = "checkin"
    FEEDBACK_REQUEST = "feedback_request"
    EVALUATION_REQUEST = "evaluation_request"
    EVALUATION_REMINDER = "evaluation_reminder"
    REMATCH_ALERT = "rematch_alert"
    HELP_ALERT = "help_alert"
    PAIRING_CLOSED = "pairing_closed"
    EXIT_QUESTIONS = "exit_questions"
    PARTICIPATION_LETTER_MENTOR = "participation_letter_mentor"
    PARTICIPATION_LETTER_MENTEE = "participation_letter_mentee"

    @property
    def asks(self) -> ResponseKind | None:
        """The answer this mail asks for; None for a notice or the committee's mail. A mail that
        asks goes to one participant, with their own reply token: what they write back reaches
        the committee and nobody else, even when they press Reply All."""
        return _ASKS.get(self)


_ASKS = {
    Template.KICKOFF_CHECK: ResponseKind.KICKOFF, Template.KICKOFF_NUDGE: ResponseKind.KICKOFF,
    Template.CHECKIN: ResponseKind.CHECKIN,
    Template.FEEDBACK_REQUEST: ResponseKind.FEEDBACK, Template.EVALUATION_REQUEST: ResponseKind.EVALUATION,
    Template.EVALUATION_REMINDER: ResponseKind.EVALUATION, Template.EXIT_QUESTIONS: ResponseKind.EXIT,
}
PARTICIPATION_LETTERS = {"mentor": Template.PARTICIPATION_LETTER_MENTOR, "mentee": Template.PARTICIPATION_LETTER_MENTEE}


class AlertKind(StrEnum):
    SOME_CONCERNS = "some_concerns"
    NEED_HELP = "need_help"
    REMATCH = "rematch"
    SILENT = "silent"
    NOT_STARTED = "not_started"
    STALLED = "stalled"
    WITHDRAWN = "withdrawn"
    PARTNER_ADDRESSED = "partner_addressed"


class Severity(StrEnum):
    IMMEDIATE = "immediate"  # mailed to the committee at once
    DIGEST = "digest"  # listed in the committee's next digest


class Flag(StrEnum):
    SILENT = "silent"
    NOT_STARTED = "not_started"
    STALLED = "stalled"

    @property
    def words(self) -> str:
        """The flag as the committee's pages show it."""
        return {"silent": "Silent: check-ins go unanswered", "not_started": "Not started: nobody answered the kickoff",
                "stalled": "Stalled: no meetings, or one partner not answering"}[self.value]


COMMITTEE = "committee"  # a mail recipient besides the two participants
SCHEDULE_BY = "schedule"


class TransitionRefused(Conflict):
    """The event does not apply to the pairing in its state; nothing changes."""

    def __init__(self, state: str, event: str, why: str = ""):
        self.state, self.event = State(state), EventKind(event)
        super().__init__(f"a pairing that is {self.state} cannot take {self.event}" + (f": {why}" if why else ""))


class DuplicateTrigger(TransitionRefused):
    """The trigger was applied already, or a newer one overtook it: acknowledge it, change nothing."""


# --- The transition table --------------------------------------------------------------
# Each (state, event) maps to the state the pairing goes to, or to a rule (a function of
# the pairing and the event) where the answer depends on more than the state. A pair that
# is not here is refused. Every applied event leaves a history entry, state kept or not.

Rule = Callable[["PairingView", "Event"], State]


def _resume(pairing: PairingView, event: Event) -> State:
    return pairing.paused_from


def _complete_when_all_returned(pairing: PairingView, event: Event) -> State:
    returned = pairing.evaluations_returned | {event.participant}
    return State.COMPLETED if returned >= set(BOTH_ROLES) else State.EVALUATION


def _stay_if_evaluation_requested(pairing: PairingView, event: Event) -> State:
    if pairing.paused_from != State.EVALUATION:
        raise TransitionRefused(pairing.state, event.kind, "no evaluation has been requested yet")
    return pairing.state


TRANSITIONS: dict[tuple[State, EventKind], State | Rule] = {
    # Introduced: no answer from the pair yet; the first answer makes the pairing active.
    (State.INTRODUCED, EventKind.KICKOFF_DUE): State.INTRODUCED,
    (State.INTRODUCED, EventKind.NUDGE_DUE): State.INTRODUCED,
    (State.INTRODUCED, EventKind.NOT_STARTED_DUE): State.INTRODUCED,
    (State.INTRODUCED, EventKind.CHECKIN_DUE): State.INTRODUCED,
    (State.INTRODUCED, EventKind.FEEDBACK_DUE): State.INTRODUCED,
    (State.INTRODUCED, EventKind.NO_REPLY): State.INTRODUCED,
    (State.INTRODUCED, EventKind.EVALUATION_DUE): State.EVALUATION,
    (State.INTRODUCED, EventKind.KICKOFF_CONFIRMED): State.ACTIVE,
    (State.INTRODUCED, EventKind.REPLY_RECEIVED): State.ACTIVE,
    (State.INTRODUCED, EventKind.FEEDBACK_RECEIVED): State.ACTIVE,
    (State.INTRODUCED, EventKind.REMATCH_REQUESTED): State.REMATCH_REQUESTED,
    (State.INTRODUCED, EventKind.PARTICIPANT_WITHDREW): State.WITHDRAWN,
    (State.INTRODUCED, EventKind.COMMITTEE_PAUSE): State.PAUSED,
    (State.INTRODUCED, EventKind.COMMITTEE_DISSOLVE): State.DISSOLVED,
    (State.INTRODUCED, EventKind.COMMITTEE_EXTEND): State.INTRODUCED,
    # Active: check-ins and the mid-program feedback until the evaluation is due.
    (State.ACTIVE, EventKind.CHECKIN_DUE): State.ACTIVE,
    (State.ACTIVE, EventKind.FEEDBACK_DUE): State.ACTIVE,
    (State.ACTIVE, EventKind.NO_REPLY): State.ACTIVE,
    (State.ACTIVE, EventKind.EVALUATION_DUE): State.EVALUATION,
    (State.ACTIVE, EventKind.KICKOFF_CONFIRMED): State.ACTIVE,
    (State.ACTIVE, EventKind.REPLY_RECEIVED): State.ACTIVE,
    (State.ACTIVE, EventKind.FEEDBACK_RECEIVED): State.ACTIVE,
    (State.ACTIVE, EventKind.REMATCH_REQUESTED): State.REMATCH_REQUESTED,
    (State.ACTIVE, EventKind.PARTICIPANT_WITHDREW): State.WITHDRAWN,
    (State.ACTIVE, EventKind.COMMITTEE_PAUSE): State.PAUSED,
    (State.ACTIVE, EventKind.COMMITTEE_DISSOLVE): State.DISSOLVED,
    (State.ACTIVE, EventKind.COMMITTEE_EXTEND): State.ACTIVE,
    # Evaluation: requested, reminded, closed at the deadline or once both have answered.
    (State.EVALUATION, EventKind.REMINDER_DUE): State.EVALUATION,
    (State.EVALUATION, EventKind.DEADLINE_PASSED): State.COMPLETED,
    (State.EVALUATION, EventKind.EVALUATION_RECEIVED): _complete_when_all_returned,
    (State.EVALUATION, EventKind.KICKOFF_CONFIRMED): State.EVALUATION,
    (State.EVALUATION, EventKind.REPLY_RECEIVED): State.EVALUATION,
    (State.EVALUATION, EventKind.FEEDBACK_RECEIVED): State.EVALUATION,
    (State.EVALUATION, EventKind.REMATCH_REQUESTED): State.REMATCH_REQUESTED,
    (State.EVALUATION, EventKind.PARTICIPANT_WITHDREW): State.WITHDRAWN,
    (State.EVALUATION, EventKind.COMMITTEE_PAUSE): State.PAUSED,
    (State.EVALUATION, EventKind.COMMITTEE_DISSOLVE): State.DISSOLVED,
    (State.EVALUATION, EventKind.COMMITTEE_EXTEND): State.EVALUATION,
    # Paused by the committee: no timers; answers are still recorded.
    (State.PAUSED, EventKind.COMMITTEE_RESUME): _resume,
    (State.PAUSED, EventKind.KICKOFF_CONFIRMED): State.PAUSED,
    (State.PAUSED, EventKind.REPLY_RECEIVED): State.PAUSED,
    (State.PAUSED, EventKind.FEEDBACK_RECEIVED): State.PAUSED,
    (State.PAUSED, EventKind.EVALUATION_RECEIVED): _stay_if_evaluation_requested,
    (State.PAUSED, EventKind.REMATCH_REQUESTED): State.REMATCH_REQUESTED,
    (State.PAUSED, EventKind.PARTICIPANT_WITHDREW): State.WITHDRAWN,
    (State.PAUSED, EventKind.COMMITTEE_DISSOLVE): State.DISSOLVED,
    (State.PAUSED, EventKind.COMMITTEE_EXTEND): State.PAUSED,
    # Rematch requested: only the committee knows; it dissolves or resumes the pairing.
    (State.REMATCH_REQUESTED, EventKind.COMMITTEE_RESUME): _resume,
    (State.REMATCH_REQUESTED, EventKind.KICKOFF_CONFIRMED): State.REMATCH_REQUESTED,
    (State.REMATCH_REQUESTED, EventKind.REPLY_RECEIVED): State.REMATCH_REQUESTED,
    (State.REMATCH_REQUESTED, EventKind.FEEDBACK_RECEIVED): State.REMATCH_REQUESTED,
    (State.REMATCH_REQUESTED, EventKind.EVALUATION_RECEIVED): _stay_if_evaluation_requested,
    (State.REMATCH_REQUESTED, EventKind.REMATCH_REQUESTED): State.REMATCH_REQUESTED,
    (State.REMATCH_REQUESTED, EventKind.PARTICIPANT_WITHDREW): State.WITHDRAWN,
    (State.REMATCH_REQUESTED, EventKind.COMMITTEE_DISSOLVE): State.DISSOLVED,
    (State.REMATCH_REQUESTED, EventKind.COMMITTEE_EXTEND): State.REMATCH_REQUESTED,
    # Closed early: only the partners' answers to the exit questions.
    (State.DISSOLVED, EventKind.EXIT_RECEIVED): State.DISSOLVED,
    (State.WITHDRAWN, EventKind.EXIT_RECEIVED): State.WITHDRAWN,
    # Completed takes no events at all.
}


# --- The schedule ----------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """A cohort's timetable, in days from the introduction; the committee may edit it."""

    kickoff_day: int = 14
    checkin_every_days: int = 90
    feedback_day: int = 180
    evaluation_day: int = 365
    evaluation_reminder_days: tuple[int, ...] = (7, 14)  # after the evaluation request
    close_after_days: int = 30  # after the evaluation request
    reply_window_days: int = 30  # a contact not answered within this counts as unanswered
    silent_after: int = 2  # unanswered contacts in a row that flag the pair as silent
    nudge_day: int = 21  # nobody has answered the kickoff check yet: each partner is nudged
    not_started_day: int = 28  # still nobody: the pair is flagged as not started

    def __post_init__(self):
        object.__setattr__(self, "evaluation_reminder_days", tuple(self.evaluation_reminder_days))
        for name, value in asdict(self).items():
            for number in value if isinstance(value, tuple) else (value,):
                if type(number) is not int or number < 1:
                    raise ValueError(f"{name} must be a whole number of at least 1, not {number!r}")
        if not self.kickoff_day < self.feedback_day < self.evaluation_day:
            raise ValueError("the kickoff must come before the mid-program feedback, and both before the evaluation")
        if not self.nudge_day < self.not_started_day:
            raise ValueError("the nudge must come before the not-started flag")
        reminders = self.evaluation_reminder_days
        if list(reminders) != sorted(set(reminders)) or any(day >= self.close_after_days for day in reminders):
            raise ValueError("evaluation reminders must be in increasing order and before the close")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Schedule:
        unknown = set(data) - {field.name for field in fields(cls)}
        if unknown:
            raise ValueError(f"unknown schedule settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {"evaluation_reminder_days": list(self.evaluation_reminder_days)}


@dataclass(frozen=True)
class Timer:
    """At this instant, the schedule fires this event."""

    at: datetime
    kind: EventKind


# --- What the core sees, hears and says ------------------------------------------------

@dataclass(frozen=True)
class PairingView:
    """What the core needs to know about one pairing. Values loaded from storage as
    plain strings, lists or sets are turned into the vocabulary's types here."""

    id: str
    state: State
    version: int
    introduced_at: datetime
    next_due_at: datetime | None = None
    next_due: EventKind | None = None
    extension_days: int = 0
    awaiting_reply_since: datetime | None = None  # the last contact, while nobody has answered it
    unanswered_checkins: int = 0  # contacts in a row that nobody answered
    flags: frozenset[Flag] = frozenset()
    paused_from: State | None = None  # where a paused or rematch-requested pairing resumes
    evaluations_returned: frozenset[str] = frozenset()  # "mentor", "mentee"
    took_part: frozenset[str] = frozenset()  # the partners who have answered anything
    agreement: Mapping[str, object] = field(default_factory=dict)  # see domain/agreement.py
    meetings: tuple[Mapping[str, object], ...] = ()  # {"at", "count", "by"}, as the partners reported them
    recent_contacts: tuple[Mapping[str, int | None], ...] = ()  # who answered the last contacts (stalling)

    def __post_init__(self):
        _require_utc(self.introduced_at, "introduced_at")
        for name in ("next_due_at", "awaiting_reply_since"):
            if getattr(self, name) is not None:
                _require_utc(getattr(self, name), name)
        if (self.next_due_at is None) != (self.next_due is None):
            raise ValueError("next_due_at and next_due go together")
        object.__setattr__(self, "state", State(self.state))
        object.__setattr__(self, "next_due", self.next_due and EventKind(self.next_due))
        object.__setattr__(self, "paused_from", self.paused_from and State(self.paused_from))
        if (self.state in SUSPENDED) != (self.paused_from is not None):
            raise ValueError("a paused or rematch-requested pairing, and only such, knows where it resumes")
        if self.paused_from not in (None, *RUNNING):
            raise ValueError(f"a pairing resumes to a running state, not {self.paused_from}")
        object.__setattr__(self, "flags", frozenset(Flag(flag) for flag in self.flags))
        object.__setattr__(self, "evaluations_returned", frozenset(_role(r) for r in self.evaluations_returned))
        object.__setattr__(self, "took_part", frozenset(_role(r) for r in self.took_part))
        object.__setattr__(self, "meetings", tuple(self.meetings))
        object.__setattr__(self, "recent_contacts", tuple(dict(contact) for contact in self.recent_contacts))


@dataclass(frozen=True)
class Event:
    """Something that happened to a pairing.

    by: "schedule", "participant:mentor", "participant:mentee" or "committee:<email>".
    trigger_id: what caused it (an SES message id, a form token, a timer's due
    instant), kept in the history so the same trigger is never applied twice.
    due: for the schedule's events, the instant the timer was set for.
    participant: whose answer or request; taken from `by` when a participant sent it.
    rating, text: a participant's answer.
    reason: why a state changes (the committee's, or a participant's request).
    days: how long the committee extends the program.
    partner_addressed: the participant's mail was addressed (To or Cc) to their partner as well.
    terms: a partner's side of the agreement, with their kickoff answer.
    meetings: how often the pair met since the last check-in, with a check-in answer.
    goal_statuses: goal id -> progress (a check-in) or met / not met (the evaluation).
    closure_reason: why the partnership ends early (a dissolve needs one).
    """

    kind: EventKind
    by: str
    trigger_id: str
    due: datetime | None = None
    participant: str | None = None
    rating: Rating | None = None
    text: str = ""
    reason: str = ""
    days: int | None = None
    partner_addressed: bool = False
    terms: PartnerTerms | None = None
    meetings: int | None = None
    goal_statuses: Mapping[str, str] = field(default_factory=dict)
    closure_reason: ClosureReason | None = None

    def __post_init__(self):
        object.__setattr__(self, "kind", EventKind(self.kind))
        if not self.trigger_id:
            raise ValueError("every event needs the trigger_id of what caused it")
        source, who = _source(self.by)
        if (self.kind in TIMER_EVENTS) != (source == SCHEDULE_BY):
            raise ValueError(f"{self.kind} comes from the schedule and only from it, not {self.by}")
        if (self.kind in TIMER_EVENTS) != (self.due is not None):
            raise ValueError("the schedule's events, and only they, carry the instant they were due")
        if self.due is not None:
            _require_utc(self.due, "due")
        if self.kind in COMMITTEE_EVENTS and source != COMMITTEE:
            raise ValueError(f"only the committee can {self.kind}")
        if self.kind in PARTICIPANT_EVENTS:
            if source == "participant" and self.participant not in (None, who):
                raise ValueError(f"{self.by} cannot answer for the {self.participant}")
            object.__setattr__(self, "participant", _role(self.participant or who))
        if self.partner_addressed and source != "participant":
            raise ValueError("only a participant's own mail can have been addressed to their partner")
        if self.rating is not None:
            object.__setattr__(self, "rating", Rating(self.rating))
        self._check_agreement_answers()
        if len(self.reason) > MAX_REASON_LENGTH:
            raise ValueError(f"a reason is at most {MAX_REASON_LENGTH} characters")
        if self.closure_reason is not None:
            object.__setattr__(self, "closure_reason", agreement.closure_reason(self.closure_reason))
        if (self.closure_reason is not None) and self.kind not in _CLOSING_EVENTS:
            raise ValueError(f"only a dissolve or a withdrawal has a closure reason, not {self.kind}")
        if self.kind == EventKind.COMMITTEE_DISSOLVE and self.closure_reason is None:
            raise ValueError("dissolving a pairing needs a closure reason")
        if self.kind == EventKind.COMMITTEE_EXTEND and (type(self.days) is not int or self.days < 1):
            raise ValueError("an extension is a whole number of days, at least 1")

    def _check_agreement_answers(self) -> None:
        if self.terms is not None and self.kind != EventKind.KICKOFF_CONFIRMED:
            raise ValueError("a partner's side of the agreement comes with their kickoff answer")
        if self.meetings is not None:  # the one count the agreement's figures and stalling both read
            if self.kind not in RESPONSES:
                raise ValueError("meetings are reported with an answer")
            agreement.meeting_count(self.meetings)
        allowed = _GOAL_ANSWERS.get(self.kind, frozenset())
        if any(status not in allowed for status in self.goal_statuses.values()):
            raise ValueError(f"{self.kind} cannot report these goal answers: {sorted(set(self.goal_statuses.values()))}")
        if len(self.goal_statuses) > 2 * agreement.MAX_GOALS:
            raise ValueError("a pair has at most six goals")


MAX_REASON_LENGTH = 5000
_CLOSING_EVENTS = frozenset({EventKind.COMMITTEE_DISSOLVE, EventKind.PARTICIPANT_WITHDREW})
_GOAL_ANSWERS = {
    EventKind.REPLY_RECEIVED: frozenset(value for value, _ in agreement.GOAL_PROGRESS),
    EventKind.EVALUATION_RECEIVED: frozenset(value for value, _ in agreement.GOAL_OUTCOMES),
}


@dataclass(frozen=True)
class SendMail:
    template: Template
    to: tuple[str, ...]  # "mentor", "mentee", "committee"
    context: Mapping[str, object]

    def __post_init__(self):
        if self.template.asks and (len(self.to) != 1 or self.to[0] not in BOTH_ROLES):
            raise ValueError(f"a {self.template} asks for an answer: it goes to exactly one participant, not {self.to}")


@dataclass(frozen=True)
class AlertCommittee:
    """Something the committee should look at: on its dashboard, and mailed now or in the digest."""

    kind: AlertKind
    severity: Severity
    text: str


@dataclass(frozen=True)
class RecordResponse:
    participant: str
    kind: ResponseKind
    rating: Rating | None
    text: str


Effect = SendMail | AlertCommittee | RecordResponse


@dataclass(frozen=True)
class Decision:
    """The outcome of one event. `updates` holds the pairing's fields that change,
    always with the next version; write them on the condition that the stored
    version is still the one decided on."""

    state: State
    updates: Mapping[str, object]
    history: Mapping[str, object]
    effects: tuple[Effect, ...]


# --- The core --------------------------------------------------------------------------

def introduce(pairing_id: str, now: datetime, schedule: Schedule) -> PairingView:
    """A pairing the committee has just introduced (version 1), with its first timer set."""
    pairing = PairingView(pairing_id, State.INTRODUCED, version=1, introduced_at=now)
    return _with_timer(pairing, _first_timer(pairing, schedule, (now, _BEFORE_ALL)))


def decide(pairing: PairingView, event: Event, now: datetime, schedule: Schedule) -> Decision:
    """What happens when `event` reaches `pairing` at `now`.

    Raises TransitionRefused if the event does not apply, and DuplicateTrigger if it
    is a timer that already fired or was overtaken (a pause, an extension, a reply).
    """
    _require_utc(now, "now")
    if event.kind in TIMER_EVENTS:
        if (event.due, event.kind) != (pairing.next_due_at, pairing.next_due):
            raise DuplicateTrigger(pairing.state, event.kind, f"no {event.kind} is pending at {iso(event.due)}")
        if now < event.due:
            raise TransitionRefused(pairing.state, event.kind, f"not due until {iso(event.due)}")
    rule = TRANSITIONS.get((pairing.state, event.kind))
    if rule is None:
        raise TransitionRefused(pairing.state, event.kind)
    target = rule if isinstance(rule, State) else rule(pairing, event)

    changes, effects = _consequences(pairing, event, target, now, schedule)
    after = replace(pairing, state=target, version=pairing.version + 1,
                    paused_from=_paused_from(pairing, event, target), **changes)
    after = _with_timer(after, _first_timer(after, schedule, _cursor(pairing, event, now)))
    updates = {field.name: getattr(after, field.name) for field in fields(after)
               if getattr(after, field.name) != getattr(pairing, field.name)}
    return Decision(target, updates, _history_entry(pairing, event, target, now), tuple(effects))


def apply(pairing: PairingView, decision: Decision) -> PairingView:
    """The pairing as it is once the decision is written."""
    return replace(pairing, **decision.updates)


def already_applied(history: Iterable[Mapping[str, object]], trigger_id: str) -> bool:
    """True if the pairing's history shows this trigger: the shell acknowledges it and stops."""
    return any(entry.get("trigger_id") == trigger_id for entry in history)


def timer_event(pairing: PairingView) -> Event:
    """The event for the pairing's pending timer, as the schedule's daily tick fires it."""
    if pairing.next_due is None:
        raise ValueError(f"pairing {pairing.id} has no timer")
    at = iso(pairing.next_due_at)
    return Event(pairing.next_due, SCHEDULE_BY, f"{pairing.id}/{pairing.next_due}/{at}", due=pairing.next_due_at)


def next_timer(pairing: PairingView, schedule: Schedule, after: datetime,
               fired: EventKind | None = None) -> Timer | None:
    """The pairing's first timer at or after `after`, or strictly after the timer `fired`
    at `after`. Contacts that fall before it are skipped; the evaluation request and the
    close never are (they are due at `after` at the latest). None if nothing runs."""
    return _first_timer(pairing, schedule, (after, _BEFORE_ALL if fired is None else TIMER_EVENTS.index(fired)))


# --- Timers ----------------------------------------------------------------------------
# A position on the timeline is (instant, index in TIMER_EVENTS); a timer comes after a
# position if its own position is greater.

_BEFORE_ALL, _AFTER_ALL = -1, len(TIMER_EVENTS)
# These move the pairing on; skipping them would leave it running forever.
_NEVER_SKIPPED = frozenset({EventKind.EVALUATION_DUE, EventKind.DEADLINE_PASSED})


def _position(timer: Timer) -> tuple[datetime, int]:
    return timer.at, TIMER_EVENTS.index(timer.kind)


def _cursor(pairing: PairingView, event: Event, now: datetime) -> tuple[datetime, int]:
    if event.kind in TIMER_EVENTS:
        # After the timer that fired; if it fired late, what fell meanwhile is skipped.
        return max((event.due, TIMER_EVENTS.index(event.kind)), (now, _BEFORE_ALL))
    if pairing.next_due is None:
        # Resuming: recompute from now rather than fire a burst of past contacts.
        return now, _BEFORE_ALL
    # Keep the pending timer even when it is overdue; otherwise look past now, so a
    # timer fired at this very instant does not fire again.
    return min((pairing.next_due_at, TIMER_EVENTS.index(pairing.next_due) - 1), (now, _AFTER_ALL))


def _first_timer(pairing: PairingView, schedule: Schedule, after: tuple[datetime, int]) -> Timer | None:
    ahead = [Timer(max(timer.at, after[0]), timer.kind) if timer.kind in _NEVER_SKIPPED else timer
             for timer in _plan(pairing, schedule)
             if timer.kind in _NEVER_SKIPPED or _position(timer) > after]
    return min(ahead, key=_position, default=None)


def _plan(pairing: PairingView, schedule: Schedule) -> Iterator[Timer]:
    """Every timer the pairing's state still calls for, past ones included."""
    if pairing.state not in RUNNING:
        return
    evaluation_day = schedule.evaluation_day + pairing.extension_days
    if pairing.state == State.EVALUATION:
        if pairing.evaluations_returned != set(BOTH_ROLES):
            for day in schedule.evaluation_reminder_days:
                yield Timer(_on(pairing, evaluation_day + day), EventKind.REMINDER_DUE)
        yield Timer(_on(pairing, evaluation_day + schedule.close_after_days), EventKind.DEADLINE_PASSED)
        return

    def fits(day: int) -> bool:
        # A contact whose reply window would reach the evaluation is left out: the evaluation asks instead.
        return day + schedule.reply_window_days < evaluation_day

    if pairing.state == State.INTRODUCED and fits(schedule.kickoff_day):
        yield Timer(_on(pairing, schedule.kickoff_day), EventKind.KICKOFF_DUE)
        # Only once the kickoff has asked; a schedule whose kickoff comes later has no nudge.
        for day, kind in ((schedule.nudge_day, EventKind.NUDGE_DUE), (schedule.not_started_day, EventKind.NOT_STARTED_DUE)):
            if schedule.kickoff_day < day < evaluation_day:
                yield Timer(_on(pairing, day), kind)
    for day in range(schedule.checkin_every_days, evaluation_day, schedule.checkin_every_days):
        # On the feedback day the feedback request is that quarter's contact.
        if day != schedule.feedback_day and fits(day):
            yield Timer(_on(pairing, day), EventKind.CHECKIN_DUE)
    if fits(schedule.feedback_day):
        yield Timer(_on(pairing, schedule.feedback_day), EventKind.FEEDBACK_DUE)
    if pairing.awaiting_reply_since is not None:
        yield Timer(pairing.awaiting_reply_since + timedelta(days=schedule.reply_window_days), EventKind.NO_REPLY)
    yield Timer(_on(pairing, evaluation_day), EventKind.EVALUATION_DUE)


def _with_timer(pairing: PairingView, timer: Timer | None) -> PairingView:
    return replace(pairing, next_due_at=timer and timer.at, next_due=timer and timer.kind)


def _on(pairing: PairingView, day: int) -> datetime:
    return pairing.introduced_at + timedelta(days=day)


def _closes_at(pairing: PairingView, schedule: Schedule) -> datetime:
    return _on(pairing, schedule.evaluation_day + pairing.extension_days + schedule.close_after_days)


# --- Consequences ----------------------------------------------------------------------

_CONTACT_TEMPLATES = {EventKind.KICKOFF_DUE: Template.KICKOFF_CHECK, EventKind.CHECKIN_DUE: Template.CHECKIN,
                      EventKind.FEEDBACK_DUE: Template.FEEDBACK_REQUEST}


def _consequences(pairing: PairingView, event: Event, target: State, now: datetime,
                  schedule: Schedule) -> tuple[dict[str, object], list[Effect]]:
    """The fields the event changes (besides state, timer and pause) and its effects."""
    about = {"pairing_id": pairing.id}
    changes: dict[str, object] = {}
    effects: list[Effect] = []
    match event.kind:
        case EventKind.KICKOFF_DUE | EventKind.CHECKIN_DUE | EventKind.FEEDBACK_DUE:
            effects += _to_each(_CONTACT_TEMPLATES[event.kind], BOTH_ROLES, about)
            changes["awaiting_reply_since"] = now
            _flag_stall(pairing, stalling.stall_reason(pairing.recent_contacts, latest_is_open=False), changes, effects)
            changes["recent_contacts"] = stalling.opened(pairing.recent_contacts)
        case EventKind.NUDGE_DUE:
            effects += _to_each(Template.KICKOFF_NUDGE, BOTH_ROLES, about)
        case EventKind.NOT_STARTED_DUE:
            changes["flags"] = pairing.flags | {Flag.NOT_STARTED}
            effects.append(AlertCommittee(AlertKind.NOT_STARTED, Severity.DIGEST,
                                          f"Nobody in the pair has answered the kickoff check {schedule.not_started_day} "
                                          "days after the introduction."))
        case EventKind.NO_REPLY:
            unanswered = pairing.unanswered_checkins + 1
            changes.update(unanswered_checkins=unanswered, awaiting_reply_since=None)
            if unanswered >= schedule.silent_after and Flag.SILENT not in pairing.flags:
                changes["flags"] = pairing.flags | {Flag.SILENT}
                effects.append(AlertCommittee(AlertKind.SILENT, Severity.DIGEST,
                                     f"The pair has left {unanswered} check-ins in a row unanswered."))
        case EventKind.EVALUATION_DUE:
            effects += _to_each(Template.EVALUATION_REQUEST, BOTH_ROLES,
                                about | {"closes_at": iso(_closes_at(pairing, schedule))})
            _flag_stall(pairing, stalling.stall_reason(pairing.recent_contacts, latest_is_open=False), changes, effects)
            changes["awaiting_reply_since"] = None  # the evaluation's reminders take over
        case EventKind.REMINDER_DUE:
            evaluation_at = _on(pairing, schedule.evaluation_day + pairing.extension_days)
            number = sum(evaluation_at + timedelta(days=day) <= event.due for day in schedule.evaluation_reminder_days)
            missing = tuple(role for role in BOTH_ROLES if role not in pairing.evaluations_returned)
            effects += _to_each(Template.EVALUATION_REMINDER, missing,
                                about | {"reminder": number, "closes_at": iso(_closes_at(pairing, schedule))})
        case EventKind.REMATCH_REQUESTED:
            # Asking for a different partner reaches the committee and nobody else.
            effects += _tell_committee_now(
                AlertKind.REMATCH, f"The {event.participant} asks for a different partner.",
                Template.REMATCH_ALERT, about | {"asked_by": event.participant, "reason": event.reason})
        case EventKind.PARTICIPANT_WITHDREW:
            effects.append(AlertCommittee(AlertKind.WITHDRAWN, Severity.DIGEST,
                                 f"The {event.participant} has left the program."))
        case EventKind.COMMITTEE_EXTEND:
            changes["extension_days"] = pairing.extension_days + event.days
        case kind if kind in RESPONSES:
            changes.update(unanswered_checkins=0, awaiting_reply_since=None,
                           flags=pairing.flags - {Flag.SILENT, Flag.NOT_STARTED},
                           took_part=pairing.took_part | {event.participant})
            if kind == EventKind.EVALUATION_RECEIVED:
                changes["evaluations_returned"] = pairing.evaluations_returned | {event.participant}
            else:
                contacts = stalling.answered(pairing.recent_contacts, event.participant, event.meetings)
                changes["recent_contacts"] = contacts
                _flag_stall(pairing, stalling.stall_reason(contacts, latest_is_open=True), changes, effects,
                            recovered=stalling.recovered(contacts))
            changes.update(_agreement_changes(pairing, event, now))
            effects.append(RecordResponse(event.participant, RESPONSES[kind], event.rating, event.text))
            effects += _rating_alerts(pairing, event)
    if event.partner_addressed:
        effects.append(AlertCommittee(AlertKind.PARTNER_ADDRESSED, Severity.DIGEST,
                                      f"The {event.participant}'s mail to the committee was also addressed to "
                                      "their partner, who may have seen it."))
    if target in TERMINAL and pairing.state not in TERMINAL:
        effects += _closing_mails(pairing, event, target, now, changes.get("took_part", pairing.took_part))
    return changes, effects


def _agreement_changes(pairing: PairingView, event: Event, now: datetime) -> dict[str, object]:
    """A partner's kickoff terms, meetings and goal answers, as the pairing keeps them."""
    changes: dict[str, object] = {}
    held = pairing.agreement
    if event.terms is not None:
        held = agreement.with_terms(held, event.participant, event.terms, iso(now))
    if event.goal_statuses:
        held = agreement.with_progress(held, event.goal_statuses)
    if held != pairing.agreement:
        changes["agreement"] = held
    if event.meetings is not None:
        changes["meetings"] = (*pairing.meetings, {"at": iso(now), "count": event.meetings, "by": event.participant})
    return changes


def _closing_mails(pairing: PairingView, event: Event, target: State, now: datetime,
                   took_part: frozenset[str]) -> list[Effect]:
    """A completed year brings each partner who took part their letter of participation; an early
    close asks each partner who did not leave of their own accord the exit questions."""
    about = {"pairing_id": pairing.id, "outcome": str(target)}
    if event.closure_reason == agreement.ClosureReason.PROGRAM_YEAR_ENDED:  # nobody's choice: nothing to ask
        return _to_each(Template.PAIRING_CLOSED, BOTH_ROLES, about | {"outcome": "year_ended"})
    if target == State.COMPLETED:
        started, ended = pairing.introduced_at.date(), now.date()
        letter = about | {"started_on": started.isoformat(), "ended_on": ended.isoformat(),
                          "year": str(started.year) if started.year == ended.year else f"{started.year}\u2013{ended.year}"}
        return [mail for role in BOTH_ROLES
                for mail in _to_each(PARTICIPATION_LETTERS[role] if role in took_part else Template.PAIRING_CLOSED,
                                     (role,), letter if role in took_part else about)]
    left = event.participant if event.kind == EventKind.PARTICIPANT_WITHDREW else None
    return [mail for role in BOTH_ROLES
            for mail in _to_each(Template.PAIRING_CLOSED if role == left else Template.EXIT_QUESTIONS, (role,), about)]


def _flag_stall(pairing: PairingView, reason: str | None, changes: dict[str, object], effects: list[Effect],
                recovered: bool = False) -> None:
    """Raise the stalled flag (and tell the committee) once, when there is a reason; lower it
    once both partners answer again with meetings."""
    flags = changes.get("flags", pairing.flags)
    if reason and Flag.STALLED not in flags:
        changes["flags"] = flags | {Flag.STALLED}
        effects.append(AlertCommittee(AlertKind.STALLED, Severity.DIGEST, f"The pair may have stalled: {reason}"))
    elif not reason and recovered and Flag.STALLED in flags:
        changes["flags"] = flags - {Flag.STALLED}


def _paused_from(pairing: PairingView, event: Event, target: State) -> State | None:
    if target not in SUSPENDED:
        return None
    if pairing.state not in SUSPENDED:
        return pairing.state
    if event.kind in RESPONSES and pairing.paused_from == State.INTRODUCED:
        return State.ACTIVE  # the pair answered while suspended: resume it as active
    return pairing.paused_from


def _rating_alerts(pairing: PairingView, event: Event) -> list[Effect]:
    if event.rating not in (Rating.SOME_CONCERNS, Rating.NEED_HELP):
        return []
    text = (f"The {event.participant} answered the {RESPONSES[event.kind].label} "
            f"with \"{event.rating.label}\".")
    if event.rating == Rating.SOME_CONCERNS:
        return [AlertCommittee(AlertKind.SOME_CONCERNS, Severity.DIGEST, text)]
    return _tell_committee_now(AlertKind.NEED_HELP, text, Template.HELP_ALERT, {
        "pairing_id": pairing.id, "participant": event.participant,
        "about": RESPONSES[event.kind].label, "text": event.text,
    })


def _tell_committee_now(kind: AlertKind, text: str, template: Template, context: dict) -> list[Effect]:
    return [AlertCommittee(kind, Severity.IMMEDIATE, text), SendMail(template, (COMMITTEE,), context)]


def _to_each(template: Template, roles: Iterable[str], context: Mapping[str, object]) -> list[Effect]:
    """One mail per participant: what one writes back stays between them and the committee."""
    return [SendMail(template, (role,), {**context, "role": role}) for role in roles]


def _history_entry(pairing: PairingView, event: Event, target: State, now: datetime) -> dict[str, object]:
    entry = {"at": iso(now), "event": str(event.kind), "from": str(pairing.state), "to": str(target),
             "by": event.by, "trigger_id": event.trigger_id}
    if event.reason:
        entry["reason"] = event.reason
    if event.closure_reason is not None:
        entry["closure_reason"] = event.closure_reason.value
    if event.days is not None:
        entry["days"] = event.days
    if event.partner_addressed:
        entry["partner_addressed"] = True
    return entry


# --- Input checks ----------------------------------------------------------------------

def _require_utc(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be an aware UTC datetime, not {moment!r}")


def _role(value: str | None) -> str:
    if value not in BOTH_ROLES:
        raise ValueError(f"a participant is one of {', '.join(BOTH_ROLES)}, not {value!r}")
    return value


def _source(by: str) -> tuple[str, str | None]:
    """Split `by` into where the event came from and who: ("participant", "mentee")."""
    if by == SCHEDULE_BY:
        return SCHEDULE_BY, None
    source, _, who = by.partition(":")
    if source == "participant" and who in BOTH_ROLES or source == COMMITTEE and who:
        return source, who
    raise ValueError(f"by must be 'schedule', 'participant:<mentor|mentee>' or 'committee:<email>', not {by!r}")
