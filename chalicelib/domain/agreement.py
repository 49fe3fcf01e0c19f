"""The partnership agreement, the pair's meetings and goals, and how a partnership closes.

At the kickoff each partner says how they will keep in touch (modes), how often
(frequency) and one to three goals for the year. The pairing holds both answers
side by side (`Agreement`): nothing is merged, so the committee sees where the
two differ. Check-ins report meetings since the last check-in and each goal's
progress; the evaluation says, per goal, whether it was met.

As stored on the pairing:
    agreement: {"mentor": {"modes", "frequency", "goals": [{"id", "text"}], "at"},
                "mentee": {...}, "status": {goal id: status}}
    meetings: [{"at", "count", "by"}]

Pure: every text is bounded and checked here, before anything is written.
Nothing here imports chalice, boto3 or pynamodb.
"""
from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.refusals import Invalid
from chalicelib.domain.schema import BOTH_ROLES, COMMUNICATION_MODES, MEETING_FREQUENCIES
from chalicelib.domain.validation import clean_text

MAX_GOALS = 3
GOAL_LENGTH = 200
NOTE_LENGTH = 2000
MAX_MEETINGS = 3  # the check-in's top answer is "3 or more"
MEETING_COUNTS = (("0", "None"), ("1", "Once"), ("2", "Twice"), ("3", "Three times or more"))


class GoalStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    MET = "met"  # the evaluation's answers
    NOT_MET = "not_met"


GOAL_PROGRESS = ((GoalStatus.NOT_STARTED.value, "Not started"), (GoalStatus.IN_PROGRESS.value, "In progress"),
                 (GoalStatus.DONE.value, "Done"))
GOAL_OUTCOMES = ((GoalStatus.MET.value, "Met"), (GoalStatus.NOT_MET.value, "Not met"))


class ClosureReason(StrEnum):
    GOALS_MET_EARLY = "goals_met_early"
    NO_CONTACT = "no_contact"
    SCHEDULE_CHANGE = "schedule_change"
    NOT_A_GOOD_FIT = "not_a_good_fit"
    REMATCH_REQUEST = "rematch_request"
    OTHER = "other"
    PROGRAM_YEAR_ENDED = "program_year_ended"  # the committee closed the cohort with the pairing still live

    @property
    def label(self) -> str:
        return dict(CLOSURE_REASONS)[self.value]


CLOSURE_REASONS = (
    ("goals_met_early", "Goals met early"), ("no_contact", "No contact"),
    ("schedule_change", "A change of job or of timetable"), ("not_a_good_fit", "Not a good fit"),
    ("rematch_request", "A request for a different partner"), ("other", "Other"),
    ("program_year_ended", "The program year ended"),
)


def closure_reason(value: object) -> ClosureReason:
    try:
        return ClosureReason(value)
    except (ValueError, TypeError):
        raise Invalid(f"Choose a closure reason: {', '.join(reason.value for reason in ClosureReason)}.",
                      field="closure_reason") from None


