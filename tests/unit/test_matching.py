"""The matching engine: scores, hard rules, exactness against brute force,
properties of every proposal, the greedy trap, determinism, and cold start."""
from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import fields as dataclass_fields
from itertools import product
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import matching
from chalicelib.domain.matching import (
    CAREER_STAGE_RANK,
    CRITERIA,
    DEFAULT_WEIGHTS,
    MatchingError,
    Participant,
    greedy_baseline,
    participant_from_application,
    propose,
    score_pair,
)
from chalicelib.domain.schema import CAREER_STAGES, FIELDS, LIBRARY_TYPES
from infra.local.demo import synthetic_applications
from tests.helpers.matching_builders import TOPICS, allowed_scores, cohorts, mentee, mentor

PROJECT_DIR = Path(__file__).resolve().parents[2]
SMALL = settings(max_examples=60, deadline=None)


def only(criterion: str) -> dict[str, float]:
    """Weights that score a pair on one criterion alone."""
    return {name: (1 if name == criterion else 0) for name in DEFAULT_WEIGHTS}


def demo_cohort(**arguments) -> tuple[list[dict], list[dict]]:
    applications = synthetic_applications(**arguments)
    return ([record for record in applications if record["role"] == "mentor"],
            [record for record in applications if record["role"] == "mentee"])


def pairs_of(proposal) -> set[tuple[str, str]]:
    return {(pair.mentor_id, pair.mentee_id) for pair in proposal.pairs}


def unmatched_reason(proposal, mentee_id: str) -> str:
    return {mentee.id: mentee.reason for mentee in proposal.unmatched_mentees}[mentee_id]


# --- Scoring -----------------------------------------------------------------

def test_a_pair_that_fits_on_every_criterion_scores_100_and_says_why():
    score, reasons = score_pair(
        mentor("m", interests=["leadership", "technology", "grants"], communication=["email", "video", "in_person"]),
        mentee("e", communication=["email", "video", "in_person"], region=" lexington "))
    assert score == 100
    assert reasons == [
        "both work in academic libraries",
        "mentor covers both of the mentee's interests: leadership and management, technology",
        "12 more years of experience (mentor 15, mentee 3)",
        "senior or administrative mentor, new professional mentee",
        "both in lexington, want to meet in person",
        "share email, video call and in person",
    ]


@pytest.mark.parametrize("mentor_interests, expected", [
    (["leadership", "technology", "grants", "outreach"], 100), (["leadership", "technology", "grants"], 75),
    (["leadership"], 25), (["advocacy"], 0),
])
def test_interests_score_the_share_of_the_mentee_interests_the_mentor_covers(mentor_interests, expected):
    score, reasons = score_pair(mentor("m", interests=mentor_interests),
                                mentee("e", interests=["leadership", "technology", "grants", "outreach"]),
                                only("interests"))
    assert score == expected
    if expected == 75:
        assert reasons[0].startswith("mentor covers 3 of the mentee's 4 interests")


def test_interests_are_worded_in_each_criterion_s_own_topics():
    # A pair's interests are worded from its topic masks, remembered per criterion: two vocabularies with
    # the same masks must not share wordings, and topics outside a vocabulary are left out on both sides.
    pair = (mentor("m", interests=["maps", "oral_history", "zines"]), mentee("e", interests=["maps", "zines", "games"]))
    ours = matching.interests_criterion({"maps": "maps", "zines": "zines", "games": "games"})
    theirs = matching.interests_criterion({"maps": "old maps", "zines": "small press", "games": "board games"})
    assert score_pair(*pair, criteria=(ours,)) == (67, ["mentor covers 2 of the mentee's 3 interests: maps, zines"])
    assert score_pair(*pair, criteria=(theirs,)) == (
        67, ["mentor covers 2 of the mentee's 3 interests: old maps, small press"])
    fewer = matching.interests_criterion({"maps": "maps", "zines": "zines", "oral_history": "oral history"})
    assert score_pair(*pair, criteria=(fewer,)) == (100, ["mentor covers both of the mentee's interests: maps, zines"])
    assert score_pair(*pair, criteria=(matching.interests_criterion({"grants": "grants"}),)) == (0, [])


@pytest.mark.parametrize("mentor_years, expected", [(3, 0), (4, 20), (6, 60), (8, 100), (40, 100)])
def test_experience_rewards_a_gap_of_five_years_or_more(mentor_years, expected):
    assert score_pair(mentor("m", years_experience=mentor_years), mentee("e", years_experience=3),
                      only("experience"))[0] == expected


@pytest.mark.parametrize("mentor_stage, mentee_stage, expected", [
    ("senior", "student", 100), ("mid_career", "new_professional", 100), ("mid_career", "mid_career", 50),
    ("new_professional", "support_staff", 50), ("new_professional", "mid_career", 0),
])
def test_career_stage_favours_a_mentor_further_along(mentor_stage, mentee_stage, expected):
    assert score_pair(mentor("m", career_stage=mentor_stage), mentee("e", career_stage=mentee_stage),
                      only("career_stage"))[0] == expected


def test_every_career_stage_has_a_rank():
    assert set(CAREER_STAGE_RANK) == {value for value, _ in CAREER_STAGES}


@pytest.mark.parametrize("mentor_fields, mentee_fields, expected", [
    ({"library_type": "public"}, {"library_type": "public"}, 100),
    ({"library_type": "public"}, {"library_type": "school", "preferred_library_type": "public"}, 100),
    ({"library_type": "public", "cross_type_ok": True}, {"library_type": "school"}, 50),
    ({"library_type": "public", "cross_type_ok": True}, {"preferred_library_type": "archives"}, 50),
    ({"library_type": "public"}, {"library_type": "school"}, 0),
])
def test_library_type_compares_the_type_the_mentee_wants_with_the_mentor_type(mentor_fields, mentee_fields, expected):
    assert score_pair(mentor("m", **mentor_fields), mentee("e", **mentee_fields), only("library_type"))[0] == expected


