"""In a real browser, against the sandbox: the matching page keeps a "never pair" across reloads and
approves in two steps; then every committee page passes axe-core (WCAG 2.2 AA) and fits 320 px.

One sandbox for the module: the second test reads the pairings the first approved."""
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.helpers import PROJECT_DIR, start_sandbox, stop_sandbox
from tests.helpers.browser import sign_in

AXE = PROJECT_DIR / "node_modules" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Pages of one kind differ by an id: one of each is enough.
KINDS = tuple(re.compile(pattern) for pattern in (r"/admin/applications/[^/?]+$", r"/admin/pairings/[^/?]+$",
                                                   r"/admin/people\?email=.+", r"/admin/settings/mail\?.+"))
NOT_PAGES = ("/admin/api/", "/admin/logout", "/admin/login")


@pytest.fixture(scope="module")
def matching_sandbox(tmp_path_factory, browser):
    running = start_sandbox(tmp_path_factory.mktemp("browser-matching"), "--demo")
    yield running
    stop_sandbox(running)


def introductions(sandbox):
    return [m for m in sandbox.mailbox() if m["subject"].startswith("Meet your mentoring partner")]


def test_a_forbid_persists_across_reloads_and_approving_asks_for_confirmation(page, matching_sandbox):
    sandbox = matching_sandbox
    sign_in(page, sandbox)
    page.get_by_role("link", name="Matching").click()
    expect(page.get_by_role("link", name="Matching")).to_have_attribute("aria-current", "page")
    proposed = page.get_by_role("table", name="Proposed pairs")
    first = proposed.get_by_role("button", name=re.compile("^Never pair ")).first
    ruled_out = re.sub(r"^Never pair\s*", "", first.text_content().strip())  # "Jo Reader with Pat Mentor"
    first.click()
    expect(page.get_by_role("status")).to_contain_text("Saved in the draft: that pair will never be proposed")

    for reopen in (page.reload, lambda: page.goto(sandbox.base_url + "/admin/matching")):  # saved with the cohort
        reopen()
        expect(page.get_by_role("button", name=f"Remove never pair {ruled_out}")).to_be_visible()
        expect(page.get_by_role("button", name=f"Never pair {ruled_out}", exact=True)).to_have_count(0)

    proposed = page.get_by_role("table", name="Proposed pairs")
    ticked = proposed.get_by_role("checkbox", checked=True)
    count = ticked.count()
    assert count >= 5 and proposed.get_by_role("checkbox").count() >= count
    page.get_by_role("button", name="Review the introductions for the ticked pairs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Send {count} introductions?")
    listed = page.get_by_role("table", name="Introductions to send")
    expect(listed.get_by_role("row")).to_have_count(count + 1)
    assert introductions(sandbox) == []  # nothing is sent before the confirmation

    page.get_by_role("button", name=f"Confirm and send {count} introductions").click()
    expect(page.get_by_role("status")).to_contain_text(f"{count} pairings approved")
    assert len(introductions(sandbox)) == count
    page.goto(sandbox.base_url + "/admin/matching")
    expect(page.get_by_text("you have not changed it, so every pair starts ticked")).to_be_visible()  # the draft is spent


def committee_pages(page, base: str) -> list[str]:
    """Every committee page reachable by links from the dashboard, one of each kind."""
    found, queue, kinds = [], ["/admin"], set()
    while queue:
        path = queue.pop(0)
        page.goto(base + path)
        found.append(path)
        for href in page.eval_on_selector_all("a[href^='/admin']", "links => links.map(link => link.getAttribute('href'))"):
            target = href.split("#")[0]
            kind = next((pattern.pattern for pattern in KINDS if pattern.search(target)), target)
            if kind in kinds or target.startswith(NOT_PAGES) or urlsplit(target).path.endswith((".csv", ".json")):
                continue
            kinds.add(kind)
            queue.append(target)
    return found


@pytest.fixture
def page_for_axe(browser):
    """The pages' Content-Security-Policy refuses injected scripts, axe-core included: this context sets it aside."""
    context = browser.new_context(bypass_csp=True)
    yield context.new_page()
    context.close()


def test_every_committee_page_passes_axe_and_fits_320_pixels(page_for_axe, matching_sandbox):
    page = page_for_axe
    if not introductions(matching_sandbox):
        pytest.skip("needs the pairs approved by the test above")
    assert AXE.exists(), "make test installs axe-core (npm ci)"
    sign_in(page, matching_sandbox)
    paths = committee_pages(page, matching_sandbox.base_url)
    assert {"/admin/matching", "/admin/pairings", "/admin/settings", "/admin/report"} <= set(paths)
    assert any(re.search(r"/admin/pairings/.+", path) for path in paths) and len(paths) > 15

    page.set_viewport_size({"width": 320, "height": 800})
    problems = {}
    # Pages that a button opens: the introductions' confirmation step, and mail previews (a mail's
    # own HTML part, tables and headings included, shown inside the page).
    opened_by_a_button = {
        "review": ("/admin/matching", "Review the introductions for the ticked pairs", re.compile(r"^Send \d+ intro")),
        **{f"preview of {name}": (f"/admin/settings/mail?mail={name}", "Preview with sample data",
                                  "Preview with sample data") for name in ("introduction", "checkin", "committee_digest")}}
    for path in paths + list(opened_by_a_button):
        if path in opened_by_a_button:
            start, button, heading = opened_by_a_button[path]
            page.goto(matching_sandbox.base_url + start)
            page.get_by_role("button", name=button).click()
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
        else:
            page.goto(matching_sandbox.base_url + path)
        expect(page.get_by_role("link", name="Skip to main content")).to_have_attribute("href", "#main")
        wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA)
        assert result["passes"], f"axe-core checked nothing on {path}"
        found = [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in result["violations"]]
        if wide > 0:
            found.append(f"scrolls sideways by {wide} px at 320 px wide")
        if found:
            problems[path] = found
    assert problems == {}


def test_the_focus_ring_keeps_three_to_one_and_the_skip_link_comes_first(page, matching_sandbox):
    sign_in(page, matching_sandbox)
    page.goto(matching_sandbox.base_url + "/admin/pairings")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    ring = page.evaluate("""() => { const style = getComputedStyle(document.activeElement);
        return [style.outlineStyle, parseFloat(style.outlineWidth), style.outlineColor, style.boxShadow]; }""")
    style, width, colour, halo = ring
    assert style == "solid" and width >= 2 and "rgb(255, 255, 255)" in halo
    assert contrast(colour, "rgb(255, 255, 255)") >= 3


def contrast(first: str, second: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(part) / 255 for part in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
