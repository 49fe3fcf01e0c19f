"""A matching proposal for the open cohort: who is in the pool, and the engine's answer.

The pool is every confirmed, eligible applicant not already in a live
pairing; mentors bring the capacity they have left, and a mentor with none
left stays in the pool with none, so that a mentee left over is told that the
compatible mentors are at capacity rather than that there are none. Past
partners (in any cohort, found by email) are passed to the engine so it never
proposes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain import limits, matching
from chalicelib.domain.refusals import Invalid
from chalicelib.services.applications import Status
from chalicelib.adapters.models import Cohort
from chalicelib.services.pairings import LIVE_STATES, cohort_criteria, cohort_pairings, matching_record, past_partner_emails
from chalicelib.adapters.store import cohort_applications


class ProposalInvalid(Invalid):
    pass


@dataclass(frozen=True)
class ProposalView:
    """The engine's proposal (as the API answers it) and who was in the pool, for the pages."""

    proposal: dict
    names: dict[str, str]
    mentor_ids: frozenset[str]  # mentors with room left
    mentee_ids: frozenset[str]
    libraries: dict[str, str]
    mentors_at_capacity: int


def matching_pool(cohort: Cohort) -> tuple[list[dict], list[dict], dict[str, dict]]:
    live = [pairing for pairing in cohort_pairings(cohort.id) if pairing.state in LIVE_STATES]
    paired_mentees = {pairing.mentee_id for pairing in live}
    load: dict[str, int] = {}
    for pairing in live:
        load[pairing.mentor_id] = load.get(pairing.mentor_id, 0) + 1
    ready = [a for a in cohort_applications(cohort.id, status=Status.ELIGIBLE) if a.email_confirmed_at is not None]
    mentor_ids_by_email = {a.email: a.id for a in ready if a.role == "mentor"}
    mentors, mentees, people = [], [], {}
    for application in ready:
        people[application.id] = application.answers
        if application.role == "mentor":
            left = int(application.answers.get("capacity", 1)) - load.get(application.id, 0)
            mentors.append(matching_record(application, capacity=max(left, 0)))
        elif application.id not in paired_mentees:
            past = [mentor_ids_by_email[email] for email in past_partner_emails(application.email)
                    if email in mentor_ids_by_email]
            mentees.append(matching_record(application, past))
    return mentors, mentees, people


def waiting(cohort: Cohort) -> tuple[frozenset[str], frozenset[str]]:
    """The ids of the mentors and of the mentees waiting to be matched."""
    mentors, mentees, _ = matching_pool(cohort)
    return frozenset(m["id"] for m in mentors), frozenset(m["id"] for m in mentees)


def _pairs(value: Any, name: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(i, str) for i in pair) for pair in value):
        raise ProposalInvalid(f"{name} must be a list of [mentor_id, mentee_id] pairs.", field=name)
    return [(mentor_id, mentee_id) for mentor_id, mentee_id in value]


def propose(cohort: Cohort, options: Any) -> ProposalView:
    if not isinstance(options, dict):
        raise ProposalInvalid('Send a JSON object: {"weights"?: {...}, "locks"?: [...], "forbids"?: [...]}.')
    criteria = cohort_criteria(cohort.id)
    try:
        # refused before the pool is read
        weights = matching.resolve_weights(options.get("weights"), criteria, most=limits.WEIGHT[1])
    except matching.MatchingError as error:
        raise ProposalInvalid(str(error), field="weights") from None
    locks, forbids = _pairs(options.get("locks"), "locks"), _pairs(options.get("forbids"), "forbids")
    mentors, mentees, people = matching_pool(cohort)
    try:
        proposal = matching.propose(mentors, mentees, weights=weights, locks=locks, forbids=forbids,
                                    criteria=criteria).as_dict()
    except matching.MatchingError as error:
        raise ProposalInvalid(str(error)) from None
    return ProposalView(proposal, {person_id: answers["name"] for person_id, answers in people.items()},
                        frozenset(m["id"] for m in mentors if m["capacity"] > 0), frozenset(m["id"] for m in mentees),
                        {person_id: answers.get("library_name", "") for person_id, answers in people.items()},
                        sum(m["capacity"] == 0 for m in mentors))