def test_a_reason_claims_a_library_type_only_when_the_mentee_chose_one():
    across = mentor("m", library_type="public", cross_type_ok=True)
    [open_to_any] = score_pair(across, mentee("e", library_type="school"), only("library_type"))[1]
    assert "wants" not in open_to_any and "mentee in a school library, open to any type" in open_to_any
    [asked] = score_pair(across, mentee("e", preferred_library_type="archives"), only("library_type"))[1]
    assert "mentee wants archives" in asked


def test_region_counts_only_when_both_would_meet_in_person():
    weights = {**only("region"), "communication": 1}
    in_person = ["email", "in_person"]
    same, reasons = score_pair(mentor("m", communication=in_person, region="Bowling  Green"),
                               mentee("e", communication=in_person, region="bowling green"), weights)
    apart, _ = score_pair(mentor("m", communication=in_person, region="Paducah"),
                          mentee("e", communication=in_person, region="Lexington"), weights)
    remote, remote_reasons = score_pair(mentor("m", communication=["email"], region="Paducah"),
                                        mentee("e", communication=in_person, region="Lexington"), weights)
    assert (same, apart, remote) == (100, 50, 50)
    assert "both in bowling green, want to meet in person" in reasons
    assert not any("region" in reason or "in person" in reason for reason in remote_reasons)


def test_communication_scores_the_share_of_the_mentee_ways_the_mentor_offers():
    score, reasons = score_pair(mentor("m", communication=["email", "phone"]),
                                mentee("e", communication=["email", "video"]), only("communication"))
    assert (score, reasons) == (50, ["share email"])


def test_weights_override_the_defaults():
    pair = (mentor("m", interests=["advocacy"]), mentee("e"))
    assert score_pair(*pair)[0] > score_pair(*pair, weights={"interests": 300})[0]


@pytest.mark.parametrize("weights, words", [
    ({"charm": 1}, "charm"), ({"interests": -1}, "interests"), ({"region": float("nan")}, "region"),
    ({"region": "high"}, "region"), ({name: 0 for name in DEFAULT_WEIGHTS}, "above zero"),
])
def test_bad_weights_are_refused_with_a_clear_message(weights, words):
    with pytest.raises(ValueError, match=words):
        score_pair(mentor("m"), mentee("e"), weights)
    with pytest.raises(MatchingError):
        propose([mentor("m")], [mentee("e")], weights)


@pytest.mark.parametrize("weights", [["interests"], "interests", {"region": float("inf")}, {"region": None}])
def test_weights_are_a_mapping_of_finite_numbers(weights):
    with pytest.raises(MatchingError, match="weights"):
        matching.resolve_weights(weights)


def test_criteria_are_declared_once_with_their_default_weights():
    assert list(DEFAULT_WEIGHTS) == [criterion.name for criterion in CRITERIA]
    assert all(weight > 0 for weight in DEFAULT_WEIGHTS.values())


# --- Hard rules ----------------------------------------------------------------

def test_same_library_is_a_conflict_of_interest_whatever_the_spelling():
    pair = mentor("m", library_name="Cedar  Fork Library"), mentee("e", library_name=" cedar fork LIBRARY")
    assert score_pair(*pair) == (None, ["both work at cedar fork LIBRARY (conflict of interest)"])
    assert unmatched_reason(propose([pair[0]], [pair[1]]), "e") == "every mentor works at the mentee's library"


@pytest.mark.parametrize("mentor_fields, mentee_fields", [
    ({"past_partners": ["e"]}, {}), ({}, {"past_partners": ["m"]}),
])
def test_past_partners_are_never_paired_again(mentor_fields, mentee_fields):
    pair = mentor("m", **mentor_fields), mentee("e", **mentee_fields)
    assert score_pair(*pair) == (None, ["they were partners before"])
    assert not propose([pair[0]], [pair[1]]).pairs


def test_a_forbidden_pair_is_never_proposed():
    proposal = propose([mentor("m")], [mentee("e")], forbids=[["m", "e"]])
    assert not proposal.pairs
    assert unmatched_reason(proposal, "e") == "the committee ruled out every mentor"


def test_a_pair_without_a_shared_way_to_communicate_is_ruled_out():
    pair = mentor("m", communication=["phone"]), mentee("e", communication=["email", "video"])
    assert score_pair(*pair)[1] == ["no shared way to communicate (mentor: phone; mentee: email and video call)"]
    assert unmatched_reason(propose([pair[0]], [pair[1]]), "e") == "no mentor shares a way to communicate"


def test_a_mentor_with_fewer_years_than_the_mentee_is_ruled_out():
    pair = mentor("m", years_experience=4), mentee("e", years_experience=5)
    assert score_pair(*pair)[0] is None
    assert score_pair(mentor("m", years_experience=5), mentee("e", years_experience=5))[0] is not None
    assert unmatched_reason(propose([pair[0]], [pair[1]]), "e") == "no mentor has as many years of experience"


def test_a_mentee_who_asked_for_a_library_type_gets_it_or_a_mentor_open_to_other_types():
    wants_public = mentee("e", library_type="school", preferred_library_type="public")
    assert score_pair(mentor("m", library_type="academic"), wants_public)[0] is None
    assert score_pair(mentor("m", library_type="academic", cross_type_ok=True), wants_public)[0] is not None
    assert score_pair(mentor("m", library_type="academic"), mentee("e", library_type="school"))[0] is not None
    assert unmatched_reason(propose([mentor("m", library_type="academic")], [wants_public]), "e").startswith(
        "no mentor works in the type of library the mentee asked for")


def test_mentor_capacity_is_never_exceeded():
    proposal = propose([mentor("m", capacity=2)], [mentee("a"), mentee("b"), mentee("c")])
    assert len(proposal.pairs) == 2
    assert [mentee.reason for mentee in proposal.unmatched_mentees] == ["the only compatible mentor is at capacity"]
    assert proposal.unused_capacity == ()


def test_a_mentee_ruled_out_for_several_reasons_gets_a_tally():
    proposal = propose([mentor("m1", communication=["phone"]), mentor("m2", years_experience=1)], [mentee("e")])
    assert unmatched_reason(proposal, "e") == (
        "no mentor passes every rule (no shared way to communicate: 1, fewer years of experience: 1)")


