"""Keeping personal data no longer than the program needs it.

Cohorts: opening a new program year, and closing one. Closing freezes the
aggregate report (the committee keeps it) and sets a DynamoDB TTL on every
record of the cohort that holds personal data (applications, pairings, the
answers and replies), so DynamoDB deletes them `retention_months` later.
A large cohort is closed by the job worker, in the same steps (close_step).

People: when someone asks, the committee can export everything the system
holds about them, and erase it. Erasing withdraws them from the program (a
live pairing ends) and replaces the personal fields in place, so each
pairing's history stays consistent and the counts in the report stay true.
It also drops their address from the undeliverable list and from any mail
not yet sent or given up on, and every problem a background job kept that
quotes their address or membership number.

Every other table has its own expiry, set where its records are written (see
docs/deploy.md, "What is kept, and for how long").
"""
from __future__ import annotations

import secrets
from datetime import datetime

from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.services import audit, carry_over, jobs, mail, report, workflow
from chalicelib.domain import clock, lifecycle
from chalicelib.adapters.config import settings
from chalicelib.services.inbound import QUARANTINED
from chalicelib.services.applications import Status, application_record, claim_key, response_record
from chalicelib.adapters.models import (Application, Claim, Cohort, InboundMessage, Job, Member, Pairing, Response,
                                        UndeliverableAddress)
from chalicelib.services.membership import current_roster
from chalicelib.services.pairings import get_pairing
from chalicelib.domain.roster import normalise_membership_id
from chalicelib.domain.refusals import Conflict, Invalid, NotFound
from chalicelib.adapters.store import (ACCEPTING_CLAIM, CLOSED, cohort_size_at_most, conditions_failed, open_cohort,
                                      open_new_cohort, transaction)
from chalicelib.domain.cohort_phases import ACCEPTING, phase_of

ERASED = "(erased)"


# Cohorts.

def open_cohort_named(member: str, cohort_id: str, name: str) -> Cohort:
    cohort_id, name = cohort_id.strip(), name.strip()
    if not cohort_id or not name or len(cohort_id) > 40 or len(name) > 100:
        raise Invalid("Give the new cohort an id (up to 40 characters, e.g. 2027) and a name.")
    accepting = open_cohort()
    if accepting is not None:
        raise Conflict(f"Cohort {accepting.name} is taking applications. Move it on to matching first: "
                       "applications join the one accepting cohort.")
    try:
        cohort = open_new_cohort(cohort_id, name)
    except TransactWriteError as error:
        if conditions_failed(error) == [0]:
            raise Conflict("Another cohort was opened for applications meanwhile.") from None
        raise Conflict(f"There is already a cohort {cohort_id}.") from None
    audit.record(member, "cohort_opened", cohort_id)
    return cohort


CLOSE_JOB = "close_cohort"
INLINE_CLOSE = 60  # a cohort of up to this many applications is closed within the request
CLOSE_STEP = 25  # applications, or pairings with their answers and replies, per step


def close_or_start(member: str, cohort_id: str) -> datetime | Job:
    """Close a small cohort now (see close_cohort); start a job that closes a large one."""
    _open_cohort(cohort_id)
    if cohort_size_at_most(cohort_id, INLINE_CLOSE):
        return close_cohort(member, cohort_id)
    return jobs.submit(CLOSE_JOB, member, _close_params(cohort_id))


def close_cohort(member: str, cohort_id: str) -> datetime:
    """Freeze the report, schedule the cohort's personal data for deletion, and close it,
    in this request: the same steps the job worker takes for a large cohort."""
    _open_cohort(cohort_id)
    return datetime.fromisoformat(jobs.run_in_request(close_step, member, _close_params(cohort_id)).result[
        "personal_data_deleted_after"])


def _open_cohort(cohort_id: str) -> Cohort:
    try:
        cohort = Cohort.get(cohort_id, consistent_read=True)
    except Cohort.DoesNotExist:
        raise NotFound(f"No cohort {cohort_id}.") from None
    if cohort.status == CLOSED:
        raise Conflict(f"Cohort {cohort_id} is closed already.")
    return cohort


def _close_params(cohort_id: str) -> dict:
    now = clock.now()
    return {"cohort": cohort_id, "closed_at": clock.iso(now),
            "expires_at": clock.iso(clock.months_after(now, settings().retention_months))}


