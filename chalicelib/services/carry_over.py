"""Carrying people over into a new cohort: the invitations, and the answer to one.

When a cohort accepts applications the committee can invite the earlier cohorts'
unmatched mentees, mentors with free places and everyone who completed a pairing.
Mentors who said on their application that they are glad to stay in the standing pool
(the answer `standing_pool`) are invited without anyone asking, when a cohort opens
(services/cohorts.py); the daily tick makes sure that happened. Each person gets one
mail of their own, with one link.

The invitations are a background job (services/jobs.py). Its first step writes the list
of whom to invite to S3; each later step invites the next few. Each invitation's claim
(`carry-over#<cohort>#<role>#<email>`) is written in the same transaction as its mail,
so a step cut short and run again, two jobs at once or a second press of the button
mail nobody twice. The cohort keeps the id of its latest job of each scope
(`Cohort.carry_over`) for the cohorts page.

A "yes" copies the old application into the new cohort through intake: the roster
check and the confirmation mail apply as for a new applicant, and until the person
confirms it does not count (they can change it by sending the form again).
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.adapters import uploads
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.models import Application, Claim, Cohort, Job, Pairing
from chalicelib.adapters.store import all_cohorts, cohort_applications, conditions_failed, open_cohort, transaction
from chalicelib.domain import clock, lifecycle, tokens
from chalicelib.domain.cohort_phases import ACCEPTING, phase_of
from chalicelib.domain.refusals import Conflict, Invalid, NotFound
from chalicelib.domain.schema import BOTH_ROLES
from chalicelib.services import audit, intake, jobs, mail, settings_store
from chalicelib.services.applications import Status, claim_key

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(days=60)
# An invitation's claim (its key holds the address) outlives any cohort's time of accepting applications.
CLAIM_LIFETIME = timedelta(days=366)
REMEMBER_ATTEMPTS = 5
CARRY_OVER_JOB = "carry_over_invitations"
EVERYONE, STANDING_POOL = "everyone", "standing_pool"  # whom a job invites
SCOPES = (EVERYONE, STANDING_POOL)
INVITE_STEP = 50  # invitations per step: each is one transaction and one mail
INVITATION_LISTS = uploads.PREFIX + "carry-over/"
DAILY_TICK = "the daily tick"  # who asked, when the tick starts the standing pool's invitations
DECLINED = "declined"


def _key(cohort_id: str, role: str, email: str) -> str:
    return f"carry-over#{cohort_id}#{role}#{email.lower()}"


def forget(email: str) -> None:
    """Erasure: the person's invitation claims, whose keys hold their address."""
    for cohort in all_cohorts():
        for role in BOTH_ROLES:
            Claim(key=_key(cohort.id, role, email)).delete()


def candidates(new_cohort_id: str, scope: str = EVERYONE) -> list[Application]:
    """The earlier cohorts' people to invite, one application per person and role (the latest),
    in a stable order (by application id). Someone who applied to the new cohort already is
    left out. The standing pool is the mentors whose latest application says they stay in it."""
    chosen: dict[tuple[str, str], Application] = {}
    seen = {(a.email.lower(), a.role) for a in cohort_applications(new_cohort_id)}
    for cohort in all_cohorts():  # newest first: a person's latest application wins
        if cohort.id == new_cohort_id:
            continue
        pairings = list(Pairing.by_cohort.query(cohort.id))
        live_load: dict[str, int] = {}
        matched, completed = set(), set()  # a mentee whose pairings all ended early is unmatched
        for pairing in pairings:
            if pairing.state not in lifecycle.TERMINAL:
                live_load[pairing.mentor_id] = live_load.get(pairing.mentor_id, 0) + 1
                matched.add(pairing.mentee_id)
            if pairing.state == lifecycle.State.COMPLETED:
                completed |= {pairing.mentor_id, pairing.mentee_id}
                matched.add(pairing.mentee_id)
        for application in cohort_applications(cohort.id):
            if application.status != Status.ELIGIBLE or application.email_confirmed_at is None:
                continue
            person = (application.email.lower(), application.role)
            if person in seen:
                continue
            seen.add(person)
            answers = application.answers
            standing = application.role == "mentor" and answers.get("standing_pool") is True
            free = int(answers.get("capacity", 1)) - live_load.get(application.id, 0) > 0
            if standing or (scope == EVERYONE and (
                    application.id in completed
                    or (application.role == "mentee" and application.id not in matched)
                    or (application.role == "mentor" and free))):
                chosen[person] = application
    return sorted(chosen.values(), key=lambda application: application.id)


