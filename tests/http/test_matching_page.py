"""The matching page: changes saved as a draft with the cohort, and approval in two steps that sends
exactly the list the member confirmed."""
import json
import re
from html import unescape
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.models import Application, Cohort, Pairing
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import matching
from chalicelib.services import matching_draft, proposals
from infra.local.seed import seed_demo_cohort
from tests.helpers import csrf_of, sent_mail

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def cohort(aws):
    seed_demo_cohort()
    return open_cohort()


def page(client, cookie, path="/admin/matching"):
    answer = client.http.get(path, headers={"Cookie": cookie})
    assert answer.status_code == 200, answer.body
    return unescape(answer.body.decode())


def post(client, cookie, path, fields):
    body = urlencode([("csrf_token", csrf_of(client, cookie)), *fields]).encode()
    return client.http.post(path, headers={"Content-Type": FORM, "Cookie": cookie}, body=body)


def ticked(html):
    return re.findall(r'name="pair" value="([0-9a-f]+:[0-9a-f]+)" id="approve-\d+" checked', html)


def unticked(html):
    return re.findall(r'name="pair" value="([0-9a-f]+:[0-9a-f]+)" id="approve-\d+">', html)


def revision(html):
    return re.search(r'name="revision" value="(\d+)"', html).group(1)


def names():
    return {a.id: a.answers["name"] for a in Application.scan()}


def test_approving_lists_whom_the_introductions_go_to_and_sends_only_on_confirmation(client, committee_cookie, cohort):
    html = page(client, committee_cookie)
    everyone = ticked(html)
    assert len(everyone) >= 10 and not unticked(html)  # the engine's own proposal: every pair starts ticked
    assert "you have not changed it, so every pair starts ticked" in html
    mentor_id, mentee_id = everyone[0].split(":")
    mentee = Application.get(mentee_id)
    assert f'<a href="/admin/applications/{mentee_id}">{mentee.answers["name"]}</a>' in html
    assert f'({mentee.answers["library_name"]})' in html

    chosen = everyone[:2]
    review = post(client, committee_cookie, "/admin/matching/review", [("revision", revision(html))] + [("pair", p) for p in chosen])
    shown = unescape(review.body.decode())
    assert review.status_code == 200 and "Send 2 introductions?" in shown
    listed = set(re.findall(r'name="pair" value="([0-9a-f]+:[0-9a-f]+)"', shown))
    assert listed == set(chosen)
    people = [Application.get(i) for pair in chosen for i in pair.split(":")]
    assert all(person.email in shown for person in people)
    others = [Application.get(i) for pair in everyone[2:] for i in pair.split(":") if i not in {p.id for p in people}]
    assert not any(person.email in shown for person in others)
    assert Pairing.count() == 0 and not [m for m in sent_mail() if m["subject"].startswith("Meet your")]

    confirmed = post(client, committee_cookie, "/admin/matching/approve",
                     [("revision", revision(shown))] + [("pair", p) for p in listed])
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == "/admin/pairings?approved=2"
    assert {f"{p.mentor_id}:{p.mentee_id}" for p in Pairing.scan()} == set(chosen)
    introduced = {address for m in sent_mail() if m["subject"].startswith("Meet your") for address in m["to"]}
    assert introduced == {person.email for person in people}


def test_nothing_is_ticked_by_the_review_and_a_forged_confirmation_sends_nothing(client, committee_cookie, cohort):
    html = page(client, committee_cookie)
    empty = post(client, committee_cookie, "/admin/matching/review", [("revision", revision(html))])
    assert empty.status_code == 400 and "Tick at least one pair" in empty.body.decode()
    forged = client.http.post("/admin/matching/approve", headers={"Content-Type": FORM, "Cookie": committee_cookie},
                              body=urlencode({"csrf_token": "0" * 32, "revision": revision(html),
                                              "pair": ticked(html)[0]}).encode())
    assert forged.status_code == 403 and Pairing.count() == 0


def movable(cohort, pairs) -> tuple[str, str]:
    """The first of these proposed pairs whose mentee is still matched when that pair may never be: the
    demo's ids are random, and a mentee with one compatible mentor would be left over instead."""
    mentors, mentees, _ = proposals.matching_pool(cohort)
    for pair in pairs:
        mentor_id, mentee_id = pair.split(":")
        if any(p.mentee_id == mentee_id for p in matching.propose(mentors, mentees, forbids=[(mentor_id, mentee_id)]).pairs):
            return mentor_id, mentee_id
    raise AssertionError("no proposed mentee has another mentor")


