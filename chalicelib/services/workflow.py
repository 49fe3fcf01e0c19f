"""The imperative shell around lifecycle.decide: every trigger that reaches a pairing.

`apply_event` loads the pairing, skips a trigger it has seen (its id is in
the history), asks the core what happens, and writes in ONE transaction,
conditional on the pairing's version: the new fields and history entry, the
mails (outbox), the responses and alerts, the freed claims when the pairing
ends, the audit entry for a committee action, and the trigger's own record
when its caller keeps one (a received mail). A lost race reloads and decides
again, so concurrent triggers are each applied exactly once.

A mail that asks for an answer goes to one participant and carries their own
signed token, both in the Reply-To address (reply+TOKEN@reply domain) and in a
link to the web form (/respond/TOKEN): the token says who is answering, and a
Reply All reaches nobody but the committee.
"""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Sequence

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition

from chalicelib.services import audit, concerns, mail
from chalicelib.domain import agreement, clock, lifecycle, tokens
from chalicelib.domain.concerns import kind_for_alert
from chalicelib.adapters import metrics
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.config import settings
from chalicelib.domain.lifecycle import COMMITTEE, AlertCommittee, RecordResponse, SendMail, Template
from chalicelib.adapters.models import Alert, Claim, Concern, InboundMessage, Pairing, Response
from chalicelib.services.pairings import cohort_schedule, get_pairing, live_mentee_key
from chalicelib.domain.refusals import Conflict, Invalid
from chalicelib.adapters.store import DIGEST, conditions_failed, new_alert, transaction

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 30  # each lost race means another trigger was applied: progress, not a loop
MAX_HISTORY_CHARACTERS = 150_000  # a pairing's history: some 600 entries, well within a 400 KB item
ANSWER_EVENTS = {kind: event for event, kind in lifecycle.RESPONSES.items()}


# What a caller keeps of a trigger, written with its transition: a received mail's record and
# the committee's alert, each with its condition. A failed condition (the record exists) means
# the trigger was handled before, and nothing is written.
TriggerRecord = tuple[InboundMessage | Alert | Concern, Condition | None]


@dataclass(frozen=True)
class Outcome:
    state: str  # the pairing's state once the trigger is handled
    applied: bool  # False: the trigger was applied before (or overtaken), and nothing changed now


def view_of(pairing: Pairing) -> lifecycle.PairingView:
    return lifecycle.PairingView(
        id=pairing.id, state=pairing.state, version=int(pairing.version), introduced_at=pairing.introduced_at,
        next_due_at=pairing.next_due_at, next_due=pairing.next_due, extension_days=int(pairing.extension_days or 0),
        awaiting_reply_since=pairing.awaiting_reply_since, unanswered_checkins=int(pairing.unanswered_checkins or 0),
        flags=frozenset(pairing.flags or ()), paused_from=pairing.paused_from,
        evaluations_returned=frozenset(pairing.evaluations_returned or ()),
        took_part=frozenset(pairing.took_part or ()), agreement=pairing.agreement or {},
        meetings=tuple(pairing.meetings or ()),
        recent_contacts=tuple(pairing.recent_contacts or ()),
    )