# Starting the invitations.

def invite_previous(member: str) -> Job:
    """Start the job that invites the earlier cohorts' people into the accepting cohort (the
    committee's button); while one is still going, that one is the answer."""
    cohort = open_cohort()
    if cohort is None:
        raise Conflict("No cohort is taking applications: open one first.")
    going = latest_job(cohort, EVERYONE)
    if going is not None and going.finished_at is None:
        return going
    job = jobs.submit(CARRY_OVER_JOB, member, {"cohort": cohort.id, "scope": EVERYONE})
    _remember(cohort, EVERYONE, job)
    audit.record(member, "carry_over_started", cohort.id)
    return job


def invite_standing_pool(member: str, cohort: Cohort) -> Job:
    """Start inviting the standing pool into a cohort that has just opened: one job per cohort,
    whoever asks (its id comes from the cohort's), so asking again starts nothing new."""
    job = jobs.submit(CARRY_OVER_JOB, member, {"cohort": cohort.id, "scope": STANDING_POOL},
                      job_id=_standing_pool_job_id(cohort.id))
    _remember(cohort, STANDING_POOL, job)
    return job


def ensure_standing_pool() -> str:
    """The daily tick's check that the accepting cohort's standing pool is being invited: it starts
    the job if opening the cohort could not, and runs it again if it stopped; returns what it did."""
    cohort = open_cohort()
    if cohort is None:
        return "no cohort accepting"
    job = latest_job(cohort, STANDING_POOL)
    if job is None and STANDING_POOL not in (cohort.carry_over or {}):
        invite_standing_pool(DAILY_TICK, cohort)
        return "started"
    if job is not None and jobs.can_run_again(job):
        try:
            jobs.rerun(DAILY_TICK, job.id)
        except Conflict:  # a worker took it up meanwhile
            return "nothing to do"
        return "started again"
    return "nothing to do"


def latest_job(cohort: Cohort, scope: str) -> Job | None:
    """The cohort's latest invitation job of this scope, while the job is kept (jobs.KEEP_FOR)."""
    job_id = (cohort.carry_over or {}).get(scope)
    return jobs.find(job_id) if job_id else None


def _remember(cohort: Cohort, scope: str, job: Job) -> None:
    """Keep the job's id with the cohort, on the value last read: a job of the other scope started
    at the same moment keeps its own link."""
    for _ in range(REMEMBER_ATTEMPTS):
        known = cohort.carry_over
        unchanged = Cohort.carry_over.does_not_exist() if known is None else Cohort.carry_over == known
        try:
            cohort.update(actions=[Cohort.carry_over.set({**(known or {}), scope: job.id})], condition=unchanged)
            return
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            cohort.refresh(consistent_read=True)
    raise Conflict("The cohort kept changing while the invitations started: reload the page to see them.")


def _standing_pool_job_id(cohort_id: str) -> str:
    return hashlib.sha256(f"standing-pool#{cohort_id}".encode()).hexdigest()[:32]


# The job.

def invitation_step(job: Job) -> jobs.Progress:
    """A step of the invitations: first the list of whom to invite (kept in S3), then the next
    INVITE_STEP of them. Safe to repeat: an invitation's claim is written with its mail."""
    cohort = _still_accepting(job)
    if job.params.get("scope") not in SCOPES:
        raise Invalid("These invitations are of no known kind.")
    cursor = job.cursor
    if cursor is not None and uploads.size(_list_key(job.id)) is None:
        cursor = None  # the list is gone (uploads are kept a day): make it again; nobody is mailed twice
    if cursor is None:
        people = [application.id for application in candidates(cohort.id, job.params["scope"])]
        uploads.put(_list_key(job.id), json.dumps(people).encode())
        invited = int((job.cursor or {}).get("invited", 0))
        return _progress({"next": 0, "invited": invited}, 0, len(people))
    people = json.loads(uploads.read(_list_key(job.id)))
    end = min(cursor["next"] + INVITE_STEP, len(people))
    chosen = sorted(Application.batch_get(people[cursor["next"]:end]), key=lambda application: application.id)
    invited = cursor["invited"] + sum(_invite(cohort, application) for application in chosen)
    return _progress({"next": end, "invited": invited}, end, len(people))


