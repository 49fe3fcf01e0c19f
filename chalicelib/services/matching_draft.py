"""The committee's changes to the matching proposal, kept with the cohort as a draft.

A draft holds the pairs to keep together (locks) and the pairs never to
propose (forbids). It lasts until the committee approves or clears it. Every
change bumps the draft's revision, and every write is conditional on the
revision it read: two members changing it at once cannot lose each other's
change, and an approval reviewed against one revision is refused once the
draft has moved on, so what is sent is exactly the list the member confirmed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.models import Cohort, Job, Pairing
from chalicelib.domain import clock, limits
from chalicelib.domain.refusals import Conflict, Invalid, NotFound, TooLarge
from chalicelib.services import audit, pairings, proposals
from chalicelib.services.pairings import PairRequest

MAX_CHANGES = 300  # locks and forbids together: a committee's real edits, far below DynamoDB's item limit

Pair = tuple[str, str]  # (mentor_id, mentee_id)


class DraftChanged(Conflict):
    """The draft is not the one the member reviewed."""


@dataclass(frozen=True)
class Draft:
    revision: int = 0
    locks: tuple[Pair, ...] = ()
    forbids: tuple[Pair, ...] = ()
    updated_by: str = ""

    @property
    def empty(self) -> bool:
        return not self.locks and not self.forbids


@dataclass(frozen=True)
class DraftedProposal:
    """The proposal under the draft, and what the page needs to explain it."""

    view: proposals.ProposalView
    draft: Draft
    stale: frozenset[Pair]  # draft entries naming someone no longer waiting to be matched
    moved: dict[str, str | None] = field(default_factory=dict)  # mentee -> their mentor before the draft, for pairs it changed
    problem: str = ""  # why the draft's locks could not be kept (the proposal then keeps only its forbids)


def current(cohort_id: str) -> Draft:
    try:
        cohort = Cohort.get(cohort_id, consistent_read=True)
    except Cohort.DoesNotExist:
        raise NotFound("No such cohort.") from None
    stored = cohort.matching_draft or {}
    return Draft(int(cohort.matching_draft_revision or 0), _pairs(stored.get("locks")), _pairs(stored.get("forbids")),
                 stored.get("updated_by", ""))


def _pairs(stored) -> tuple[Pair, ...]:
    return tuple((mentor_id, mentee_id) for mentor_id, mentee_id in stored or ())


def parse_pair(value: str) -> Pair:
    """A form's "mentor_id:mentee_id"."""
    mentor_id, _, mentee_id = str(value).partition(":")
    if not mentor_id or not mentee_id or max(len(mentor_id), len(mentee_id)) > limits.MAX_ID:
        raise Invalid("Choose a mentor and a mentee.", field="pair")
    return mentor_id, mentee_id


# Changes. Each reads the draft, checks the change against the cohort, and saves it on that revision.

def keep_together(cohort: Cohort, member: str, pair: Pair) -> Draft:
    """Lock the pair; a mentee has one lock, so this replaces any other lock of theirs, and any forbid of this pair."""
    draft = current(cohort.id)
    locks = [lock for lock in draft.locks if lock[1] != pair[1]] + [pair]
    forbids = [forbid for forbid in draft.forbids if forbid != pair]
    _check(cohort, [pair], locks, forbids)
    return _save(cohort.id, member, draft, locks, forbids, "keep_together", pair)


def never_pair(cohort: Cohort, member: str, pair: Pair) -> Draft:
    """Forbid the pair; if it was kept together, it no longer is."""
    draft = current(cohort.id)
    _require_waiting(proposals.waiting(cohort), [pair])
    forbids = [forbid for forbid in draft.forbids if forbid != pair] + [pair]
    return _save(cohort.id, member, draft, [lock for lock in draft.locks if lock != pair], forbids, "never_pair", pair)


