"""Matching proposals, approval and introductions, through the committee's routes."""
import threading

import pytest

from chalicelib.services import intake
from chalicelib.adapters.models import Claim, OutboxMail, Pairing
from chalicelib.domain.refusals import Conflict
from infra.local.seed import seed_demo_cohort
from tests.helpers import post_json, propose, sent_mail, valid_answers


@pytest.fixture
def cohort(aws):
    seed_demo_cohort()


def applications(client, cookie, role):
    listing = client.http.get(f"/admin/api/applications?role={role}", headers={"Cookie": cookie}).json_body
    return {a["id"]: a for a in listing["applications"]}


def test_the_proposal_covers_the_cohort_and_explains_itself(client, committee_cookie, cohort):
    proposal = propose(client, committee_cookie)
    mentors, mentees = applications(client, committee_cookie, "mentor"), applications(client, committee_cookie, "mentee")
    assert set(proposal) == {"pairs", "unmatched_mentees", "unused_capacity", "plan", "fairness"}
    matched = [pair["mentee_id"] for pair in proposal["pairs"]]
    assert len(matched) == len(set(matched)) and len(matched) + len(proposal["unmatched_mentees"]) == len(mentees)
    for pair in proposal["pairs"]:
        assert 0 <= pair["score"] <= 100 and pair["reasons"] and all(isinstance(r, str) for r in pair["reasons"])
        assert mentors[pair["mentor_id"]]["answers"]["library_name"] != mentees[pair["mentee_id"]]["answers"]["library_name"]
    for mentor_id, mentor in mentors.items():
        load = sum(pair["mentor_id"] == mentor_id for pair in proposal["pairs"])
        unused = sum(u["slots"] for u in proposal["unused_capacity"] if u["mentor_id"] == mentor_id)
        assert load + unused == mentor["answers"]["capacity"]
    assert all(item["reason"] for item in proposal["unmatched_mentees"])


def test_locks_and_forbids_are_honoured(client, committee_cookie, cohort):
    first = propose(client, committee_cookie)
    pair = first["pairs"][0]
    forbidden = propose(client, committee_cookie, forbids=[[pair["mentor_id"], pair["mentee_id"]]])
    assert not any((p["mentor_id"], p["mentee_id"]) == (pair["mentor_id"], pair["mentee_id"]) for p in forbidden["pairs"])
    from chalicelib.domain import matching

    mentors, mentees = applications(client, committee_cookie, "mentor"), applications(client, committee_cookie, "mentee")

    def other_possible_mentors(proposed):
        mentee = {**mentees[proposed["mentee_id"]]["answers"], "id": proposed["mentee_id"]}
        return [mentor_id for mentor_id, mentor in sorted(mentors.items()) if mentor_id != proposed["mentor_id"]
                and matching.score_pair({**mentor["answers"], "id": mentor_id}, mentee)[0] is not None]

    # A lock the rules allow: a proposed mentee, with a mentor the engine did not choose for them.
    mentee_id, mentor_id = next((p["mentee_id"], others[0]) for p in first["pairs"] if (others := other_possible_mentors(p)))
    locked = propose(client, committee_cookie, locks=[[mentor_id, mentee_id]])
    [kept] = [p for p in locked["pairs"] if p["mentee_id"] == mentee_id]
    assert kept["mentor_id"] == mentor_id


@pytest.mark.parametrize("options,message", [
    ({"locks": "everyone"}, "locks"), ({"forbids": [["a"]]}, "forbids"), ({"weights": {"interests": -1}}, "weights"),
    ({"weights": {"astrology": 2}}, "astrology"), ({"locks": [["nobody", "nobody-else"]]}, ""),
])
def test_bad_proposal_options_get_a_400_with_a_message(client, committee_cookie, cohort, options, message):
    answer = post_json(client, committee_cookie, "/admin/api/matching/proposal", options)
    errors = answer.json_body["errors"]  # named by the option at fault when it is one, else the body's
    assert answer.status_code == 400 and any(message in text for text in errors.values())
    assert set(errors) == ({"weights"} if message == "astrology" else {message} if message in ("locks", "forbids", "weights") else {"_body"})