def test_an_empty_cohort_of_mentors_leaves_everyone_waiting():
    proposal = propose([], [mentee("e")])
    assert proposal.as_dict()["unmatched_mentees"] == [{"id": "e", "reason": "there are no mentors in this cohort"}]


# --- Locks and forbids -----------------------------------------------------------

def test_a_lock_is_kept_even_when_another_pairing_scores_higher():
    mentors = [mentor("good", interests=["leadership", "technology"]), mentor("fair", interests=["advocacy"])]
    free = propose(mentors, [mentee("e")])
    locked = propose(mentors, [mentee("e")], locks=[["fair", "e"]])
    assert pairs_of(free) == {("good", "e")}
    assert pairs_of(locked) == {("fair", "e")}
    assert locked.pairs[0].reasons[0] == "locked by the committee"
    assert locked.as_dict()["unused_capacity"] == [{"mentor_id": "good", "slots": 1}]


@pytest.mark.parametrize("mentors, mentees, locks, forbids, words", [
    ([mentor("m", library_name="Same")], [mentee("e", library_name="same")], [["m", "e"]], [], "conflict of interest"),
    ([mentor("m")], [mentee("e")], [["m", "e"]], [["m", "e"]], "committee ruled out"),
    ([mentor("m", years_experience=1)], [mentee("e")], [("m", "e")], [], "fewer years"),
    ([mentor("m")], [mentee("a"), mentee("b")], [["m", "a"], ["m", "b"]], [], "can take 1"),
    ([mentor("m", capacity=2), mentor("n")], [mentee("e")], [["m", "e"], ["n", "e"]], [], "locked to 2 mentors"),
    ([mentor("m")], [mentee("e")], [["e", "m"]], [], r"\[mentor_id, mentee_id\]"),
    ([mentor("m")], [mentee("e")], [["m", "nobody"]], [], "not in this cohort"),
    ([mentor("m")], [mentee("e")], [], [["m", "ghost"]], "not in this cohort"),
    ([mentor("m")], [mentee("m")], [], [], "share an id"),
    ([mentee("x")], [mentee("e")], [], [], "not as a mentor"),
])
def test_constraints_that_cannot_be_honoured_raise_a_matching_error(mentors, mentees, locks, forbids, words):
    with pytest.raises(MatchingError, match=words):
        propose(mentors, mentees, locks=locks, forbids=forbids)


# --- The whole cohort ---------------------------------------------------------------

def test_the_engine_escapes_the_greedy_trap():
    # Greedy gives the best pair (star, flexible) first and strands picky, whose only
    # possible mentor is star; the exact solution sends flexible to backup instead.
    mentors = [mentor("star", interests=["leadership", "technology"], communication=["email", "phone"]),
               mentor("backup", interests=["grants"], communication=["email"])]
    mentees = [mentee("flexible", communication=["email"]),
               mentee("picky", communication=["phone"], interests=["grants"])]
    greedy, exact = greedy_baseline(mentors, mentees), propose(mentors, mentees)
    assert pairs_of(greedy) == {("star", "flexible")}
    assert unmatched_reason(greedy, "picky") == "the only compatible mentor is at capacity"
    assert pairs_of(exact) == {("star", "picky"), ("backup", "flexible")}
    assert not exact.unmatched_mentees


def test_matching_one_more_mentee_comes_before_a_higher_total_score():
    # Alone, (a, x) scores 100; placing y as well forces two pairs worth 20 in all.
    topics = ["leadership", "technology", "grants", "outreach", "advocacy"]
    mentors = [mentor("a", interests=topics, communication=["email", "phone"]),
               mentor("b", interests=["leadership"], communication=["email"])]
    mentees = [mentee("x", interests=topics, communication=["email"]),
               mentee("y", interests=["cataloging"], communication=["phone"])]
    proposal = propose(mentors, mentees, weights=only("interests"))
    assert {(pair.mentor_id, pair.mentee_id, pair.score) for pair in proposal.pairs} == {("a", "y", 0), ("b", "x", 20)}


def test_the_same_input_in_any_order_gives_the_same_proposal():
    mentors, mentees = demo_cohort(mentees=26, mentors=14, seed=3)
    first = propose(mentors, mentees).as_dict()
    random.Random(1).shuffle(mentors)
    random.Random(2).shuffle(mentees)
    assert propose(mentors, mentees).as_dict() == first


def test_the_proposal_has_the_documented_shape():
    proposal = propose([mentor("m", capacity=3)], [mentee("e"), mentee("x", communication=["phone"])]).as_dict()
    assert set(proposal) == {"pairs", "unmatched_mentees", "unused_capacity"}
    assert set(proposal["pairs"][0]) == {"mentor_id", "mentee_id", "score", "reasons"}
    assert isinstance(proposal["pairs"][0]["score"], int) and proposal["pairs"][0]["reasons"]
    assert proposal["unmatched_mentees"] == [{"id": "x", "reason": "no mentor shares a way to communicate"}]
    assert proposal["unused_capacity"] == [{"mentor_id": "m", "slots": 2}]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_engine_never_does_worse_than_greedy_on_demo_cohorts(seed):
    mentors, mentees = demo_cohort(mentees=60, mentors=25, seed=seed)
    exact, greedy = propose(mentors, mentees), greedy_baseline(mentors, mentees)
    assert (len(exact.pairs), exact.total_score) >= (len(greedy.pairs), greedy.total_score)


def test_participants_are_typed_from_validated_applications():
    person = participant_from_application(mentor("m", capacity="2", cross_type_ok="no", region=None))
    assert (person.capacity, person.cross_type_ok, person.region, person.past_partners) == (2, False, "", frozenset())
    assert participant_from_application(mentee("e")).capacity == 0


@pytest.mark.parametrize("extra", [{}, {"past_partners": ["e"], "library_system": ["kyvl"], "bilingual": True}])
def test_a_participant_typed_from_an_application_is_what_its_constructor_makes(extra):
    # Typing skips the frozen dataclass's __init__ for speed: every field must still be set (a field left out
    # would read its class default), and equal what the constructor makes of the same values.
    person = participant_from_application(mentor("m", capacity="2", **extra))
    assert set(vars(person)) == {field.name for field in dataclass_fields(Participant)}
    made = Participant(
        id="m", role="mentor", name="Test m", library_name="Library of m", library_type="academic",
        years_experience=15, career_stage="senior", region="Lexington",
        interests=frozenset({"leadership", "technology"}), communication=frozenset({"email", "video"}),
        capacity=2, past_partners=frozenset(extra.get("past_partners", ())),
        question_answers={"library_system": frozenset({"kyvl"}), "bilingual": frozenset({"yes"})} if extra else {})
    assert person == made and dict(person.question_answers) == made.question_answers
    assert (person.library_key, person.region_key) == (made.library_key, made.region_key)


