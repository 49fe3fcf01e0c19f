"""Background jobs: committee actions whose work grows with the cohort, done outside the request.

The request records a Job, starts the worker (adapters.job_worker: an asynchronous Lambda
invocation carrying the job's id) and answers at once. The worker takes the job's lease and
calls the kind's step function again and again. Each step does a bounded piece of work from
the job's cursor and returns the next cursor, which is written before the next step starts.
A worker that stops (an error, a timeout) loses at most the step it was in: run again, the
job goes on from its cursor. So every step must be safe to repeat: its writes are guarded
(a pairing's claims, a conditional update, a put of the same item), and a repeated step
changes nothing twice.

Which function steps which kind is the caller's table (services/job_kinds.py), so this
module imports none of the services that start jobs.
"""
from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.adapters import job_worker
from chalicelib.adapters.models import Job
from chalicelib.domain import clock
from chalicelib.domain.refusals import Conflict, NotFound, Refused
from chalicelib.services import audit

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)
LEASE = timedelta(minutes=2)  # longer than any one step takes
HAND_OVER = timedelta(seconds=60)  # a worker with less time left passes the job to a fresh invocation
STALLED_AFTER = timedelta(minutes=5)  # unleased and untouched this long: no worker has it (Lambda gave up)
KEEP_FOR = timedelta(days=30)  # a job (and its problems, which may name people) expires this long after it last ended or began
MAX_ERRORS = 100  # problems kept word for word; the rest are counted
MAX_ERROR_LENGTH = 300  # a problem may quote what was sent (a roster's line): the job's item stays small
STOPPED = "The work stopped before it finished. Run it again: it goes on where it stopped."


@dataclass(frozen=True)
class Progress:
    """What one step did: where the next one starts, and the problems it found.

    `finished` ends the job: done, or failed when `refused` (nothing more can be done,
    the errors say why). `result` is the outcome the job's page and API report."""

    cursor: Any
    done: int
    total: int
    errors: tuple[str, ...] = ()
    finished: bool = False
    refused: bool = False
    result: dict | None = None


StepFunction = Callable[[Job], Progress]


@dataclass
class InRequest:
    """A job small enough for its request: the same steps, run here, with no record kept."""

    kind: str
    requested_by: str
    params: dict
    cursor: Any = None
    done: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)


def run_in_request(step: StepFunction, member: str, params: dict) -> Progress:
    """Do every step now; a refusal is raised to the request as it is."""
    job = InRequest(kind="", requested_by=member, params=params)
    while True:
        progress = step(job)  # type: ignore[arg-type]  # a step reads only what InRequest has
        job.errors.extend(progress.errors)
        if progress.finished:
            return Progress(progress.cursor, progress.done, progress.total, tuple(job.errors), True,
                            progress.refused, progress.result)
        job.cursor, job.done, job.total = progress.cursor, progress.done, progress.total


# Starting.

def submit(kind: str, member: str, params: dict, total: int = 0, job_id: str | None = None) -> Job:
    """Record a job and start the worker. With a `job_id` (one derived from its input), a job
    already recorded under it is returned as it is, and not started twice."""
    now = clock.now()
    job = Job(id=job_id or uuid.uuid4().hex, kind=kind, state=QUEUED, requested_by=member, created_at=now,
              updated_at=now, params=params, total=total, done=0, errors=[], error_count=0, expires_at=now + KEEP_FOR)
    try:
        job.save(condition=Job.id.does_not_exist())
    except PutError as error:
        if job_id is None or error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return get(job_id)
    log.info("job %s (%s) recorded", job.id, kind)
    start(job)
    return job


def start(job: Job) -> None:
    try:
        job_worker.start(job.id)
    except Exception as error:  # noqa: BLE001 - the job waits, and its page offers to start it again
        log.warning("job %s could not be started: %s", job.id, type(error).__name__)
        _note_stop(job, "The work could not be started. Run it again.")


def rerun(member: str, job_id: str) -> Job:
    """Start a job that stopped (or never started) again; it goes on from its cursor."""
    job = get(job_id)
    now = clock.now()
    if job.finished_at is not None:
        raise Conflict("This job has finished; there is nothing to run again.")
    if job.lease_until is not None and job.lease_until > now:
        raise Conflict("This job is running now.")
    try:
        job.update(actions=[Job.state.set(QUEUED), Job.updated_at.set(now)],
                   condition=Job.finished_at.does_not_exist())
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        raise Conflict("This job finished meanwhile.") from None
    audit.record(member, "job_rerun", job.id, {"kind": job.kind})
    start(job)
    return job


def get(job_id: str) -> Job:
    job = find(job_id)
    if job is None:
        raise NotFound(f"No job {job_id}.")
    return job


def find(job_id: str) -> Job | None:
    try:
        return Job.get(job_id, consistent_read=True)
    except Job.DoesNotExist:
        return None


# Working: what the worker's Lambda function runs.

def run(job_id: str, steps: Mapping[str, StepFunction], time_left: Callable[[], timedelta]) -> str:
    """Step the job until it finishes or this invocation's time runs short; returns what happened."""
    job = _claim(job_id)
    if job is None:
        return "not taken"  # finished, unknown, or another invocation holds it
    step = steps.get(job.kind)
    if step is None:
        _checkpoint(job, Progress(job.cursor, int(job.done), int(job.total), (f"No worker knows jobs of kind {job.kind}.",),
                                  finished=True, refused=True))
        return FAILED
    while True:
        try:
            progress = step(job)
        except Refused as refusal:
            progress = Progress(job.cursor, int(job.done), int(job.total), tuple(_sentences(refusal.errors)),
                                finished=True, refused=True)
        except Exception as error:
            # The type only: an error's message may quote a record, and logs carry no personal data.
            log.error("job %s (%s) stopped in a step: %s", job.id, job.kind, type(error).__name__)
            _note_stop(job, f"{STOPPED} ({type(error).__name__} after {job.done} of {job.total})", release=True)
            raise  # Lambda retries the invocation; the retry goes on from the cursor
        job = _checkpoint(job, progress)
        if job is None:
            return "lease lost"
        if progress.finished:
            log.info("job %s (%s) %s", job.id, job.kind, job.state)
            return job.state
        if time_left() < HAND_OVER:
            _release(job)
            start(job)
            return "handed over"