def test_proposal_weights_are_checked_by_the_engine_alone_and_named(client, committee_cookie, cohort):
    for weights, words in ((["interests"], "map criteria"), ({"region": True}, "'region' has True")):
        answer = post_json(client, committee_cookie, "/admin/api/matching/proposal", {"weights": weights})
        assert answer.status_code == 400 and words in answer.json_body["errors"]["weights"], weights
    # JSON has no infinity: Python's "Infinity" is refused at the edge, before any option is read.
    answer = post_json(client, committee_cookie, "/admin/api/matching/proposal", {"weights": {"region": float("inf")}})
    assert answer.status_code == 400 and answer.json_body["errors"] == {"_body": "The body is not valid JSON."}


def test_approving_creates_pairings_and_one_introduction_to_both(client, committee_cookie, cohort):
    proposal = propose(client, committee_cookie)
    chosen = [{"mentor_id": p["mentor_id"], "mentee_id": p["mentee_id"]} for p in proposal["pairs"][:3]]
    before = len(sent_mail())
    answer = post_json(client, committee_cookie, "/admin/api/pairings", {"pairs": chosen})
    assert answer.status_code == 201
    created = answer.json_body["pairings"]
    assert [(p["mentor_id"], p["mentee_id"], p["state"]) for p in created] == [
        (c["mentor_id"], c["mentee_id"], "introduced") for c in chosen]
    introductions = sent_mail()[before:]
    assert len(introductions) == 3
    mentors, mentees = applications(client, committee_cookie, "mentor"), applications(client, committee_cookie, "mentee")
    mentor, mentee = mentors[chosen[0]["mentor_id"]]["answers"], mentees[chosen[0]["mentee_id"]]["answers"]
    [intro] = [m for m in introductions if set(m["to"]) == {mentor["email"], mentee["email"]}]
    for expected in (mentor["name"], mentee["name"], mentor["library_name"], mentor["position"], mentee["email"],
                     "once a month", "goals", "confidentiality", "one-year", "mentee directs", "different partner",
                     "committee@example.org"):
        assert expected in intro["text"], expected
    assert intro["reply_to"] == ["committee@example.org"]  # it asks nothing: a reply reaches the committee

    detail = client.http.get(f"/admin/api/pairings/{created[0]['id']}", headers={"Cookie": committee_cookie}).json_body
    [entry] = detail["history"]
    assert {"at", "event", "from", "to", "by"} <= set(entry)
    assert entry["to"] == "introduced" and entry["by"] == "committee:committee@example.org"
    assert detail["next_due"] == "kickoff_due"
    listed = client.http.get("/admin/api/pairings?state=introduced", headers={"Cookie": committee_cookie}).json_body
    assert len(listed["pairings"]) == 3


def test_approving_the_same_pair_twice_creates_one_pairing(client, committee_cookie, cohort):
    pair = propose(client, committee_cookie)["pairs"][0]
    request = {"pairs": [{"mentor_id": pair["mentor_id"], "mentee_id": pair["mentee_id"]}]}
    first = post_json(client, committee_cookie, "/admin/api/pairings", request).json_body["pairings"]
    mails = len(sent_mail())
    second = post_json(client, committee_cookie, "/admin/api/pairings", request)
    assert second.status_code == 201 and second.json_body["pairings"] == first
    assert len(sent_mail()) == mails and len(list(Pairing.scan())) == 1