def close_step(job: Job) -> jobs.Progress:
    """One step of closing a cohort: freeze its report and count its records; then set the
    TTL on its applications, then on its pairings with their answers and replies, a page
    at a time; last, close it. The cohort closes last, so a close cut short leaves it open,
    and going on skips the records that already expire."""
    cohort_id = job.params["cohort"]
    expires = datetime.fromisoformat(job.params["expires_at"])
    cursor = job.cursor or {"phase": "freeze"}
    phase = cursor["phase"]
    done = int(job.done)
    if phase == "freeze":
        report.freeze(cohort_id)
        total = sum(Application.by_cohort_role.count(f"{cohort_id}#{role}") for role in ("mentor", "mentee"))
        total += Pairing.by_cohort.count(cohort_id)
        return jobs.Progress({"phase": "mentor"}, 0, total)
    if phase in ("mentor", "mentee"):
        page = Application.by_cohort_role.query(f"{cohort_id}#{phase}", limit=CLOSE_STEP,
                                                last_evaluated_key=cursor.get("last"))
        for application in page:
            if application.expires_at is None:  # its claim first: a step cut short between the two is repeated
                _expire_claim(claim_key(cohort_id, application.role, application.email), expires)
                application.update(actions=[Application.expires_at.set(expires)], add_version_condition=False)
            done += 1
        following = phase if page.last_evaluated_key else ("mentee" if phase == "mentor" else "pairings")
        return jobs.Progress({"phase": following, "last": page.last_evaluated_key}, done, _at_least(job, done))
    if phase == "pairings":
        page = Pairing.by_cohort.query(cohort_id, limit=CLOSE_STEP, last_evaluated_key=cursor.get("last"))
        for pairing in page:
            _expire_pairing(pairing, expires)
            done += 1
        following = "pairings" if page.last_evaluated_key else "close"
        return jobs.Progress({"phase": following, "last": page.last_evaluated_key}, done, _at_least(job, done))
    closed_at = datetime.fromisoformat(job.params["closed_at"])
    cohort = Cohort.get(cohort_id, consistent_read=True)
    if cohort.status != CLOSED:  # closed by this very step before, cut short after: nothing to do again
        try:
            with transaction() as write:  # a cohort closed while accepting gives up its claim
                write.update(cohort, actions=[Cohort.status.set(CLOSED), Cohort.closed_at.set(closed_at)],
                             condition=Cohort.status == cohort.status)
                if phase_of(cohort.status) == ACCEPTING:
                    write.delete(Claim(key=ACCEPTING_CLAIM),
                                 condition=Claim.key.does_not_exist() | (Claim.owner == cohort_id))
        except TransactWriteError as error:
            if not conditions_failed(error):
                raise
            raise Conflict(f"Cohort {cohort_id} was closed meanwhile.") from error
        audit.record(job.requested_by, "cohort_closed", cohort_id, {"personal_data_deleted_after": clock.iso(expires)})
    return jobs.Progress(cursor, done, _at_least(job, done), finished=True,
                         result={"personal_data_deleted_after": clock.iso(expires),
                                 "personal_data_deleted_on": expires.date().isoformat()})


def _at_least(job: Job, done: int) -> int:
    return max(int(job.total), done)  # records added since the count are closed too


def _expire_pairing(pairing: Pairing, expires: datetime) -> None:
    if pairing.expires_at is None:
        pairing.update(actions=[Pairing.expires_at.set(expires)])
    for response in Response.query(pairing.id):
        if response.expires_at is None:
            response.update(actions=[Response.expires_at.set(expires)])
    for message in InboundMessage.by_pairing.query(pairing.id):
        if message.expires_at is None:
            message.update(actions=[InboundMessage.expires_at.set(expires)])


def _expire_claim(key: str, expires: datetime) -> None:
    """The application's claim names the person's address in its key: it goes with the application."""
    try:
        Claim(key=key).update(actions=[Claim.expires_at.set(expires)], condition=Claim.key.exists())
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise  # a withdrawn application's claim is gone already: nothing to expire


# People.

def _their_pairings(email: str) -> list[tuple[str, Pairing]]:
    found = []
    for role, index in (("mentor", Pairing.by_mentor_email), ("mentee", Pairing.by_mentee_email)):
        keys = [key.id for key in index.query(email)]
        found += [(role, pairing) for pairing in Pairing.batch_get(keys)] if keys else []
    return found


def _their_applications(email: str) -> list[Application]:
    keys = [key.id for key in Application.by_email.query(email)]
    return list(Application.batch_get(keys)) if keys else []


