"""A cohort's life runs one way; the admin pages show first the cohort that needs attention."""
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.cohort_phases import PHASES, check_move, needing_attention, phase_of
from chalicelib.domain.refusals import Conflict, Invalid

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_cohorts_written_before_phases_read_as_accepting_or_closed():
    assert (phase_of("open"), phase_of("closed"), phase_of("running")) == ("accepting", "closed", "running")


@pytest.mark.parametrize("current", [*PHASES, "open"])
@pytest.mark.parametrize("target", PHASES)
def test_a_cohort_moves_only_forward_and_a_backward_move_says_why(current, target):
    order = PHASES.index(phase_of(current)), PHASES.index(target)
    if order[1] > order[0]:
        assert check_move(current, target) == target
    else:
        with pytest.raises(Conflict) as refused:
            check_move(current, target)
        assert (("cannot move back" in refused.value.message) == (order[1] < order[0]) and
                ("already" in refused.value.message) == (order[1] == order[0]))


@pytest.mark.parametrize("target", ["", "open", "Running", None, 3, ["closed"]])
def test_an_unknown_phase_is_refused_as_bad_input(target):
    with pytest.raises(Invalid):
        check_move("accepting", target)


def test_the_cohort_needing_attention_is_matching_then_accepting_then_running_then_the_latest_closed():
    cohorts = [("old", "closed", T), ("older", "closed", T - timedelta(days=400)), ("a", "running", T)]
    assert needing_attention(cohorts) == "a"
    assert needing_attention(cohorts + [("b", "open", T + timedelta(days=200))]) == "b"
    assert needing_attention(cohorts + [("b", "accepting", T), ("c", "matching", T - timedelta(days=1))]) == "c"
    assert needing_attention(cohorts[:2]) == "old"
    assert needing_attention([]) is None