def bounded_note(value: object, limit: int = NOTE_LENGTH, field: str = "note") -> str:
    """A person's optional note, cleaned, and refused when longer than `limit` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("A note is plain text.", field=field)
    text = clean_text(value, multiline=True)
    if len(text) > limit:
        raise Invalid(f"Keep the note under {limit} characters (it has {len(text)}).", field=field)
    return text


# --- One partner's side of the agreement ------------------------------------------------

@dataclass(frozen=True)
class PartnerTerms:
    """What one partner answered at the kickoff."""

    modes: tuple[str, ...]
    frequency: str
    goals: tuple[str, ...]

    def __post_init__(self):
        modes = tuple(value for value, _ in COMMUNICATION_MODES if value in set(self.modes))
        if not modes or len(modes) != len(set(self.modes)):
            raise Invalid("Choose one or more of the listed ways to keep in touch.", field="modes")
        if self.frequency not in dict(MEETING_FREQUENCIES):
            raise Invalid("Choose how often you will be in touch.", field="frequency")
        goals = tuple(text for text in (clean_text(goal, multiline=False) for goal in self.goals) if text)
        if not 1 <= len(goals) <= MAX_GOALS:
            raise Invalid(f"Write one to {MAX_GOALS} goals for the year.", field="goal_1")
        for number, text in enumerate(goals, 1):
            if len(text) > GOAL_LENGTH:
                raise Invalid(f"Keep each goal under {GOAL_LENGTH} characters (it has {len(text)}).",
                              field=f"goal_{number}")
        object.__setattr__(self, "modes", modes)
        object.__setattr__(self, "goals", goals)


def goal_id(role: str, number: int) -> str:
    return f"{role}-{number}"


def with_terms(agreement: Mapping, role: str, terms: PartnerTerms, at: str) -> dict:
    """The agreement once `role` has answered the kickoff; a later answer replaces their side
    (and the progress on their goals), never the partner's."""
    kept = {goal: status for goal, status in (agreement.get("status") or {}).items()
            if not goal.startswith(f"{role}-")}
    side = {"modes": list(terms.modes), "frequency": terms.frequency, "at": at,
            "goals": [{"id": goal_id(role, number), "text": text} for number, text in enumerate(terms.goals, 1)]}
    return {**agreement, role: side, "status": kept}


def goals(agreement: Mapping | None) -> list[dict]:
    """Every goal both partners listed, the mentor's first: {"id", "text", "by", "status"}."""
    agreement = agreement or {}
    status = agreement.get("status") or {}
    return [{"id": goal["id"], "text": goal["text"], "by": role, "status": status.get(goal["id"])}
            for role in BOTH_ROLES for goal in (agreement.get(role) or {}).get("goals", [])]


def with_progress(agreement: Mapping, statuses: Mapping[str, str]) -> dict:
    """The agreement with the goals' latest status; statuses for goals it does not hold are dropped
    (an answer to a form shown before the partner changed their goals)."""
    known = {goal["id"] for goal in goals(agreement)}
    reported = {goal: GoalStatus(status).value for goal, status in statuses.items() if goal in known}
    return {**agreement, "status": {**(agreement.get("status") or {}), **reported}} if reported else dict(agreement)


def meeting_count(value: object) -> int:
    if type(value) is not int or not 0 <= value <= MAX_MEETINGS:
        raise Invalid(f"Meetings since the last check-in are 0 to {MAX_MEETINGS} (3 or more).", field="meetings")
    return value


def partner_goals_text(agreement: Mapping | None, role: str) -> str:
    """The partner's goals, as the check-in mail to `role` lists them; empty before they answered."""
    partner = "mentee" if role == "mentor" else "mentor"
    listed = [goal["text"] for goal in goals(agreement) if goal["by"] == partner]
    if not listed:
        return ""
    return f"The goals your {partner} listed for the year:\n" + "\n".join(f"- {text}" for text in listed)


def application_goals(text: str | None) -> list[str]:
    """The goals a mentee wrote on the application, offered as a start: its lines or sentences,
    at most MAX_GOALS, each cut to GOAL_LENGTH."""
    pieces = [piece.strip(" -*\u2022\t") for piece in re.split(r"\n+|(?<=[.!?;])\s+", text or "")]
    return [piece[:GOAL_LENGTH].rstrip() for piece in pieces if piece][:MAX_GOALS]


def api_view(agreement: Mapping | None) -> dict:
    """The agreement as GET /admin/api/pairings/{id} shows it: each partner's modes and frequency
    side by side, and every goal with who listed it and its latest status."""
    agreement = agreement or {}
    return {"modes": {role: (agreement.get(role) or {}).get("modes") for role in BOTH_ROLES},
            "frequency": {role: (agreement.get(role) or {}).get("frequency") for role in BOTH_ROLES},
            "goals": goals(agreement)}


# --- The year's figures -----------------------------------------------------------------