def _progress(cursor: dict, done: int, total: int) -> jobs.Progress:
    if done < total:
        return jobs.Progress(cursor, done, total)
    log.info("carry-over: %d invited of %d", cursor["invited"], total)
    return jobs.Progress(cursor, done, total, finished=True,
                         result={"invited": cursor["invited"], "skipped": max(total - cursor["invited"], 0)})


def _still_accepting(job: Job) -> Cohort:
    try:
        cohort = Cohort.get(job.params["cohort"], consistent_read=True)
    except Cohort.DoesNotExist:
        raise NotFound("The cohort of these invitations is not there any more.") from None
    if phase_of(cohort.status) != ACCEPTING:
        raise Conflict(f"Cohort {cohort.name} no longer takes applications, so the invitations stopped "
                       f"after {int(job.done or 0)} of {int(job.total or 0)} people.")
    return cohort


def _list_key(job_id: str) -> str:
    return f"{INVITATION_LISTS}{job_id}.json"


def _invite(cohort: Cohort, application: Application) -> int:
    """Mail one person their invitation, unless they were invited before; 1 if mailed."""
    if application.status != Status.ELIGIBLE:
        return 0  # withdrawn (or erased) since the list was made
    token = tokens.make(signing_key(), "carry_over", bytes.fromhex(application.id) + cohort.id.encode(),
                        clock.now() + LINK_LIFETIME)
    invitation = mail.compose("carry_over_invitation", (application.email,), {
        "person_name": application.answers.get("name", ""), "role": application.role, "cohort_name": cohort.name,
        "token": token}, cohort=cohort.id)
    try:
        with transaction() as write:
            write.save(Claim(key=_key(cohort.id, application.role, application.email), owner=application.id,
                             expires_at=clock.now() + CLAIM_LIFETIME), condition=Claim.key.does_not_exist())
            queued = mail.queue(write, invitation)
    except TransactWriteError as error:
        if conditions_failed(error) == [0]:
            return 0  # invited before (a run cut short, or twice asked): never twice
        raise
    mail.send_queued(queued)
    return 1


def read_invitation(token: str) -> tuple[Application, Cohort]:
    subject = tokens.read(signing_key(), "carry_over", token, clock.now())
    if len(subject) <= 16:
        raise tokens.TokenError("The link is not valid.")
    try:
        application = Application.get(subject[:16].hex())
        cohort = Cohort.get(subject[16:].decode())
    except (Application.DoesNotExist, Cohort.DoesNotExist, UnicodeDecodeError):
        raise NotFound("This invitation is no longer valid.") from None
    return application, cohort


def answer(token: str, yes: bool) -> Application | None:
    """A person's answer to their invitation: "yes" copies their application into the new cohort
    (unconfirmed until they confirm it, as a new applicant); "no" is kept, and nothing else happens."""
    old, cohort = read_invitation(token)
    if phase_of(cohort.status) != "accepting":
        raise intake.ApplicationsClosed()
    if not yes:
        Claim(key=_key(cohort.id, old.role, old.email)).update(actions=[Claim.owner.set(DECLINED)])
        return None
    try:
        existing = Claim.get(claim_key(cohort.id, old.role, old.email), consistent_read=True)
        return Application.get(existing.owner)  # said yes before, or applied anew: that application stands
    except (Claim.DoesNotExist, Application.DoesNotExist):
        pass
    form = settings_store.current(cohort.id)
    answers = {**old.answers, "email": old.email}
    try:
        return intake.create_application(cohort.id, answers, form_version=form.version)
    except TransactWriteError as error:
        if not conditions_failed(error):
            raise
        raise Conflict("Your application for this year was being made at the same time; open the link again.") from None
