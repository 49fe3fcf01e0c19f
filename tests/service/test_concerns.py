"""Concerns: what opens one, handling one with a note (once), the liaison, the digest."""
from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest

from chalicelib.adapters.models import Alert, AuditEntry, Concern, Pairing
from chalicelib.domain import clock, lifecycle
from chalicelib.domain import concerns as concern_rules
from chalicelib.domain.refusals import Conflict, Invalid, NotFound
from chalicelib.services import alerts, audit, concerns, deliverability, workflow
from chalicelib.services.pairings import get_pairing
from tests.helpers import sent_mail
from tests.helpers.workflow import approved_pairs, at_first_checkin, deliver, mails_to, reply_to, run_days

CHAIR = "committee@example.org"


def open_concerns(pairing_id: str) -> list[Concern]:
    return [concern for concern in Concern.query(pairing_id) if concern.open]


def audit_entries(action: str) -> list[AuditEntry]:
    return [entry for entry in audit.recent(clock.now().strftime("%Y-%m")) if entry.action == action]


def test_a_pair_that_never_answers_is_nudged_flagged_and_its_concern_opened_once(aws, fresh_clock):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 21)
    assert [m["to"] for m in mails_to(pairing.mentor_email, "able to connect")] == [[pairing.mentor_email]]
    assert [m["to"] for m in mails_to(pairing.mentee_email, "able to connect")] == [[pairing.mentee_email]]
    assert not open_concerns(pairing.id)

    run_days(fresh_clock, 7)
    flagged = get_pairing(pairing.id)
    assert "not_started" in flagged.flags and flagged.state == "introduced"
    assert [alert.kind for alert in Alert.scan() if alert.pairing_id == pairing.id] == ["not_started"]
    [concern] = open_concerns(pairing.id)
    assert (concern.kind, concern.summary) == (
        "not_started", "Nobody in the pair has answered the kickoff check 28 days after the introduction.")

    # The tick retried with the same pairing as it read it then: nothing is applied again.
    stale = flagged
    stale.next_due, stale.next_due_at = "not_started_due", flagged.introduced_at + timedelta(days=28)
    outcome = workflow.apply_event(pairing.id, lifecycle.timer_event(workflow.view_of(stale)), pairing=stale)
    assert not outcome.applied
    assert len(open_concerns(pairing.id)) == 1 and len(mails_to(pairing.mentee_email, "able to connect")) == 1


def test_worrying_answers_and_a_rematch_request_each_open_a_concern(aws, fresh_clock):
    pairing, mentee_checkin, mentor_checkin = at_first_checkin(fresh_clock)
    deliver(reply_to(mentee_checkin, pairing.mentee_email, "2\nWe keep missing our calls."))
    deliver(reply_to(mentor_checkin, pairing.mentor_email, "3 - need help, my mentee does not answer."))
    # The pair never answered the kickoff: not started at day 28, then the two answers.
    assert sorted(concern.kind for concern in open_concerns(pairing.id)) == ["need_help", "not_started", "some_concerns"]
    deliver(reply_to(mentee_checkin, pairing.mentee_email, "I would like a different mentor, please."))
    assert "rematch" in {concern.kind for concern in open_concerns(pairing.id)}


def test_a_going_well_answer_opens_none(aws, fresh_clock):
    pairing, mentee_checkin, _ = at_first_checkin(fresh_clock)
    deliver(reply_to(mentee_checkin, pairing.mentee_email, "1 - going well"))
    assert {concern.kind for concern in open_concerns(pairing.id)} <= {"not_started"}


def _with_concern(kind=lifecycle.AlertKind.NEED_HELP):
    [pairing] = approved_pairs(1)
    concern = concerns.opened(pairing.cohort, pairing.id, kind, "The mentee answered the check-in with \"Need help\".")
    concern.save()
    return pairing, concern


def test_marking_a_concern_handled_keeps_the_note_and_who_and_when_in_the_audit_trail(aws):
    pairing, concern = _with_concern()
    handled = concerns.mark_handled("chair@example.org", pairing.id, concern.id, "  Called the mentee; all fine.  ")
    assert handled["note"] == "Called the mentee; all fine." and handled["handled_by"] == "chair@example.org"
    assert handled["handled_at"] is not None and not open_concerns(pairing.id)
    [entry] = audit_entries("concern_handled")
    assert (entry.member, entry.target, entry.details) == (
        "chair@example.org", pairing.id, {"concern_id": concern.id, "kind": "need_help"})

    with pytest.raises(Conflict, match="already marked handled by chair@example.org"):
        concerns.mark_handled("other@example.org", pairing.id, concern.id, "Me too.")
    assert Concern.get(pairing.id, concern.id).note == "Called the mentee; all fine."
    assert len(audit_entries("concern_handled")) == 1


