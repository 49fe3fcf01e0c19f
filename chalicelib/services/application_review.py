"""The committee's actions on one application: mark it eligible, withdraw it, set a mentor's capacity."""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters.models import Application, Claim
from chalicelib.adapters.store import transaction
from chalicelib.domain.refusals import Conflict, Invalid
from chalicelib.services import audit, pairings
from chalicelib.services.applications import Status, claim_key, get_application

ACTIONS = ("mark_eligible", "withdraw", "set_capacity")


def act_on_application(by: str, application_id: str, action: str, capacity: int | None = None) -> Application:
    """Mark eligible by hand, withdraw, or change a mentor's capacity (checked at the edge against
    limits.CAPACITY: the committee may give a mentor more places than the form offers)."""
    application = get_application(application_id)
    if action == "mark_eligible":
        if application.status != Status.PENDING_VERIFICATION:
            raise Conflict(f"This application is {application.status.replace('_', ' ')}, not waiting for verification.")
        application.status = Status.ELIGIBLE
    elif action == "withdraw":
        if application.status == Status.WITHDRAWN:
            return application
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
            write.save(audit.entry(by, f"application_{action}", application.id,
                                   {"capacity": capacity} if action == "set_capacity" else None))
    except TransactWriteError:
        raise Conflict("The application changed while you were looking at it. Reload and try again.") from None
    return application