def apply_event(pairing_id: str, event: lifecycle.Event, *, source: str = "email", answers: dict | None = None,
                pairing: Pairing | None = None, schedule: lifecycle.Schedule | None = None,
                records: Sequence[TriggerRecord] = (), send_now: bool = True) -> Outcome:
    """Apply one trigger to a pairing exactly once. Raises lifecycle.TransitionRefused
    when the event does not apply, and Conflict if the pairing keeps changing.
    A caller that has just read the pairing (the tick) passes it, and its cohort's schedule;
    one that keeps a record of the trigger passes it, to be written in the same transaction.
    The mails go out at once, or with send_now=False are left to the outbox sweeper."""
    for _ in range(MAX_ATTEMPTS):
        pairing = pairing or get_pairing(pairing_id)
        if lifecycle.already_applied(pairing.history or [], event.trigger_id):
            return Outcome(pairing.state, applied=False)
        now = clock.now()
        try:
            decision = lifecycle.decide(view_of(pairing), event, now, schedule or cohort_schedule(pairing.cohort))
        except lifecycle.DuplicateTrigger:
            return Outcome(pairing.state, applied=False)
        try:
            queued, recipients_checked = _write(pairing, event, decision, now, source, answers, records, send_now)
        except TransactWriteError as error:
            if not conditions_failed(error):
                raise
            seen_version = pairing.version
            pairing = get_pairing(pairing_id)
            if pairing.version == seen_version:  # the pairing is as it was: the trigger's record exists
                return Outcome(pairing.state, applied=False)
            continue  # another trigger changed the pairing first: decide again on it
        if send_now:
            mail.deliver_all(queued, recipients_checked)
        return Outcome(decision.state.value, applied=True)
    raise Conflict("The pairing kept changing; please try again.")


def _stored(value):
    """Lifecycle values as DynamoDB keeps them: enums as text, sets as sorted lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset):
        return sorted(str(item.value if isinstance(item, Enum) else item) for item in value)
    if isinstance(value, tuple):
        return [dict(item) for item in value]
    return value


def _write(pairing: Pairing, event: lifecycle.Event, decision: lifecycle.Decision, now: datetime, source: str,
           answers: dict | None, records: Sequence[TriggerRecord], send_now: bool) -> tuple[list, bool]:
    """The transition in one transaction: the mails queued, and whether it checked their recipients.
    Mails sent at once are queued leased to this process, and their recipients are checked in the
    same transaction, so sending costs no call before SES's. Should a recipient be undeliverable,
    it is written again without the checks, and the sending finds whom to leave out."""
    history = [*(pairing.history or []), decision.history]
    if len(json.dumps(history)) > MAX_HISTORY_CHARACTERS:  # as the item stores it
        raise Conflict("This pairing's history is full, so nothing more can be recorded on it. "
                       "Please write to the participants directly.")
    people = _people(pairing)
    mails = [composed for effect in decision.effects if isinstance(effect, SendMail)
             for composed in _mails_for(effect, pairing, people)]
    for check in ((True, False) if send_now and mails else (False,)):
        checks = 0
        try:
            with transaction() as write:
                checks = mail.check_deliverable(write, mails) if check else 0
                queued = _fill(write, pairing, event, decision, history, now, source, answers, records, mails,
                               send_now)
        except TransactWriteError as error:
            if any(index < checks for index in conditions_failed(error)):
                continue
            raise
        return queued, check
    raise AssertionError("the last attempt checks no recipient")


def _fill(write, pairing: Pairing, event: lifecycle.Event, decision: lifecycle.Decision, history: list,
          now: datetime, source: str, answers: dict | None, records: Sequence[TriggerRecord],
          mails: list[mail.Mail], leased: bool) -> list:
    """Add the transition's writes to the transaction, conditional on the pairing's version; the mails queued."""
    actions = []
    for name, value in decision.updates.items():
        attribute = getattr(Pairing, name)
        value = _stored(value)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    actions.append(Pairing.history.set(history))
    if any(isinstance(effect, RecordResponse) for effect in decision.effects):
        actions.append(Pairing.last_contact_at.set(now))
    write.update(pairing, actions=actions, condition=Pairing.version == pairing.version, add_version_condition=False)
    for item, condition in records:
        write.save(item, condition=condition)
    queued = [mail.queue(write, composed, leased=leased) for composed in mails]
    for effect in decision.effects:
        if isinstance(effect, AlertCommittee):
            write.save(_alert(pairing, effect))
            if concern := kind_for_alert(effect.kind):
                write.save(concerns.opened(pairing.cohort, pairing.id, concern, effect.text, pairing.expires_at))
        elif isinstance(effect, RecordResponse):
            write.save(_response(pairing, effect, event, now, source, answers))
    if decision.state in lifecycle.TERMINAL and pairing.state not in lifecycle.TERMINAL:
        # Freed once, when it ends: by an exit answer, the mentee's claim may be a new pairing's.
        write.delete(Claim(key=live_mentee_key(pairing.mentee_id)))
        write.delete(Claim(key=pairing.mentor_slot))
    if event.by.startswith("committee:"):
        details = {"reason": event.reason} if event.reason else {}
        if event.closure_reason is not None:
            details["closure_reason"] = event.closure_reason.value
        write.save(audit.entry(event.by.split(":", 1)[1], f"pairing_{event.kind}", pairing.id, details or None))
    return queued


def _people(pairing: Pairing) -> dict[str, dict]:
    return {"mentor": {"name": pairing.mentor_name, "email": pairing.mentor_email},
            "mentee": {"name": pairing.mentee_name, "email": pairing.mentee_email}}


def _alert(pairing: Pairing, effect: AlertCommittee) -> Alert:
    return new_alert(pairing.cohort, effect.kind.value, effect.severity.value, effect.text, pairing.id)


def _response(pairing: Pairing, effect: RecordResponse, event: lifecycle.Event, now: datetime,
              source: str, answers: dict | None) -> Response:
    return Response(pairing_id=pairing.id, at_id=f"{clock.iso(now)}#{secrets.token_hex(4)}",
                    participant=effect.participant, kind=effect.kind.value,
                    rating=int(effect.rating) if effect.rating is not None else None,
                    text=effect.text or None, answers=answers, source=source, trigger_id=event.trigger_id,
                    expires_at=pairing.expires_at)  # set once its cohort has closed: an answer goes with it


def _mails_for(effect: SendMail, pairing: Pairing, people: dict[str, dict]) -> list[mail.Mail]:
    context = {**effect.context, "mentor": people["mentor"], "mentee": people["mentee"], "pairing_id": pairing.id}
    if effect.to == (COMMITTEE,):
        return [mail.compose(effect.template.value, (settings().committee_address,), context, cohort=pairing.cohort)]
    return [_to_participant(effect.template, role, pairing, context)
            for role in effect.to if people[role].get("email")]


def _to_participant(template: Template, role: str, pairing: Pairing, context: dict) -> mail.Mail:
    """One participant's own mail; one that asks for an answer carries their own reply token."""
    personal, reply_to = {**context, "participant": context[role], "role": role,
                          "partner_goals": agreement.partner_goals_text(pairing.agreement, role)}, ()
    if template.asks:
        token = tokens.make_reply_token(signing_key(), tokens.ReplyAddress(pairing.id, role, template.asks),
                                        clock.now())
        personal["respond_token"] = token
        reply_to = (f"reply+{token}@{settings().reply_domain}",)
    return mail.compose(template.value, (context[role]["email"],), personal, reply_to=reply_to, cohort=pairing.cohort)