@pytest.mark.parametrize("note", ["", "   ", None, 42, "x" * 2001])
def test_a_note_is_some_words_of_at_most_2000_characters(aws, note):
    pairing, concern = _with_concern()
    with pytest.raises(Invalid):
        concerns.mark_handled(CHAIR, pairing.id, concern.id, note)
    assert open_concerns(pairing.id) and not audit_entries("concern_handled")


def test_an_unknown_concern_or_one_of_another_pairing_is_not_found(aws):
    pairing, concern = _with_concern()
    with pytest.raises(NotFound):
        concerns.mark_handled(CHAIR, pairing.id, "0123456789abcdef", "Done.")
    with pytest.raises(NotFound):
        concerns.mark_handled(CHAIR, "another-pairing", concern.id, "Done.")


def test_two_members_handling_one_concern_at_once_one_wins(aws):
    pairing, concern = _with_concern()
    outcomes, start = [], threading.Barrier(2)

    def handle(member):
        start.wait()
        try:
            outcomes.append(concerns.mark_handled(member, pairing.id, concern.id, f"Handled by {member}.")["handled_by"])
        except Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=handle, args=(member,)) for member in ("a@example.org", "b@example.org")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[1] == "refused" and len(audit_entries("concern_handled")) == 1
    assert Concern.get(pairing.id, concern.id).handled_by == sorted(outcomes)[0]


def test_a_failure_halfway_leaves_the_concern_open_and_no_audit_entry(aws, monkeypatch):
    pairing, concern = _with_concern()

    def broken_entry(*args, **kwargs):
        raise RuntimeError("the audit table is unreachable")

    monkeypatch.setattr(audit, "entry", broken_entry)
    with pytest.raises(RuntimeError):
        concerns.mark_handled(CHAIR, pairing.id, concern.id, "Done.")
    assert Concern.get(pairing.id, concern.id).open == Concern.OPEN


def test_a_quarantined_reply_that_names_the_pairing_opens_a_concern_once(aws, fresh_clock):
    pairing, mentee_checkin, _ = at_first_checkin(fresh_clock)
    raw = reply_to(mentee_checkin, "stranger@example.net", "1 - all good")
    assert deliver(raw, "ses-1")["outcome"] == "quarantined"
    assert deliver(raw, "ses-1")["outcome"] == "duplicate"
    [concern] = [c for c in open_concerns(pairing.id) if c.kind == "quarantined_reply"]
    assert concern.summary == "A reply was quarantined: it comes from an address that is not the participant's."


