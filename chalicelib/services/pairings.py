"""Pairings: created when the committee approves pairs, then carried through
the program year by lifecycle.decide (the functional core).

This is the imperative shell. Each change loads the pairing, asks the core
what happens, and writes the new state, its history entry, the mails it
sends (outbox) and any claims it takes or frees in ONE conditional
transaction on the pairing's version. A lost race reloads and decides again.

Claims keep the program's promises under concurrency: `live-mentee#<id>`
(a mentee has at most one live pairing) and `mentor-slot#<id>#<n>` (a
mentor has at most `capacity` live pairings). They also make approving a pair
twice return the first pairing, which is what lets a job of many approvals
(approval_step) stop anywhere and go on.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError

from chalicelib.services import audit, jobs, mail, settings_store
from chalicelib.domain import clock, lifecycle, limits, matching, settings_document
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Application, Claim, Job, Pairing
from chalicelib.domain.refusals import Conflict, Invalid, NotFound, TooLarge
from chalicelib.services.applications import Status
from chalicelib.adapters.store import conditions_failed, transaction

log = logging.getLogger(__name__)

LIVE_STATES = frozenset(lifecycle.State) - lifecycle.TERMINAL
MAX_CAPACITY = limits.CAPACITY[1]  # the committee may give a mentor up to this many places
APPROVAL_JOB = "approve_pairs"
# Up to this many pairs are approved within the request: about ten calls a pair, some 3 s on
# AWS, well inside API Gateway's 29. More are approved by the job worker, a step at a time.
INLINE_PAIRS = 30
APPROVAL_STEP = 25
MAX_PAIRS = 4_000  # one approval's pairs are kept in its job record (DynamoDB items hold 400 KB)
MAX_ID_LENGTH = 40  # application ids are 32 hex digits


@dataclass(frozen=True)
class PairRequest:
    mentor_id: str
    mentee_id: str


class PairingRefused(Conflict):
    """One or more pairs cannot be approved; nothing was written."""

    def __init__(self, problems: list[dict]):
        super().__init__({"_body": "; ".join(problem["reason"] for problem in problems), "pairs": problems})
        self.problems = problems


def live_mentee_key(mentee_id: str) -> str:
    return f"live-mentee#{mentee_id}"


def mentor_slot_key(mentor_id: str, slot: int) -> str:
    return f"mentor-slot#{mentor_id}#{slot}"


def cohort_schedule(cohort_id: str) -> lifecycle.Schedule:
    """The cohort's program rhythm, from its program settings."""
    return settings_document.schedule_of(settings_store.current(cohort_id).document)


def cohort_criteria(cohort_id: str) -> tuple[matching.Criterion, ...]:
    """The cohort's matching criteria: the built-in ones and the committee's matching questions."""
    return settings_document.matching_criteria(settings_store.current(cohort_id).document)


def pairing_record(pairing: Pairing) -> dict:
    return {
        "id": pairing.id, "cohort": pairing.cohort, "mentor_id": pairing.mentor_id, "mentee_id": pairing.mentee_id,
        "mentor_name": pairing.mentor_name, "mentee_name": pairing.mentee_name,
        "state": pairing.state, "score": pairing.score, "reasons": pairing.reasons or [],
        "introduced_at": clock.iso(pairing.introduced_at),
        "next_due": pairing.next_due, "next_due_at": clock.iso(pairing.next_due_at) if pairing.next_due_at else None,
        "flags": list(pairing.flags or []),
        "liaison": pairing.liaison,
        "last_contact_at": clock.iso(pairing.last_contact_at) if pairing.last_contact_at else None,
        "history": pairing.history,
    }


def get_pairing(pairing_id: str) -> Pairing:
    try:
        return Pairing.get(pairing_id, consistent_read=True)
    except Pairing.DoesNotExist:
        raise NotFound(f"No pairing {pairing_id}.") from None


def cohort_pairings(cohort_id: str, state: str | None = None) -> list[Pairing]:
    return [pairing for pairing in Pairing.by_cohort.query(cohort_id) if state in (None, "", pairing.state)]


def past_partner_emails(mentee_email: str) -> set[str]:
    """The mentors a person was paired with as a mentee, in any cohort, in pairings that have ended."""
    keys = [key.id for key in Pairing.by_mentee_email.query(mentee_email)]
    return {pairing.mentor_email for pairing in Pairing.batch_get(keys)
            if pairing.state in lifecycle.TERMINAL} if keys else set()


# Approval.

