"""In a real browser: the committee compares the best-total proposal with the fairest one, side by side,
and picks which to show for approval; the supply page is one link away. Runs its own demo sandbox and
approves nothing."""
import re

import pytest
from playwright.sync_api import expect

from tests.helpers import start_sandbox, stop_sandbox
from tests.helpers.browser import sign_in

FAIREST, BEST_TOTAL = "Fairest to the weakest pair", "Best total fit"


@pytest.fixture
def demo_sandbox(tmp_path, browser):
    running = start_sandbox(tmp_path / "sandbox-data", "--demo")
    yield running
    stop_sandbox(running)


def figure(table, row: str, column: int) -> int:
    text = table.get_by_role("row").filter(has=table.page.get_by_role("rowheader", name=re.compile(row))) \
        .get_by_role("cell").nth(column).inner_text()
    return int(text.rstrip("%"))


def proposed_fits(page) -> list[int]:
    pairs = page.get_by_role("table", name="Proposed pairs")
    return [int(cell.rstrip("%")) for cell in pairs.locator("tbody tr td:nth-child(4)").all_inner_texts()]


def test_the_committee_compares_the_two_proposals_and_picks_one(page, demo_sandbox):
    sign_in(page, demo_sandbox)
    page.goto(demo_sandbox.base_url + "/admin/matching")
    expect(page.get_by_role("heading", name="How fair the proposal is")).to_be_visible()
    expect(page.get_by_role("table", name="The two proposals side by side")).to_have_count(0)

    page.get_by_label("Pairs below this score count as weak").fill("60")
    page.get_by_role("radio", name=FAIREST).check()
    page.get_by_role("button", name="Compare and show the chosen proposal").click()

    side_by_side = page.get_by_role("table", name="The two proposals side by side")
    expect(side_by_side).to_be_visible()
    expect(side_by_side.get_by_role("columnheader", name=FAIREST)).to_be_visible()
    assert figure(side_by_side, "Mentees matched", 0) == figure(side_by_side, "Mentees matched", 1) > 0
    best_lowest, fairest_lowest = figure(side_by_side, "Lowest pair score", 0), figure(side_by_side, "Lowest pair score", 1)
    assert fairest_lowest >= best_lowest
    assert figure(side_by_side, "Total score", 1) <= figure(side_by_side, "Total score", 0)
    expect(side_by_side.get_by_role("rowheader", name="Pairs below 60%")).to_be_visible()
    compared = demo_sandbox.as_committee("POST", "/admin/api/matching/proposal", {"compare": True, "threshold": 60})
    for column, plan in enumerate(("best_total", "fairest")):
        expected = compared["comparison"][plan]
        assert figure(side_by_side, "Total score", column) == expected["total"]
        assert figure(side_by_side, "Lowest pair score", column) == expected["lowest"]
        assert figure(side_by_side, "Pairs below 60%", column) == expected["below_threshold"]
    # The fairest proposal is the one shown for approval, its weakest pair as the comparison says.
    expect(page.get_by_role("radio", name=FAIREST)).to_be_checked()
    assert min(proposed_fits(page)) == fairest_lowest
    expect(page.get_by_role("img", name=re.compile("Pair scores of the proposal"))).to_be_visible()

    page.get_by_role("radio", name=BEST_TOTAL).check()
    page.get_by_role("button", name="Compare and show the chosen proposal").click()
    expect(page.get_by_role("radio", name=BEST_TOTAL)).to_be_checked()
    assert min(proposed_fits(page)) == best_lowest
    expect(page.get_by_label("Pairs below this score count as weak")).to_have_value("60")

    page.get_by_role("link", name="Supply and demand").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Supply and demand")
    expect(page.get_by_role("table", name=re.compile("by the library type they want"))).to_be_visible()
