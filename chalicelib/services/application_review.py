"""The committee's actions on one application: mark it eligible, withdraw it (with a reason, and a
kind mail to the applicant) or undo that while the cohort is open (and tell the applicant), set a
mentor's capacity."""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.domain.cohort_phases import ACCEPTING, MATCHING, phase_of
from chalicelib.adapters.models import Application, Claim, Cohort
from chalicelib.adapters.store import transaction
from chalicelib.domain.refusals import Conflict, Invalid
from chalicelib.services import audit, mail, membership, pairings
from chalicelib.services.applications import Status, claim_key, get_application

ACTIONS = ("mark_eligible", "withdraw", "undo_withdraw", "set_capacity")
MAX_REASON = 500


def withdrawal_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise Invalid("Say why the application is withdrawn: it is kept in the audit trail, never mailed.",
                      field="reason")
    if len(text) > MAX_REASON:
        raise Invalid(f"Keep the reason under {MAX_REASON} characters.", field="reason")
    return text


def cohort_is_open(cohort_id: str) -> bool:
    try:
        return phase_of(Cohort.get(cohort_id, consistent_read=True).status) in (ACCEPTING, MATCHING)
    except Cohort.DoesNotExist:
        return False


def act_on_application(by: str, application_id: str, action: str, capacity: int | None = None,
                       reason: str | None = None) -> Application:
    """Mark eligible by hand, withdraw (with a reason), undo a withdrawal, or change a mentor's capacity
    (checked at the edge against limits.CAPACITY: the committee may give a mentor more places than
    the form offers)."""
    application = get_application(application_id)
    if action == "undo_withdraw":
        return _undo_withdrawal(by, application)
    if action == "mark_eligible":
        if application.status != Status.PENDING_VERIFICATION:
            raise Conflict(f"This application is {application.status.replace('_', ' ')}, not waiting for verification.")
        application.status = Status.ELIGIBLE
    elif action == "withdraw":
        if application.status == Status.WITHDRAWN:
            return application
        reason = withdrawal_reason(reason)
        application.status = Status.WITHDRAWN
    elif action == "set_capacity":
        if application.role != "mentor":
            raise Invalid("Only mentors have a capacity.", field="capacity")
        if any(slot > capacity for slot in pairings.taken_slots(application.id)):
            raise Conflict(f"{application.answers['name']}'s live pairings already use more places than that. "
                           "Lower the capacity once one of them has ended.")
        application.answers = {**application.answers, "capacity": capacity}
    else:
        raise Invalid(f"Unknown action. Use one of: {', '.join(ACTIONS)}.", field="action")
    try:
        with transaction() as write:
            write.save(application)  # conditional on the version read above
            if action == "withdraw":  # a withdrawn application is not live: the person may apply again
                write.delete(Claim(key=claim_key(application.cohort, application.role, application.email)))
                queued = mail.queue(write, _applicant_mail("application_withdrawn", application))
            write.save(audit.entry(by, f"application_{action}", application.id,
                                   {"capacity": capacity} if action == "set_capacity"
                                   else {"reason": reason} if action == "withdraw" else None))
    except TransactWriteError:
        raise Conflict("The application changed while you were looking at it. Reload and try again.") from None
    if action == "withdraw":
        mail.send_queued(queued)
    return application


def _applicant_mail(template: str, application: Application) -> mail.Mail:
    return mail.compose(template, (application.email,),
                        {"application": {**application.answers, "role": application.role}}, cohort=application.cohort)


def _undo_withdrawal(by: str, application: Application) -> Application:
    """Make a withdrawn application live again, as eligible or waiting for verification as the
    roster says today; only while its cohort is open, and only if the person has not applied again."""
    if application.status != Status.WITHDRAWN:
        raise Conflict("This application is not withdrawn, so there is nothing to undo.")
    if not cohort_is_open(application.cohort):
        raise Conflict("The cohort is closed: a withdrawal can only be undone while the cohort is open.")
    application.status = membership.status_for(application.membership_id, application.email)
    claim = Claim(key=claim_key(application.cohort, application.role, application.email), owner=application.id)
    try:
        with transaction() as write:
            write.save(application)  # conditional on the version read above
            write.save(claim, condition=Claim.key.does_not_exist())
            write.save(audit.entry(by, "application_undo_withdraw", application.id))
            queued = mail.queue(write, _applicant_mail("application_restored", application))
    except TransactWriteError:
        raise Conflict(f"{application.answers.get('name', 'The applicant')} has applied again since, or the application "
                       "changed meanwhile: the withdrawal was not undone. Reload to see the applications.") from None
    mail.send_queued(queued)
    return application