def approve(member: str, requests: list[PairRequest]) -> list[Pairing]:
    """Create and introduce the pairs; pairs already live are returned as they are.

    Every pair is checked first; if any cannot be approved, none is written and
    PairingRefused lists why. Claims then guard against a concurrent approval."""
    checked = [_check(request) for request in requests]
    problems = [problem for problem in checked if isinstance(problem, dict)]
    if problems:
        raise PairingRefused(problems)
    seen: dict[str, Pairing] = {}
    created = []
    for mentor, mentee, existing in checked:
        if existing is not None or mentee.id in seen:
            created.append(existing or seen[mentee.id])
            continue
        pairing = _create(member, mentor, mentee)
        seen[mentee.id] = pairing
        created.append(pairing)
    return created


def approve_or_start(member: str, requests: list[PairRequest]) -> list[Pairing] | Job:
    """Approve a few pairs now (see approve), or start a job that approves many."""
    if len(requests) > MAX_PAIRS:
        raise TooLarge(f"Approve at most {MAX_PAIRS:,} pairs at once.", field="pairs")
    if any(len(r.mentor_id) > MAX_ID_LENGTH or len(r.mentee_id) > MAX_ID_LENGTH for r in requests):
        raise Invalid("That is not an application id.", field="pairs")
    if len(requests) <= INLINE_PAIRS:
        return approve(member, requests)
    return jobs.submit(APPROVAL_JOB, member, {"pairs": [f"{r.mentor_id}:{r.mentee_id}" for r in requests]},
                       total=len(requests))


def approval_step(job: Job) -> jobs.Progress:
    """Approve the job's next pairs. Unlike a request's all-or-nothing approval, a job approves
    each pair it can and lists the others: one stale pair must not hold back a thousand.
    A pair approved before (by this job, cut short, or by anyone) is counted, never made twice."""
    pairs = job.params["pairs"]
    start = int(job.cursor or 0)
    end = min(start + APPROVAL_STEP, len(pairs))
    problems = []
    for value in pairs[start:end]:
        request = PairRequest(*value.split(":", 1))
        checked = _check(request)
        if isinstance(checked, dict):
            problems.append(_problem_text(checked))
            continue
        mentor, mentee, existing = checked
        if existing is None:
            try:
                _create(job.requested_by, mentor, mentee)
            except Conflict as refusal:
                problems.append(_problem_text(_refusal(request, refusal.message)))
    finished = end >= len(pairs)
    return jobs.Progress(cursor=end, done=end, total=len(pairs), errors=tuple(problems), finished=finished,
                         result={"paired": _live_count(pairs)} if finished else None)


def _problem_text(refusal: dict) -> str:
    return f"{refusal['reason']} (mentor {refusal['mentor_id']}, mentee {refusal['mentee_id']})"


def _live_count(pairs: list[str]) -> int:
    """How many of the pairs are live pairings now: whoever approved them, however often."""
    live, pairs = 0, list(dict.fromkeys(pairs))
    for start in range(0, len(pairs), 100):
        chunk = [value.split(":", 1) for value in pairs[start:start + 100]]
        claims = {claim.key: claim.owner for claim in Claim.batch_get(
            [live_mentee_key(mentee_id) for _, mentee_id in chunk], consistent_read=True)}
        owners = [claims[live_mentee_key(mentee_id)] for _, mentee_id in chunk if live_mentee_key(mentee_id) in claims]
        mentors = {pairing.id: pairing.mentor_id for pairing in Pairing.batch_get(set(owners))} if owners else {}
        live += sum(1 for mentor_id, mentee_id in chunk
                    if mentors.get(claims.get(live_mentee_key(mentee_id), "")) == mentor_id)
    return live


def _refusal(request: PairRequest, reason: str) -> dict:
    return {"mentor_id": request.mentor_id, "mentee_id": request.mentee_id, "reason": reason}


def _check(request: PairRequest):
    applications = {a.id: a for a in Application.batch_get([request.mentor_id, request.mentee_id])}
    mentor, mentee = applications.get(request.mentor_id), applications.get(request.mentee_id)
    if mentor is None or mentor.role != "mentor":
        return _refusal(request, "No such mentor application.")
    if mentee is None or mentee.role != "mentee":
        return _refusal(request, "No such mentee application.")
    for person in (mentor, mentee):
        name = person.answers["name"]
        if person.status != Status.ELIGIBLE:
            return _refusal(request, f"{name}'s application is {person.status.replace('_', ' ')}, not eligible.")
        if person.email_confirmed_at is None:
            return _refusal(request, f"{name} has not confirmed their email address yet.")
    if mentor.cohort != mentee.cohort:
        return _refusal(request, "The mentor and the mentee applied in different cohorts.")
    existing = _live_pairing_of(mentee.id)
    if existing is not None:
        if existing.mentor_id == mentor.id:
            return mentor, mentee, existing
        return _refusal(request, f"{mentee.answers['name']} is already in a live pairing.")
    past = [mentor.id] if mentor.email in past_partner_emails(mentee.email) else []
    score, reasons = matching.score_pair(matching_record(mentor), matching_record(mentee, past),
                                         criteria=cohort_criteria(mentee.cohort))
    if score is None:
        return _refusal(request, f"This pair breaks a rule: {'; '.join(reasons)}.")
    if not _free_slots(mentor):
        existing = _live_pairing_of(mentee.id)  # this very pair may have been approved a moment ago
        if existing is not None and existing.mentor_id == mentor.id:
            return mentor, mentee, existing
        return _refusal(request, f"{mentor.answers['name']} is at capacity ({mentor.answers['capacity']} mentees).")
    return mentor, mentee, None