COMMITTEE_ACTIONS = {
    "pause": lifecycle.EventKind.COMMITTEE_PAUSE, "resume": lifecycle.EventKind.COMMITTEE_RESUME,
    "dissolve": lifecycle.EventKind.COMMITTEE_DISSOLVE, "extend": lifecycle.EventKind.COMMITTEE_EXTEND,
}


def committee_action(member: str, pairing_id: str, action: str, reason: str = "", days: int | None = None,
                     closure_reason: str | None = None) -> Outcome:
    """Pause, resume, dissolve (with a closure reason and an optional note, `reason`) or extend
    (by days) a pairing. Refuses as Invalid an unknown action or missing detail, and as
    lifecycle.TransitionRefused (a Conflict) what the pairing's state does not allow."""
    if action not in COMMITTEE_ACTIONS:
        raise Invalid(f"Unknown action. Use one of: {', '.join(COMMITTEE_ACTIONS)}.", field="action")
    note = agreement.bounded_note(reason, field="reason")
    closing = agreement.closure_reason(closure_reason) if closure_reason or action == "dissolve" else None
    try:
        event = lifecycle.Event(COMMITTEE_ACTIONS[action], f"committee:{member}", f"committee/{secrets.token_hex(8)}",
                                reason=note, days=days, closure_reason=closing)
    except ValueError as error:  # the event's own rules: a dissolve needs a reason, an extension days
        sentence = str(error)
        raise Invalid(f"{sentence[:1].upper()}{sentence[1:]}.", field="days" if action == "extend" else "reason") from None
    return apply_event(pairing_id, event)