def export_person(email: str) -> dict:
    """Everything the program holds about one person, as one JSON document."""
    email = email.strip().lower()
    applications = _their_applications(email)
    pairings = _their_pairings(email)
    roster = current_roster()
    members = list(Member.by_email.query(f"{roster}#{email}")) if roster else []
    return {
        "email": email,
        "exported_at": clock.iso(clock.now()),
        "applications": [application_record(a) for a in applications],
        "pairings": [{"id": p.id, "cohort": p.cohort, "role": role, "state": p.state,
                      "partner": p.mentee_name if role == "mentor" else p.mentor_name,
                      "introduced_at": clock.iso(p.introduced_at), "history": p.history} for role, p in pairings],
        "responses": [response_record(r) for role, p in pairings for r in Response.query(p.id) if r.participant == role],
        "replies": [{"pairing_id": m.pairing_id, "received_at": clock.iso(m.received_at), "subject": m.subject,
                     "text": m.text, "outcome": m.outcome}
                    for _, p in pairings for m in InboundMessage.by_pairing.query(p.id)
                    if (m.from_address or "").lower() == email],
        "roster": [{"membership_id": m.membership_id, "name": m.name, "expires": m.expires} for m in members],
        "undeliverable": [{"reason": u.reason, "detail": u.detail, "recorded_at": clock.iso(u.recorded_at)}
                          for u in UndeliverableAddress.batch_get([email])],
        "mail_not_sent": [{"template": m.template, "created_at": clock.iso(m.created_at), "reason": m.last_error}
                          for m in mail.parked_mail(limit=1000)
                          if email in (address.lower() for address in m.recipients or [])],
    }


def erase_person(member: str, email: str) -> dict:
    """Replace one person's personal fields everywhere; returns what was erased."""
    email = email.strip().lower()
    applications = _their_applications(email)
    membership_ids = {application.membership_id for application in applications if application.membership_id}
    pairings = _their_pairings(email)
    erased_email = f"erased-{secrets.token_hex(6)}@erased.invalid"  # unique, and says nothing of the person
    for application in applications:  # withdrawn: an erased person is in nobody's matching again
        with transaction() as write:
            write.delete(Claim(key=claim_key(application.cohort, application.role, email)))
            write.update(application, actions=[
                Application.answers.set({"role": application.role, "name": ERASED}),
                Application.email.set(erased_email), Application.membership_id.set(ERASED),
                Application.status.set(Status.WITHDRAWN),
            ], add_version_condition=False)
    for role, pairing in pairings:
        if pairing.state not in lifecycle.TERMINAL:  # they leave the program: the partner and committee are told
            workflow.apply_event(pairing.id, lifecycle.Event(
                lifecycle.EventKind.PARTICIPANT_WITHDREW, f"participant:{role}", f"erasure/{pairing.id}/{role}"))
        _erase_from_pairing(pairing.id, role, erased_email)
        for response in Response.query(pairing.id):
            if response.participant == role:
                response.update(actions=[Response.text.remove(), Response.answers.remove()])
        for message in InboundMessage.by_pairing.query(pairing.id):
            if (message.from_address or "").lower() == email:
                _erase_message(message, erased_email)
    # Their mail that reached no pairing (quarantined) is found by its sender.
    for message in InboundMessage.by_outcome.query(QUARANTINED, filter_condition=InboundMessage.from_address == email):
        _erase_message(message, erased_email)
    roster = current_roster()
    removed_members = 0
    if roster:
        for row in Member.by_email.query(f"{roster}#{email}"):
            Member(roster=roster, membership_id=normalise_membership_id(row.membership_id)).delete()
            membership_ids.add(row.membership_id)
            removed_members += 1
    jobs.forget({email, *membership_ids})
    carry_over.forget(email)
    UndeliverableAddress(email=email).delete()
    mails = mail.forget_address(email)
    counts = {"applications": len(applications), "pairings": len(pairings), "roster_rows": removed_members,
              "mails_not_sent": mails}
    audit.record(member, "person_erased", None, counts)  # who asked is not recorded again here
    return counts


def _erase_from_pairing(pairing_id: str, role: str, erased_email: str) -> None:
    """Replace the person's name, address and words on the pairing, unless a trigger changed
    it meanwhile: then read it again, so that trigger's history entry is kept."""
    name_field, email_field = (Pairing.mentor_name, Pairing.mentor_email) if role == "mentor" else (
        Pairing.mentee_name, Pairing.mentee_email)
    for _ in range(workflow.MAX_ATTEMPTS):
        pairing = get_pairing(pairing_id)
        try:
            pairing.update(actions=[name_field.set(ERASED), email_field.set(erased_email),
                                    Pairing.history.set(_without_reasons_of(f"participant:{role}", pairing.history))],
                           condition=Pairing.version == pairing.version)
            return
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
    raise Conflict("The pairing kept changing; please try again.")


def _without_reasons_of(by: str, history: list[dict]) -> list[dict]:
    """The history with the participant's own words (a rematch request's reason) replaced."""
    return [{**entry, "reason": ERASED} if entry.get("by") == by and entry.get("reason") else entry
            for entry in history]


def _erase_message(message: InboundMessage, erased_email: str) -> None:
    message.update(actions=[InboundMessage.from_address.set(erased_email), InboundMessage.subject.remove(),
                            InboundMessage.text.remove()])
