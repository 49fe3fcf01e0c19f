"""Application intake: apply, and confirm the email address.

One live application per person, role and cohort is guaranteed by a claim
item written in the same transaction as the application and its
confirmation mail. One address gets at most quota.CONFIRMATIONS_PER_HOUR
confirmation mails an hour; beyond that the application is saved as usual
and the mail is not sent again.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError

from chalicelib.domain import clock, settings_document, tokens
from chalicelib.services import mail, quota, settings_store
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.models import Application, Claim
from chalicelib.services.membership import status_for
from chalicelib.domain.roster import normalise_membership_id
from chalicelib.domain.refusals import Conflict
from chalicelib.adapters.store import conditions_failed, open_cohort, transaction
from chalicelib.domain.validation import validate_application
from chalicelib.services.applications import Status, claim_key

log = logging.getLogger(__name__)

CONFIRM_LINK_LIFETIME = timedelta(days=14)


class ApplicationsClosed(Conflict):
    def __init__(self):
        super().__init__("Applications are closed at the moment.")


def submit(submitted: dict[str, list[str]]) -> Application:
    """Validate and store an application against the open cohort's form, and queue its confirmation mail."""
    form = settings_store.for_cohort(open_cohort())
    answers = validate_application(submitted, settings_document.application_fields(form.document))
    if form.cohort is None:
        raise ApplicationsClosed()
    for _ in range(3):  # a lost race re-reads the claim and tries again
        try:
            claim = Claim.get(claim_key(form.cohort, answers["role"], answers["email"]), consistent_read=True)
        except Claim.DoesNotExist:
            claim = None
        try:
            if claim is None:
                return create_application(form.cohort, answers, form_version=form.version)
            return _replace_unconfirmed(claim.owner, answers, form.version)
        except TransactWriteError as error:
            if not conditions_failed(error):
                raise
    raise Conflict("Your application was being changed at the same time. Please send it again.", field="email")


def create_application(cohort_id: str, answers: dict[str, Any], *, confirmed: bool = False,
                       form_version: int = 0) -> Application:
    """Store a new application with its claim, and the settings version whose form it
    answered; unless it arrives already confirmed (demo data), queue and send the confirmation mail."""
    now = clock.now()
    application = Application(
        id=uuid.uuid4().hex,
        cohort=cohort_id,
        role=answers["role"],
        cohort_role=f"{cohort_id}#{answers['role']}",
        email=answers["email"],
        membership_id=normalise_membership_id(answers["membership_id"]),
        status=status_for(answers["membership_id"], answers["email"]),
        answers=answers,
        form_version=form_version,
        created_at=now,
        updated_at=now,
        email_confirmed_at=now if confirmed else None,
    )
    with transaction() as write:
        write.save(Claim(claim_key(cohort_id, application.role, application.email), owner=application.id),
                   condition=Claim.key.does_not_exist())
        write.save(application, condition=Application.id.does_not_exist())
        queued = mail.queue(write, _confirmation_mail(application)) if not confirmed and _confirmation_allowed(
            application) else None
    log.info("application %s created", application.id)
    if queued:
        mail.send_queued(queued)
    return application


def _replace_unconfirmed(application_id: str, answers: dict[str, Any], form_version: int) -> Application:
    application = Application.get(application_id, consistent_read=True)
    if application.email_confirmed_at is not None and application.status != Status.WITHDRAWN:
        raise Conflict(
            f"You have already applied as a {application.role} this year with this email address, "
            "and confirmed it. To change your application, write to the committee.", field="email")
    application.answers = answers
    application.form_version = form_version
    application.membership_id = normalise_membership_id(answers["membership_id"])
    application.status = status_for(answers["membership_id"], answers["email"])
    application.email_confirmed_at = None
    application.updated_at = clock.now()
    with transaction() as write:
        write.save(application)
        queued = mail.queue(write, _confirmation_mail(application)) if _confirmation_allowed(application) else None
    log.info("application %s replaced before confirmation", application.id)
    if queued:
        mail.send_queued(queued)
    return application


def _confirmation_allowed(application: Application) -> bool:
    if quota.allow("confirm", application.email, quota.CONFIRMATIONS_PER_HOUR):
        return True
    log.info("application %s: its address had its confirmation mails for this hour", application.id)
    return False


def _confirmation_mail(application: Application) -> mail.Mail:
    link_token = tokens.make_for_id(signing_key(), "confirm", application.id, clock.now(), CONFIRM_LINK_LIFETIME)
    return mail.compose(
        "confirm_application",
        to=(application.email,),
        context={"application": application.answers, "confirm_token": link_token},
        cohort=application.cohort,
    )


def confirm(token: str) -> Application:
    """Mark the email confirmed; following the link again changes nothing."""
    application_id = tokens.read_id(signing_key(), "confirm", token, clock.now())
    try:
        application = Application.get(application_id, consistent_read=True)
    except Application.DoesNotExist:
        raise tokens.TokenError("This application no longer exists.") from None
    if application.email_confirmed_at is None:
        try:
            application.update(actions=[Application.email_confirmed_at.set(clock.now())],
                               condition=Application.email_confirmed_at.does_not_exist())
            log.info("application %s confirmed", application.id)
        except PynamoDBException:
            application.refresh(consistent_read=True)
    return application