# The schedule's daily tick.

TICK_RUNS_METRIC = "TickRuns"  # 1 per tick that ran to its end: the heartbeat alarm's metric (infra/)
TICK_FAILURES_METRIC = "TickPairingsFailed"  # pairings the tick could not handle today (alarmed on)
FAILING_DAYS_ALERT = 3  # a pairing the tick failed on this many days in a row is the committee's to know


@dataclass
class TickReport:
    due: int = 0
    applied: int = 0
    skipped: int = 0
    failed: int = 0
    items_read: int = 0


def tick(limit: int = 5000) -> TickReport:
    """Fire every timer that is due, found by a query on the due index (never a Scan).
    It reads the due pairings once each (the index projects the whole item).

    Each pairing stands alone: an error on one is logged (its id and the error's type),
    counted and skipped, and the others go on; a pairing that fails on several days in
    a row raises a committee alert. The mails are only queued: the outbox sweeper sends
    them, so the tick's time follows its writes, not SES."""
    report = TickReport()
    now = clock.now()
    schedules: dict[str, lifecycle.Schedule] = {}
    for pairing in Pairing.due.query(Pairing.TIMER, Pairing.next_due_at <= now, limit=limit):
        report.due += 1
        report.items_read += 1
        try:
            if pairing.cohort not in schedules:
                schedules[pairing.cohort] = cohort_schedule(pairing.cohort)
                report.items_read += 1
            outcome = apply_event(pairing.id, lifecycle.timer_event(view_of(pairing)), pairing=pairing,
                                  schedule=schedules[pairing.cohort], send_now=False)
        except (lifecycle.TransitionRefused, Conflict) as error:
            log.warning("timer on pairing %s not applied: %s", pairing.id, type(error).__name__)
            report.skipped += 1
            continue
        except Exception:  # noqa: BLE001 - one pairing's trouble must not stop the others' timers
            log.exception("timer on pairing %s failed", pairing.id)
            report.failed += 1
            _note_failure(pairing, now)
            continue
        report.applied += outcome.applied
        report.skipped += not outcome.applied
    metrics.emit({TICK_RUNS_METRIC: 1, TICK_FAILURES_METRIC: report.failed, "TickPairingsDue": report.due,
                  "TickPairingsApplied": report.applied})
    return report


def _note_failure(pairing: Pairing, now: datetime) -> None:
    """Count the days in a row the tick failed on the pairing; on the third, tell the committee."""
    today, yesterday = now.date().isoformat(), (now - timedelta(days=1)).date().isoformat()
    if pairing.tick_failed_on == today:
        return  # a second run on the same day is the same day
    days = int(pairing.tick_failures or 0) + 1 if pairing.tick_failed_on == yesterday else 1
    try:
        pairing.update(actions=[Pairing.tick_failures.set(days), Pairing.tick_failed_on.set(today)])
        if days == FAILING_DAYS_ALERT:
            new_alert(pairing.cohort, "tick_failing", DIGEST,
                      f"The daily check of this pairing has failed {days} days in a row, so its check-ins and "
                      "reminders are not going out. Whoever runs the system can find the error in the "
                      "fire_due_timers log by the pairing's id.", pairing.id).save()
    except Exception:  # noqa: BLE001 - the count is a courtesy; the failure itself is logged and counted
        log.exception("could not count the tick's failure on pairing %s", pairing.id)