def remove(cohort: Cohort, member: str, pair: Pair) -> Draft:
    draft = current(cohort.id)
    if pair not in draft.locks and pair not in draft.forbids:
        raise Conflict("That change is no longer in the draft.")
    return _save(cohort.id, member, draft, [lock for lock in draft.locks if lock != pair],
                 [forbid for forbid in draft.forbids if forbid != pair], "remove", pair)


def clear(cohort: Cohort, member: str) -> Draft:
    return _save(cohort.id, member, current(cohort.id), [], [], "clear", None)


def replace(cohort: Cohort, member: str, revision: int, locks: list[Pair], forbids: list[Pair]) -> Draft:
    """The whole draft at once (the JSON API), on the revision the caller read."""
    _check_size(locks, forbids)  # before anything is read
    draft = current(cohort.id)
    if draft.revision != revision:
        raise DraftChanged(f"The draft is at revision {draft.revision}, not {revision}: read it again.")
    _check(cohort, locks + forbids, locks, forbids)
    return _save(cohort.id, member, draft, locks, forbids, "replace", None)


def _require_waiting(waiting: tuple[frozenset, frozenset], pairs) -> None:
    mentors, mentees = waiting
    for mentor_id, mentee_id in pairs:
        if mentor_id not in mentors or mentee_id not in mentees:
            raise Invalid("Choose a mentor and a mentee who are waiting to be matched.", field="pair")


def _check(cohort: Cohort, new: list[Pair], locks: list[Pair], forbids: list[Pair]) -> None:
    """The new entries name people waiting to be matched, and the engine can keep the locks (else it says why)."""
    waiting = proposals.waiting(cohort)
    _require_waiting(waiting, new)
    mentors, mentees = waiting

    def active(pairs):  # entries naming someone matched or withdrawn since are kept, and left out
        return [(mentor_id, mentee_id) for mentor_id, mentee_id in pairs if mentor_id in mentors and mentee_id in mentees]

    proposals.propose(cohort, _options(active(locks), active(forbids)))


def _options(locks, forbids) -> dict:
    return {"locks": [list(pair) for pair in locks], "forbids": [list(pair) for pair in forbids]}


def _check_size(locks, forbids) -> None:
    if len(set(locks)) + len(set(forbids)) > MAX_CHANGES:
        raise TooLarge(f"A draft keeps at most {MAX_CHANGES} locks and forbids together. "
                       "Remove some, or approve what is ready first.")


def _save(cohort_id: str, member: str, before: Draft, locks, forbids, action: str, pair: Pair | None) -> Draft:
    locks, forbids = list(dict.fromkeys(locks)), list(dict.fromkeys(forbids))
    _check_size(locks, forbids)
    revision = before.revision + 1
    read = (Cohort.matching_draft_revision == before.revision) if before.revision \
        else Cohort.matching_draft_revision.does_not_exist()
    stored = {"locks": [list(p) for p in locks], "forbids": [list(p) for p in forbids],
              "updated_by": member, "updated_at": clock.iso(clock.now())}
    try:
        Cohort(id=cohort_id).update(actions=[Cohort.matching_draft.set(stored), Cohort.matching_draft_revision.set(revision)],
                                    condition=Cohort.id.exists() & read)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise DraftChanged("Another committee member changed the draft a moment ago, so nothing was saved. "
                               "The page shows the draft as it is now.") from None
        raise
    audit.record(member, f"matching_draft.{action}", cohort_id,
                 {"revision": revision, **({"mentor_id": pair[0], "mentee_id": pair[1]} if pair else {})})
    return Draft(revision, tuple(locks), tuple(forbids), member)


# The proposal under the draft. `choice` is the committee's fairness choice: {"plan"?, "threshold"?, "compare"?}.

def _active(cohort: Cohort, draft: Draft) -> tuple[dict, frozenset[Pair]]:
    """The draft as proposal options, without the entries naming someone no longer waiting (returned apart)."""
    mentors, mentees = proposals.waiting(cohort)
    stale = frozenset(pair for pair in draft.locks + draft.forbids if pair[0] not in mentors or pair[1] not in mentees)
    return _options([p for p in draft.locks if p not in stale], [p for p in draft.forbids if p not in stale]), stale