def test_importing_the_engine_loads_neither_scipy_nor_numpy():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, chalicelib.domain.matching; "
         "print(sorted(m for m in ('scipy', 'numpy', 'chalice', 'boto3', 'pynamodb') if m in sys.modules))"],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


# --- Exactness and properties on random small cohorts -------------------------------

def brute_force(mentors, mentees, forbids) -> tuple[int, int]:
    """(mentees matched, total score) of the best of all feasible assignments."""
    scores = allowed_scores(mentors, mentees, forbids)
    room = [record["capacity"] for record in mentors]
    best = (0, 0)

    def search(j: int, matched: int, total: int) -> None:
        nonlocal best
        if j == len(mentees):
            best = max(best, (matched, total))
            return
        search(j + 1, matched, total)
        for i in range(len(mentors)):
            if (i, j) in scores and room[i]:
                room[i] -= 1
                search(j + 1, matched + 1, total + scores[i, j])
                room[i] += 1

    search(0, 0, 0)
    return best


def solve(solver, mentors, mentees, weights=None, locks=(), forbids=(), criteria=CRITERIA):
    """propose, with the dense or the sparse solver whatever the cohort's size."""
    cohort = matching._Cohort.build(mentors, mentees, weights, locks, forbids, criteria)
    return cohort.proposal(solver(cohort))


def dense(*cohort, **options):
    return solve(matching._dense_assignment, *cohort, **options)


def sparse(*cohort, **options):
    return solve(matching._sparse_assignment, *cohort, **options)


# The sparse solver with lists so short that a small cohort needs every step of it:
# several rounds, mentees scored again (not kept from the first scan), pairs added.
STARVED = {"_MENTEE_CANDIDATES": (1, 1), "_MENTOR_CANDIDATES": 1, "_MATCHING_PAIRS": 1, "_NEAR": 0, "_NEAR_PAIRS": 1, "_BOUND_GROUPS": 2,
           "_KEPT_SCORE_CELLS": 0}


def starved(*cohort, **options):
    with patch.multiple(matching, **STARVED):
        return sparse(*cohort, **options)


SOLVERS = pytest.mark.parametrize("solver", [dense, sparse, starved])


@SOLVERS
@SMALL
@given(cohort=cohorts())
def test_the_engine_finds_the_best_of_all_feasible_assignments(solver, cohort):
    mentors, mentees, forbids = cohort
    forbids = {tuple(pair) for pair in forbids}
    proposal = solver(mentors, mentees, forbids=forbids)
    assert (len(proposal.pairs), proposal.total_score) == brute_force(mentors, mentees, forbids)


@SOLVERS
@SMALL
@given(cohort=cohorts(most_mentees=10, most_mentors=5), chance=st.randoms(use_true_random=False))
def test_every_proposal_keeps_the_rules_locks_forbids_and_capacities(solver, cohort, chance):
    mentors, mentees, forbids = cohort
    scores = allowed_scores(mentors, mentees, set(forbids))
    room = {record["id"]: record["capacity"] for record in mentors}
    locks = []
    for (i, j) in sorted(scores):  # lock a few allowed pairs, within capacity, one per mentee
        if chance.random() < 0.2 and room[mentors[i]["id"]] and mentees[j]["id"] not in {e for _, e in locks}:
            room[mentors[i]["id"]] -= 1
            locks.append([mentors[i]["id"], mentees[j]["id"]])
    proposal = solver(mentors, mentees, locks=locks, forbids=forbids)
    by_id = {record["id"]: record for record in mentors + mentees}
    paired = pairs_of(proposal)
    assert {tuple(lock) for lock in locks} <= paired
    assert not paired & {tuple(pair) for pair in forbids}
    for pair in proposal.pairs:
        assert score_pair(by_id[pair.mentor_id], by_id[pair.mentee_id]) == (pair.score, list(
            pair.reasons[1:] if [pair.mentor_id, pair.mentee_id] in locks else pair.reasons))
    matched = [mentee_id for _, mentee_id in paired]
    assert len(matched) == len(set(matched))
    assert sorted(matched + [mentee.id for mentee in proposal.unmatched_mentees]) == sorted(e["id"] for e in mentees)
    used = {record["id"]: sum(mentor_id == record["id"] for mentor_id, _ in paired) for record in mentors}
    unused = {entry.mentor_id: entry.slots for entry in proposal.unused_capacity}
    for record in mentors:
        assert used[record["id"]] + unused.get(record["id"], 0) == record["capacity"]


@SMALL
@given(cohorts(most_mentees=6, most_mentors=4),
       st.fixed_dictionaries({name: st.sampled_from([0, 0.5, 1, 7, 30]) for name in DEFAULT_WEIGHTS}))
def test_the_cohort_matrix_agrees_with_score_pair_on_every_pair(cohort, weights):
    # propose optimises over the vectorised matrix and explains with score_pair:
    # the two must agree exactly, blocked pairs included.
    mentors, mentees, forbids = cohort
    if not any(weights.values()):
        weights["interests"] = 1
    assert_matrix_agrees_with_score_pair(matching._Cohort.build(mentors, mentees, weights, (), forbids))


