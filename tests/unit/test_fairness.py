"""The fairness alternative and the figures proposals are compared by: a cohort built so that the
max-total proposal strands a pair at a low score, and an exhaustive search on small random cohorts."""
from __future__ import annotations

from collections import Counter
from unittest.mock import patch

import pytest
from hypothesis import given, settings

from chalicelib.domain import fairness, matching
from chalicelib.domain.matching import propose, propose_fairest, score_pair
from chalicelib.domain.refusals import Invalid
from tests.helpers.matching_builders import allowed_scores, cohorts, mentee, mentor

SMALL = settings(max_examples=150, deadline=None)


def stranding_cohort():
    """Two mentors, two mentees: the best total pairs the strong mentor with the mentee of many interests
    and strands the other mentee with a mentor who shares none of theirs."""
    mentors = [mentor("m1", interests=["leadership", "technology", "instruction", "outreach", "grants"]),
               mentor("m2", interests=["leadership"])]
    mentees = [mentee("e1", interests=["leadership", "technology", "instruction", "outreach"]),
               mentee("e2", interests=["grants", "advocacy"])]
    return mentors, mentees


def scores_of(proposal) -> list[int]:
    return [pair.score for pair in proposal.pairs]


def test_the_alternative_lifts_the_stranded_pair_and_matches_as_many():
    mentors, mentees = stranding_cohort()
    score = {(m["id"], e["id"]): score_pair(m, e)[0] for m in mentors for e in mentees}
    # The premise: the crossed pairs add up to less than the straight ones, and the weakest straight one is low.
    assert score["m1", "e1"] + score["m2", "e2"] > score["m1", "e2"] + score["m2", "e1"]
    assert score["m2", "e2"] < min(score["m1", "e2"], score["m2", "e1"])

    best_total, fairest = propose(mentors, mentees), propose_fairest(mentors, mentees)
    assert {(p.mentor_id, p.mentee_id) for p in best_total.pairs} == {("m1", "e1"), ("m2", "e2")}
    assert {(p.mentor_id, p.mentee_id) for p in fairest.pairs} == {("m1", "e2"), ("m2", "e1")}
    assert len(fairest.pairs) == len(best_total.pairs) == 2
    assert min(scores_of(fairest)) == min(score["m1", "e2"], score["m2", "e1"]) > min(scores_of(best_total))
    assert fairest.total_score < best_total.total_score
    assert all(pair.reasons for pair in fairest.pairs)


def test_locks_and_forbids_hold_in_the_alternative():
    mentors, mentees = stranding_cohort()
    locked = propose_fairest(mentors, mentees, locks=[["m2", "e2"]])
    assert {(p.mentor_id, p.mentee_id) for p in locked.pairs} == {("m1", "e1"), ("m2", "e2")}
    forbidden = propose_fairest(mentors, mentees, forbids=[["m2", "e1"]])
    assert ("m2", "e1") not in {(p.mentor_id, p.mentee_id) for p in forbidden.pairs}
    assert len(forbidden.pairs) == 2


def fairest_by_brute_force(mentors, mentees, forbids) -> tuple[int, int, int]:
    """(mentees matched, lowest pair score, total) of the best of all feasible assignments, matched first."""
    scores = allowed_scores(mentors, mentees, forbids)
    room = [record["capacity"] for record in mentors]
    best = (0, 0, 0)

    def search(j: int, chosen: list[int]) -> None:
        nonlocal best
        if j == len(mentees):
            best = max(best, (len(chosen), min(chosen, default=0), sum(chosen)))
            return
        search(j + 1, chosen)
        for i in range(len(mentors)):
            if (i, j) in scores and room[i]:
                room[i] -= 1
                search(j + 1, [*chosen, scores[i, j]])
                room[i] += 1

    search(0, [])
    return best


@pytest.mark.parametrize("sparse_from", [matching._SPARSE_FROM_CELLS, (0, 0)], ids=["dense", "sparse"])
@SMALL
@given(cohort=cohorts(most_mentees=7, most_mentors=4))
def test_the_alternative_is_the_best_possible_on_small_cohorts(sparse_from, cohort):
    mentors, mentees, forbids = cohort
    forbids = {tuple(pair) for pair in forbids}
    with patch.object(matching, "_SPARSE_FROM_CELLS", sparse_from):
        fairest = propose_fairest(mentors, mentees, forbids=forbids)
    best_total = propose(mentors, mentees, forbids=forbids)
    scores = scores_of(fairest)
    assert (len(scores), min(scores, default=0), sum(scores)) == fairest_by_brute_force(mentors, mentees, forbids)
    assert len(fairest.pairs) == len(best_total.pairs)
    # Every pair keeps the rules and no mentor takes more than they offered.
    by_id = {record["id"]: record for record in mentors + mentees}
    assert all(score_pair(by_id[p.mentor_id], by_id[p.mentee_id])[0] == p.score for p in fairest.pairs)
    assert all((p.mentor_id, p.mentee_id) not in forbids for p in fairest.pairs)
    load = Counter(pair.mentor_id for pair in fairest.pairs)
    assert all(load[record["id"]] <= record["capacity"] for record in mentors)


def test_the_summary_counts_the_weak_pairs_and_bands_every_score():
    figures = fairness.summary([100, 49, 50, 0, 9, 90], threshold=50)
    assert (figures["matched"], figures["total"], figures["lowest"], figures["below_threshold"]) == (6, 298, 0, 3)
    bands = {band["from"]: band["count"] for band in figures["distribution"]}
    assert bands[0] == 2 and bands[40] == 1 and bands[50] == 1 and bands[90] == 2
    assert sum(bands.values()) == 6 and figures["distribution"][-1]["to"] == 100
    assert fairness.summary([])["lowest"] is None


@pytest.mark.parametrize("value", [-1, 101, 2.5, True, "fifty", [50]])
def test_a_bad_threshold_is_refused(value):
    with pytest.raises(Invalid, match="threshold"):
        fairness.threshold_of(value)


def test_the_threshold_defaults_to_fifty_and_reads_form_text():
    assert fairness.threshold_of(None) == 50 and fairness.threshold_of("70") == 70 and fairness.threshold_of(0) == 0