def drafted_proposal(cohort: Cohort, choice: dict | None = None) -> DraftedProposal:
    choice = dict(choice or {})
    proposals.fairness_options(choice)  # a bad choice is refused before anything is solved
    draft = current(cohort.id)
    alone = {key: value for key, value in choice.items() if key != "compare"}
    if draft.empty:
        return DraftedProposal(proposals.propose(cohort, choice), draft, frozenset())
    engine_alone = proposals.propose(cohort, alone)
    options, stale = _active(cohort, draft)
    problem = ""
    try:
        view = proposals.propose(cohort, {**options, **choice})
    except proposals.ProposalInvalid as error:  # the pool changed under a lock: show it, keep the forbids
        view = proposals.propose(cohort, {**options, "locks": [], **choice})
        problem = f"A lock in the draft cannot be kept: {error}"
    before = {pair["mentee_id"]: pair["mentor_id"] for pair in engine_alone.proposal["pairs"]}
    moved = {pair["mentee_id"]: before.get(pair["mentee_id"]) for pair in view.proposal["pairs"]
             if before.get(pair["mentee_id"]) != pair["mentor_id"]}
    return DraftedProposal(view, draft, stale, moved, problem)


def start_proposal(cohort: Cohort, member: str, choice: dict) -> proposals.ProposalView | Job:
    """The proposal under the draft, made by the job worker for a large cohort (see proposals.propose_or_start)."""
    options, _ = _active(cohort, current(cohort.id))
    return proposals.propose_or_start(member, cohort, {**options, **choice})


def stored_proposal(cohort: Cohort, job_id: str) -> DraftedProposal:
    """A proposal the job worker made under the draft. Which pairs the draft moved is not worked out (that would
    be a second solve), so every pair starts ticked; if the draft changed since, the page says so."""
    view, made_with = proposals.stored(job_id, cohort.id)
    draft = current(cohort.id)
    options, stale = _active(cohort, draft)
    changed = [sorted(map(tuple, made_with.get(key) or [])) for key in ("locks", "forbids")] != \
        [sorted(map(tuple, options[key])) for key in ("locks", "forbids")]
    problem = ("The draft changed after this proposal was made: make the proposal again to see the changes."
               if changed else "")
    return DraftedProposal(view, draft, stale, {}, problem)


# Approval: the reviewed list, on the reviewed revision.

def approve_reviewed(cohort: Cohort, member: str, revision: int, pairs: list[Pair]) -> list[Pairing] | Job:
    """Approve exactly the pairs the member reviewed, if the draft is still the one they reviewed against;
    then the draft is spent (a draft changed since is kept: it is someone's newer work).

    Many pairs are approved by a job (pairings.approve_or_start). The draft is then kept: until the job is
    done, it is the record of what the committee chose; once it is, the approved people are no longer
    waiting, so the page shows their entries as such, and the committee clears the draft."""
    if not pairs:
        raise Invalid("Tick at least one pair to approve.", field="pair")
    draft = current(cohort.id)
    if draft.revision != revision:
        raise DraftChanged("Nothing was sent: the draft changed after you reviewed the list. "
                           "Here is the proposal as it is now; review it again.")
    ruled_out = set(pairs) & set(draft.forbids)
    if ruled_out:
        raise Invalid("A pair in the list is one the draft says never to pair; nothing was sent.", field="pair")
    approved = pairings.approve_or_start(member, [PairRequest(mentor_id, mentee_id) for mentor_id, mentee_id in pairs])
    if not draft.empty and not isinstance(approved, Job):
        _spend(cohort.id, revision)
    return approved


def _spend(cohort_id: str, revision: int) -> None:
    try:
        Cohort(id=cohort_id).update(actions=[Cohort.matching_draft.remove(), Cohort.matching_draft_revision.set(revision + 1)],
                                    condition=Cohort.matching_draft_revision == revision)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