def test_the_cohort_matrix_agrees_with_score_pair_across_a_grid_of_cases():
    regions = ["", "Lexington", " lexington", "Paducah"]
    ways = [["email"], ["email", "in_person"], ["in_person", "phone"]]
    mentors = [mentor(f"m{index}", region=region, communication=modes, library_type=kind, cross_type_ok=open_to_all,
                      years_experience=years, interests=TOPICS[:index % 4 + 1])
               for index, (region, modes, kind, open_to_all, years)
               in enumerate(product(regions, ways, ["public", "academic"], [False, True], [3, 10]))]
    mentees = [mentee(f"e{index}", region=region, communication=modes, library_type=kind, preferred_library_type=wish,
                      years_experience=years, interests=TOPICS[index % 3:index % 3 + 2])
               for index, (region, modes, kind, wish, years)
               in enumerate(product(regions, ways, ["public", "academic"], ["any", "public"], [3, 8]))]
    assert_matrix_agrees_with_score_pair(matching._Cohort.build(mentors, mentees, None, (), ()))


def assert_matrix_agrees_with_score_pair(built) -> None:
    matrix = built.pair_scores()
    for j, mentee_record in enumerate(built.free_mentees):
        for i, mentor_record in enumerate(built.mentors):
            expected, _ = matching._score_pair(mentor_record, mentee_record, built.weights, built.forbidden,
                                               built.criteria)
            assert matrix[j, i] == (matching.BLOCKED if expected is None else expected)


# --- Demo applicants ---------------------------------------------------------------

def test_demo_applicants_are_synthetic_complete_and_repeatable():
    applications = synthetic_applications(mentees=26, mentors=14)
    assert applications == synthetic_applications(mentees=26, mentors=14)
    for record in applications:
        expected = {field.name for field in FIELDS if field.asks(record["role"])} | {"id"}
        assert set(record) == expected
        assert record["email"].endswith("@example.org")
        assert 1 <= len(record["interests"]) <= 4 and 1 <= len(record["communication"]) <= 3
    for role in ("mentor", "mentee"):
        types = {record["library_type"] for record in applications if record["role"] == role}
        assert types == {value for value, _ in LIBRARY_TYPES}
    assert {record["capacity"] for record in synthetic_applications(5, 30, capacity=2) if "capacity" in record} == {2}


# --- The sparse solver is exact: the same optimum as the dense one --------------------

LIBRARY_SYSTEMS = {"kyvl": "KYVL", "solinet": "SOLINET", "ohiolink": "OhioLINK", "none": "none"}


