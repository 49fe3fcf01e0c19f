"""The fairness view of a proposal through the committee's routes: figures, the alternative, the comparison."""
import re

import pytest

from infra.local.seed import seed_demo_cohort
from tests.helpers import post_json, propose


@pytest.fixture
def cohort(aws):
    seed_demo_cohort()


def test_every_proposal_reports_its_weakest_pairs(client, committee_cookie, cohort):
    proposal = propose(client, committee_cookie, threshold=70)
    scores = [pair["score"] for pair in proposal["pairs"]]
    figures = proposal["fairness"]
    assert proposal["plan"] == "best_total" and "comparison" not in proposal
    assert figures["lowest"] == min(scores) and figures["total"] == sum(scores) and figures["matched"] == len(scores)
    assert figures["threshold"] == 70 and figures["below_threshold"] == sum(score < 70 for score in scores)
    assert sum(band["count"] for band in figures["distribution"]) == len(scores)


def test_the_fairest_plan_matches_as_many_and_lifts_the_lowest_score(client, committee_cookie, cohort):
    compared = propose(client, committee_cookie, compare=True)
    best_total, fairest = compared["comparison"]["best_total"], compared["comparison"]["fairest"]
    assert fairest["matched"] == best_total["matched"] > 0
    assert fairest["lowest"] >= best_total["lowest"] and fairest["total"] <= best_total["total"]
    chosen = propose(client, committee_cookie, plan="fairest")
    assert chosen["plan"] == "fairest" and chosen["fairness"] == fairest
    assert min(pair["score"] for pair in chosen["pairs"]) == fairest["lowest"]


@pytest.mark.parametrize("options,field", [({"threshold": 101}, "threshold"), ({"threshold": 50.5}, "threshold"),
                                           ({"plan": "cheapest"}, "plan"), ({"compare": "yes"}, "compare")])
def test_bad_fairness_options_get_a_400_naming_the_field(client, committee_cookie, cohort, options, field):
    answer = post_json(client, committee_cookie, "/admin/api/matching/proposal", options)
    assert answer.status_code == 400 and field in answer.json_body["errors"]


def form_get(client, cookie, fields: list[tuple[str, str]]):
    """The fairness choice is a GET form on the matching page: it changes nothing, it shows another proposal."""
    from urllib.parse import urlencode

    return client.http.get(f"/admin/matching?{urlencode(fields)}", headers={"Cookie": cookie})


def test_the_page_compares_the_two_plans_and_shows_the_chosen_one_for_approval(client, committee_cookie, cohort):
    page = client.http.get("/admin/matching", headers={"Cookie": committee_cookie}).body.decode()
    assert "How fair the proposal is" in page and "side by side" not in page
    fairest = propose(client, committee_cookie, plan="fairest")
    answer = form_get(client, committee_cookie, [("threshold", "60"), ("plan", "fairest")])
    page = answer.body.decode()
    assert answer.status_code == 200 and "The two proposals side by side" in page
    assert re.search(r'id="plan-fairest"[^>]*checked', page)
    ticked = set(re.findall(r'name="pair" value="([^"]+)"', page))
    assert ticked == {f"{pair['mentor_id']}:{pair['mentee_id']}" for pair in fairest["pairs"]}
    assert "below 60%" in page


def test_a_bad_threshold_on_the_page_is_a_400_with_the_proposal_kept(client, committee_cookie, cohort):
    answer = form_get(client, committee_cookie, [("threshold", "250")])
    page = answer.body.decode()
    assert answer.status_code == 400 and "threshold is a whole score" in page and 'name="pair"' in page