def test_never_pair_acts_at_once_persists_and_unticks_the_pairs_it_moved(client, committee_cookie, cohort):
    before = page(client, committee_cookie)
    mentor_id, mentee_id = movable(cohort, ticked(before))
    answer = post(client, committee_cookie, "/admin/matching/draft", [("change", "never_pair"), ("pair", f"{mentor_id}:{mentee_id}")])
    assert answer.status_code == 303 and answer.headers["Location"] == f"/admin/matching?cohort={cohort.id}&saved=never_pair"

    for _ in range(2):  # the change is saved with the cohort: a reload shows it
        html = page(client, committee_cookie, "/admin/matching?saved=never_pair")
        proposed = ticked(html) + unticked(html)
        assert f"{mentor_id}:{mentee_id}" not in proposed
        who = names()
        assert f"Never pair: {who[mentee_id]}" in re.sub(r"<[^>]+>", "", html)
        assert f"Remove never pair {who[mentee_id]} with {who[mentor_id]}" in re.sub(r"<[^>]+>", "", html)
    assert any(pair.endswith(mentee_id) for pair in unticked(html))  # the mentee's new mentor is for the committee to check
    assert f"{who[mentee_id]}: now with" in html and re.search(r"(They|It) starts? unticked", html)
    assert matching_draft.current(cohort.id).forbids == ((mentor_id, mentee_id),)

    removed = post(client, committee_cookie, "/admin/matching/draft", [("change", "remove"), ("pair", f"{mentor_id}:{mentee_id}")])
    assert removed.status_code == 303
    assert matching_draft.current(cohort.id).empty and f"{mentor_id}:{mentee_id}" in ticked(page(client, committee_cookie))


def test_keep_together_acts_at_once_and_a_lock_that_breaks_a_rule_is_refused(client, committee_cookie, cohort):
    from chalicelib.domain import matching
    from chalicelib.services.pairings import matching_record

    people = list(Application.scan())
    mentors, mentees = [a for a in people if a.role == "mentor"], [a for a in people if a.role == "mentee"]
    proposed = {tuple(pair.split(":")) for pair in ticked(page(client, committee_cookie))}
    fits = [(m.id, e.id) for m in mentors for e in mentees if (m.id, e.id) not in proposed
            and matching.score_pair(matching_record(m), matching_record(e))[0] is not None]
    breaks = next((m.id, e.id) for m in mentors for e in mentees  # another mentor: the lock's own may be full
                  if m.id != fits[0][0] and matching.score_pair(matching_record(m), matching_record(e))[0] is None)

    mentor_id, mentee_id = fits[0]
    answer = post(client, committee_cookie, "/admin/matching/draft", [("change", "keep_together"), ("mentor", mentor_id), ("mentee", mentee_id)])
    assert answer.status_code == 303
    html = page(client, committee_cookie)
    assert f"{mentor_id}:{mentee_id}" in ticked(html)  # the committee's own pair starts ticked, marked
    assert "kept together" in html and matching_draft.current(cohort.id).locks == ((mentor_id, mentee_id),)

    refused = post(client, committee_cookie, "/admin/matching/draft", [("change", "keep_together"), ("mentor", breaks[0]), ("mentee", breaks[1])])
    assert refused.status_code == 400 and "breaks a hard rule" in unescape(refused.body.decode())
    swapped = post(client, committee_cookie, "/admin/matching/draft", [("change", "keep_together"), ("mentor", mentee_id), ("mentee", mentor_id)])
    assert swapped.status_code == 400 and "waiting to be matched" in swapped.body.decode()
    assert matching_draft.current(cohort.id).locks == ((mentor_id, mentee_id),)  # nothing else was saved


def test_a_confirmation_reviewed_before_the_draft_changed_is_refused_with_the_new_list(client, committee_cookie, cohort):
    html = page(client, committee_cookie)
    chosen = ticked(html)[:3]
    review = post(client, committee_cookie, "/admin/matching/review", [("revision", revision(html))] + [("pair", p) for p in chosen])
    reviewed = revision(review.body.decode())
    # Meanwhile another member rules out one of the reviewed pairs.
    mentor_id, mentee_id = chosen[0].split(":")
    matching_draft.never_pair(cohort, "other@example.org", (mentor_id, mentee_id))
    answer = post(client, committee_cookie, "/admin/matching/approve", [("revision", reviewed)] + [("pair", p) for p in chosen])
    shown = unescape(answer.body.decode())
    assert answer.status_code == 409 and "Nothing was sent: the draft changed" in shown
    assert "Proposed pairs" in shown and chosen[0] not in ticked(shown) + unticked(shown)  # the new list
    # What was chosen and still stands stays ticked; nothing else is (the forbid may move other pairs too).
    assert set(ticked(shown)) == set(chosen[1:]) & set(ticked(shown) + unticked(shown))
    assert Pairing.count() == 0 and not [m for m in sent_mail() if m["subject"].startswith("Meet your")]
    # A review opened on the old revision is refused too.
    stale = post(client, committee_cookie, "/admin/matching/review", [("revision", reviewed), ("pair", chosen[1])])
    assert stale.status_code == 409