def _claim(job_id: str) -> Job | None:
    try:
        job = Job.get(job_id, consistent_read=True)
    except Job.DoesNotExist:
        log.warning("job %s does not exist", job_id)
        return None
    now = clock.now()
    try:
        job.update(actions=[Job.state.set(RUNNING), Job.lease_owner.set(secrets.token_hex(8)),
                            Job.lease_until.set(now + LEASE), Job.updated_at.set(now)],
                   condition=Job.finished_at.does_not_exist()
                   & (Job.lease_until.does_not_exist() | (Job.lease_until < now)))
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return None
    return job


def _checkpoint(job: Job, progress: Progress) -> Job | None:
    now = clock.now()
    kept = list(job.errors or [])
    actions = [Job.cursor.set(progress.cursor), Job.done.set(progress.done), Job.total.set(progress.total),
               Job.updated_at.set(now)]
    if progress.errors:
        room = MAX_ERRORS - len(kept)
        actions += [Job.errors.set(kept + [_shortened(error) for error in progress.errors[:max(room, 0)]]),
                    Job.error_count.add(len(progress.errors))]
    if progress.finished:
        actions += [Job.state.set(FAILED if progress.refused else DONE), Job.finished_at.set(now),
                    Job.expires_at.set(now + KEEP_FOR), Job.lease_owner.remove(), Job.lease_until.remove()]
        if progress.result is not None:
            actions.append(Job.result.set(progress.result))
    else:
        actions.append(Job.lease_until.set(now + LEASE))
    try:
        job.update(actions=actions, condition=Job.lease_owner == job.lease_owner)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        log.warning("job %s: another invocation took it over", job.id)
        return None
    return job


def _release(job: Job) -> None:
    job.update(actions=[Job.lease_owner.remove(), Job.lease_until.remove(), Job.updated_at.set(clock.now())],
               condition=Job.lease_owner == job.lease_owner)


def _note_stop(job: Job, problem: str, release: bool = False) -> None:
    """Mark the job failed for now (not finished: running it again goes on)."""
    actions = [Job.state.set(FAILED), Job.updated_at.set(clock.now()),
               Job.errors.set([*(job.errors or [])[:MAX_ERRORS - 1], problem]), Job.error_count.add(1)]
    condition = Job.finished_at.does_not_exist()
    if release:
        actions += [Job.lease_owner.remove(), Job.lease_until.remove()]
        condition &= Job.lease_owner == job.lease_owner
    try:
        job.update(actions=actions, condition=condition)
    except Exception:  # noqa: BLE001 - the store is failing too: the stalled job shows as failed anyway
        log.warning("job %s: its stop could not be recorded", job.id)


def _shortened(error: str) -> str:
    return error if len(error) <= MAX_ERROR_LENGTH else error[:MAX_ERROR_LENGTH - 1] + "…"


def _sentences(errors: Mapping) -> list[str]:
    """A refusal's messages, with its lists (a roster's lines, refused pairs) one by one."""
    found = []
    for value in errors.values():
        for item in value if isinstance(value, list) else [value]:
            found.append(str(item.get("reason", item)) if isinstance(item, dict) else str(item))
    return found


# Erasure.

ERASED_PROBLEM = "(a problem that named a person since erased)"


def forget(words: Iterable[str]) -> int:
    """Replace every problem a job kept that quotes one of `words` (an erased person's address or
    membership number: a roster's line may quote them); returns how many jobs changed. Jobs
    are few (each expires KEEP_FOR after it ends), so they are scanned whole."""
    words = [word.lower() for word in words if word and len(word) >= 3]
    changed = 0
    for job in Job.scan(attributes_to_get=["id", "errors"]):
        errors = list(job.errors or [])
        kept = [ERASED_PROBLEM if any(word in error.lower() for word in words) else error for error in errors]
        if kept != errors:
            job.update(actions=[Job.errors.set(kept)])
            changed += 1
    return changed


# Reporting.

def state_of(job: Job) -> str:
    """The job's state; one that no worker holds and nobody has touched for a while is failed."""
    now = clock.now()
    if job.state in (QUEUED, RUNNING) and (job.lease_until is None or job.lease_until < now) \
            and job.updated_at < now - STALLED_AFTER:
        return FAILED
    return job.state


def can_run_again(job: Job) -> bool:
    return job.finished_at is None and state_of(job) == FAILED


def job_record(job: Job) -> dict:
    """The job as GET /admin/api/jobs/{id} answers it."""
    errors = list(job.errors or [])
    if job.finished_at is None and state_of(job) == FAILED and job.state != FAILED:
        errors.append(STOPPED)
    hidden = int(job.error_count or 0) - len(job.errors or [])
    if hidden > 0:
        errors.append(f"... and {hidden} more problems.")
    return {"id": job.id, "kind": job.kind, "state": state_of(job), "done": int(job.done or 0),
            "total": int(job.total or 0), "errors": errors, "result": job.result}
