"""Carrying people over into a new cohort: the invitations, and the answer to one.

When a cohort accepts applications the committee can invite the earlier cohorts'
unmatched mentees, mentors with free places and everyone who completed a pairing;
mentors who said they stay in the standing pool (the answer `standing_pool`) are
among them every year. Each person gets one mail of their own, with one link.

The job mechanism (issue 9) had not landed when this was written, so the sending is a
resumable service function: `continue_invitations` works from the cursor kept on the
cohort (`Cohort.carry_over`), and the daily tick calls it until it is done. Each
invitation's claim (`carry-over#<cohort>#<role>#<email>`) is written in the same
transaction as its mail, so a run cut short and run again mails nobody twice.

A "yes" copies the old application into the new cohort through intake: the roster
check and the confirmation mail apply as for a new applicant, and until the person
confirms it does not count (they can change it by sending the form again).
"""
from __future__ import annotations

import logging
from datetime import timedelta

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.models import Application, Claim, Cohort, Pairing
from chalicelib.adapters.store import all_cohorts, cohort_applications, conditions_failed, open_cohort, transaction
from chalicelib.domain import clock, lifecycle, tokens
from chalicelib.domain.cohort_phases import phase_of
from chalicelib.domain.refusals import Conflict, NotFound
from chalicelib.services import audit, intake, mail, settings_store
from chalicelib.services.applications import Status, claim_key

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(days=60)
BATCH = 200  # invitations per call: well inside one tick's time
DECLINED = "declined"


def _key(cohort_id: str, role: str, email: str) -> str:
    return f"carry-over#{cohort_id}#{role}#{email.lower()}"


def candidates(new_cohort_id: str) -> list[Application]:
    """The earlier cohorts' people to invite, one application per person and role (the latest),
    in a stable order (by application id) so a cursor can resume the walk."""
    chosen: dict[tuple[str, str], Application] = {}
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
            answers = application.answers
            free = int(answers.get("capacity", 1)) - live_load.get(application.id, 0) > 0
            if (application.id in completed or bool(answers.get("standing_pool"))
                    or (application.role == "mentee" and application.id not in matched)
                    or (application.role == "mentor" and free)):
                chosen.setdefault((application.email.lower(), application.role), application)
    return sorted(chosen.values(), key=lambda application: application.id)


def invite_previous(member: str) -> dict:
    """Start (or restart) the invitations into the accepting cohort, and send a first batch."""
    cohort = open_cohort()
    if cohort is None:
        raise Conflict("No cohort is taking applications: open one first.")
    cohort.update(actions=[Cohort.carry_over.set({"after": "", "requested_by": member})])
    audit.record(member, "carry_over_started", cohort.id)
    return continue_invitations()


def continue_invitations(batch: int = BATCH) -> dict:
    """Send the next batch of the accepting cohort's invitations from its cursor; the daily tick calls this."""
    cohort = open_cohort()
    if cohort is None or not cohort.carry_over:
        return {"invited": 0, "done": True}
    after = cohort.carry_over.get("after", "")
    todo = [a for a in candidates(cohort.id) if a.id > after]
    invited = 0
    for application in todo[:batch]:
        invited += _invite(cohort, application)
        after = application.id
    done = len(todo) <= batch
    cohort.update(actions=[Cohort.carry_over.remove() if done else Cohort.carry_over.set(
        {**cohort.carry_over, "after": after})])
    log.info("carry-over into %s: %d invited, done=%s", cohort.id, invited, done)
    return {"invited": invited, "done": done}


def _invite(cohort: Cohort, application: Application) -> int:
    token = tokens.make(signing_key(), "carry_over", bytes.fromhex(application.id) + cohort.id.encode(),
                        clock.now() + LINK_LIFETIME)
    invitation = mail.compose("carry_over_invitation", (application.email,), {
        "person_name": application.answers.get("name", ""), "role": application.role, "cohort_name": cohort.name,
        "token": token}, cohort=cohort.id)
    try:
        with transaction() as write:
            write.save(Claim(key=_key(cohort.id, application.role, application.email), owner=application.id),
                       condition=Claim.key.does_not_exist())
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
