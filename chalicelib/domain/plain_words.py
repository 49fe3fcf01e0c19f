"""The pairing's states, history and next step as the committee reads them: sentences, not codes.

The history keeps the program's own vocabulary ("checkin_due", "participant:mentee");
this module turns an entry into "Check-in sent" or "The mentee answered the check-in".
An event it does not know (added since) is shown in words rather than refused.

Pure: nothing here imports chalice, boto3 or pynamodb.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from chalicelib.domain.agreement import CLOSURE_REASONS
from chalicelib.domain.lifecycle import COMMITTEE, SCHEDULE_BY, EventKind, State

# (short name, one-line explanation) of each state.
STATES: dict[str, tuple[str, str]] = {
    State.INTRODUCED: ("Introduced", "The partners have been introduced to each other; the kickoff check comes next."),
    State.ACTIVE: ("Under way", "The partners have started their year; check-ins go out on their days."),
    State.EVALUATION: ("Evaluation", "The year is ending; both partners are asked for the program evaluation."),
    State.PAUSED: ("Paused", "The committee paused the pairing; no mail goes out until it is resumed."),
    State.REMATCH_REQUESTED: ("Different partner asked for",
                              "A partner asked for a different partner; no mail goes out until the committee "
                              "resumes or dissolves the pairing."),
    State.COMPLETED: ("Completed", "The year is over and the pairing ended as planned."),
    State.DISSOLVED: ("Dissolved", "The committee ended the pairing early."),
    State.WITHDRAWN: ("Withdrawn", "A partner left the program, so the pairing has ended."),
}

# What happened, as a sentence. "{who}" is the person who did it ("The mentee", "The committee (a@b)").
_DONE = {
    "introduced": "{who} introduced the pair",
    EventKind.NO_REPLY: "The time to answer the last mail ran out",
    EventKind.KICKOFF_DUE: "Kickoff check sent",
    EventKind.NUDGE_DUE: "Nobody had answered the kickoff check: a nudge went to each partner",
    EventKind.NOT_STARTED_DUE: "Still nobody had answered the kickoff check: the pair was flagged as not started",
    EventKind.CHECKIN_DUE: "Check-in sent",
    EventKind.FEEDBACK_DUE: "Mid-program feedback request sent",
    EventKind.EVALUATION_DUE: "Evaluation request sent",
    EventKind.REMINDER_DUE: "Evaluation reminder sent",
    EventKind.DEADLINE_PASSED: "The evaluation closed",
    EventKind.KICKOFF_CONFIRMED: "{who} answered the kickoff check",
    EventKind.REPLY_RECEIVED: "{who} answered the check-in",
    EventKind.FEEDBACK_RECEIVED: "{who} sent mid-program feedback",
    EventKind.EVALUATION_RECEIVED: "{who} answered the evaluation",
    EventKind.EXIT_RECEIVED: "{who} answered the exit questions",
    EventKind.REMATCH_REQUESTED: "{who} asked for a different partner",
    EventKind.PARTICIPANT_WITHDREW: "{who} withdrew from the program",
    EventKind.COMMITTEE_PAUSE: "{who} paused the pairing",
    EventKind.COMMITTEE_RESUME: "{who} resumed the pairing",
    EventKind.COMMITTEE_DISSOLVE: "{who} dissolved the pairing",
    EventKind.COMMITTEE_EXTEND: "{who} extended the year",
}

# What the schedule does next, given its date in words.
_NEXT = {
    EventKind.NO_REPLY: "the time to answer the last mail ends on {on}",
    EventKind.KICKOFF_DUE: "the kickoff check goes to both partners on {on}",
    EventKind.NUDGE_DUE: "if nobody has answered the kickoff check by {on}, each partner gets a nudge",
    EventKind.NOT_STARTED_DUE: "if nobody has answered the kickoff check by {on}, the pair is flagged as not started",
    EventKind.CHECKIN_DUE: "the next check-in goes to both partners on {on}",
    EventKind.FEEDBACK_DUE: "the mid-program feedback request goes to both partners on {on}",
    EventKind.EVALUATION_DUE: "the evaluation request goes to both partners on {on}",
    EventKind.REMINDER_DUE: "a reminder goes on {on} to a partner who has not answered the evaluation",
    EventKind.DEADLINE_PASSED: "the evaluation closes on {on}",
}


def in_words(value: str) -> str:
    """A state, event or timer as people write it: "checkin_due" -> "check-in due"."""
    return value.replace("_", " ").replace("checkin", "check-in")


def state_name(state: str) -> str:
    return STATES.get(state, (in_words(state).capitalize(), ""))[0]


def state_explanation(state: str) -> str:
    return STATES.get(state, ("", ""))[1]


def day_in_words(moment: str) -> str:
    """"2027-03-31T12:00:00+00:00" -> "31 March 2027"."""
    day = date.fromisoformat(moment[:10])
    return f"{day.day} {day.strftime('%B')} {day.year}"


def next_step(next_due: str | None, next_due_at: str | None) -> str:
    """"The next check-in goes to both partners on 31 March 2027", or "" when nothing is planned."""
    if not next_due or not next_due_at:
        return ""
    on = day_in_words(next_due_at)
    sentence = _NEXT.get(next_due, f"{in_words(next_due)} on {{on}}").format(on=on)
    return sentence[0].upper() + sentence[1:]


def actor(by: str | None) -> str:
    """Who did it, as the sentence's subject: "The mentee", "The committee (a@example.org)"."""
    source, _, who = (by or "").partition(":")
    if source == "participant" and who:
        return f"The {who}"
    if source == COMMITTEE and who:
        return f"The committee ({who})"
    if by == SCHEDULE_BY or not by:
        return "The program"
    return by