def random_cohort(seed: int, mentee_count: int) -> dict:
    """A demo cohort with the committee's trimmings: mixed capacities, a matching question,
    past partners, forbids and locks (each lock within the rules and the mentor's capacity)."""
    chance = random.Random(seed)
    mentors, mentees = demo_cohort(mentees=mentee_count, mentors=chance.randint(max(1, mentee_count // 4), mentee_count),
                                   seed=seed, capacity=chance.choice([None, None, 1, 2, 3]))
    rule = chance.choice([matching.SAME, matching.OVERLAP])
    for record in mentors + mentees:
        picks = chance.sample(sorted(LIBRARY_SYSTEMS), chance.randint(0, 2))
        record["library_system"] = picks if rule == matching.OVERLAP else (picks[0] if picks else None)
    criteria = (*CRITERIA, matching.question_criterion("library_system", "Which library system?", LIBRARY_SYSTEMS,
                                                       rule, chance.choice([5, 20, 40])))
    for record in chance.sample(mentees, len(mentees) // 10):
        record["past_partners"] = [chance.choice(mentors)["id"]]
    pairs = [(m["id"], e["id"]) for m in mentors for e in mentees]
    forbids = chance.sample(pairs, min(len(pairs), chance.randint(0, mentee_count)))
    room = {record["id"]: record["capacity"] for record in mentors}
    by_id = {record["id"]: record for record in mentors + mentees}
    locks, locked = [], set()
    for mentor_id, mentee_id in chance.sample(pairs, min(len(pairs), 40)):
        if (len(locks) < mentee_count // 8 and room[mentor_id] and mentee_id not in locked
                and (mentor_id, mentee_id) not in forbids
                and score_pair(by_id[mentor_id], by_id[mentee_id], criteria=criteria)[0] is not None):
            room[mentor_id] -= 1
            locked.add(mentee_id)
            locks.append([mentor_id, mentee_id])
    weights = None if chance.random() < 0.5 else {name: chance.choice([0, 1, 7.5, 30]) for name in DEFAULT_WEIGHTS}
    if weights and not any(weights.values()):
        weights["interests"] = 1
    return {"mentors": mentors, "mentees": mentees, "criteria": criteria, "forbids": forbids, "locks": locks,
            "weights": weights}


def assert_same_optimum(sparse_proposal, dense_proposal) -> None:
    assert (len(sparse_proposal.pairs), sparse_proposal.total_score) == (
        len(dense_proposal.pairs), dense_proposal.total_score)
    # A mentee left over by both is told the same; locks are kept by both.
    sparse_reasons = {mentee.id: mentee.reason for mentee in sparse_proposal.unmatched_mentees}
    dense_reasons = {mentee.id: mentee.reason for mentee in dense_proposal.unmatched_mentees}
    for mentee_id in sparse_reasons.keys() & dense_reasons.keys():
        assert sparse_reasons[mentee_id] == dense_reasons[mentee_id]
    assert {p for p in pairs_of(sparse_proposal)} >= {
        (pair.mentor_id, pair.mentee_id) for pair in dense_proposal.pairs if pair.reasons[0] == "locked by the committee"}


@pytest.mark.parametrize("seed", range(50))
def test_the_sparse_solver_finds_the_dense_optimum_on_demo_cohorts(seed):
    cohort = random_cohort(seed, mentee_count=10 + seed * 3)
    solver = starved if seed % 2 else sparse  # half of them through every step of column generation
    mentors, mentees = cohort.pop("mentors"), cohort.pop("mentees")
    assert_same_optimum(solver(mentors, mentees, **cohort), dense(mentors, mentees, **cohort))


def test_the_sparse_solver_starts_cold_after_duals_that_carry_big(monkeypatch):
    # A mentee left over beside a mentor prices that mentor at BIG or more; from such duals scipy can
    # be far slower than from nothing, so the next round starts cold. Otherwise it starts warm.
    starts = []
    solve = matching._sparse_optimum
    monkeypatch.setattr(matching, "_sparse_optimum",
                        lambda count, room, pairs, duals=None, all_or_none=False:
                        starts.append(duals) or solve(count, room, pairs, duals, all_or_none))
    cohort = random_cohort(7, mentee_count=90)
    mentors, mentees = cohort.pop("mentors"), cohort.pop("mentees")
    assert_same_optimum(starved(mentors, mentees, **cohort), dense(mentors, mentees, **cohort))
    warm = [duals for duals in starts if duals is not None]
    assert warm and None in starts[1:]
    assert all(price.max(initial=0) < big for _, price, big in warm)


@pytest.mark.parametrize("solver", [sparse, starved])
def test_the_sparse_solver_finds_the_dense_optimum_when_slots_and_mentees_are_as_many(solver):
    # A tie of the two sides is where the slot solver turns its rows round between cold and warm starts.
    mentors, mentees = demo_cohort(mentees=120, mentors=60, seed=11, capacity=2)
    assert_same_optimum(solver(mentors, mentees), dense(mentors, mentees))


@pytest.mark.parametrize("rounds", [1, 1000])
@pytest.mark.parametrize("seed", range(4))
def test_the_sparse_solver_started_from_an_auction_finds_the_dense_optimum(monkeypatch, seed, rounds):
    # With as many slots as mentees (locks take one of each), the first solve starts from an auction's
    # prices, unless it gives up; forbids can leave mentees over, where the prices are not used.
    import random

    mentors, mentees = demo_cohort(mentees=120, mentors=60, seed=seed, capacity=2)
    chance = random.Random(seed)
    forbids = [(chance.choice(mentors)["id"], chance.choice(mentees)["id"]) for _ in range(seed * 150)]
    locks = [] if seed % 2 else [next((m["id"], e["id"]) for m in mentors for e in mentees
                                      if (m["id"], e["id"]) not in forbids and score_pair(m, e)[0] is not None)]
    auctions = []
    auction = matching._auction_duals
    monkeypatch.setattr(matching, "_auction_duals",
                        lambda *arguments: auctions.append(auction(*arguments)) or auctions[-1])
    monkeypatch.setattr(matching, "_AUCTION_FROM", 1)
    monkeypatch.setattr(matching, "_AUCTION_ROUNDS", rounds)
    for solver in (sparse, starved):
        assert_same_optimum(solver(mentors, mentees, forbids=forbids, locks=locks),
                            dense(mentors, mentees, forbids=forbids, locks=locks))
    started = [start is not None for start in auctions]
    assert started and any(started) == (rounds > 1)  # one round leaves more than 1% free: it gives up


def test_the_duals_prove_an_optimum_against_every_pair():
    # The certificate the sparse solver relies on: for an optimum, _duals gives u, v >= 0 with
    # u + v >= BIG + score on every allowed pair, and their sum equals the optimum's worth.
    cohort = random_cohort(3, mentee_count=80)
    built = matching._Cohort.build(cohort["mentors"], cohort["mentees"], cohort["weights"], cohort["locks"],
                                   cohort["forbids"], cohort["criteria"])
    scores = built.pair_scores()
    mentor_of = [-1] * scores.shape[0]
    for row, column in matching._optimal_assignment(scores, built.capacity_left):
        mentor_of[row] = column
    import numpy as np

    mentor_of = np.array(mentor_of)
    rows, columns = np.nonzero(scores >= 0)
    capacity = np.array(built.capacity_left)
    big = 100 * min(len(mentor_of), int(capacity.sum())) + 1
    value, price = matching._duals(len(mentor_of), len(capacity), (rows, columns, scores[rows, columns].astype(int)),
                                   mentor_of, big)
    assert (value >= 0).all() and (price >= 0).all()
    assert (value[rows] + price[columns] >= big + scores[rows, columns]).all()
    matched = np.flatnonzero(mentor_of >= 0)
    worth = sum(big + int(scores[row, mentor_of[row]]) for row in matched)
    assert int(value.sum() + (capacity * price).sum()) == worth


@pytest.mark.parametrize("seed", range(12))
def test_the_slot_solver_started_from_any_duals_reaches_the_same_optimum(seed, monkeypatch):
    # Warm starts hand scipy each cost's slack against an earlier round's duals. Whatever duals it is
    # given (here random, some far too high), the optimum is the same; where a priced mentor (or, with
    # more mentees than slots, a valued mentee) is left short, it solves again without those duals.
    import numpy as np

    cohort = random_cohort(seed, mentee_count=30 + seed * 7)
    built = matching._Cohort.build(cohort["mentors"], cohort["mentees"], cohort["weights"], cohort["locks"],
                                   cohort["forbids"], cohort["criteria"])
    scores = built.pair_scores()
    room = np.array(built.capacity_left)
    rows, columns = np.nonzero(scores >= 0)
    pairs = (rows, columns, scores[rows, columns].astype(np.int64))

    def outcome(mentor_of):
        matched = np.flatnonzero(mentor_of >= 0)
        assert (np.bincount(mentor_of[matched], minlength=len(room)) <= room).all()
        assert (scores[matched, mentor_of[matched]] >= 0).all()
        return len(matched), int(scores[matched, mentor_of[matched]].sum())

    cold = matching._sparse_optimum(scores.shape[0], room, pairs)
    solves = []
    solve = matching._SlotGraph.solve
    monkeypatch.setattr(matching._SlotGraph, "solve",
                        lambda graph, duals, all_or_none=False: solves.append(duals) or solve(graph, duals, all_or_none))
    chance = np.random.default_rng(seed)
    big = 100 * min(scores.shape[0], int(room.sum())) + 1
    for spread in (5, 100, 3 * big):
        value = chance.integers(0, spread, scores.shape[0]) * (chance.random(scores.shape[0]) < 0.7)
        price = chance.integers(0, spread, len(room)) * (chance.random(len(room)) < 0.7)
        before = len(solves)
        warm = matching._sparse_optimum(scores.shape[0], room, pairs, (value, price, big))
        assert outcome(warm) == outcome(cold)
        assert len(solves) - before <= 2  # at most once again, with the rows' part of the duals only
    assert len(solves) > 3  # wild duals leave someone short, and the answer is solved again


def test_the_slot_solver_all_or_none_says_when_the_pairs_cannot_fill_every_slot():
    import numpy as np

    room = np.array([1, 1])
    pairs = (np.array([0, 1]), np.array([0, 0]), np.array([50, 60]))  # two mentees, both only with mentor 0
    assert matching._sparse_optimum(2, room, pairs, all_or_none=True) is None
    assert matching._sparse_optimum(2, room, pairs).tolist() == [-1, 0]
    pairs = (np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([50, 10, 60]))
    assert matching._sparse_optimum(2, room, pairs, all_or_none=True).tolist() == [1, 0]


@pytest.mark.parametrize("mentors, matchable", [(30, True), (20, False)])
def test_the_sparse_solver_adds_pairs_until_its_pairs_match_as_many_mentees_as_the_cohort_can(monkeypatch, mentors,
                                                                                             matchable):
    # One pair per mentee and per mentor leave most mentees over in a cohort where all can be matched
    # (30 mentors taking 2 for 60 mentees), or all slots filled (20 mentors); pairs are added before
    # the first weighted solve, until a matching over them is as large as the cohort's best.
    mentors, mentees = demo_cohort(mentees=60, mentors=mentors, seed=5, capacity=2)
    optimum = dense(mentors, mentees)
    completed = []
    matching_most = matching._matching_most

    def spied(kept, room, scorer_of):
        matching_most(kept, room, scorer_of)
        completed.append(kept.pairs)

    monkeypatch.setattr(matching, "_matching_most", spied)
    assert_same_optimum(starved(mentors, mentees), optimum)
    assert len(completed) == 1
    import numpy as np

    rows, columns, _ = completed[0]
    room = np.full(len(mentors), 2)
    _, _, left_over = matching._reach_of_unmatched(60, room, rows, columns)
    assert 60 - left_over == len(optimum.pairs) == (60 if matchable else 40)


def test_the_sparse_solver_reaches_the_optimum_when_adding_pairs_stops_short(monkeypatch):
    # After _MATCHING_ROUNDS rounds the pairs may still leave mentees over: the solver's own loop,
    # rescoring those left over, finds the optimum all the same.
    mentors, mentees = demo_cohort(mentees=60, mentors=30, seed=5, capacity=2)
    rounds = []
    reach = matching._reach_of_unmatched
    monkeypatch.setattr(matching, "_reach_of_unmatched", lambda *arguments: rounds.append(1) or reach(*arguments))
    monkeypatch.setattr(matching, "_MATCHING_ROUNDS", 1)
    solved = []
    solve = matching._sparse_optimum
    monkeypatch.setattr(matching, "_sparse_optimum", lambda *arguments, **options:
                        solved.append(solve(*arguments, **options)) or solved[-1])
    assert_same_optimum(starved(mentors, mentees), dense(mentors, mentees))
    assert len(rounds) == 1
    assert solved[0] is None and (solved[1] < 0).any()  # the one round left mentees over


@pytest.mark.parametrize("solver", [sparse, starved])
def test_the_sparse_solver_explains_a_cohort_where_every_pair_is_ruled_out(solver):
    mentors = [mentor("m", communication=["phone"]), mentor("n", years_experience=1, capacity=2)]
    mentees = [mentee("a"), mentee("b", communication=["phone"], years_experience=20)]
    proposal = solver(mentors, mentees, forbids=[["m", "b"]])
    assert proposal.as_dict() == dense(mentors, mentees, forbids=[["m", "b"]]).as_dict()
    assert not proposal.pairs and len(proposal.unused_capacity) == 2


def test_the_sparse_solver_never_builds_the_mentees_by_mentors_matrix(monkeypatch):
    def refuse(self):
        raise AssertionError("the dense matrix was built")

    monkeypatch.setattr(matching._Cohort, "pair_scores", refuse)
    cohort = random_cohort(5, mentee_count=60)
    mentors, mentees = cohort.pop("mentors"), cohort.pop("mentees")
    proposal = starved(mentors, mentees, **cohort)
    assert proposal.pairs


@pytest.mark.parametrize("kept_cells, scored_once", [(60 * 20, True), (60 * 20 - 1, False)])
def test_the_sparse_solver_scores_each_mentee_once_when_the_cohort_is_small_enough(monkeypatch, kept_cells,
                                                                                  scored_once):
    # Up to _KEPT_SCORE_CELLS pairs the first scan's scores serve the later scans; above, they are scored again.
    mentors, mentees = demo_cohort(mentees=60, mentors=20, seed=3, capacity=3)
    optimum = dense(mentors, mentees)
    scored = []
    chunks = matching._Scorer.chunks

    def counted(scorer, rows=None):
        for chunk, chunk_scores in chunks(scorer, rows):
            scored.extend(chunk.tolist())
            yield chunk, chunk_scores

    monkeypatch.setattr(matching._Scorer, "chunks", counted)
    monkeypatch.setattr(matching, "_KEPT_SCORE_CELLS", kept_cells)
    with patch.multiple(matching, _NEAR=0, _NEAR_PAIRS=1, _MENTEE_CANDIDATES=(1, 1), _MENTOR_CANDIDATES=1):
        proposal = sparse(mentors, mentees)
    assert_same_optimum(proposal, optimum)
    assert (sorted(scored) == list(range(60))) is scored_once


def test_propose_takes_the_sparse_solver_from_the_crossover_on(monkeypatch):
    mentors, mentees = demo_cohort(mentees=30, mentors=12, seed=4)
    calls = []
    monkeypatch.setattr(matching, "_sparse_assignment", lambda cohort: calls.append(cohort) or [])
    small = propose(mentors, mentees)
    assert not calls and small.pairs
    monkeypatch.setattr(matching, "_SPARSE_FROM_CELLS", (30 * 12, 30 * 12))
    propose(mentors, mentees)
    assert len(calls) == 1


# How the scorer can be made to work: scores looked up by code (tables of codes kept whole, or built per chunk,
# or whole though rows are visited in the order of a per-chunk criterion), or summed from tables of fits.
SCORER_PATHS = {
    "codes": {},
    "codes per chunk": {"_TABLE_CELLS": 1, "_CHUNK_CELLS": 50},
    "codes per window of chunks": {"_TABLE_CELLS": 200, "_CHUNK_CELLS": 50},
    "codes whole, in key order": {"_TABLE_CELLS": 500},
    "codes by binary search": {"_FEW_STATES": 0},
    "fits": {"_SCORE_TABLE_CELLS": 0},
    "fits per chunk": {"_SCORE_TABLE_CELLS": 0, "_TABLE_CELLS": 1, "_CHUNK_CELLS": 50},
    "fits per window of chunks": {"_SCORE_TABLE_CELLS": 0, "_TABLE_CELLS": 200, "_CHUNK_CELLS": 50},
}


@pytest.mark.parametrize("path", SCORER_PATHS)
def test_scores_agree_with_score_pair_where_the_order_of_adding_changes_them(path, monkeypatch):
    # With these weights float addition is not associative enough for rounding: adding the criteria in
    # another order changes some pairs' scores. Every way the scorer works must still agree with score_pair.
    weights = dict(zip(DEFAULT_WEIGHTS, (0.1, 0.2, 0.3, 0.7, 0.6, 0.9)))
    mentors, mentees = demo_cohort(mentees=70, mentors=40, seed=11)
    built = matching._Cohort.build(mentors, mentees, weights, (), ())

    def score(mentor_record, mentee_record, criteria) -> int:
        return matching._weighted_score(mentor_record, mentee_record, matching._terms(built.weights, criteria))[0]

    reordered = [(mentor_record, mentee_record) for mentee_record in built.free_mentees for mentor_record in built.mentors
                 if score(mentor_record, mentee_record, CRITERIA) != score(mentor_record, mentee_record, CRITERIA[::-1])]
    assert reordered
    for name, value in SCORER_PATHS[path].items():
        monkeypatch.setattr(matching, name, value)
    assert (matching._Scorer(*built.sides, built.weights, built.criteria, built.forbidden).codes is None) == (
        "_SCORE_TABLE_CELLS" in SCORER_PATHS[path])
    assert_matrix_agrees_with_score_pair(built)


@pytest.mark.parametrize("path", SCORER_PATHS)
def test_every_way_of_scoring_gives_the_same_scores_on_random_cohorts(path, monkeypatch):
    # Committee questions, weights of 0, forbids and past partners. Codes or fits, the rows come in the
    # same order (the sparse solver's choice among equal pairs follows it).
    for seed in range(4):
        cohort = random_cohort(seed, mentee_count=50)
        built = matching._Cohort.build(cohort["mentors"], cohort["mentees"], cohort["weights"], (),
                                       cohort["forbids"], cohort["criteria"])
        whole = built.pair_scores()
        with monkeypatch.context() as patched:
            for name, value in SCORER_PATHS[path].items():
                patched.setattr(matching, name, value)
            assert (built.pair_scores() == whole).all()
            assert_matrix_agrees_with_score_pair(built)
            order = [rows.tolist() for rows, _ in built.scorer().chunks()]
            patched.setattr(matching, "_SCORE_TABLE_CELLS", 0)
            assert [rows.tolist() for rows, _ in built.scorer().chunks()] == order


@pytest.mark.parametrize("seed", range(3))
def test_each_rules_blocks_and_the_compatible_counts_agree_with_the_checks(seed, monkeypatch):
    # A rule on a mentee key is applied by tables (the whole cohort's, or a chunk's), the past partners and
    # forbids as listed pairs: each against the rule's own check, pair by pair.
    import numpy as np

    cohort = random_cohort(seed, mentee_count=40)
    for record in cohort["mentors"][:5]:
        record["past_partners"] = [mentee["id"] for mentee in cohort["mentees"][seed::7]]
    built = matching._Cohort.build(cohort["mentors"], cohort["mentees"], cohort["weights"], (), cohort["forbids"],
                                   cohort["criteria"])
    mentors, mentees = built.sides
    checked = np.array([[[rule.check(mentor_record, mentee_record, built.forbidden) is not None
                          for mentor_record in built.mentors] for mentee_record in built.free_mentees]
                        for rule in matching.RULES])
    assert all(blocked.any() and not blocked.all() for blocked in checked)
    for rule, blocked in zip(matching.RULES, checked):
        assert (rule.blocks(mentors, mentees, built.forbidden) == blocked).all(), rule.name
    rows = list(range(len(built.free_mentees)))[::-2]
    expected = [len(built.mentors) - int(checked.any(axis=0)[row].sum()) for row in rows]
    assert built.compatible_counts(rows) == expected
    for table_cells in (1, 200):  # tables per chunk, and per window of chunks
        monkeypatch.setattr(matching, "_TABLE_CELLS", table_cells)
        monkeypatch.setattr(matching, "_CHUNK_CELLS", 50)
        assert built.compatible_counts(rows) == expected


def test_scores_agree_when_every_table_is_built_chunk_by_chunk(monkeypatch):
    # Criteria with many key values get a table per chunk, and chunks of a few rows
    # exercise the cached denominators: the scores must not change.
    cohort = random_cohort(8, mentee_count=70)
    built = matching._Cohort.build(cohort["mentors"], cohort["mentees"], cohort["weights"], (), cohort["forbids"],
                                   cohort["criteria"])
    whole = built.pair_scores()
    monkeypatch.setattr(matching, "_TABLE_CELLS", 1)
    monkeypatch.setattr(matching, "_CHUNK_CELLS", 50)
    assert (built.pair_scores() == whole).all()
    assert_matrix_agrees_with_score_pair(built)


def test_a_share_is_the_same_whether_or_not_some_row_wants_nothing():
    # _share divides plainly when every row wants something, else leaves NaN where nothing is wanted:
    # both ways must give the same floats on the rows that want something.
    import numpy as np

    covered, wanted = np.array([[0, 1, 2], [1, 1, 0]], dtype=np.uint8), np.array([[2], [3]], dtype=np.uint8)
    plain = matching._share(covered, wanted)
    placed = matching._share(np.vstack([covered, [[0, 0, 0]]]), np.vstack([wanted, [[0]]]))
    assert plain.dtype == placed.dtype == np.float64 and plain.shape == (2, 3)
    assert (plain == placed[:2]).all() and np.isnan(placed[2]).all()
    assert plain.tolist() == [[0.0, 0.5, 1.0], [1 / 3, 1 / 3, 0.0]]