def test_a_bounced_address_opens_a_concern_on_its_live_pairing_once(aws):
    [pairing] = approved_pairs(1)
    notice = json.dumps({"eventType": "Bounce", "mail": {"messageId": "0100abc"},
                         "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                                    "bouncedRecipients": [{"emailAddress": pairing.mentor_email}]}})
    deliverability.record(notice)
    deliverability.record(notice)
    [concern] = open_concerns(pairing.id)
    assert (concern.kind, concern.summary) == (
        "bounced_address", "Mail to the mentor's address bounces, so the program's mail no longer reaches them.")


def test_the_liaison_must_be_on_the_committee_and_is_audited(aws):
    [pairing] = approved_pairs(1)
    with pytest.raises(Invalid, match="committee member"):
        concerns.name_liaison(CHAIR, pairing.id, "stranger@example.net")
    assert concerns.name_liaison(CHAIR, pairing.id, " Committee@Example.org ") == CHAIR
    assert Pairing.get(pairing.id).liaison == CHAIR
    [entry] = audit_entries("liaison_named")
    assert entry.details == {"liaison": CHAIR}
    assert concerns.name_liaison(CHAIR, pairing.id, "") is None and Pairing.get(pairing.id).liaison is None


def test_the_dashboard_order_puts_the_members_own_pairings_first_then_the_oldest(aws, fresh_clock):
    first, second = approved_pairs(2)
    old = concerns.opened(first.cohort, first.id, "need_help", "Oldest.")
    old.save()
    fresh_clock.shift_by(timedelta(days=1))
    theirs = concerns.opened(second.cohort, second.id, "stalled", "Mine.")
    theirs.save()
    concerns.name_liaison(CHAIR, second.id, CHAIR)
    assert [c["summary"] for c in concerns.open_for(CHAIR)[0]] == ["Mine.", "Oldest."]
    assert [c["summary"] for c in concerns.open_for("other@example.org")[0]] == ["Oldest.", "Mine."]


def test_the_digest_lists_concerns_open_after_a_week_and_the_liaison_gets_theirs(aws, fresh_clock):
    pairing, concern = _with_concern()
    concerns.name_liaison(CHAIR, pairing.id, CHAIR)
    for alert in Alert.pending_digest.query(Alert.PENDING):
        alert.update(actions=[Alert.digest.remove()])
    fresh_clock.shift_by(timedelta(days=6))
    before = len(sent_mail())
    alerts.send_digest()
    assert len(sent_mail()) == before  # nothing pending, nothing a week old
    fresh_clock.shift_by(timedelta(days=1, seconds=1))
    alerts.send_digest()
    digests = sent_mail()[before:]
    assert len(digests) == 2 and all(concern.summary in m["text"] for m in digests)
    assert "liaison: committee@example.org" in digests[0]["text"]
    assert digests[0]["subject"] == "Mentoring program: 1 thing for the committee"
    concerns.mark_handled(CHAIR, pairing.id, concern.id, "Done.")
    alerts.send_digest()
    assert len(sent_mail()) == before + 2  # handled: no longer listed


def test_a_digest_past_its_limit_of_concerns_says_how_many_more_the_dashboard_lists(aws, fresh_clock):
    [pairing] = approved_pairs(1)
    for alert in Alert.pending_digest.query(Alert.PENDING):
        alert.update(actions=[Alert.digest.remove()])
    for number in range(concern_rules.DIGEST_CONCERNS + 12):
        concerns.opened(pairing.cohort, pairing.id, "stalled", f"Concern number {number}.").save()
        fresh_clock.shift_by(timedelta(seconds=1))  # oldest first, in a known order
    fresh_clock.shift_by(concern_rules.DIGEST_AFTER + timedelta(seconds=1))
    before = len(sent_mail())
    alerts.send_digest()
    [digest] = sent_mail()[before:]
    listed = concern_rules.DIGEST_CONCERNS
    for part in (digest["text"], digest["html"]):
        assert f"Concern number {listed - 1}." in part and f"Concern number {listed}." not in part
        assert part.count("Concern number") == listed
    assert re.search(r"\nand 12 more: see the dashboard, \S+/admin\n", digest["text"])
    assert re.search(r"<p>and 12 more: see the <a href=\"[^\"]+/admin\">dashboard</a></p>", digest["html"])
    assert digest["subject"] == f"Mentoring program: {listed + 12} things for the committee"

    # Down to the limit: no such line.
    for concern in [c for c in Concern.query(pairing.id) if c.open][:12]:
        concerns.mark_handled(CHAIR, pairing.id, concern.id, "Done.")
    before = len(sent_mail())
    alerts.send_digest()
    [digest] = sent_mail()[before:]
    assert "more: see the dashboard" not in digest["text"] and "more: see the" not in digest["html"]
    assert digest["text"].count("Concern number") == listed


def _open_many(pairing, how_many: int, summary: str) -> None:
    """`how_many` open concerns on the pairing, a second apart, oldest first."""
    with Concern.batch_write() as batch:
        for number in range(how_many):
            concern = concerns.opened(pairing.cohort, pairing.id, "stalled", f"{summary} {number}.")
            concern.opened_at = clock.now() + timedelta(seconds=number)
            batch.save(concern)


def test_a_digest_past_the_concerns_read_counts_them_all(aws, fresh_clock):
    [pairing] = approved_pairs(1)
    for alert in Alert.pending_digest.query(Alert.PENDING):
        alert.update(actions=[Alert.digest.remove()])
    overdue = concerns.MAX_LISTED + 120
    _open_many(pairing, overdue, "Overdue")
    fresh_clock.shift_by(concern_rules.DIGEST_AFTER + timedelta(hours=1))
    _open_many(pairing, 3, "Not a week old")  # open, but not yet in the digest: not counted in it
    before = len(sent_mail())
    alerts.send_digest()
    [digest] = sent_mail()[before:]
    more = overdue - concern_rules.DIGEST_CONCERNS
    assert digest["subject"] == f"Mentoring program: {overdue} things for the committee"
    assert re.search(rf"\nand {more} more: see the dashboard, \S+/admin\n", digest["text"])
    assert re.search(rf"<p>and {more} more: see the <a href=\"[^\"]+/admin\">dashboard</a></p>", digest["html"])
    assert digest["text"].count("Overdue") == concern_rules.DIGEST_CONCERNS and "Not a week old" not in digest["text"]

    listed, in_all = concerns.open_for(CHAIR)  # the dashboard: the oldest MAX_LISTED, and every open one counted
    assert len(listed) == concerns.MAX_LISTED and in_all == overdue + 3
    assert [c["summary"] for c in listed[:2]] == ["Overdue 0.", "Overdue 1."]


def test_below_the_cap_the_list_is_the_count_and_no_count_query_runs(aws, fresh_clock, monkeypatch):
    [pairing] = approved_pairs(1)
    _open_many(pairing, concerns.MAX_LISTED - 1, "Open")

    def no_count(*args, **kwargs):
        raise AssertionError("counted although every open concern was read")

    monkeypatch.setattr(Concern.open_concerns, "count", no_count)
    listed, in_all = concerns.open_for(CHAIR)
    assert len(listed) == in_all == concerns.MAX_LISTED - 1
    _open_many(pairing, 1, "The last one read")
    with pytest.raises(AssertionError, match="counted although"):
        concerns.open_for(CHAIR)  # exactly MAX_LISTED read: there may be more, so they are counted
