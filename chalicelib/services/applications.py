"""Applications: their statuses, the claim that keeps one live per person, and their records.

This module owns the application vocabulary. Every other module takes the
statuses, `claim_key`, a lookup and the records the API and exports show from here.
"""
from __future__ import annotations

from enum import StrEnum

from chalicelib.adapters.models import Application, Response
from chalicelib.domain.refusals import NotFound


class Status(StrEnum):
    PENDING_VERIFICATION = "pending_verification"  # not (yet) found on the member roster
    ELIGIBLE = "eligible"
    WITHDRAWN = "withdrawn"


STATUSES = tuple(Status)


def claim_key(cohort: str, role: str, email: str) -> str:
    """One live application per person, role and cohort: the claim item's key."""
    return f"application#{cohort}#{role}#{email.lower()}"


def get_application(application_id: str) -> Application:
    try:
        return Application.get(application_id, consistent_read=True)
    except Application.DoesNotExist:
        raise NotFound(f"No application {application_id}.") from None


def application_record(application: Application) -> dict:
    return {
        "id": application.id,
        "cohort": application.cohort,
        "role": application.role,
        "status": application.status,
        "email_confirmed": application.email_confirmed_at is not None,
        "created_at": application.created_at.isoformat(),
        "answers": application.answers,
    }


def response_record(response: Response) -> dict:
    """A check-in, feedback or evaluation answer, as the report, the API and exports show it."""
    return {"pairing_id": response.pairing_id, "participant": response.participant, "kind": response.kind,
            "rating": int(response.rating) if response.rating is not None else None, "text": response.text or "",
            "answers": response.answers or {}, "source": response.source, "at": response.at_id.split("#", 1)[0]}


def pairing_responses(pairing_id: str) -> list[dict]:
    return [response_record(response) for response in Response.query(pairing_id)]