# Days between meetings at each agreed frequency; "flexible" promises no number.
FREQUENCY_DAYS = {"weekly": 7, "biweekly": 14, "monthly": 30, "quarterly": 90}


def meetings_expected(frequency: str | None, checkin_every_days: int) -> int | None:
    """Meetings one check-in interval should hold at this frequency, capped at the top answer."""
    days = FREQUENCY_DAYS.get(frequency or "")
    return None if days is None else min(MAX_MEETINGS, max(1, checkin_every_days // days))


def agreed_frequency(agreement: Mapping | None) -> str | None:
    """The frequency both partners accepted: the less frequent of their two answers, or None when
    either has not answered or either left it flexible."""
    sides = [(agreement or {}).get(role) or {} for role in BOTH_ROLES]
    days = [FREQUENCY_DAYS.get(side.get("frequency") or "") for side in sides]
    if None in days:
        return None
    return max((side["frequency"] for side in sides), key=FREQUENCY_DAYS.__getitem__)


def meeting_rounds(meetings: Iterable[Mapping], checkins: list[datetime]) -> list[int]:
    """Meetings per check-in round: both partners report the same meetings, so a round counts
    the larger of their two numbers. A report belongs to the latest check-in at or before it."""
    rounds: dict[int, int] = {}
    for meeting in meetings:
        at = datetime.fromisoformat(meeting["at"].replace("Z", "+00:00"))
        index = sum(1 for asked in checkins if asked <= at) - 1
        rounds[index] = max(rounds.get(index, 0), int(meeting["count"]))
    return [rounds[index] for index in sorted(rounds)]


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def year_figures(pairings: Iterable[Mapping], checkin_every_days: int) -> dict:
    """pairs_with_agreement: pairs where both partners answered the kickoff agreement.
    goals, goals_assessed, goals_met, goals_met_share: agreed goals, those the evaluation
    answered on, those it called met, and met / assessed. median_meetings: the median, over
    pairs that reported meetings, of their meetings in the year (meeting_rounds summed).
    pairs_with_frequency: pairs with an agreed frequency that reported meetings;
    pairs_meeting_as_agreed: those whose every round held at least meetings_expected;
    meeting_as_agreed_share: the second over the first. Shares are None when nothing counts.

    pairings: {"agreement", "meetings", "checkins": [datetime of each check-in request]}"""
    all_goals, totals, with_frequency, as_agreed, agreed = [], [], 0, 0, 0
    for pairing in pairings:
        all_goals += goals(pairing.get("agreement"))
        agreed += all((pairing.get("agreement") or {}).get(role) for role in BOTH_ROLES)
        rounds = meeting_rounds(pairing.get("meetings") or [], pairing.get("checkins") or [])
        if not rounds:
            continue
        totals.append(sum(rounds))
        expected = meetings_expected(agreed_frequency(pairing.get("agreement")), checkin_every_days)
        if expected is not None:
            with_frequency += 1
            as_agreed += all(count >= expected for count in rounds)
    assessed = [goal for goal in all_goals if goal["status"] in (GoalStatus.MET, GoalStatus.NOT_MET)]
    met = sum(1 for goal in assessed if goal["status"] == GoalStatus.MET)
    return {
        "pairs_with_agreement": agreed,
        "goals": len(all_goals), "goals_assessed": len(assessed), "goals_met": met,
        "goals_met_share": share(met, len(assessed)),
        "pairs_reporting_meetings": len(totals),
        "median_meetings": statistics.median(totals) if totals else None,
        "pairs_with_frequency": with_frequency, "pairs_meeting_as_agreed": as_agreed,
        "meeting_as_agreed_share": share(as_agreed, with_frequency),
    }


def closure_counts(pairings: Iterable[Mapping]) -> dict[str, int]:
    """How many partnerships closed early for each reason (the reason on their closing entry)."""
    counts = {reason.value: 0 for reason in ClosureReason}
    for pairing in pairings:
        for entry in pairing.get("history") or []:
            if entry.get("closure_reason") in counts:
                counts[entry["closure_reason"]] += 1
    return counts