def history_sentence(entry: Mapping[str, object]) -> str:
    event = str(entry.get("event") or "")
    template = _DONE.get(event)
    who = actor(str(entry.get("by") or ""))
    if template is None:
        sentence = in_words(event).capitalize() + (f" ({who.lower()})" if entry.get("by") not in (None, SCHEDULE_BY) else "")
    else:
        sentence = template.format(who=who)
    if event == EventKind.COMMITTEE_EXTEND and entry.get("days"):
        sentence += f" by {entry['days']} days"
    if entry.get("from") and entry.get("to") and entry["from"] != entry["to"]:
        sentence += f"; the pairing is now {state_name(str(entry['to'])).lower()}"
    sentence += "."
    if entry.get("closure_reason"):
        sentence += f" Why: {dict(CLOSURE_REASONS).get(entry['closure_reason'], in_words(str(entry['closure_reason'])))}."
    if entry.get("reason"):
        sentence += f" Reason: {entry['reason']}"
    if entry.get("partner_addressed"):
        sentence += " The mail was also addressed to the partner, who may have seen it."
    return sentence


# Each committee action on a pairing: its button, what it does, and who is told.
ACTIONS: dict[str, tuple[str, str]] = {
    "pause": ("Pause the pairing",
              "Stops the mails: no check-ins or reminders go out until you resume it. Answers the partners send "
              "are still kept. Nobody is told; tell the partners yourself if they should know."),
    "resume": ("Resume the pairing",
               "Starts the mails again where they stopped; the next one goes out on its day. Nobody is told."),
    "dissolve": ("Dissolve the pairing",
                 "Ends the pairing early and for good. Each partner gets a short mail saying the committee has "
                 "closed the partnership, with two exit questions to answer by their own link; the closure reason "
                 "and note you give stay in the history and are never mailed."),
    "extend": ("Extend the year",
               "Moves the evaluation and every later mail back by the number of days you give. Nobody is told."),
}


def action_label(action: str) -> str:
    return ACTIONS.get(action, (in_words(action).capitalize(), ""))[0]


def action_explanation(action: str) -> str:
    return ACTIONS.get(action, ("", ""))[1]