def matching_record(application: Application, past_partner_ids=(), capacity: int | None = None) -> dict:
    """The application as the matching engine reads it."""
    record = {**application.answers, "id": application.id, "past_partners": list(past_partner_ids)}
    if capacity is not None:
        record["capacity"] = capacity
    return record


def _live_pairing_of(mentee_id: str) -> Pairing | None:
    try:
        claim = Claim.get(live_mentee_key(mentee_id), consistent_read=True)
    except Claim.DoesNotExist:
        return None
    return get_pairing(claim.owner)


def taken_slots(mentor_id: str) -> set[int]:
    """The places of the mentor's capacity that live pairings hold (1 to MAX_CAPACITY)."""
    keys = [mentor_slot_key(mentor_id, slot) for slot in range(1, MAX_CAPACITY + 1)]
    return {int(claim.key.rsplit("#", 1)[1]) for claim in Claim.batch_get(keys, consistent_read=True)}


def _free_slots(mentor: Application) -> list[int]:
    taken = taken_slots(mentor.id)
    return [slot for slot in range(1, int(mentor.answers.get("capacity", 1)) + 1) if slot not in taken]


def _create(member: str, mentor: Application, mentee: Application) -> Pairing:
    now = clock.now()
    pairing_id = uuid.uuid4().hex
    schedule = cohort_schedule(mentee.cohort)
    view = lifecycle.introduce(pairing_id, now, schedule)
    score, reasons = matching.score_pair(matching_record(mentor), matching_record(mentee),
                                         criteria=cohort_criteria(mentee.cohort))
    for slot in _free_slots(mentor):
        pairing = Pairing(
            id=pairing_id, cohort=mentee.cohort, mentor_id=mentor.id, mentee_id=mentee.id,
            mentor_email=mentor.email, mentee_email=mentee.email,
            mentor_name=mentor.answers["name"], mentee_name=mentee.answers["name"], mentor_slot=mentor_slot_key(mentor.id, slot),
            score=score, reasons=list(reasons), state=view.state.value, version=view.version, introduced_at=now,
            next_due_at=view.next_due_at, next_due=view.next_due.value if view.next_due else None,
            history=[{"at": clock.iso(now), "event": "introduced", "from": None, "to": view.state.value,
                      "by": f"committee:{member}", "trigger_id": f"approve/{mentor.id}/{mentee.id}"}],
        )
        try:
            with transaction() as write:
                write.save(Claim(key=live_mentee_key(mentee.id), owner=pairing_id), condition=Claim.key.does_not_exist())
                write.save(Claim(key=pairing.mentor_slot, owner=pairing_id), condition=Claim.key.does_not_exist())
                write.save(pairing, condition=Pairing.id.does_not_exist())
                write.save(audit.entry(member, "pairing_approved", pairing_id,
                                       {"mentor_id": mentor.id, "mentee_id": mentee.id}))
                queued = mail.queue(write, introduction_mail(mentor, mentee))
        except TransactWriteError as error:
            if not conditions_failed(error):
                raise
            existing = _live_pairing_of(mentee.id)
            if existing is not None and existing.mentor_id == mentor.id:
                return existing  # the same pair, approved twice at once
            if existing is not None:
                raise Conflict(f"{mentee.answers['name']} was just paired by someone else.") from None
            continue  # another approval took this slot a moment ago: try the next
        log.info("pairing %s introduced", pairing_id)
        mail.send_queued(queued)
        return pairing
    existing = _live_pairing_of(mentee.id)
    if existing is not None and existing.mentor_id == mentor.id:
        return existing
    raise Conflict(f"{mentor.answers['name']} reached capacity a moment ago.")


def introduction_mail(mentor: Application, mentee: Application) -> mail.Mail:
    """One mail to both, to introduce them; it asks nothing, so it carries no reply token,
    and a reply to it reaches the committee (the partners have each other's address in it)."""
    return mail.compose(
        "introduction",
        to=(mentor.email, mentee.email),
        context={"mentor": mentor.answers, "mentee": mentee.answers},
        reply_to=(settings().committee_address,),
        cohort=mentee.cohort,
    )
