"""Whole-cohort matching: who should mentor whom, and why.

What lives here: the typed `Participant` built from an application, the
scoring criteria and hard rules (each declared once, in `CRITERIA` and
`RULES`), and `propose`, which solves the cohort exactly as an assignment
problem over mentor capacity slots. `score_pair` scores one pair the same way;
`greedy_baseline` is the naive method the benchmark and tests compare against;
`propose_fairest` is the fairness alternative (the lowest pair score as high
as possible for as many mentees), over the same solvers.

What must not: I/O of any kind, and heavy imports at module load. numpy and
scipy load inside the functions that build and solve the score matrix, so a
Lambda that imports this module but never matches starts fast.

The score of a pair (0-100) is the weighted mean of the criteria's fits (each
0-1); a criterion that does not apply to a pair (region, unless both would
meet in person) leaves the mean. Criteria:

- library_type: the type the mentee wants is their `preferred_library_type`,
  or their own type when they said "any". A mentor of that type fits fully;
  a mentor of another type fits half if they said they are glad to mentor
  across types (`cross_type_ok`), and not at all otherwise. Such a mentor is
  only ruled out (a hard rule) when the mentee asked for a specific type.
- interests: the share of the mentee's interests that the mentor also lists.
- experience: the mentor's extra years, full marks from 5 years on.
- career_stage: a mentor further along (student < new professional = support
  staff < mid-career < senior) fits fully, one at the same stage half.
- region: same region fits, another or an unknown one does not; applies only
  when both would meet in person.
- communication: the share of the mentee's ways to communicate that the
  mentor also offers.

The committee's own choice questions can join these (see `question_criterion`):
"same answer" fits fully when both gave the same answer, "overlapping
answers" by the share of the mentee's answers the mentor also gave. Callers
pass the cohort's criteria (`CRITERIA` by default); the interests criterion
can be rebuilt with the cohort's topic labels (`interests_criterion`).

Hard rules, never broken: a shared way to communicate; the mentor has at
least the mentee's years of experience; the library type rule above; not the
same library (conflict of interest); not past partners; not a pair the
committee forbade; mentor capacity. Committee locks are kept, and a lock
that breaks a rule is a `MatchingError`.

How the cohort is solved: scores are computed with numpy a chunk of mentees
at a time, each criterion a table of its mentee key values × mentors
(_Scorer), so that no mentees × mentors matrix is needed; mostly as integer
codes of which value each criterion's fit takes, looked up in a table of
every combination's score (_ScoreCodes). A small cohort (below
_SPARSE_FROM_CELLS mentees × mentor slots: about 700 × 700 when they are as
many, 3,000 × 2,000 otherwise) goes to
linear_sum_assignment on the dense assignment matrix of mentees against slots
(_cost_matrix); a larger one to the sparse solver (_sparse_assignment):
column generation over the pairs that can matter, with LP duals proving that
no pair left out could improve the solution; each of its solves after the
first starts from the last duals. It holds nothing of size mentees × mentors,
except the int16 scores of a cohort of at most _KEPT_SCORE_CELLS pairs (8 MB),
kept between its scans. Both are exact and optimise the
same objective; among equally good solutions each picks deterministically,
but not necessarily the same one. Reasons are written only for the pairs
chosen, and for the mentees left over.
"""
from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property, lru_cache, partial
from operator import attrgetter
from types import MappingProxyType

from chalicelib.domain.refusals import Invalid
from chalicelib.domain.schema import CAREER_STAGES, COMMUNICATION_MODES, FIELDS, INTERESTS, LIBRARY_TYPES

EXPERIENCE_GAP_FOR_FULL_MARKS = 5
# Career stages in order of seniority; support staff sit beside new professionals.
CAREER_STAGE_RANK = MappingProxyType({
    "student": 0, "new_professional": 1, "support_staff": 1, "mid_career": 2, "senior": 3,
})
ANY_LIBRARY_TYPE = "any"
BLOCKED = -1  # pair score of a pair that a hard rule rules out
_UNKNOWN_REGION, _NOT_IN_PERSON = -1, -2  # meeting-region codes that are not a region
# Cells of the mentee × mentor matrix scored at once: bounds the temporaries (~1 MB each, so they stay in cache).
_CHUNK_CELLS = 1 << 17
# Cells (mentee key values × mentors) of a criterion's table kept for the whole cohort; a larger one is built per chunk.
_TABLE_CELLS = 1 << 22
# Combinations of the criteria's values that the scorer looks scores up for (_ScoreCodes); beyond, it adds fits.
_SCORE_TABLE_CELLS = 1 << 22
# Up to this many values, a fit's index among them is counted rather than searched for (_positions).
_FEW_STATES = 12
# The sparse solver's first scan keeps each mentee's best mentors and each mentor's best mentees: for a
# mentee, one per _MENTORS_PER_CANDIDATE mentors, within _MENTEE_CANDIDATES. A larger cohort needs more for
# its first prices to hold: measured best at 16 for 1,000 mentors, 32 for 2,500 and 64 for 5,000.
_MENTEE_CANDIDATES, _MENTORS_PER_CANDIDATE = (16, 64), 80
_MENTOR_CANDIDATES = 16
# Where those pairs cannot match as many mentees as the cohort can, each mentee in the way gets its best
# _MATCHING_PAIRS with the mentors out of their reach, for at most _MATCHING_ROUNDS rounds (_matching_most;
# 50,000 mentees took 3).
_MATCHING_PAIRS, _MATCHING_ROUNDS = 8, 10
# Its first solve, when slots are as many as mentees and those are at least _AUCTION_FROM, starts from an
# auction's prices (_auction_duals): bids rise by _AUCTION_STEP points at least, and it stops when at most
# _AUCTION_LEFT of the mentees are free (1%: 161 rounds at 10,000 and at 50,000; 0.1% took 711 and 825
# rounds for no faster solve), or after _AUCTION_ROUNDS.
_AUCTION_FROM, _AUCTION_STEP, _AUCTION_LEFT, _AUCTION_ROUNDS = 5000, 3, 0.01, 1000
# Its full scans keep, for each mentee, the pairs within _NEAR points of beating its duals (the best
# _NEAR_PAIRS at most), and bound the others by runs of mentors: _BOUND_GROUPS of them. At 64 pairs, a
# 10,000-mentee cohort took a third solve for the 2 pairs left out: 4.6-5.9 s against 4.1 s at 128.
_NEAR, _NEAR_PAIRS, _BOUND_GROUPS = 10, 128, 32
# Where the sparse solver takes over: free mentees × mentor slots (the cells of the dense matrix), when they are
# as many and otherwise (its fast case is a square problem). Measured on demo cohorts, CPU time, dense against
# sparse: as many, 0.058 s and 0.061 s at 600 mentees, 0.113 s and 0.081 s at 800, 0.163 s and 0.110 s at 1,000;
# 2,000 mentees with 1,337 slots 0.16 s and 0.23 s, with 3,392 slots 0.37 s and 0.39 s; 3,000 with 2,011
# slots 0.41 s and 0.36 s.
_SPARSE_FROM_CELLS = (700 * 700, 6_000_000)
# When more than this share of mentees would be scored again, the sparse solver scans them all afresh.
_RESCAN_SHARE = 0.25
# Pairs (free mentees × mentors) up to which the sparse solver keeps the scores of its first scan for the
# later ones: int16, 8 MB, less than the dense solver's float64 matrix at the crossover. A 2,000-mentee
# cohort (1,000 mentors) is the largest that fits.
_KEPT_SCORE_CELLS = 1 << 22

_LIBRARY_TYPE_CODE = {value: code for code, (value, _) in enumerate(LIBRARY_TYPES)}
_ANY_TYPE_CODE = -1  # the library type a mentee asked for, when they said "any"
_MODE_BIT = {value: 1 << bit for bit, (value, _) in enumerate(COMMUNICATION_MODES)}
# Lower-case labels for the reasons, in the schema's order.
_TYPE_LABEL, _STAGE_LABEL, _INTEREST_LABEL, _MODE_LABEL = (
    {value: label.lower() for value, label in vocabulary}
    for vocabulary in (LIBRARY_TYPES, CAREER_STAGES, INTERESTS, COMMUNICATION_MODES))


class MatchingError(Invalid):
    """The cohort, the weights or the committee's locks and forbids cannot be honoured."""


@dataclass(frozen=True)
class Participant:
    """What matching needs to know of one application."""

    id: str
    role: str
    name: str
    library_name: str
    library_type: str
    years_experience: int
    career_stage: str
    region: str
    interests: frozenset[str]
    communication: frozenset[str]
    capacity: int = 0
    cross_type_ok: bool = False
    preferred_library_type: str = ANY_LIBRARY_TYPE
    past_partners: frozenset[str] = frozenset()
    # Answers to the committee's own questions, by question name (a choice is a one-answer set).
    question_answers: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False)

    @cached_property
    def library_key(self) -> str:
        return _comparable(self.library_name)

    @cached_property
    def region_key(self) -> str:
        return _comparable(self.region)

    @property
    def wanted_library_type(self) -> str:
        asked = self.preferred_library_type
        return self.library_type if asked == ANY_LIBRARY_TYPE else asked

    @property
    def asked_library_type(self) -> bool:
        return self.preferred_library_type != ANY_LIBRARY_TYPE


def participant_from_application(record: Mapping) -> Participant:
    """Type a validated application dict (see chalicelib.domain.schema.FIELDS, plus id and past_partners)."""
    is_mentor = record["role"] == "mentor"
    return _participant({
        "id": str(record["id"]),
        "role": record["role"],
        "name": record["name"],
        "library_name": record["library_name"],
        "library_type": record["library_type"],
        "years_experience": int(record["years_experience"]),
        "career_stage": record["career_stage"],
        "region": record.get("region") or "",
        "interests": _shared_set(tuple(record["interests"])),
        "communication": _shared_set(tuple(record["communication"])),
        "capacity": int(record.get("capacity") or 0) if is_mentor else 0,
        "cross_type_ok": record.get("cross_type_ok") is True and is_mentor,
        "preferred_library_type": ANY_LIBRARY_TYPE if is_mentor
        else record.get("preferred_library_type") or ANY_LIBRARY_TYPE,
        "past_partners": frozenset(record.get("past_partners") or _NOBODY),
        "question_answers": _NO_ANSWERS if _NOT_QUESTIONS.issuperset(record) else MappingProxyType(
            {name: _answer_set(value) for name, value in record.items() if name not in _NOT_QUESTIONS}),
    })


def _participant(values: dict) -> Participant:
    """Participant(**values), every field given. Without the frozen __init__, which sets each field through
    object.__setattr__: half the time of typing a cohort's applications."""
    person = object.__new__(Participant)
    person.__dict__.update(values)
    return person


_NOT_QUESTIONS = frozenset(field.name for field in FIELDS) | {"id", "past_partners"}
_NO_ANSWERS = MappingProxyType({})
_NOBODY = frozenset()  # shared by all who list no past partner (frozenset() of a frozenset is that frozenset)


@lru_cache(maxsize=4096)
def _shared_set(values: tuple[str, ...]) -> frozenset[str]:
    """One frozenset for all who list these values (participants share few sets of interests and ways to
    communicate): fewer objects for the garbage collector to visit (typing 75,000 applications: 0.94 s -> 0.57 s)."""
    return frozenset(values)


def _answer_set(value) -> frozenset[str]:
    if isinstance(value, bool):
        return frozenset({"yes" if value else "no"})
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(str(item) for item in value)
    return frozenset({str(value)}) if value not in (None, "") else frozenset()


def _comparable(text: str) -> str:
    return _tidy(text).casefold()


