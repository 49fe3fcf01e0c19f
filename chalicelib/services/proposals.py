"""A matching proposal for the open cohort: who is in the pool, and the engine's answer.

The pool is every confirmed, eligible applicant not already in a live
pairing; mentors bring the capacity they have left, and a mentor with none
left stays in the pool with none, so that a mentee left over is told that the
compatible mentors are at capacity rather than that there are none. Past
partners (in any cohort, found by email) are passed to the engine so it never
proposes them.

A large cohort's proposal is made by the job worker (services/jobs.py) and kept
in S3 for a day (adapters/uploads.py), for its page and the approval to read.

Every proposal carries its fairness figures (domain.fairness.summary) against
the committee's threshold. The committee picks the plan: the best total
(matching.propose) or the fairest (matching.propose_fairest); asked to
compare, both are solved and their figures come side by side.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.adapters import uploads
from chalicelib.domain import fairness, limits, matching
from chalicelib.domain.refusals import Invalid, NotFound
from chalicelib.services import jobs
from chalicelib.services.applications import Status
from chalicelib.adapters.models import Cohort, Job
from chalicelib.services.pairings import LIVE_STATES, cohort_criteria, cohort_pairings, matching_record, past_partner_emails
from chalicelib.adapters.store import cohort_applications, cohort_size_at_most, required_cohort

PROPOSAL_JOB = "propose_matches"
# Reading the pool takes about two calls a mentee (their past partners); the dense solve of
# a cohort this size takes well under a second. Up to this many applications the proposal
# is made within the request (some 5 s on AWS); a larger cohort's is made by the job worker.
INLINE_PROPOSAL = 1_000
PROPOSALS = uploads.PREFIX + "proposals/"


class ProposalInvalid(Invalid):
    pass


BEST_TOTAL, FAIREST = "best_total", "fairest"
PLANS = {BEST_TOTAL: matching.propose, FAIREST: matching.propose_fairest}


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


def _checked(options: Any, criteria) -> tuple[dict[str, float], list[tuple[str, str]], list[tuple[str, str]]]:
    if not isinstance(options, dict):
        raise ProposalInvalid('Send a JSON object: {"weights"?: {...}, "locks"?: [...], "forbids"?: [...]}.')
    try:
        weights = matching.resolve_weights(options.get("weights"), criteria, most=limits.WEIGHT[1])
    except matching.MatchingError as error:
        raise ProposalInvalid(str(error), field="weights") from None
    return weights, _pairs(options.get("locks"), "locks"), _pairs(options.get("forbids"), "forbids")


def fits_in_request(cohort: Cohort) -> bool:
    return cohort_size_at_most(cohort.id, INLINE_PROPOSAL)


def propose_or_start(member: str, cohort: Cohort, options: Any) -> ProposalView | Job:
    """Propose now for a cohort of up to INLINE_PROPOSAL applications; else start a job that does."""
    _checked(options, cohort_criteria(cohort.id))  # a bad option is refused now, not by the job
    fairness_options(options)
    if fits_in_request(cohort):
        return propose(cohort, options)
    return jobs.submit(PROPOSAL_JOB, member, {"cohort": cohort.id, "options": options}, total=1)


def proposal_step(job: Job) -> jobs.Progress:
    """The whole proposal in one step: the engine's solve cannot be cut in two, and making it again is harmless."""
    view = propose(required_cohort(job.params["cohort"]), job.params["options"])
    uploads.put(_stored_key(job.id), json.dumps({**asdict(view), "options": job.params["options"]},
                                                default=sorted).encode())
    return jobs.Progress(None, 1, 1, finished=True, result={
        "pairs": len(view.proposal["pairs"]), "unmatched_mentees": len(view.proposal["unmatched_mentees"])})


def stored(job_id: str, cohort_id: str | None = None) -> tuple[ProposalView, dict]:
    """A proposal the job worker made (for the cohort, when one is named), and the options it was made with."""
    job = jobs.find(job_id)
    if (job is None or job.kind != PROPOSAL_JOB or job.state != jobs.DONE or cohort_id not in (None, job.params.get("cohort"))
            or uploads.size(_stored_key(job.id)) is None):
        raise NotFound("That proposal is not there (proposals are kept for a day). Please make it again.")
    document = json.loads(uploads.read(_stored_key(job.id)))
    view = ProposalView(document["proposal"], document["names"], frozenset(document["mentor_ids"]),
                        frozenset(document["mentee_ids"]), document["libraries"], document["mentors_at_capacity"])
    return view, document["options"]


def _stored_key(job_id: str) -> str:
    return f"{PROPOSALS}{job_id}.json"


def fairness_options(options: dict) -> tuple[str, bool, int]:
    """(plan, compare, threshold) from the options, refused with the field to fix."""
    plan = options.get("plan") or BEST_TOTAL
    if plan not in PLANS:
        raise ProposalInvalid(f"plan is {BEST_TOTAL!r} or {FAIREST!r}.", field="plan")
    if options.get("compare") not in (None, True, False):
        raise ProposalInvalid("compare is true or false.", field="compare")
    try:
        threshold = fairness.threshold_of(options.get("threshold"))
    except Invalid as refusal:
        raise ProposalInvalid(refusal.errors) from None
    return plan, bool(options.get("compare")), threshold


def propose(cohort: Cohort, options: Any) -> ProposalView:
    """options: {"weights"?, "locks"?, "forbids"?, "threshold"? (0-100, default 50),
    "plan"? ("best_total" or "fairest"), "compare"? (true: both plans' figures in "comparison")}."""
    criteria = cohort_criteria(cohort.id)
    weights, locks, forbids = _checked(options, criteria)  # refused before the pool is read
    plan, compare, threshold = fairness_options(options)
    mentors, mentees, people = matching_pool(cohort)
    try:
        solved = {name: PLANS[name](mentors, mentees, weights=weights, locks=locks, forbids=forbids, criteria=criteria)
                  for name in (PLANS if compare else (plan,))}
    except matching.MatchingError as error:
        raise ProposalInvalid(str(error)) from None
    figures = {name: fairness.summary(scores_of(proposal), threshold) for name, proposal in solved.items()}
    proposal = {**solved[plan].as_dict(), "plan": plan, "fairness": figures[plan]}
    if len(solved) > 1:
        proposal["comparison"] = figures
    return ProposalView(proposal, {person_id: answers["name"] for person_id, answers in people.items()},
                        frozenset(m["id"] for m in mentors if m["capacity"] > 0), frozenset(m["id"] for m in mentees),
                        {person_id: answers.get("library_name", "") for person_id, answers in people.items()},
                        sum(m["capacity"] == 0 for m in mentors))


def scores_of(proposal: matching.Proposal) -> list[int]:
    return [pair.score for pair in proposal.pairs]