def test_approval_spends_the_draft_and_a_failure_after_sending_can_be_retried(client, committee_cookie, cohort, monkeypatch):
    html = page(client, committee_cookie)
    first, second = ticked(html)[:2]
    post(client, committee_cookie, "/admin/matching/draft", [("change", "never_pair"), ("pair", first)])
    html = page(client, committee_cookie)
    fields = [("revision", revision(html)), ("pair", second)]

    def fail(*args, **kwargs):
        raise RuntimeError("DynamoDB is unreachable")

    monkeypatch.setattr(matching_draft, "_spend", fail)
    assert post(client, committee_cookie, "/admin/matching/approve", fields).status_code == 503
    monkeypatch.undo()
    again = post(client, committee_cookie, "/admin/matching/approve", fields)
    assert again.status_code == 303 and Pairing.count() == 1
    assert len([m for m in sent_mail() if m["subject"].startswith("Meet your")]) == 1  # introduced once
    assert matching_draft.current(cohort.id).empty  # approved: the draft is spent
    stale = post(client, committee_cookie, "/admin/matching/approve", fields)
    assert stale.status_code == 409 and Pairing.count() == 1


def test_two_members_saving_on_one_revision_cannot_lose_a_change(cohort):
    view = proposals.propose(cohort, {})
    (m1, e1), (m2, e2) = [(p["mentor_id"], p["mentee_id"]) for p in view.proposal["pairs"][:2]]
    read = matching_draft.current(cohort.id)
    matching_draft.never_pair(cohort, "a@example.org", (m1, e1))
    with pytest.raises(matching_draft.DraftChanged):
        matching_draft._save(cohort.id, "b@example.org", read, [], [(m2, e2)], "never_pair", (m2, e2))
    assert matching_draft.current(cohort.id).forbids == ((m1, e1),)


def test_a_huge_draft_is_refused_and_a_stale_revision_too(client, committee_cookie, cohort):
    headers = {"Content-Type": "application/json", "Cookie": committee_cookie}
    draft = client.http.get("/admin/api/matching/draft", headers={"Cookie": committee_cookie}).json_body
    assert draft == {"revision": 0, "locks": [], "forbids": [], "updated_by": ""}
    view = proposals.propose(cohort, {})
    mentors, mentees = sorted(view.mentor_ids), sorted(view.mentee_ids)
    every = [[m, e] for m in mentors for e in mentees]
    assert len(every) > matching_draft.MAX_CHANGES
    huge = client.http.put("/admin/api/matching/draft", headers=headers,
                           body=json.dumps({"revision": 0, "forbids": every[:matching_draft.MAX_CHANGES + 1]}).encode())
    assert huge.status_code == 413 and Cohort.get(cohort.id).matching_draft is None
    saved = client.http.put("/admin/api/matching/draft", headers=headers, body=json.dumps({"revision": 0, "forbids": every[:5]}).encode())
    assert saved.status_code == 200 and saved.json_body["revision"] == 1 and len(saved.json_body["forbids"]) == 5
    stale = client.http.put("/admin/api/matching/draft", headers=headers, body=json.dumps({"revision": 0, "forbids": []}).encode())
    assert stale.status_code == 409
    for body in ({"revision": 1, "forbids": [["x", "y"]]}, {"revision": 1, "forbids": "all"}, {"forbids": []}, [1]):
        assert client.http.put("/admin/api/matching/draft", headers=headers, body=json.dumps(body).encode()).status_code == 400


def test_when_every_mentor_is_full_the_page_says_so(client, committee_cookie, cohort):
    from chalicelib.services.pairings import PairRequest, approve

    view = proposals.propose(cohort, {})
    approve("committee@example.org", [PairRequest(p["mentor_id"], p["mentee_id"]) for p in view.proposal["pairs"]])
    mentors = sum(1 for a in Application.scan() if a.role == "mentor")
    left = proposals.propose(cohort, {}).proposal
    assert left["unmatched_mentees"], "the demo cohort has more mentees than places"
    html = page(client, committee_cookie)
    assert f"All {mentors} mentors are at capacity" in html
    assert "there are no mentors" not in html
    assert all("at capacity" in mentee["reason"] for mentee in left["unmatched_mentees"])


@pytest.mark.parametrize("path, current, kind", [
    ("/admin", "Dashboard", "page"), ("/admin/matching", "Matching", "page"), ("/admin/settings/topics", "Program settings", "true"),
    ("/admin/pairings", "Pairings", "page")])
def test_the_navigation_marks_the_current_page_and_every_page_can_skip_to_its_content(client, committee_cookie, path, current, kind):
    html = page(client, committee_cookie, path)
    assert re.findall(r'<a href="[^"]+" aria-current="(\w+)">([^<]+)</a>', html) == [(kind, current)]
    assert '<a class="skip-link" href="#main">Skip to main content</a>' in html and '<main id="main"' in html
    assert '<a class="skip-link" href="#main">' in client.http.get("/apply").body.decode()