def test_the_same_pair_approved_at_once_from_many_threads_creates_one_pairing(client, committee_cookie, cohort):
    from chalicelib.services import pairings

    pair = propose(client, committee_cookie)["pairs"][0]
    request = pairings.PairRequest(pair["mentor_id"], pair["mentee_id"])
    results, errors = [], []

    def approve():
        try:
            results.append(pairings.approve("committee@example.org", [request])[0].id)
        except Exception as error:  # a clean refusal is fine; a lost pairing is not
            errors.append(error)

    threads = [threading.Thread(target=approve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(Pairing.scan())) == 1 and len(set(results)) == 1
    assert all(isinstance(e, Conflict) for e in errors), [repr(e) for e in errors]
    assert len([m for m in OutboxMail.scan() if m.template == "introduction"]) == 1


def test_a_mentee_already_paired_or_a_full_mentor_gets_409_and_nothing_is_written(client, committee_cookie, cohort):
    proposal = propose(client, committee_cookie)
    mentors = applications(client, committee_cookie, "mentor")
    first = proposal["pairs"][0]
    post_json(client, committee_cookie, "/admin/api/pairings", {"pairs": [first]})
    other_mentor = next(m for m in mentors if m != first["mentor_id"])
    answer = post_json(client, committee_cookie, "/admin/api/pairings",
                  {"pairs": [{"mentor_id": other_mentor, "mentee_id": first["mentee_id"]}]})
    assert answer.status_code == 409 and "already in a live pairing" in answer.json_body["errors"]["pairs"][0]["reason"]

    full = next(m for m, a in mentors.items() if a["answers"]["capacity"] == 1)
    candidates = [p["mentee_id"] for p in proposal["pairs"] if p["mentee_id"] != first["mentee_id"]]
    pairings_before = len(list(Pairing.scan()))
    statuses = [post_json(client, committee_cookie, "/admin/api/pairings", {"pairs": [{"mentor_id": full, "mentee_id": m}]})
                for m in candidates[:4]]
    refused = [s for s in statuses if s.status_code == 409]
    assert refused and any("capacity" in s.json_body["errors"]["_body"] or "rule" in s.json_body["errors"]["_body"] for s in refused)
    assert len(list(Pairing.scan())) - pairings_before <= 1
    assert len([c for c in Claim.scan() if c.key.startswith(f"mentor-slot#{full}")]) <= 1


def test_pairs_that_break_a_rule_or_are_not_ready_are_refused(client, committee_cookie, aws):
    mentor = intake.submit({k: v if isinstance(v, list) else [v] for k, v in valid_answers("mentor").items()})
    mentee = intake.submit({k: v if isinstance(v, list) else [v] for k, v in valid_answers("mentee").items()})
    answer = post_json(client, committee_cookie, "/admin/api/pairings", {"pairs": [{"mentor_id": mentor.id, "mentee_id": mentee.id}]})
    assert answer.status_code == 409 and "not eligible" in answer.json_body["errors"]["_body"]
    for body in ({"pairs": []}, {"pairs": [{"mentor_id": 1}]}, {"pear": []}, [1]):
        assert post_json(client, committee_cookie, "/admin/api/pairings", body).status_code == 400
    assert list(Pairing.scan()) == []


def test_a_paired_mentee_leaves_the_pool_and_the_mentor_loses_a_slot(client, committee_cookie, cohort):
    proposal = propose(client, committee_cookie)
    first = proposal["pairs"][0]
    post_json(client, committee_cookie, "/admin/api/pairings", {"pairs": [first]})
    again = propose(client, committee_cookie)
    assert first["mentee_id"] not in {p["mentee_id"] for p in again["pairs"]} | {u["id"] for u in again["unmatched_mentees"]}
    capacity = applications(client, committee_cookie, "mentor")[first["mentor_id"]]["answers"]["capacity"]
    still = sum(p["mentor_id"] == first["mentor_id"] for p in again["pairs"]) + sum(
        u["slots"] for u in again["unused_capacity"] if u["mentor_id"] == first["mentor_id"])
    assert still == capacity - 1


def test_a_mentors_capacity_cannot_drop_below_their_live_pairings(client, committee_cookie, cohort):
    proposal = propose(client, committee_cookie)
    mentors = applications(client, committee_cookie, "mentor")
    busy = next(m for m, a in mentors.items() if a["answers"]["capacity"] == 2
                and sum(p["mentor_id"] == m for p in proposal["pairs"]) == 2)
    post_json(client, committee_cookie, "/admin/api/pairings", {"pairs": [p for p in proposal["pairs"] if p["mentor_id"] == busy]})
    lowered = post_json(client, committee_cookie, f"/admin/api/applications/{busy}", {"action": "set_capacity", "capacity": 1})
    assert lowered.status_code == 409 and "already use more places" in lowered.json_body["errors"]["_body"]
    raised = post_json(client, committee_cookie, f"/admin/api/applications/{busy}", {"action": "set_capacity", "capacity": 3})
    assert raised.status_code == 200 and raised.json_body["answers"]["capacity"] == 3