def _tidy(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------
# Criteria. A criterion's scalar `assess` is its definition: (fit 0-1, reason)
# for one pair, or (None, None) where it does not apply. Its `fit_table` is the
# same rule for the whole cohort at once and must agree exactly (tests check).
# A criterion reads one thing about the mentee, `mentee_key` (a column of
# _Side): fit_table(mentors, keys) gets a column of distinct key values and
# returns their fits with every mentor (NaN where it does not apply), which the
# scorer then spreads to the mentees holding each value. A criterion may bring
# its own column (`column`, a bit mask per participant, kept under its name):
# that is how the interests and the committee's questions are encoded.
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Criterion:
    name: str
    default_weight: float
    assess: Callable[[Participant, Participant], tuple[float | None, str | None]]
    mentee_key: str
    fit_table: Callable[["_Side", object], object]
    column: Callable[[Participant], int] | None = None


# A criterion's assessment depends on a few of each side's attributes, whose combinations are few: most are
# worked out once per combination (they explain every pair of a proposal).

def _assess_library_type(mentor: Participant, mentee: Participant):
    return _library_type_fit(mentor.library_type, mentor.cross_type_ok, mentee.library_type,
                             mentee.preferred_library_type)


@lru_cache(maxsize=1024)
def _library_type_fit(mentor_type: str, cross_type_ok: bool, mentee_type: str, preferred_type: str):
    asked = preferred_type != ANY_LIBRARY_TYPE
    wanted = preferred_type if asked else mentee_type
    if mentor_type == wanted:
        if asked:
            return 1.0, f"mentor works in {_a_library(wanted)}, as the mentee asked"
        return 1.0, f"both work in {_libraries(wanted)}"
    if cross_type_ok:
        # Only a mentee who chose a type "wants" one; for the others, say what is true of them.
        wants = (f"mentee wants {_a_library(wanted)}" if asked
                 else f"mentee in {_a_library(mentee_type)}, open to any type")
        return 0.5, (f"mentor works in {_a_library(mentor_type)}, {wants}; "
                     "the mentor is glad to mentor across types")
    return 0.0, f"different library types: mentor in {_a_library(mentor_type)}, mentee in {_a_library(mentee_type)}"


def _library_type_table(mentors: _Side, wanted_types):
    np = _numpy()
    return np.where(wanted_types == mentors.library_type, 1.0, np.where(mentors.cross_type_ok, 0.5, 0.0))


def _remembered_mask(bits: dict[str, int]) -> Callable[[frozenset[str]], int]:
    """_mask over these bits, remembered for the sets of values most seen (participants share few)."""
    @lru_cache(maxsize=4096)
    def mask(values: frozenset[str]) -> int:
        return _mask(bits, values)

    return mask


def interests_criterion(labels: Mapping[str, str], weight: float = 30) -> Criterion:
    """The interests criterion over a topic vocabulary (value -> lower-case label, at most 64 topics).
    Topics outside the vocabulary are left out on both sides."""
    if len(labels) > 64:
        raise MatchingError("Matching handles at most 64 topics.")
    labels = dict(labels)
    mask = _remembered_mask({value: 1 << bit for bit, value in enumerate(labels)})
    words = tuple(labels.values())

    @lru_cache(maxsize=4096)
    def fit(covered: int, wanted: int):
        return _interests_fit([word for bit, word in enumerate(words) if covered >> bit & 1], wanted)

    def assess(mentor: Participant, mentee: Participant):
        wanted = mask(mentee.interests)
        return fit(wanted & mask(mentor.interests), wanted.bit_count())

    return Criterion("interests", weight, assess, "interests", _interests_table,
                     column=lambda person: mask(person.interests))


def _interests_fit(covered: list[str], wanted: int):
    """covered: the labels of the mentee's topics the mentor lists too; wanted: how many topics the mentee lists."""
    if not wanted:
        return None, None
    if not covered:
        reason = ("mentor does not list the mentee's interest" if wanted == 1
                  else f"mentor covers none of the mentee's {wanted} interests")
    elif len(covered) == wanted:
        every = {1: "the mentee's interest", 2: "both of the mentee's interests"}.get(
            wanted, f"all {wanted} of the mentee's interests")
        reason = f"mentor covers {every}: {', '.join(covered)}"
    else:
        reason = f"mentor covers {len(covered)} of the mentee's {wanted} interests: {', '.join(covered)}"
    return len(covered) / wanted, reason


def _interests_table(mentors: _Side, interest_masks):
    np = _numpy()
    return _share(np.bitwise_count(interest_masks & mentors.own["interests"]), np.bitwise_count(interest_masks))


def _assess_experience(mentor: Participant, mentee: Participant):
    return _experience_fit(mentor.years_experience, mentee.years_experience)


@lru_cache(maxsize=4096)
def _experience_fit(mentor_years: int, mentee_years: int):
    gap = mentor_years - mentee_years
    fit = min(max(gap, 0), EXPERIENCE_GAP_FOR_FULL_MARKS) / EXPERIENCE_GAP_FOR_FULL_MARKS
    if gap <= 0:
        return fit, f"same years of experience ({mentor_years})"
    return fit, f"{_count(gap, 'more year')} of experience (mentor {mentor_years}, mentee {mentee_years})"


def _experience_table(mentors: _Side, mentee_years):
    np = _numpy()
    gap = np.clip(mentors.years - mentee_years, 0, EXPERIENCE_GAP_FOR_FULL_MARKS)
    return gap / EXPERIENCE_GAP_FOR_FULL_MARKS


def _assess_career_stage(mentor: Participant, mentee: Participant):
    return _career_stage_fit(mentor.career_stage, mentee.career_stage)


@lru_cache(maxsize=256)
def _career_stage_fit(mentor_stage: str, mentee_stage: str):
    ahead = CAREER_STAGE_RANK[mentor_stage] - CAREER_STAGE_RANK[mentee_stage]
    stages = f"{_STAGE_LABEL[mentor_stage]} mentor, {_STAGE_LABEL[mentee_stage]} mentee"
    if ahead > 0:
        return 1.0, stages
    if ahead == 0:
        return 0.5, f"{stages}: peers at the same career stage"
    return 0.0, f"{stages}: the mentor is at an earlier career stage"


def _career_stage_table(mentors: _Side, mentee_ranks):
    np = _numpy()
    return (np.sign(mentors.career_rank - mentee_ranks) + 1) / 2  # 1 ahead, 0.5 level, 0 behind


def _assess_region(mentor: Participant, mentee: Participant):
    if "in_person" not in mentor.communication or "in_person" not in mentee.communication:
        return None, None
    return _region_fit(mentor.region, mentee.region)


@lru_cache(maxsize=4096)
def _region_fit(mentor_region: str, mentee_region: str):
    mentor_key, mentee_key = _comparable(mentor_region), _comparable(mentee_region)
    if mentee_key and mentee_key == mentor_key:
        return 1.0, f"both in {_tidy(mentee_region)}, want to meet in person"
    if mentee_key and mentor_key:
        return 0.0, (f"both would meet in person, but in different regions "
                     f"({_tidy(mentor_region)} and {_tidy(mentee_region)})")
    return 0.0, "both would meet in person, but a region is not given"


def _region_table(mentors: _Side, meeting_regions):
    np = _numpy()
    applies = (meeting_regions != _NOT_IN_PERSON) & (mentors.meeting_region != _NOT_IN_PERSON)
    same = (meeting_regions >= 0) & (meeting_regions == mentors.meeting_region)
    return np.where(applies, same, np.nan)


def _assess_communication(mentor: Participant, mentee: Participant):
    return _communication_fit(mentor.communication, mentee.communication)


@lru_cache(maxsize=1024)
def _communication_fit(mentor_modes: frozenset[str], mentee_modes: frozenset[str]):
    if not mentee_modes:
        return None, None
    shared = mentor_modes & mentee_modes
    return len(shared) / len(mentee_modes), f"share {_listing(shared)}"


def _communication_table(mentors: _Side, mode_masks):
    np = _numpy()
    return _share(np.bitwise_count(mode_masks & mentors.communication), np.bitwise_count(mode_masks))


def _share(covered, wanted):
    """covered / wanted as floats, NaN where nothing is wanted."""
    np = _numpy()
    if np.all(wanted):  # no NaN to place: a plain division takes half the time
        return covered / wanted
    wanted = np.broadcast_to(wanted, covered.shape)
    return np.divide(covered, wanted, out=np.full(covered.shape, np.nan), where=wanted > 0)


SAME, OVERLAP = "same", "overlap"  # how a committee question drives matching


def question_criterion(name: str, question: str, choices: Mapping[str, str], rule: str, weight: float) -> Criterion:
    """A committee choice question as a criterion; it applies when both answered.

    SAME: fits fully when mentor and mentee gave the same answer(s), else not.
    OVERLAP: the share of the mentee's answers that the mentor also gave.
    Answers outside `choices` (value -> label, at most 64) are left out."""
    if rule not in (SAME, OVERLAP):
        raise MatchingError(f"A question drives matching by {SAME!r} or {OVERLAP!r} answers, not {rule!r}.")
    if len(choices) > 64:
        raise MatchingError("A matching question has at most 64 choices.")
    choices = dict(choices)
    mask = _remembered_mask({value: 1 << bit for bit, value in enumerate(choices)})

    def answers(person: Participant) -> frozenset[str]:
        return person.question_answers.get(name, frozenset()) & choices.keys()

    def words(values: frozenset[str]) -> str:
        return _and([label for value, label in choices.items() if value in values])

    def assess(mentor: Participant, mentee: Participant):
        theirs, wanted = answers(mentor), answers(mentee)
        if not theirs or not wanted:
            return None, None
        shared = theirs & wanted
        if rule == SAME and theirs == wanted or rule == OVERLAP and len(wanted) == 1 and shared:
            return 1.0, f"both answered {words(shared)} to \"{question}\""
        if rule == SAME or len(wanted) == 1:
            return 0.0, f"different answers to \"{question}\": mentor {words(theirs)}, mentee {words(wanted)}"
        listed = f": {words(shared)}" if shared else ""
        return len(shared) / len(wanted), f"share {len(shared)} of {len(wanted)} answers to \"{question}\"{listed}"

    def fit_table(mentors: _Side, masks):
        np = _numpy()
        theirs = mentors.own[name]
        answered = (masks != 0) & (theirs != 0)
        if rule == SAME:
            return np.where(answered, (masks == theirs).astype(float), np.nan)
        return np.where(answered, _share(np.bitwise_count(masks & theirs), np.bitwise_count(masks)), np.nan)

    return Criterion(name, weight, assess, name, fit_table,
                     column=lambda person: mask(frozenset(person.question_answers.get(name, ()))))


CRITERIA: tuple[Criterion, ...] = (
    Criterion("library_type", 25, _assess_library_type, "wanted_type", _library_type_table),
    interests_criterion(_INTEREST_LABEL),
    Criterion("experience", 15, _assess_experience, "years", _experience_table),
    Criterion("career_stage", 10, _assess_career_stage, "career_rank", _career_stage_table),
    Criterion("region", 10, _assess_region, "meeting_region", _region_table),
    Criterion("communication", 10, _assess_communication, "communication", _communication_table),
)
DEFAULT_WEIGHTS = MappingProxyType({criterion.name: float(criterion.default_weight) for criterion in CRITERIA})


# ---------------------------------------------------------------------------
# Hard rules. `check` gives the reason a pair is ruled out (or None); `short`
# names the rule in tallies; `alone` explains an unmatched mentee whom it alone
# rules out from every mentor. For a whole cohort a rule reads one thing about
# the mentee, as a criterion does: `table(mentors, keys)` gets a column of
# distinct `mentee_key` values and returns where each rules out each mentor;
# or it names the pairs it rules out, `pairs(mentors, mentees, forbidden)`
# ((mentor_id, mentee_id), the past partners and the forbids: few in a cohort;
# pairs outside these mentors and mentees are left out).
# Forbids are (mentor_id, mentee_id) pairs.
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[[Participant, Participant, frozenset], str | None]
    short: str
    alone: str
    mentee_key: str | None = None
    table: Callable[["_Side", object], object] | None = None
    pairs: Callable[["_Side", "_Side", frozenset], Iterable[tuple[str, str]]] | None = None

    def blocks(self, mentors: _Side, mentees: _Side, forbidden: frozenset):
        """Where this rule rules out a pair: a mentees × mentors bool matrix."""
        if self.table is not None:
            return self.table(mentors, mentees.column(self.mentee_key)[:, None])
        np = _numpy()
        blocked = np.zeros((len(mentees), len(mentors)), dtype=bool)
        blocked[_pair_cells(mentors, mentees, self.pairs(mentors, mentees, forbidden))] = True
        return blocked


def _check_communication(mentor, mentee, forbidden):
    if mentor.communication & mentee.communication:
        return None
    return (f"no shared way to communicate (mentor: {_listing(mentor.communication)}; "
            f"mentee: {_listing(mentee.communication)})")


def _communication_blocks(mentors, mode_masks):
    return (mode_masks & mentors.communication) == 0


def _check_experience(mentor, mentee, forbidden):
    if mentor.years_experience >= mentee.years_experience:
        return None
    return (f"mentor has fewer years of experience ({mentor.years_experience}) "
            f"than the mentee ({mentee.years_experience})")


def _experience_blocks(mentors, mentee_years):
    return mentors.years < mentee_years


def _check_library_type(mentor, mentee, forbidden):
    wanted = mentee.wanted_library_type
    if not mentee.asked_library_type or mentor.library_type == wanted or mentor.cross_type_ok:
        return None
    return (f"the mentee asked for a mentor from {_a_library(wanted)}; the mentor works in "
            f"{_a_library(mentor.library_type)} and prefers to mentor within their own type")


def _library_type_blocks(mentors, asked_types):
    return (asked_types != _ANY_TYPE_CODE) & (asked_types != mentors.library_type) & ~mentors.cross_type_ok


def _check_same_library(mentor, mentee, forbidden):
    if mentor.library_key != mentee.library_key:
        return None
    return f"both work at {_tidy(mentee.library_name)} (conflict of interest)"


def _same_library_blocks(mentors, libraries):
    return libraries == mentors.library


def _check_past_partner(mentor, mentee, forbidden):
    if mentor.id in mentee.past_partners or mentee.id in mentor.past_partners:
        return "they were partners before"
    return None


def _past_partner_pairs(mentors, mentees, forbidden):
    yield from ((mentor_id, mentee_id) for mentor_id, mentee_ids in mentees.listing_as_partner.items()
                for mentee_id in mentee_ids)
    yield from ((mentor_id, mentee_id) for mentee_id, mentor_ids in mentors.listing_as_partner.items()
                for mentor_id in mentor_ids)


def _check_forbidden(mentor, mentee, forbidden):
    return "the committee ruled out this pair" if (mentor.id, mentee.id) in forbidden else None


def _forbidden_pairs(mentors, mentees, forbidden):
    return forbidden


def _pair_cells(mentors: _Side, mentees: _Side, pairs: Iterable[tuple[str, str]]) -> tuple:
    """(rows, columns) of the named pairs, those outside these sides left out."""
    np = _numpy()
    cells = [(row, column) for mentor_id, mentee_id in pairs
             if (column := mentors.position.get(mentor_id)) is not None
             and (row := mentees.position.get(mentee_id)) is not None]
    rows, columns = np.array(cells, dtype=np.intp).reshape(-1, 2).T
    return rows, columns


RULES: tuple[Rule, ...] = (
    Rule("communication", _check_communication, "no shared way to communicate",
         "no mentor shares a way to communicate", "communication", _communication_blocks),
    Rule("experience", _check_experience, "fewer years of experience",
         "no mentor has as many years of experience", "years", _experience_blocks),
    Rule("library_type", _check_library_type, "not the library type asked for",
         "no mentor works in the type of library the mentee asked for or mentors across types",
         "asked_type", _library_type_blocks),
    Rule("same_library", _check_same_library, "same library",
         "every mentor works at the mentee's library", "library", _same_library_blocks),
    Rule("past_partner", _check_past_partner, "past partner",
         "every mentor has been the mentee's partner before", pairs=_past_partner_pairs),
    Rule("forbidden", _check_forbidden, "ruled out by the committee",
         "the committee ruled out every mentor", pairs=_forbidden_pairs),
)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ProposedPair:
    mentor_id: str
    mentee_id: str
    score: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class UnmatchedMentee:
    id: str
    reason: str


@dataclass(frozen=True)
class UnusedCapacity:
    mentor_id: str
    slots: int


@dataclass(frozen=True)
class Proposal:
    pairs: tuple[ProposedPair, ...]
    unmatched_mentees: tuple[UnmatchedMentee, ...]
    unused_capacity: tuple[UnusedCapacity, ...]

    @property
    def total_score(self) -> int:
        return sum(pair.score for pair in self.pairs)

    def as_dict(self) -> dict:
        return {
            "pairs": [{"mentor_id": pair.mentor_id, "mentee_id": pair.mentee_id, "score": pair.score,
                       "reasons": list(pair.reasons)} for pair in self.pairs],
            "unmatched_mentees": [{"id": mentee.id, "reason": mentee.reason} for mentee in self.unmatched_mentees],
            "unused_capacity": [{"mentor_id": mentor.mentor_id, "slots": mentor.slots}
                                for mentor in self.unused_capacity],
        }


Application = Mapping | Participant
PairIds = Iterable[tuple[str, str] | list[str]]


def score_pair(mentor: Application, mentee: Application, weights: Mapping[str, float] | None = None,
               criteria: tuple[Criterion, ...] = CRITERIA) -> tuple[int | None, list[str]]:
    """Score one pair: (score 0-100, reasons), or (None, the hard rules it breaks)."""
    return _score_pair(_as_participant(mentor), _as_participant(mentee), resolve_weights(weights, criteria),
                       frozenset(), criteria)


def propose(mentors: Iterable[Application], mentees: Iterable[Application],
            weights: Mapping[str, float] | None = None,
            locks: PairIds = (), forbids: PairIds = (), criteria: tuple[Criterion, ...] = CRITERIA) -> Proposal:
    """Match as many mentees as the hard rules allow, then maximise the total score.

    mentors and mentees are application dicts (or Participants). Solved
    exactly: a small cohort with scipy's linear_sum_assignment over mentor
    capacity slots, a larger one by the sparse solver (see _best_assignment).
    Locks ([mentor_id, mentee_id]) are kept as given; forbids are never
    proposed. Raises MatchingError when the input cannot be honoured (unknown
    ids, a lock that breaks a rule or exceeds a capacity, ...). `criteria` are
    the cohort's (the built-in ones, and the committee's questions).
    """
    cohort = _Cohort.build(mentors, mentees, weights, locks, forbids, criteria)
    return cohort.proposal(_best_assignment(cohort))


def propose_fairest(mentors: Iterable[Application], mentees: Iterable[Application],
                    weights: Mapping[str, float] | None = None,
                    locks: PairIds = (), forbids: PairIds = (), criteria: tuple[Criterion, ...] = CRITERIA) -> Proposal:
    """The fairness alternative to `propose`: as many mentees matched, the lowest pair score as high as
    possible, then the total score as high as possible. Same rules, locks, forbids and explanations.

    Solved exactly by a binary search on a floor over the distinct pair scores: at each floor the pairs
    below it are ruled out and the same assignment solver runs; the highest floor at which it still
    matches as many free mentees as with no floor is the best possible lowest score, and the solver's
    answer there has the highest total among those. Locked pairs are kept whatever their score.
    """
    cohort = _Cohort.build(mentors, mentees, weights, locks, forbids, criteria)
    return cohort.proposal(_fairest_assignment(cohort.pair_scores(), cohort.capacity_left))


def ruled_out_mentees(mentors: Iterable[Application], mentees: Iterable[Application]) -> tuple[UnmatchedMentee, ...]:
    """The mentees whom no mentor can take under the hard rules, whatever the capacities, and why."""
    cohort = _Cohort.build(mentors, mentees, None, (), ())
    rows = list(range(len(cohort.free_mentees)))
    if not cohort.mentors:
        return tuple(UnmatchedMentee(mentee.id, "there are no mentors in this cohort") for mentee in cohort.free_mentees)
    ruled_out = [row for row, count in zip(rows, cohort.compatible_counts(rows)) if not count]
    return tuple(UnmatchedMentee(cohort.free_mentees[row].id, reason)
                 for row, reason in cohort.ruled_out_reasons(ruled_out).items())


def greedy_baseline(mentors: Iterable[Application], mentees: Iterable[Application],
                    weights: Mapping[str, float] | None = None,
                    locks: PairIds = (), forbids: PairIds = (), criteria: tuple[Criterion, ...] = CRITERIA) -> Proposal:
    """The naive method, for comparison: repeatedly take the best-scoring pair still possible.

    Same rules, scores and explanations as `propose`; only the choice of pairs
    differs (ties go to the lower mentee id, then the lower mentor id).
    """
    cohort = _Cohort.build(mentors, mentees, weights, locks, forbids, criteria)
    return cohort.proposal(_greedy_assignment(cohort.pair_scores(), cohort.capacity_left))


def assignment_matrix(mentors: Iterable[Application], mentees: Iterable[Application],
                      weights: Mapping[str, float] | None = None,
                      locks: PairIds = (), forbids: PairIds = ()):
    """The cost matrix that `propose` hands to linear_sum_assignment (for benchmarks)."""
    cohort = _Cohort.build(mentors, mentees, weights, locks, forbids)
    return _cost_matrix(cohort.pair_scores(), cohort.capacity_left)[0]


def resolve_weights(weights: Mapping[str, float] | None, criteria: tuple[Criterion, ...] = CRITERIA,
                    most: float = math.inf) -> dict[str, float]:
    """The criteria's default weights with the given overrides; refuses unknown names and bad numbers
    (above `most`, too). The one check of weights: the committee's proposal options come through here too."""
    resolved = {criterion.name: float(criterion.default_weight) for criterion in criteria}
    which = "zero or more" if most == math.inf else f"0 to {most:g}"
    if weights is not None and not isinstance(weights, Mapping):
        raise MatchingError(f"The weights must map criteria to numbers of {which}.")
    for name, weight in (weights or {}).items():
        if name not in resolved:
            raise MatchingError(f"Unknown matching criterion {name!r}; the criteria are: {', '.join(resolved)}.")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or not 0 <= weight <= most:
            raise MatchingError(f"The weights must be numbers of {which}; {name!r} has {weight!r}.")
        resolved[name] = float(weight)
    if not any(resolved.values()):
        raise MatchingError("At least one matching criterion needs a weight above zero.")
    return resolved


# ---------------------------------------------------------------------------
# One pair, in plain Python
# ---------------------------------------------------------------------------

def _score_pair(mentor: Participant, mentee: Participant, weights: dict[str, float],
                forbidden: frozenset, criteria: tuple[Criterion, ...] = CRITERIA) -> tuple[int | None, list[str]]:
    broken = _broken_rules(mentor, mentee, forbidden)
    return (None, broken) if broken else _weighted_score(mentor, mentee, _terms(weights, criteria))


_Terms = list[tuple[float, Callable]]  # (weight, assess) of each criterion with a weight, in the criteria's order


def _terms(weights: dict[str, float], criteria: tuple[Criterion, ...]) -> _Terms:
    return [(weights[criterion.name], criterion.assess) for criterion in criteria if weights[criterion.name]]


def _weighted_score(mentor: Participant, mentee: Participant, terms: _Terms) -> tuple[int, list[str]]:
    """Score and reasons of a pair that breaks no rule (terms: as _terms gives them)."""
    # Same operations in the same order as _Scorer, so both round alike.
    numerator = denominator = 0.0
    reasons = []
    for weight, assess in terms:
        fit, reason = assess(mentor, mentee)
        if fit is not None:
            numerator += weight * fit
            denominator += weight
            reasons.append(reason)
    return (round(100 * numerator / denominator) if denominator else 0), reasons


def _broken_rules(mentor: Participant, mentee: Participant, forbidden: frozenset) -> list[str]:
    return [message for rule in RULES if (message := rule.check(mentor, mentee, forbidden))]


def _as_participant(application: Application) -> Participant:
    return application if isinstance(application, Participant) else participant_from_application(application)


# ---------------------------------------------------------------------------
# The cohort: validated input, the score matrix, explanations
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Cohort:
    mentors: tuple[Participant, ...]  # sorted by id, as are all lists below
    free_mentees: tuple[Participant, ...]  # mentees not locked to a mentor
    locked: tuple[tuple[Participant, Participant], ...]  # (mentor, mentee)
    capacity_left: tuple[int, ...]  # each mentor's capacity after the locks
    weights: dict[str, float]
    forbidden: frozenset[tuple[str, str]]
    criteria: tuple[Criterion, ...] = CRITERIA

    @classmethod
    def build(cls, mentor_records, mentee_records, weights, locks, forbids,
              criteria: tuple[Criterion, ...] = CRITERIA) -> _Cohort:
        resolved = resolve_weights(weights, criteria)
        mentors = _participants(mentor_records, "mentor")
        mentees = _participants(mentee_records, "mentee")
        by_id = {person.id: person for person in mentors + mentees}
        if len(by_id) != len(mentors) + len(mentees):
            raise MatchingError("Two applications in the cohort share an id.")
        forbidden = frozenset(_pair_ids(forbids, by_id, "forbid"))
        locked = [(by_id[mentor_id], by_id[mentee_id])
                  for mentor_id, mentee_id in sorted(_pair_ids(locks, by_id, "lock"))]
        mentors_of = Counter(mentee.id for _, mentee in locked)
        mentees_of = Counter(mentor.id for mentor, _ in locked)
        for mentor, mentee in locked:
            if mentors_of[mentee.id] > 1:
                raise MatchingError(f"{_who(mentee)} is locked to {mentors_of[mentee.id]} mentors; lock them to one.")
            if mentees_of[mentor.id] > mentor.capacity:
                raise MatchingError(f"{_who(mentor)} is locked to {mentees_of[mentor.id]} mentees "
                                    f"but can take {mentor.capacity}.")
            broken = _broken_rules(mentor, mentee, forbidden)
            if broken:
                raise MatchingError(f"The lock of {_who(mentor)} with {_who(mentee)} breaks a hard rule: "
                                    f"{'; '.join(broken)}.")
        return cls(
            mentors=mentors,
            free_mentees=tuple(mentee for mentee in mentees if mentee.id not in mentors_of),
            locked=tuple(locked),
            capacity_left=tuple(mentor.capacity - mentees_of[mentor.id] for mentor in mentors),
            weights=resolved,
            forbidden=forbidden,
            criteria=tuple(criteria),
        )

    @cached_property
    def terms(self) -> _Terms:
        return _terms(self.weights, self.criteria)

    @cached_property
    def sides(self) -> tuple[_Side, _Side]:
        """Mentors and free mentees encoded for numpy, with shared codes for libraries and regions."""
        library_codes, region_codes = {}, {}
        return (_Side.encode(self.mentors, library_codes, region_codes, self.criteria),
                _Side.encode(self.free_mentees, library_codes, region_codes, self.criteria))

    def scorer(self, mentor_columns=None) -> _Scorer:
        """Scores of the free mentees against all mentors, or against those columns only."""
        mentors, mentees = self.sides
        if mentor_columns is not None:
            mentors = mentors.rows(mentor_columns)
        return _Scorer(mentors, mentees, self.weights, self.criteria, self.forbidden)

    def pair_scores(self):
        """Score of every free mentee (rows) with every mentor (columns), BLOCKED where a rule forbids."""
        np = _numpy()
        scores = np.empty((len(self.free_mentees), len(self.mentors)), dtype=np.int16)
        for rows, chunk_scores in self.scorer().chunks():
            scores[rows] = chunk_scores
        return scores

    def proposal(self, chosen: list[tuple[int, int]]) -> Proposal:
        """Explain the chosen (mentee row, mentor column) pairs, the locks, and who is left over."""
        pairs = [self._pair(mentor, mentee, locked=True) for mentor, mentee in self.locked]
        pairs += [self._pair(self.mentors[column], self.free_mentees[row], locked=False) for row, column in chosen]
        pairs.sort(key=attrgetter("mentor_id", "mentee_id"))
        left = list(self.capacity_left)
        for _, column in chosen:
            left[column] -= 1
        matched_rows = {row for row, _ in chosen}
        unmatched_rows = [row for row in range(len(self.free_mentees)) if row not in matched_rows]
        return Proposal(
            pairs=tuple(pairs),
            unmatched_mentees=tuple(self._unmatched(unmatched_rows)),
            unused_capacity=tuple(UnusedCapacity(mentor.id, slots)
                                  for mentor, slots in zip(self.mentors, left) if slots > 0),
        )

    def _pair(self, mentor: Participant, mentee: Participant, locked: bool) -> ProposedPair:
        score, reasons = _weighted_score(mentor, mentee, self.terms)  # locks and choices keep the rules
        if locked:
            reasons = ["locked by the committee", *reasons]
        return ProposedPair(mentor.id, mentee.id, score, tuple(reasons))

    def _unmatched(self, rows: list[int]) -> list[UnmatchedMentee]:
        if not rows:
            return []
        if not self.mentors:
            return [UnmatchedMentee(self.free_mentees[row].id, "there are no mentors in this cohort")
                    for row in rows]
        unmatched = {}
        for row, count in zip(rows, self.compatible_counts(rows)):
            if count:
                unmatched[row] = ("the only compatible mentor is at capacity" if count == 1
                                  else f"all {count} compatible mentors are at capacity")
        unmatched.update(self.ruled_out_reasons([row for row in rows if row not in unmatched]))
        return [UnmatchedMentee(self.free_mentees[row].id, unmatched[row]) for row in rows]

    def compatible_counts(self, rows: list[int]) -> list[int]:
        """For each of these free mentees, how many mentors pass every hard rule (capacity aside)."""
        np = _numpy()
        mentors, mentees = self.sides
        blocker = _Blocker(mentors, mentees, self.forbidden)
        buffers = _block_buffers(min(max(1, _CHUNK_CELLS // max(1, len(mentors))), len(rows)), len(mentors))
        counts = []
        for chunk, tables in _chunked(np.asarray(rows, dtype=np.intp), len(mentors), blocker.keyed):
            blocked = blocker.blocks(chunk, tables, *buffers[:, :len(chunk)])
            counts += (len(mentors) - np.count_nonzero(blocked, axis=1)).tolist()
        return counts

    def ruled_out_reasons(self, rows: list[int]) -> dict[int, str]:
        """Why no mentor passes every hard rule, for each of these free mentees (none passes for any)."""
        np = _numpy()
        mentors, mentees = self.sides
        step = max(1, _CHUNK_CELLS // max(1, len(mentors)))
        reasons = {}
        for start in range(0, len(rows), step):
            some = rows[start:start + step]
            blocked_by = np.stack([rule.blocks(mentors, mentees.rows(some), self.forbidden) for rule in RULES])
            for index, row in enumerate(some):
                reasons[row] = _ruled_out_reason(blocked_by[:, index, :])
        return reasons


def _ruled_out_reason(blocked_by) -> str:
    """Why no mentor is possible: the first rule that alone rules out all, else a tally of first reasons."""
    for rule, blocked in zip(RULES, blocked_by):
        if blocked.all():
            return rule.alone
    np = _numpy()
    first_rule = np.argmax(blocked_by, axis=0)
    tally = np.bincount(first_rule, minlength=len(RULES))
    counts = ", ".join(f"{rule.short}: {count}" for rule, count in zip(RULES, tally.tolist()) if count)
    return f"no mentor passes every rule ({counts})"


def _participants(records: Iterable[Application], role: str) -> tuple[Participant, ...]:
    people = sorted((_as_participant(record) for record in records), key=lambda person: person.id)
    for person in people:
        if person.role != role:
            raise MatchingError(f"{_who(person)} applied as a {person.role}, not as a {role}.")
    return tuple(people)


def _pair_ids(pairs: PairIds, by_id: dict[str, Participant], kind: str) -> set[tuple[str, str]]:
    checked = set()
    for pair in pairs:
        if len(pair) != 2:
            raise MatchingError(f"Each {kind} names two people, [mentor_id, mentee_id]; got {list(pair)!r}.")
        mentor_id, mentee_id = (str(part) for part in pair)
        for wanted_role, person_id in (("mentor", mentor_id), ("mentee", mentee_id)):
            person = by_id.get(person_id)
            if person is None:
                raise MatchingError(f"A {kind} names {person_id!r}, who is not in this cohort.")
            if person.role != wanted_role:
                raise MatchingError(f"A {kind} names {_who(person)} as a {wanted_role}; "
                                    f"give each {kind} as [mentor_id, mentee_id].")
        checked.add((mentor_id, mentee_id))
    return checked


def _who(person: Participant) -> str:
    return f"{person.role} {person.name} ({person.id})"


# ---------------------------------------------------------------------------
# Vectorised scoring
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Side:
    """One side of the score matrix as numpy arrays; entry i describes participants[i]."""

    participants: tuple[Participant, ...]
    years: object
    library: object  # library name code, shared with the other side
    meeting_region: object  # region code if they would meet in person, else _UNKNOWN_REGION or _NOT_IN_PERSON
    library_type: object
    wanted_type: object
    asked_type: object  # the library type code asked for, or _ANY_TYPE_CODE
    cross_type_ok: object
    career_rank: object
    communication: object  # bit mask over COMMUNICATION_MODES
    own: Mapping[str, object]  # the columns criteria bring (Criterion.column), by criterion name

    @classmethod
    def encode(cls, people: tuple[Participant, ...], library_codes: dict, region_codes: dict,
               criteria: tuple[Criterion, ...]) -> _Side:
        np = _numpy()

        def code(codes: dict[str, int], key: str) -> int:
            return codes.setdefault(key, len(codes))

        def meeting_region(person: Participant) -> int:
            if "in_person" not in person.communication:
                return _NOT_IN_PERSON
            return code(region_codes, person.region_key) if person.region_key else _UNKNOWN_REGION

        def library_types(person: Participant) -> tuple[int, int, int]:
            wanted = _LIBRARY_TYPE_CODE[person.wanted_library_type]
            asked = wanted if person.asked_library_type else _ANY_TYPE_CODE
            return _LIBRARY_TYPE_CODE[person.library_type], wanted, asked

        # Participants share few libraries, regions, library types and ways to communicate: each is worked out
        # once, when first seen. One pass over the participants rather than one per column, which reads each
        # one's attributes from memory again: a third faster at 10,000 mentees.
        libraries, regions, types, modes = {}, {}, {}, {}
        rows = []
        for p in people:
            if p.library_name not in libraries:
                libraries[p.library_name] = code(library_codes, p.library_key)
            if (p.region, p.communication) not in regions:
                regions[p.region, p.communication] = meeting_region(p)
            if (p.library_type, p.preferred_library_type) not in types:
                types[p.library_type, p.preferred_library_type] = library_types(p)
            if p.communication not in modes:
                modes[p.communication] = _mask(_MODE_BIT, p.communication)
            rows.append((p.years_experience, libraries[p.library_name], regions[p.region, p.communication],
                         *types[p.library_type, p.preferred_library_type], p.cross_type_ok,
                         CAREER_STAGE_RANK[p.career_stage], modes[p.communication]))
        (years, library, meeting_regions, library_type, wanted_type, asked_type, cross_type_ok, career_rank,
         communication) = np.array(rows, dtype=np.int32).reshape(len(people), 9).T
        return cls(
            participants=people,
            years=years.astype(np.int32),
            library=library.astype(np.int32),
            meeting_region=meeting_regions.astype(np.int32),
            library_type=library_type.astype(np.int8),
            wanted_type=wanted_type.astype(np.int8),
            asked_type=asked_type.astype(np.int8),
            cross_type_ok=cross_type_ok.astype(bool),
            career_rank=career_rank.astype(np.int8),
            communication=communication.astype(np.uint8),
            own={criterion.name: np.fromiter((criterion.column(p) for p in people), dtype=np.uint64, count=len(people))
                 for criterion in criteria if criterion.column},
        )

    def rows(self, selection: slice | list[int]) -> _Side:
        """The same side restricted to some participants (a slice, or a list of positions)."""
        people = (self.participants[selection] if isinstance(selection, slice)
                  else tuple(self.participants[index] for index in selection))
        return _Side(people, own={name: values[selection] for name, values in self.own.items()},
                     **{field.name: getattr(self, field.name)[selection]
                        for field in fields(self) if field.name not in ("participants", "own")})

    def column(self, key: str):
        return self.own[key] if key in self.own else getattr(self, key)

    @cached_property
    def position(self) -> dict[str, int]:
        return {person.id: index for index, person in enumerate(self.participants)}

    @cached_property
    def listing_as_partner(self) -> dict[str, list[str]]:
        """For each id that some of these participants list as a past partner, their ids."""
        listing: dict[str, list[str]] = {}
        for person in self.participants:
            for partner in person.past_partners:
                listing.setdefault(partner, []).append(person.id)
        return listing

    def __len__(self) -> int:
        return len(self.participants)


def _mask(bits: dict[str, int], values: frozenset[str]) -> int:
    return sum(bits.get(value, 0) for value in values)


@dataclass(frozen=True)
class _Keyed:
    """Tables by one mentee key: a row per distinct key value. The whole cohort's table when it was small
    enough (at most _TABLE_CELLS cells), else `build(keys)` makes one per chunk, over the chunk's key values."""

    values: object  # every free mentee's key value
    positions: object  # each mentee's row among the cohort's distinct key values
    build: Callable[[object], object] | None
    table: object = None

    @classmethod
    def of(cls, values, build: Callable[[object], object], mentor_count: int, distinct=None) -> _Keyed:
        """distinct: the values' (distinct keys, each one's position among them), if known."""
        keys, positions = _numpy().unique(values, return_inverse=True) if distinct is None else distinct
        return cls(values, positions, build, build(keys) if _whole_table(keys, mentor_count) else None)

    def rows(self, chunk) -> tuple:
        """(a table, each chunk row's row in it)."""
        if self.table is not None:
            return self.table, self.positions[chunk]
        keys, positions = _distinct(self.values[chunk][:, None])
        return self.build(keys[:, 0]), positions


def _chunked(rows, mentor_count: int, keyed: list[_Keyed]):
    """(a chunk of rows, each keyed's (table, positions) for it), chunk by chunk. A table not kept for the whole
    cohort is built for a window of chunks at once (at most _TABLE_CELLS cells), not for each: a chunk of a
    large cohort holds a few rows, and their key values are the next chunk's too."""
    step = max(1, _CHUNK_CELLS // max(1, mentor_count))
    window = max(1, _TABLE_CELLS // max(1, mentor_count) // step) * step
    for start in range(0, len(rows), window):
        some = rows[start:start + window]
        tables = [each.rows(some) for each in keyed]
        for at in range(0, len(some), step):
            yield some[at:at + step], [(table, positions[at:at + step]) for table, positions in tables]


def _whole_table(keys, mentor_count: int) -> bool:
    return len(keys) * mentor_count <= _TABLE_CELLS


class _Blocker:
    """Where the hard rules rule pairs out, for chunks of free mentees (rows) against mentors: each rule on
    a mentee key by its tables (_Keyed), the pairs that the other rules name listed once, by row."""

    def __init__(self, mentors: _Side, mentees: _Side, forbidden: frozenset):
        np = _numpy()
        self.keyed = [_Keyed.of(mentees.column(rule.mentee_key), partial(_rule_table, rule, mentors), len(mentors))
                      for rule in RULES if rule.table is not None]
        rows, columns = _pair_cells(mentors, mentees, (pair for rule in RULES if rule.pairs is not None
                                                       for pair in rule.pairs(mentors, mentees, forbidden)))
        order = np.argsort(rows, kind="stable")
        self.pair_rows, self.pair_columns = rows[order], columns[order]

    def blocks(self, chunk, tables, out, scratch):
        """Where a rule rules out a pair of these rows, into out (a bool rows × mentors buffer; scratch alike).
        tables: each keyed's (table, positions) for the chunk (_chunked)."""
        np = _numpy()
        _add_rows(tables, out, scratch)
        if len(self.pair_rows):
            starts = np.searchsorted(self.pair_rows, chunk)
            counts = np.searchsorted(self.pair_rows, chunk, side="right") - starts
            at = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            out[np.repeat(np.arange(len(chunk)), counts), self.pair_columns[at]] = True
        return out


def _add_rows(tables, out, scratch):
    """The sum, into out (scratch alike), of each (table, positions)'s rows for a chunk, added in their order
    (so floats round as _score_pair's do); numpy adds bools as `or`."""
    np = _numpy()
    for index, (table, positions) in enumerate(tables):
        np.take(table, positions, axis=0, out=scratch if index else out, mode="clip")
        if index:
            out += scratch
    return out


def _distinct(keys) -> tuple:
    """(the distinct rows of keys (n × k), in order; each row's index among them). As np.unique(axis=0), whose
    overhead outweighs a chunk's few rows many times over."""
    np = _numpy()
    order = np.lexsort(keys.T[::-1])
    ordered = keys[order]
    first = np.ones(len(keys), dtype=bool)
    np.any(ordered[1:] != ordered[:-1], axis=1, out=first[1:])
    inverse = np.empty(len(keys), dtype=np.intp)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def _rule_table(rule: Rule, mentors: _Side, keys):
    return rule.table(mentors, keys[:, None])


def _block_buffers(rows: int, mentors: int):
    """Bool buffers for _Blocker.blocks, reused chunk after chunk: fresh ones cost a page fault per 4 kB each time."""
    return _numpy().empty((2, rows, mentors), dtype=bool)


@dataclass(frozen=True)
class _Term:
    """One weighted criterion: every free mentee's value of its key; (the distinct values, each mentee's
    position among them)."""

    criterion: Criterion
    weight: float
    values: object
    distinct: tuple

    @classmethod
    def of(cls, criterion: Criterion, weight: float, mentees: _Side) -> _Term:
        values = mentees.column(criterion.mentee_key)
        return cls(criterion, weight, values, _numpy().unique(values, return_inverse=True))

    def fits(self, mentors: _Side, keys):
        """weight × fit by key value × mentor, NaN where the criterion does not apply."""
        return self.weight * self.criterion.fit_table(mentors, keys[:, None])


class _Scorer:
    """Exact scores of free mentees (rows) against mentors, a chunk of rows at a time.

    Scores come the same way as _score_pair's: the criteria's weighted fits
    added in the criteria's order, × 100, divided by the sum of the weights
    that apply (added in the same order), rounded; the same floating-point
    operations, so both round alike. Mostly through codes (_ScoreCodes): a
    pair's score is a function of which value each criterion's weighted fit
    takes, and those are few. When the combinations are too many, the sums
    are made per chunk from each criterion's table rows (_float_scores).

    A criterion with few distinct mentee keys gets one table for the whole
    cohort; one with many (interests, a committee question) a table per
    window of chunks (_chunked), and rows are visited in the order of those
    keys so that a window holds few of them. The hard rules' blocks come the
    same way (_Blocker). Memory stays a few chunks and tables.
    """

    def __init__(self, mentors: _Side, mentees: _Side, weights: dict[str, float],
                 criteria: tuple[Criterion, ...], forbidden: frozenset):
        np = _numpy()
        self.mentors, self.mentees = mentors, mentees
        self.terms = [_Term.of(criterion, weights[criterion.name], mentees)
                      for criterion in criteria if weights[criterion.name]]
        self.codes = _ScoreCodes.of(self.terms, mentors)
        if self.codes is None:
            self.keyed = [_Keyed.of(term.values, partial(_float_table, term, mentors), len(mentors), term.distinct)
                          for term in self.terms]
            self._denominators: dict[tuple, tuple] = {}
        self.blocker = _Blocker(mentors, mentees, forbidden)
        # Visited in the order of the keys of the criteria whose float tables are built per chunk, even when
        # their codes' tables are whole: the sparse solver's choice among equally good pairs follows the order.
        per_chunk = [positions for keys, positions in (term.distinct for term in self.terms)
                     if not _whole_table(keys, len(mentors))]
        self.order = np.lexsort(per_chunk[::-1]) if per_chunk else np.arange(len(mentees))
        self.rank = np.empty_like(self.order)
        self.rank[self.order] = np.arange(len(self.order))

    def chunks(self, rows=None):
        """(mentee rows, their scores int16 rows × mentors, BLOCKED where a rule forbids), chunk by chunk.
        All rows by default; given rows come back in the scorer's own order."""
        np = _numpy()
        rows = self.order if rows is None else np.asarray(rows)[np.argsort(self.rank[rows], kind="stable")]
        # Reused by every chunk: fresh temporaries this large cost a page fault per 4 kB each time.
        size = min(max(1, _CHUNK_CELLS // max(1, len(self.mentors))), len(rows)), len(self.mentors)
        sums = np.empty((2, *size), dtype=np.float64 if self.codes is None else self.codes.dtype)
        flags = _block_buffers(*size)
        keyed = self.keyed if self.codes is None else self.codes.keyed
        for chunk, tables in _chunked(rows, len(self.mentors), keyed + self.blocker.keyed):
            fits, blocks = tables[:len(keyed)], tables[len(keyed):]
            if self.codes is None:
                scores = self._float_scores(fits, *sums[:, :len(chunk)])
            else:
                scores = self.codes.scores(fits, *sums[:, :len(chunk)])
            # BLOCKED is -1, all bits set: or-ing beats a masked write many times over.
            blocked = self.blocker.blocks(chunk, blocks, *flags[:, :len(chunk)])
            yield chunk, np.bitwise_or(scores, np.negative(blocked, dtype=np.int16), out=scores)

    def _float_scores(self, tables, numerator, scratch):
        """A chunk's scores from the sums of each criterion's table rows (tables: (table, positions) each)."""
        np = _numpy()
        _add_rows([(table, positions) for (table, _, _), positions in tables], numerator, scratch)
        # (term index, each row's pattern, the patterns) of the terms that apply to some pairs only
        partial = [(index, pattern[positions], patterns)
                   for index, ((_, pattern, patterns), positions) in enumerate(tables) if pattern is not None]
        numerator *= 100
        denominator, positive = self._denominator(partial, scratch)
        if positive:
            np.divide(numerator, denominator, out=numerator)
        else:
            np.divide(numerator, denominator, out=numerator, where=denominator > 0)
        return np.rint(numerator, out=np.empty(numerator.shape, dtype=np.int16), casting="unsafe")

    def _denominator(self, partial, out) -> tuple:
        """(the sum of the weights that apply, per cell and added in the criteria's order, is it above 0 everywhere).
        A number, or one row, when every row of the chunk has the same patterns."""
        np = _numpy()
        if not partial:
            return self._denominator_row(())
        combinations, inverse = _distinct(np.stack([pattern for _, pattern, _ in partial], axis=1))
        rows = [self._denominator_row(tuple((index, patterns[at]) for (index, _, patterns), at in zip(partial, row)))
                for row in combinations.tolist()]
        positive = all(row_positive for _, row_positive in rows)
        if len(rows) == 1:
            return rows[0][0], positive
        np.take(np.stack([row for row, _ in rows]), inverse, axis=0, out=out, mode="clip")
        return out, positive

    def _denominator_row(self, key: tuple) -> tuple:
        """key: (term index, pattern) for each term that applies to some pairs only."""
        cached = self._denominators.get(key)
        if cached is None:
            np = _numpy()
            applies_by_term = {index: np.unpackbits(np.frombuffer(pattern, dtype=np.uint8),
                                                    count=len(self.mentors)).astype(bool) for index, pattern in key}
            denominator = 0.0
            for index, term in enumerate(self.terms):
                applies = applies_by_term.get(index)
                denominator = denominator + (term.weight if applies is None else np.where(applies, term.weight, 0.0))
            if len(self._denominators) * len(self.mentors) > _TABLE_CELLS:
                self._denominators.clear()
            cached = self._denominators[key] = (denominator, bool(np.all(denominator > 0)))
        return cached


def _float_table(term: _Term, mentors: _Side, keys) -> tuple:
    """(weight × fit by key value × mentor, 0 where the criterion does not apply; where it applies, as each key
    value's index into the patterns, or None if everywhere; the patterns, as bytes, which name them in the
    denominators' cache)."""
    np = _numpy()
    fits = term.fits(mentors, keys)
    applies = ~np.isnan(fits)
    table = np.where(applies, fits, 0.0)
    if applies.all():
        return table, None, None
    patterns: dict[bytes, int] = {}
    pattern = [patterns.setdefault(row.tobytes(), len(patterns)) for row in np.packbits(applies, axis=1)]
    return table, np.array(pattern, dtype=np.intp), list(patterns)


class _ScoreCodes:
    """Scores by code. Each criterion's weighted fit takes few distinct values across the cohort, its states
    (NaN, "does not apply", among them), and a pair's score is a function of its criteria's states. A pair's
    code numbers that combination (mixed radix, in the criteria's order); `table` holds every combination's
    score, computed once with the same floating-point operations as _score_pair. Codes add exactly in any
    order, so criteria whose mentee keys have few combinations in the cohort share one table of summed codes,
    and a chunk's codes take a few integer gathers and adds. A table of codes is kept for the whole cohort up
    to the memory of a table of _TABLE_CELLS floats; a larger one is built per chunk.
    """

    def __init__(self, keyed: list[_Keyed], table, dtype):
        self.keyed, self.table, self.dtype = keyed, table, dtype

    @classmethod
    def of(cls, terms: list[_Term], mentors: _Side) -> _ScoreCodes | None:
        """None when the combinations of states are more than _SCORE_TABLE_CELLS."""
        np = _numpy()
        most = 2 * _TABLE_CELLS // max(1, len(mentors))  # key values of a whole-cohort table of codes
        states, indexes = zip(*(_states(term, mentors, len(term.distinct[0]) <= most) for term in terms))
        radix = np.cumprod([1] + [len(values) for values in states])
        if radix[-1] > _SCORE_TABLE_CELLS:
            return None
        dtype = np.dtype(np.int16 if radix[-1] <= np.iinfo(np.int16).max else np.int32)
        distinct = [term.distinct for term in terms]
        keyed, groups = [], []  # groups: (term indexes, their mentee keys' combinations, each mentee's)
        for index, (keys, positions) in enumerate(distinct):
            if indexes[index] is None:
                keyed.append(_Keyed(terms[index].values, positions,
                                    partial(_codes, terms[index], mentors, states[index], dtype.type(radix[index]))))
                continue
            if groups:
                # The group's combinations with this key, from each mentee's combination so far: two columns
                # to sort, not one per member, and the same combinations in the same (lexicographic) order.
                members, combinations, combination = groups[-1]
                pairs, together = _distinct(np.stack([combination, positions], axis=1))
                if _whole_table(pairs, len(mentors)):
                    grown = np.column_stack([combinations[pairs[:, 0]], pairs[:, 1]])
                    groups[-1] = (members + [index], grown, together)
                    continue
            groups.append(([index], np.arange(len(keys))[:, None], positions))
        for members, combinations, combination in groups:
            table = np.empty((len(combinations), len(mentors)), dtype=dtype)
            _add_rows([(indexes[index].astype(dtype) * dtype.type(radix[index]), combinations[:, at])
                       for at, index in enumerate(members)], table, np.empty_like(table))
            keyed.append(_Keyed(combination, combination, None, table))
        return cls(keyed, _score_table(terms, states, radix), dtype)

    def scores(self, tables, codes, scratch):
        """A chunk's scores (int16): its codes from each keyed's (table, positions), summed into `codes` (scratch
        alike), looked up."""
        return _numpy().take(self.table, _add_rows(tables, codes, scratch), mode="clip")


def _states(term: _Term, mentors: _Side, keep: bool) -> tuple:
    """(the distinct values of the term's weighted fits, NaN last; if keep, each key value × mentor's index among
    them). A slice of key values at a time, each slice's indexes into its own values renumbered at the end."""
    np = _numpy()
    keys = term.distinct[0]
    step = max(1, _TABLE_CELLS // max(1, len(mentors)))
    slices = []
    for start in range(0, max(1, len(keys)), step):
        fits = term.fits(mentors, keys[start:start + step])
        values = np.unique(fits)
        slices.append((values, _positions(values, fits) if keep else None))
    if len(slices) == 1:
        return slices[0]
    states = np.unique(np.concatenate([values for values, _ in slices]))
    if not keep:
        return states, None
    small = np.min_scalar_type(len(states))
    return states, np.concatenate([np.searchsorted(states, values).astype(small)[index] for values, index in slices])


def _positions(values, fits):
    """Each fit's index in values (sorted, NaN last, holding every fit), in the smallest integer type. When the
    values are few, counting the ones at or below each fit beats searchsorted's binary search."""
    np = _numpy()
    if len(values) > _FEW_STATES:
        return np.searchsorted(values, fits).astype(np.min_scalar_type(len(values)))  # NaN sorts last here too
    index = np.zeros(fits.shape, dtype=np.min_scalar_type(len(values)))
    above = np.empty(fits.shape, dtype=bool)
    for value in values[1:]:
        index += np.greater_equal(fits, value, out=above)
    if len(values) and np.isnan(values[-1]):
        index[np.isnan(fits)] = len(values) - 1
    return index


def _codes(term: _Term, mentors: _Side, states, place, keys):
    """The term's part of the codes, by key value × mentor: its state's index × its place value."""
    np = _numpy()
    step = max(1, _TABLE_CELLS // max(1, len(mentors)))
    codes = np.empty((len(keys), len(mentors)), dtype=place.dtype)
    for start in range(0, len(keys), step):
        codes[start:start + step] = _positions(states, term.fits(mentors, keys[start:start + step]))
    codes *= place
    return codes


def _score_table(terms: list[_Term], states: list, radix) -> object:
    """The score (int16) of every combination of the terms' states, by code: the weighted fits that apply added
    in the criteria's order, × 100, / the sum of their weights (added in the same order), rounded."""
    np = _numpy()
    table = np.empty(radix[-1], dtype=np.int16)
    for start in range(0, len(table), _CHUNK_CELLS):
        codes = np.arange(start, min(start + _CHUNK_CELLS, len(table)))
        numerator = denominator = 0.0
        for term, values, step, count in zip(terms, states, radix, radix[1:] // radix[:-1]):
            value = values[codes // step % count]
            applies = ~np.isnan(value)
            numerator = numerator + np.where(applies, value, 0.0)
            denominator = denominator + np.where(applies, term.weight, 0.0)
        numerator = numerator * 100
        np.divide(numerator, denominator, out=numerator, where=denominator > 0)
        np.rint(numerator, out=table[start:start + len(codes)], casting="unsafe")
    return table


# ---------------------------------------------------------------------------
# Choosing pairs
# ---------------------------------------------------------------------------

def _best_assignment(cohort: _Cohort) -> list[tuple[int, int]]:
    """Exact (mentee row, mentor column) pairs: the dense solver for a small cohort, where it is faster,
    the sparse one from _SPARSE_FROM_CELLS cells of the dense matrix (free mentees × mentor slots)."""
    if _sparse_is_faster(len(cohort.free_mentees), sum(cohort.capacity_left)):
        return _sparse_assignment(cohort)
    return _dense_assignment(cohort)


def _sparse_is_faster(mentees: int, slots: int) -> bool:
    """Whether the sparse solver is the faster for this many free mentees and mentor slots (_SPARSE_FROM_CELLS)."""
    as_many, otherwise = _SPARSE_FROM_CELLS
    return mentees * slots >= (as_many if mentees == slots else otherwise)


def _dense_assignment(cohort: _Cohort) -> list[tuple[int, int]]:
    return _optimal_assignment(cohort.pair_scores(), cohort.capacity_left)


def _cost_matrix(scores, capacity: tuple[int, ...]):
    """The assignment problem: mentees against mentor slots (a mentor's slots are identical copies).

    Allowed cells cost -(BIG + score) and blocked ones 0, with BIG above any
    possible total score: so the solver first maximises the number of allowed
    pairs, then their total score, and a blocked cell is only ever a
    placeholder that is dropped.
    Memory: linear_sum_assignment works on a C-contiguous float64 matrix with
    no more rows than columns without copying it; any other dtype (float32
    included) or a tall matrix is copied first. So the matrix is built once,
    in that form, chunk by chunk; rows are the smaller side, and slots on a
    tie, which the solver handles markedly faster on real cohorts.
    Returns (cost, slot_owner, mentees_are_rows).
    """
    np = _numpy()
    slot_owner = np.repeat(np.arange(len(capacity)), np.asarray(capacity, dtype=np.int64))
    mentee_count = scores.shape[0]
    big = 100 * min(mentee_count, len(slot_owner)) + 1
    mentees_are_rows = mentee_count < len(slot_owner)
    if mentees_are_rows:
        cost = np.empty((mentee_count, len(slot_owner)))
        by_mentor = None
    else:
        cost = np.empty((len(slot_owner), mentee_count))
        by_mentor = np.ascontiguousarray(scores.T)  # so that a slot's row is one contiguous copy
    step = max(1, _CHUNK_CELLS // max(1, cost.shape[1]))
    for start in range(0, cost.shape[0], step):
        rows = slice(start, start + step)
        block = scores[rows][:, slot_owner] if mentees_are_rows else by_mentor[slot_owner[rows]]
        costs = cost[rows]
        np.add(block, float(big), out=costs)
        np.negative(costs, out=costs)
        np.copyto(costs, 0.0, where=block == BLOCKED)
    return cost, slot_owner, mentees_are_rows


def _optimal_assignment(scores, capacity: tuple[int, ...]) -> list[tuple[int, int]]:
    """Exact (mentee row, mentor column) pairs: most mentees matched, then highest total score."""
    from scipy.optimize import linear_sum_assignment

    cost, slot_owner, mentees_are_rows = _cost_matrix(scores, capacity)
    if cost.size == 0:
        return []
    rows, columns = linear_sum_assignment(cost)
    allowed = cost[rows, columns] < 0
    rows, columns = rows[allowed], columns[allowed]
    mentee_rows, slots = (rows, columns) if mentees_are_rows else (columns, rows)
    return sorted(zip(mentee_rows.tolist(), slot_owner[slots].tolist()))


def _fairest_assignment(scores, capacity: tuple[int, ...]) -> list[tuple[int, int]]:
    """(mentee row, mentor column) pairs: most matched, then the highest lowest score, then the highest total."""
    np = _numpy()
    best = _assignment_of(scores, capacity)
    if not best:
        return best
    floors = np.unique(scores[scores >= 0])
    # The unbounded optimum keeps every pair at or above its own lowest score, so it is also the optimum
    # at that floor: the search starts there, feasible, and only looks higher.
    low = int(np.searchsorted(floors, min(int(scores[row, column]) for row, column in best)))
    high = len(floors) - 1
    while low < high:
        middle = (low + high + 1) // 2
        chosen = _assignment_of(np.where(scores >= floors[middle], scores, BLOCKED).astype(scores.dtype), capacity)
        if len(chosen) == len(best):
            low, best = middle, chosen
        else:
            high = middle - 1
    return best


def _assignment_of(scores, capacity: tuple[int, ...]) -> list[tuple[int, int]]:
    """Exact pairs for a given score matrix (BLOCKED where ruled out): most matched, then highest total.
    A small cohort goes to the dense solver, a larger one to the sparse one over every allowed pair."""
    if not _sparse_is_faster(scores.shape[0], sum(capacity)):
        return _optimal_assignment(scores, capacity)
    np = _numpy()
    room = np.asarray(capacity, dtype=np.int64)
    with_room = np.flatnonzero(room > 0)
    if not scores.shape[0] or not len(with_room):
        return []
    allowed = scores[:, with_room]
    rows, columns = _cells(allowed >= 0)
    mentor_of = _sparse_optimum(scores.shape[0], room[with_room], (rows, columns, allowed[rows, columns].astype(np.int64)))
    matched = np.flatnonzero(mentor_of >= 0)
    return sorted(zip(matched.tolist(), with_room[mentor_of[matched]].tolist()))


class _Candidates:
    """The first scan's pairs: each mentee's best mentors, and each mentor's mentees for whom it is nearest
    to their best (what a mentee gives up for it, their best score minus its).

    They need not hold the optimum; their optimum's duals are where the
    second scan starts from. A mentor's best-scoring mentees mostly have
    better mentors still; those nearest to their best are the ones it
    plausibly gets, so its price starts near where it ends."""

    def __init__(self, mentee_count: int, mentor_count: int, per_mentee: int, per_mentor: int):
        np = _numpy()
        self.mentor_count, self.per_mentee, self.per_mentor = mentor_count, per_mentee, per_mentor
        self.best = np.zeros(mentee_count, dtype=np.int16)  # each mentee's best score
        self.mentor_floor = np.full(mentor_count, _FORGONE_FLOOR, dtype=np.int16)  # the kept stand above
        self.mentee_pairs, self.mentor_pairs, self.mentor_held = [], [], 0

    def add(self, rows, scores) -> None:
        """Take what to keep from one chunk of scores (rows × all mentors)."""
        keep = self.per_mentee
        if keep < scores.shape[1]:
            row, column = _best_of_rows(scores, keep, floor=0)
        else:
            row, column = _cells(scores >= 0)
        self.mentee_pairs.append((rows[row], column, scores[row, column]))
        if not self.per_mentor:
            return
        best = scores.max(axis=1, initial=0)
        self.best[rows] = best
        # score - best, in 0 down to -100, where a rule allows the pair
        standing = scores - best[:, None]
        above_floor = standing > self.mentor_floor
        above_floor &= scores >= 0
        row, column = _cells(above_floor)
        self.mentor_pairs.append((rows[row], column, standing[row, column]))
        self.mentor_held += len(row)
        if self.mentor_held > 4 * self.per_mentor * self.mentor_count:
            self._trim_mentor_pairs()

    def _trim_mentor_pairs(self) -> None:
        np = _numpy()
        rows, columns, standing = (np.concatenate(part) for part in zip(*self.mentor_pairs))
        # By mentor, nearest to best first, then by row: one sort of packed keys (rows < 2**24,
        # mentors < 2**23, standing -100 to 0), several times faster than lexsort.
        keys = (columns.astype(np.int64) << 40) | (-standing.astype(np.int64) << 24) | rows
        keys.sort()
        rows, columns, standing = keys & 0xFFFFFF, keys >> 40, (-((keys >> 24) & 0xFFFF)).astype(np.int16)
        rank = _run_ranks(columns)
        kept = rank < self.per_mentor
        full = rank == self.per_mentor - 1
        self.mentor_floor[columns[full]] = standing[full]
        self.mentor_pairs = [(rows[kept], columns[kept], standing[kept])]
        self.mentor_held = int(kept.sum())

    def pairs(self) -> tuple:
        """(rows, columns, scores) of every pair kept, each once."""
        np = _numpy()
        mentor_pairs = [(rows, columns, standing + self.best[rows]) for rows, columns, standing in self.mentor_pairs]
        rows, columns, scores = (np.concatenate(part) for part in zip(*self.mentee_pairs, *mentor_pairs))
        _, first = np.unique(rows.astype(np.int64) * self.mentor_count + columns, return_index=True)
        return rows[first], columns[first], scores[first].astype(np.int64)


_FORGONE_FLOOR = -101  # below every pair a rule allows: score - best is -100 at the least


def _run_ranks(values):
    """Each value's place in its run of equal ones (values sorted), as arange - searchsorted(values, values)
    but in linear time: 15 against 60 ms over 1.7 million (over a chunk's few hundred, searchsorted's
    fewer calls win)."""
    np = _numpy()
    starts = np.ones(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    return np.arange(len(values)) - np.repeat(first, np.diff(first, append=len(values)))


def _sparse_assignment(cohort: _Cohort) -> list[tuple[int, int]]:
    """Exact (mentee row, mentor column) pairs, as _optimal_assignment's, without a mentees × mentors matrix.

    Column generation on the transportation problem, priced with LP duals: a
    value u per mentee and a price v per mentor such that u + v covers every
    pair's worth, BIG + score. An optimum over some pairs whose duals cover
    every other pair too is an optimum for the whole cohort.
    1. A first scan keeps each mentee's best pairs and each mentor's
       likeliest (_Candidates); where they cannot match as many mentees as
       the cohort can, more are added (_matching_most). Solve over them
       (_sparse_optimum, exact) and take the duals (_duals); while some
       mentees are unmatched, score those again
       and keep any pair that beats the duals, so that the prices do not
       carry BIG for want of a pair the scan left out.
    2. A full scan keeps, for each mentee, the pairs within _NEAR points of
       beating its duals (_Kept), and bounds what the others could gain
       against these prices, the reference, by runs of mentors.
    3. Solve again. A mentee whose left-out pairs could beat the new duals,
       given how far each run's prices fell from the reference, is scored
       again and any pair that beats them is kept; when more than
       _RESCAN_SHARE of the mentees are in doubt, step 2 again instead.
       When no mentee is in doubt, or none of those scored again has a pair
       that beats the duals, the duals prove the solution optimal.
    Every solve after the first starts from the last duals (_sparse_optimum).
    The problem is totally unimodular, so its LP optimum is a matching.
    """
    np = _numpy()
    capacity = np.asarray(cohort.capacity_left, dtype=np.int64)
    with_room = np.flatnonzero(capacity > 0)
    mentee_count = len(cohort.free_mentees)
    if not mentee_count or not len(with_room):
        return []
    room = capacity[with_room]
    big = 100 * min(mentee_count, int(room.sum())) + 1
    scorer = cohort.scorer(with_room)

    def scorer_of(columns):  # the free mentees against some of the mentors with room
        return cohort.scorer(with_room[columns])

    if mentee_count * len(with_room) <= _KEPT_SCORE_CELLS:
        scorer = _ScoresKept(scorer, np.empty((mentee_count, len(with_room)), dtype=np.int16))
        scorer_of = scorer.of_columns
    fewest, most = _MENTEE_CANDIDATES
    candidates = _Candidates(mentee_count, len(room), min(max(len(room) // _MENTORS_PER_CANDIDATE, fewest), most),
                             _MENTOR_CANDIDATES)
    for rows, scores in scorer.chunks():
        candidates.add(rows, scores)
    kept = _Kept(mentee_count, candidates.pairs(), len(room))
    every_mentee, reference, duals, first = np.arange(mentee_count), None, None, True
    while True:
        mentor_of = _sparse_optimum(mentee_count, room, kept.pairs, duals, all_or_none=first)
        first = False
        if mentor_of is None:  # these pairs leave mentees over while some mentors have room: add pairs first
            _matching_most(kept, room, scorer_of)
            continue
        value, price = _duals(mentee_count, len(room), kept.pairs, mentor_of, big)
        # The next round starts from these, unless a price carries BIG (a mentee left over beside that
        # mentor): from such duals scipy took 84 s where a cold start takes 20 s (50,000 mentees).
        duals = (value, price, big) if price.max(initial=0) < big else None
        margin = value - big
        if reference is None and (mentor_of < 0).any():
            # Most mentees matched first, else the prices carry BIG. Score again those left over and those
            # whose mentor's price carries BIG for them: so that places can move along, through pairs the
            # first scan left out, to the mentors with room (at 50,000, round after round of a few left over).
            carrying_big = np.flatnonzero((mentor_of < 0) | (price[np.maximum(mentor_of, 0)] >= big))
            if kept.rescore(scorer, carrying_big, margin, price, price):
                continue
        unsettled = every_mentee if reference is None else kept.unsettled(margin, reference - price)
        if len(unsettled) > mentee_count * _RESCAN_SHARE:
            # Prices moved too far for the bounds: scan everyone again, against these prices.
            reference = price
            kept.rescore(scorer, every_mentee, margin, price, reference)
            continue
        if not len(unsettled) or not kept.rescore(scorer, unsettled, margin, price, reference):
            break
    matched = np.flatnonzero(mentor_of >= 0)
    return list(zip(matched.tolist(), with_room[mentor_of[matched]].tolist()))


def _matching_most(kept: _Kept, room, scorer_of) -> None:
    """Add pairs to the first scan's where they cannot match as many mentees as the cohort can.

    Over the first scan's pairs, a maximum matching (Hopcroft-Karp) may leave
    mentees over while mentors have room. The mentees those can reach (by
    turns a pair and a mentor's matched mentee) have pairs only with the
    reached mentors, who are all full. Each reached mentee's best pairs with
    the mentors outside are added, and again, until none is left over, or
    none of them has an allowed pair outside (then no matching of the whole
    cohort is larger either), or for _MATCHING_ROUNDS rounds. The weighted
    solve then starts with most mentees matched, its fast case (at 50,000
    mentees, the first scan's pairs left 2,616 over). Only speed depends on
    it: the loop proves the optimum. scorer_of(columns) scores the mentees
    against those mentors only."""
    np = _numpy()
    mentee_count = len(kept.bound)
    for _ in range(_MATCHING_ROUNDS):
        rows, columns, _ = kept.pairs
        reached_mentees, reached_mentors, unmatched = _reach_of_unmatched(mentee_count, room, rows, columns)
        outside = np.flatnonzero(~reached_mentors)
        if not unmatched or not len(outside):
            return
        added = _Candidates(mentee_count, len(outside), _MATCHING_PAIRS, 0)
        for chunk, chunk_scores in scorer_of(outside).chunks(reached_mentees):
            added.add(chunk, chunk_scores)
        new_rows, new_columns, new_scores = added.pairs()
        if not len(new_rows):
            return
        # None of these was kept: a reached mentee's kept pairs are all with reached mentors.
        kept._add(new_rows.astype(np.int64) * kept.mentor_count + outside[new_columns], new_scores)


def _reach_of_unmatched(mentee_count: int, room, rows, columns) -> tuple:
    """The mentees a maximum matching over these pairs leaves over, and whom they reach by turns a pair and
    a mentor's matched mentee: (the reached mentees, a mask of the reached mentors, how many are left over).
    Nothing is reached when none is left over or every slot is filled."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import breadth_first_order, maximum_bipartite_matching

    np = _numpy()
    mentees, slots, slot_owner = _slots(room, rows, columns)
    # Slots as rows: scipy's Hopcroft-Karp took 0.23 s so, against 6.1 s with mentees as rows (50,000 mentees).
    mentee_of = maximum_bipartite_matching(csr_array((np.ones(len(slots), dtype=np.int8), (slots, mentees)),
                                                     shape=(len(slot_owner), mentee_count)), perm_type="column")
    filled = np.flatnonzero(mentee_of >= 0)
    unmatched = mentee_count - len(filled)
    if not unmatched or len(filled) == len(slot_owner):
        return np.arange(0), np.ones(len(room), dtype=bool), unmatched
    left_over = np.ones(mentee_count, dtype=bool)
    left_over[mentee_of[filled]] = False
    # Nodes: mentees, then mentors, then a source that leads to each mentee left over.
    mentor_node = mentee_count + np.arange(len(room))
    source = mentee_count + len(room)
    tails = np.concatenate([rows, mentor_node[slot_owner[filled]], np.full(unmatched, source)])
    heads = np.concatenate([mentor_node[columns], mentee_of[filled], np.flatnonzero(left_over)])
    graph = csr_array((np.ones(len(tails), dtype=np.int8), (tails, heads)), shape=(source + 1, source + 1))
    reached = np.zeros(source + 1, dtype=bool)
    reached[breadth_first_order(graph, source, directed=True, return_predecessors=False)] = True
    return np.flatnonzero(reached[:mentee_count]), reached[mentee_count:source], unmatched


def _slots(room, rows, columns) -> tuple:
    """Pairs with mentors as pairs with their slots: (mentees, slots, each slot's mentor)."""
    np = _numpy()
    first_slot = np.cumsum(room) - room
    copies = room[columns]
    starts = np.repeat(np.cumsum(copies) - copies, copies)
    slots = np.repeat(first_slot[columns], copies) + np.arange(len(starts)) - starts
    return np.repeat(rows, copies), slots, np.repeat(np.arange(len(room)), room)


class _ScoresKept:
    """A scorer that keeps what its first full scan scored, and hands those rows out after (as views: read
    only). For a cohort of at most _KEPT_SCORE_CELLS pairs, less than the dense solver's own matrix."""

    def __init__(self, scorer: _Scorer, scores, scored: bool = False):
        self.scorer, self.scores, self.scored = scorer, scores, scored  # scores: int16, mentees × mentors

    def of_columns(self, columns) -> _ScoresKept:
        """The first full scan's scores with those mentors only."""
        return _ScoresKept(None, self.scores[:, columns], scored=True)

    def chunks(self, rows=None):
        np = _numpy()
        if self.scored:
            rows = np.arange(len(self.scores)) if rows is None else np.asarray(rows)
            step = max(1, _CHUNK_CELLS // max(1, self.scores.shape[1]))
            for start in range(0, len(rows), step):
                yield rows[start:start + step], self.scores[rows[start:start + step]]
            return
        for chunk, scores in self.scorer.chunks(rows):
            if rows is None:
                self.scores[chunk] = scores
            yield chunk, scores
        self.scored = self.scored or rows is None


class _Kept:
    """The pairs the sparse solver optimises over, and a bound on each mentee's others.

    bound[i, g] is the most that mentee i's pairs left out with a mentor of
    group g (mentors in _BOUND_GROUPS runs of columns) score above that
    mentor's reference price; -inf where none is left out."""

    def __init__(self, mentee_count: int, pairs: tuple, mentor_count: int):
        np = _numpy()
        self.mentor_count = mentor_count
        self.group_starts = np.linspace(0, mentor_count, min(_BOUND_GROUPS, mentor_count),
                                        endpoint=False).astype(np.int64)
        self.bound = np.full((mentee_count, len(self.group_starts)), np.inf)  # nothing is bounded before a scan
        self.pairs, self.keys = pairs, pairs[0].astype(np.int64) * mentor_count + pairs[1]  # sorted by key

    def unsettled(self, margin, price_fall):
        """Mentees some left-out pair of whom might score above margin + its mentor's price."""
        np = _numpy()
        fall = np.maximum.reduceat(price_fall, self.group_starts)
        return np.flatnonzero((self.bound + fall > margin[:, None]).any(axis=1))

    def rescore(self, scorer: _Scorer, rows, margin, price, reference) -> int:
        """Score the rows again: keep each one's pairs within _NEAR of margin + price (the best
        _NEAR_PAIRS), and bound the rest against the reference prices. Returns how many pairs
        scored above margin + price and were not kept before."""
        np = _numpy()
        # int32 throughout: margins lie within BIG + 100 of 0, prices below 2**30. Against an int64
        # threshold, numpy compares a chunk's gains 4 to 7 times slower (50,000 mentees).
        near_from = (margin - _NEAR).astype(np.int32)[:, None]
        # Against the reference, a gain is its gain against the prices plus the mentor's price rise since:
        # one add for a chunk instead of _gains' five passes (exact, forbidden pairs included).
        rise = None if price is reference else (price - reference).astype(np.int32)
        price = price.astype(np.int32)
        held_from = self._row_starts(self.keys)
        held = None  # a bool buffer chunk rows × mentors, True on the kept pairs of the chunk for a while
        above, added, scanned, maxima = 0, [], [], []
        for chunk, scores in scorer.chunks(rows):
            if held is None or len(held) < len(chunk):  # the first chunk is the largest
                held = np.zeros(scores.shape, dtype=bool)
            gain = _gains(scores, price)
            near = gain > near_from[chunk]
            # Counted as bytes: summing bools casts each to int64 first (33 against 60 us a chunk).
            crowded = near.view(np.uint8).sum(axis=1, dtype=np.int32) > _NEAR_PAIRS
            if not crowded.any():
                row, column = _cells(near)
            else:  # only the best _NEAR_PAIRS of these, the best gain always among them
                roomy, crowded = np.flatnonzero(~crowded), np.flatnonzero(crowded)
                row, column = _cells(near[roomy])
                # Often every row is crowded (at 50,000 mentees, 99% of those scored again): no copy then.
                best_row, best_column = _best_of_rows(gain if len(roomy) == 0 else gain[crowded], _NEAR_PAIRS)
                row = np.concatenate([roomy[row], crowded[best_row]])
                column = np.concatenate([column, best_column])
            held_rows, held_columns = self._held(held_from, chunk)
            held[held_rows, held_columns] = True
            new = ~held[row, column]
            held[held_rows, held_columns] = False
            above += int(np.count_nonzero(new & (gain[row, column] > margin[chunk[row]])))
            added.append((chunk[row[new]].astype(np.int64) * self.mentor_count + column[new],
                          scores[row[new], column[new]]))
            left_out = gain if rise is None else gain + rise
            left_out[held_rows, held_columns] = _NO_GAIN
            left_out[row, column] = _NO_GAIN
            scanned.append(chunk)
            maxima.append(np.maximum.reduceat(left_out, self.group_starts, axis=1))
        if scanned:
            maxima = np.concatenate(maxima)
            self.bound[np.concatenate(scanned)] = np.where(maxima > _NO_GAIN, maxima, -np.inf)
            self._add(*(np.concatenate(part) for part in zip(*added)))
        return above

    def _row_starts(self, keys):
        """Where each mentee's pairs start among these sorted keys, and where the last one's end."""
        np = _numpy()
        return np.searchsorted(keys, np.arange(len(self.bound) + 1, dtype=np.int64) * self.mentor_count)

    def _held(self, held_from, chunk) -> tuple:
        """(position in chunk, mentor column) of every kept pair of these rows; held_from: _row_starts."""
        np = _numpy()
        starts = held_from[chunk]
        counts = held_from[chunk + 1] - starts
        positions = np.repeat(np.arange(len(chunk)), counts)
        index = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        return positions, self.pairs[1][index]

    def _add(self, keys, scores) -> None:
        """Keep these pairs too (keys none kept before, each once), merged into the sorted ones, the rows
        as runs and the columns as what the keys have beyond them: at 50,000 mentees 0.13 s against 0.19 s
        for sorting and dividing them all when 72,000 join 6.3 million (the same when 1.5 million join)."""
        np = _numpy()
        if not len(keys):
            return
        order = np.argsort(keys)
        keys = keys[order]
        at = np.searchsorted(self.keys, keys) + np.arange(len(keys))
        old = np.ones(len(self.keys) + len(keys), dtype=bool)
        old[at] = False
        merged_keys, merged_scores = (np.empty(len(old), dtype=np.int64) for _ in range(2))
        merged_keys[old], merged_keys[at] = self.keys, keys
        merged_scores[old], merged_scores[at] = self.pairs[2], scores[order]
        rows = np.repeat(np.arange(len(self.bound)), np.diff(self._row_starts(merged_keys)))
        self.keys, self.pairs = merged_keys, (rows, merged_keys - rows * self.mentor_count, merged_scores)


def _best_of_rows(values, keep: int, floor=None) -> tuple:
    """(rows, columns) of each row's `keep` highest values (of those at least floor, if given), ties going
    to the lowest columns: the same pairs on every machine, where numpy's argpartition picks among ties by
    its CPU's code path. The keep-th highest is the keep-th smallest of the negated values: 99 against
    335 us a chunk of 5 × 25,000 for the (columns - keep)-th smallest."""
    np = _numpy()
    threshold = -np.partition(-values, keep - 1, axis=1)[:, keep - 1]
    if floor is not None:
        threshold = np.maximum(threshold, floor)
    row, column = _cells(values >= threshold[:, None])
    tied = values[row, column] == threshold[row]
    above = np.bincount(row[~tied], minlength=len(values))
    tied_at = np.flatnonzero(tied)
    tied_rows = row[tied_at]
    rank = np.arange(len(tied_at)) - np.searchsorted(tied_rows, tied_rows)
    chosen = ~tied
    chosen[tied_at] = rank < keep - above[tied_rows]
    return row[chosen], column[chosen]


_NO_GAIN = -(1 << 30)  # the gain of a pair a rule forbids is this or less


def _cells(mask) -> tuple:
    """(rows, columns) where a 2-D mask is set, row by row: np.nonzero's answer, seven times faster
    (0.028 s against 0.209 s over 10,000 × 5,000)."""
    np = _numpy()
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _gains(scores, price):
    """score - mentor price per pair (int32: prices are whole numbers below 2**30), _NO_GAIN or less where
    forbidden. Branch-free, since a quarter or more of the pairs may be forbidden: seven times faster than
    writing _NO_GAIN where they are (0.057 s against 0.397 s for a pass over 10,000 × 5,000)."""
    np = _numpy()
    forbidden = scores.astype(np.int32)
    gains = forbidden - price.astype(np.int32)
    forbidden >>= 31  # all ones where the score is BLOCKED (-1), else 0
    forbidden &= _NO_GAIN
    gains += forbidden
    return gains


def _sparse_optimum(mentee_count: int, room, pairs, duals=None, all_or_none: bool = False):
    """Each mentee's mentor (or -1) in an optimum over the given pairs: most matched, then highest total score.
    With all_or_none, None instead when the pairs cannot match all mentees or fill all slots, whichever
    are fewer (found fast).

    scipy's sparse Jonker-Volgenant between mentees and mentor slots (_SlotGraph),
    costs 101 - score. Rows are the smaller side: a row left over is the
    solver's slowest case.

    duals, an earlier round's (value per mentee, price per mentor, BIG), start
    the solver near the optimum, several times faster: each pair's cost is
    handed over as its slack against them, value + price - (BIG + score).
    A row's part of that changes every solution's cost alike, since each row
    is matched exactly once. A column's part (>= 0) does too only if that
    column is taken, so the answer stands when every column with a part is
    taken; otherwise it is solved again with the rows' parts only. (Dropping
    just the parts of the columns left untaken can take dozens of rounds.)
    """
    np = _numpy()
    rows, columns, scores = pairs
    mentees, slots, slot_owner = _slots(room, rows, columns)
    if duals is None and mentee_count == len(slot_owner) >= _AUCTION_FROM:
        # As many slots as mentees: an auction's prices make a start. At 10,000 mentees 0.72 s against
        # 1.28 s cold (0.14 s of it the auction), at 50,000 26 s against 46 s; at 2,000 it costs more
        # than it saves (0.074 s against 0.061 s). Only for a full matching: where mentees are left over,
        # scipy took 120 s from such prices, against 20 s cold (50,000).
        start = _auction_duals(mentee_count, room, pairs)
        solved = None if start is None else _sparse_optimum(mentee_count, room, pairs, (*start, 0), all_or_none=True)
        if solved is not None or all_or_none:
            return solved
    # On a tie scipy solves a cold start faster with slots as rows, a warm one with mentees as rows
    # (at 10,000 of each: 1.7 s against 2.7 s cold, 0.8 s against 1.6 s warm).
    mentees_are_rows = mentee_count < len(slot_owner) or (mentee_count == len(slot_owner) and duals is not None)
    graph = _SlotGraph(mentees, slots, np.repeat(scores, room[columns]), mentee_count, len(slot_owner), mentees_are_rows)
    while True:
        solved = graph.solve(None if duals is None else (duals[0], duals[1][slot_owner], duals[2]), all_or_none)
        if solved is None:
            return None
        mentee, slot = solved
        mentor_of = np.full(mentee_count, -1)
        mentor_of[mentee] = slot_owner[slot]
        if duals is None:
            return mentor_of
        value, price, big = duals
        if mentees_are_rows:  # the columns are the slots: a priced mentor must be full
            short = (price > 0) & (np.bincount(mentor_of[mentor_of >= 0], minlength=len(room)) < room)
            duals = (value, np.zeros_like(price), big)
        else:  # the columns are the mentees: a valued mentee must be matched
            short = (value > 0) & (mentor_of < 0)
            duals = (np.zeros_like(value), price, big)
        if not short.any():
            return mentor_of


def _auction_duals(mentee_count: int, room, pairs) -> tuple | None:
    """(value per mentee, price per mentor) from an auction over the pairs (sorted by mentee): a start for
    scipy's solver, not an answer.

    Bertsekas's auction, every free mentee bidding at once: for its best
    mentor (score - price), that price plus what the mentor gains it over
    its second best, plus _AUCTION_STEP. A mentor keeps its best bids, its
    holders' among them, up to its room; once full, its price is the lowest
    of them. It stops when at most _AUCTION_LEFT of the mentees are free
    (the last few take the most rounds). None when it has not got there in
    _AUCTION_ROUNDS rounds, or when 50 rounds placed fewer than a tenth of
    those free: the pairs may not match them all. A mentee's value is its
    best gain at the last prices."""
    np = _numpy()
    rows, columns, scores = pairs
    starts = np.searchsorted(rows, np.arange(mentee_count + 1))
    price = np.zeros(len(room), dtype=np.int64)
    mentor_of = np.full(mentee_count, -1)
    bid_of = np.zeros(mentee_count, dtype=np.int64)
    with_pairs = np.flatnonzero(starts[1:] > starts[:-1])
    free, free_before = with_pairs, len(with_pairs)
    for round_ in range(1, _AUCTION_ROUNDS + 1):
        if len(free) <= mentee_count * _AUCTION_LEFT:
            break
        if not round_ % 50:
            if len(free) > 0.9 * free_before:
                return None  # the free no longer find places: the pairs may not match them all
            free_before = len(free)
        counts = starts[free + 1] - starts[free]
        first = np.cumsum(counts) - counts  # where each free mentee's pairs begin among theirs
        at = np.repeat(starts[free] - first, counts) + np.arange(counts.sum())
        gain = scores[at] - price[columns[at]]
        best = np.maximum.reduceat(gain, first)
        bidder = np.repeat(np.arange(len(free)), counts)
        top = np.flatnonzero(gain == best[bidder])
        top = top[np.r_[True, bidder[top[1:]] != bidder[top[:-1]]]]  # each one's first best pair
        gain[top] = _NO_GAIN
        second = np.where(counts > 1, np.maximum.reduceat(gain, first), best - 100)
        wanted = columns[at[top]]
        bid_for = np.zeros(len(room), dtype=bool)
        bid_for[wanted] = True
        holders = np.flatnonzero(mentor_of >= 0)
        holders = holders[bid_for[mentor_of[holders]]]
        mentees = np.concatenate([holders, free])
        mentors = np.concatenate([mentor_of[holders], wanted])
        bids = np.concatenate([bid_of[holders], price[wanted] + best - second + _AUCTION_STEP])
        order = np.lexsort((-bids, mentors))
        mentees, mentors, bids = mentees[order], mentors[order], bids[order]
        rank = _run_ranks(mentors)
        kept = rank < room[mentors]
        mentor_of[mentees[kept]], bid_of[mentees[kept]] = mentors[kept], bids[kept]
        mentor_of[mentees[~kept]] = -1
        lowest = rank == room[mentors] - 1
        price[mentors[lowest]] = bids[lowest]
        free = mentees[~kept]
    if len(free) > mentee_count * _AUCTION_LEFT:
        return None
    value = np.zeros(mentee_count, dtype=np.int64)
    if len(with_pairs):
        value[with_pairs] = np.maximum.reduceat(scores - price[columns], starts[with_pairs])
    return value, price


class _SlotGraph:
    """Mentees against mentor slots for scipy's full matching: the smaller side as rows, every cost
    above 0 (scipy drops a cost of 0)."""

    def __init__(self, mentees, slots, scores, mentee_count: int, slot_count: int, mentees_are_rows: bool):
        self.mentees, self.slots, self.scores, self.mentees_are_rows = mentees, slots, scores, mentees_are_rows
        self.row_ids, self.column_ids = (mentees, slots) if mentees_are_rows else (slots, mentees)
        self.row_count, self.column_count = ((mentee_count, slot_count) if mentees_are_rows
                                             else (slot_count, mentee_count))

    def solve(self, duals, all_or_none: bool = False) -> tuple | None:
        """(mentees, their slots) of an optimum; duals (value per mentee, price per slot, BIG), if given,
        turn each cost into its slack against them. With all_or_none, None when not every row can be matched.

        First over the pairs alone, which is right when every row can be matched (the most that can be),
        and several times faster: scipy initialises a square problem's duals, and a row's search is as
        long as the columns are many. When scipy finds that some row cannot be matched, again with a
        private "left over" column per row, costing more than the costs of a whole matching together,
        so that it is only taken when nothing else fits."""
        from scipy.sparse.csgraph import min_weight_full_bipartite_matching

        np = _numpy()
        costs, left_over = 101.0 - self.scores, np.full(self.row_count, 101.0 * self.row_count + 1)
        if duals is not None:
            value, slot_price, big = duals
            costs += value[self.mentees] + slot_price[self.slots] - (big + 101.0)
            left_over += (value if self.mentees_are_rows else slot_price) - (big + 101.0)
            lowest = min(costs.min(initial=np.inf), left_over.min())
            costs += 1.0 - lowest
            left_over += 1.0 - lowest
        try:
            row, column = min_weight_full_bipartite_matching(self._graph(costs))
        except ValueError:  # scipy's "no full matching exists"
            if all_or_none:
                return None
            row, column = min_weight_full_bipartite_matching(self._graph(costs, left_over))
        real = column < self.column_count
        return (row[real], column[real]) if self.mentees_are_rows else (column[real], row[real])

    def _graph(self, costs, left_over=None):
        from scipy.sparse import csr_array

        np = _numpy()
        if left_over is None:
            return csr_array((costs, (self.row_ids, self.column_ids)), shape=(self.row_count, self.column_count))
        return csr_array((np.concatenate([costs, left_over]),
                          (np.concatenate([self.row_ids, np.arange(self.row_count)]),
                           np.concatenate([self.column_ids, self.column_count + np.arange(self.row_count)]))),
                         shape=(self.row_count, self.column_count + self.row_count))


def _duals(mentee_count: int, mentor_count: int, pairs, mentor_of, big: int):
    """(value u per mentee, price v per mentor) for an optimum over the pairs, u, v >= 0.

    u + v >= BIG + score on every pair, with equality on the chosen ones; a
    mentor with room left and an unmatched mentee are worth 0. The prices are
    the least that satisfy this: the longest paths in the graph where a
    chosen pair (i, a) leads from a to each other mentor j of i with gain
    score(i, j) - score(i, a), and where an unmatched mentee's mentors start
    at BIG + score (there is no positive cycle, since the solution is optimal)."""
    np = _numpy()
    rows, columns, scores = pairs
    assigned = mentor_of[rows]
    chosen = assigned == columns
    score_of = np.zeros(mentee_count, dtype=np.int64)
    score_of[rows[chosen]] = scores[chosen]
    price = np.zeros(mentor_count, dtype=np.int64)
    loose = assigned < 0
    np.maximum.at(price, columns[loose], big + scores[loose])
    moves = (assigned >= 0) & ~chosen
    price = _longest_paths(price, assigned[moves], columns[moves], scores[moves] - score_of[rows[moves]])
    value = np.where(mentor_of >= 0, big + score_of - price[np.maximum(mentor_of, 0)], 0)
    return value, price


def _longest_paths(start, tails, heads, gains):
    """Least labels >= start with label[head] >= label[tail] + gain on every arc (no positive cycle).

    Bellman-Ford, a relaxation of every arc at once per round, until nothing
    changes: the rounds are as many as the longest chain of improvements.
    (scipy's bellman_ford always runs all n rounds, which is far slower here.)"""
    np = _numpy()
    order = np.argsort(heads, kind="stable")
    tails, heads, gains = tails[order], heads[order], gains[order]
    targets, first = np.unique(heads, return_index=True)
    label = start.copy()
    if not len(targets):
        return label
    for _ in range(len(start) + 1):  # a longest chain has at most one arc per label
        best = np.maximum.reduceat(label[tails] + gains, first)
        improved = best > label[targets]
        if not improved.any():
            return label
        label[targets[improved]] = best[improved]
    raise ArithmeticError("a cycle of gains: the assignment was not optimal")


def _greedy_assignment(scores, capacity: tuple[int, ...]) -> list[tuple[int, int]]:
    """Repeatedly take the highest-scoring allowed pair whose mentee is free and mentor has room."""
    np = _numpy()
    room = np.asarray(capacity, dtype=np.int64)
    open_mentor = room > 0
    chosen = []
    if not scores.size:
        return chosen

    def best_open_mentor(row: int) -> tuple[int, int] | None:
        candidates = np.where(open_mentor, scores[row], BLOCKED)
        column = int(np.argmax(candidates))
        return None if candidates[column] == BLOCKED else (int(candidates[column]), column)

    # Each mentee waits in the heap with their best open mentor; when that mentor
    # fills up first, the mentee is put back with their next best.
    heap = []
    for row in range(scores.shape[0]):
        best = best_open_mentor(row)
        if best:
            heap.append((-best[0], row, best[1]))
    heapq.heapify(heap)
    while heap:
        _, row, column = heapq.heappop(heap)
        if not open_mentor[column]:
            best = best_open_mentor(row)
            if best:
                heapq.heappush(heap, (-best[0], row, best[1]))
            continue
        chosen.append((row, column))
        room[column] -= 1
        open_mentor[column] = room[column] > 0
    return sorted(chosen)


# ---------------------------------------------------------------------------
# Wording
# ---------------------------------------------------------------------------

def _a_library(library_type: str) -> str:
    label = _TYPE_LABEL[library_type]
    if label.endswith(" library"):
        return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"
    return "another kind of library" if library_type == "other" else label


def _libraries(library_type: str) -> str:
    label = _TYPE_LABEL[library_type]
    if label.endswith(" library"):
        return label.removesuffix("library") + "libraries"
    return "other kinds of library" if library_type == "other" else label


def _labels(values: frozenset[str], vocabulary_labels: dict[str, str]) -> list[str]:
    return [label for value, label in vocabulary_labels.items() if value in values]


def _listing(modes: frozenset[str]) -> str:
    """Ways to communicate as words: "email, phone and video call"."""
    return _and(_labels(modes, _MODE_LABEL))


def _and(labels: list[str]) -> str:
    if len(labels) <= 1:
        return labels[0] if labels else "none"
    return f"{', '.join(labels[:-1])} and {labels[-1]}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _numpy():
    import numpy

    return numpy
