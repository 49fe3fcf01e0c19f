"""Replies by mail and by web form, quarantine, rematch, committee actions."""
import json
import re
from datetime import timedelta
from unittest import mock

import pytest

from chalicelib.domain import clock, tokens
from chalicelib.services import proposals, workflow
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Alert, Claim, InboundMessage, Response
from chalicelib.services.pairings import get_pairing
from chalicelib.adapters.store import open_cohort
from tests.helpers import MAIL_FIXTURES, sent_mail
from tests.helpers.workflow import approved_pairs, at_first_checkin, deliver, mails_to, receive_with, reply_to, respond_link, run_days

FIXTURES = MAIL_FIXTURES
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def checked_in(aws, fresh_clock):
    """One pairing, 90 days in: each partner has a check-in mail to answer."""
    return at_first_checkin(fresh_clock)


def as_participant(raw: bytes, sender: str, reply_address: str) -> bytes:
    """A corpus message, re-addressed from the participant to a live reply address."""
    raw = re.sub(rb"reply\+[A-Za-z0-9]+@reply\.example\.org", reply_address.encode(), raw)
    return re.sub(rb"(?im)^From:.*$", f"From: Participant <{sender}>".encode(), raw, count=1)


@pytest.mark.parametrize("fixture,expected", [
    ("gmail_reply.eml", "applied"), ("outlook_reply.eml", "applied"), ("apple_mail_reply.eml", "applied"),
    ("html_only.eml", "applied"), ("base64_body.eml", "applied"), ("quoted_printable.eml", "applied"),
    ("windows_1252.eml", "applied"), ("iso_8859_1.eml", "applied"), ("attachment_pdf.eml", "applied"),
    ("thunderbird_bottom_post.eml", "applied"), ("out_of_office_auto_submitted.eml", "auto_reply"),
    ("outlook_automatic_reply.eml", "auto_reply"), ("autoreply_x_header.eml", "auto_reply"),
])
def test_real_world_replies_are_applied_and_auto_replies_are_only_recorded(checked_in, fixture, expected):
    pairing, mentee_mail, _ = checked_in
    raw = as_participant((FIXTURES / fixture).read_bytes(), pairing.mentee_email, mentee_mail["reply_to"][0])
    outcome = deliver(raw)
    assert outcome["outcome"] in ({expected, "unrated"} if expected == "applied" else {expected}), outcome
    answers = [r for r in Response.query(pairing.id) if r.kind == "checkin"]
    assert len(answers) == (0 if expected == "auto_reply" else 1)
    if expected == "auto_reply":
        assert get_pairing(pairing.id).awaiting_reply_since is not None  # still waiting for a real answer
    else:
        assert "wrote:" not in (answers[0].text or "") and ">" not in (answers[0].text or "")[:1]


def test_a_rating_in_a_reply_is_kept_with_the_text(checked_in):
    pairing, mentee_mail, _ = checked_in
    deliver(reply_to(mentee_mail, pairing.mentee_email, "3 - need help. My mentor has not answered since June."))
    [answer] = Response.query(pairing.id)
    assert (answer.rating, answer.participant, answer.source) == (3, "mentee", "email")
    assert "not answered since June" in answer.text
    urgent = [m for m in sent_mail() if m["to"] == ["committee@example.org"] and "needs help" in m["subject"]]
    assert len(urgent) == 1 and "not answered since June" in urgent[0]["text"]
    assert "answered the check-in with" in urgent[0]["text"]


def test_an_uninterpretable_reply_is_kept_for_the_committee(checked_in):
    pairing, mentee_mail, _ = checked_in
    outcome = deliver(reply_to(mentee_mail, pairing.mentee_email, "Could we talk about the conference next week?"))
    assert outcome["outcome"] == "unrated"
    [answer] = Response.query(pairing.id)
    assert answer.rating is None and "conference" in answer.text
    assert any(a.kind == "reply_unrated" for a in Alert.scan())


@pytest.mark.parametrize("damage,reason", [
    (lambda mail, p: mail["reply_to"][0].replace("reply+", "reply+aa"), "not valid"),
    (lambda mail, p: "reply+" + "b" * 56 + "@reply.example.org", "not valid"),
    (lambda mail, p: "committee@reply.example.org", "not sent to a reply address"),
])
def test_forged_reply_addresses_are_quarantined(checked_in, damage, reason):
    pairing, mentee_mail, _ = checked_in
    forged = {**mentee_mail, "reply_to": [damage(mentee_mail, pairing)]}
    outcome = deliver(reply_to(forged, pairing.mentee_email, "1 - going well"))
    assert outcome["outcome"] == "quarantined" and reason in outcome["reason"]
    assert list(Response.query(pairing.id)) == []
    [kept] = list(InboundMessage.by_outcome.query("quarantined"))
    assert "going well" in kept.text  # kept for the committee, never dropped
    # It reached no pairing, so no cohort's closing deletes it: it expires as long after its arrival.
    expected = clock.months_after(kept.received_at, settings().retention_months)
    assert int(kept.expires_at.timestamp()) == int(expected.timestamp())


def test_an_expired_reply_address_is_quarantined(checked_in, fresh_clock):
    pairing, mentee_mail, _ = checked_in
    fresh_clock.shift_by(tokens.REPLY_TOKEN_LIFETIME + timedelta(days=1))
    outcome = deliver(reply_to(mentee_mail, pairing.mentee_email, "1 - going well"))
    assert outcome["outcome"] == "quarantined" and "expired" in outcome["reason"]


def test_a_reply_from_someone_else_or_to_the_partners_address_is_quarantined(checked_in):
    pairing, mentee_mail, mentor_mail = checked_in
    stranger = deliver(reply_to(mentee_mail, "someone@example.com", "1 - going well"))
    partner = deliver(reply_to(mentee_mail, pairing.mentor_email, "1 - going well"))
    for outcome in (stranger, partner):
        assert outcome["outcome"] == "quarantined" and "not the participant" in outcome["reason"]
    assert list(Response.query(pairing.id)) == []


@pytest.mark.parametrize("verdicts,applied", [
    ({"spamVerdict": "FAIL"}, False), ({"virusVerdict": "FAIL"}, False), ({"spamVerdict": "GRAY"}, False),
    ({"spfVerdict": "FAIL", "dkimVerdict": "FAIL"}, False), ({"spfVerdict": "FAIL"}, True), ({"dkimVerdict": "FAIL"}, True),
])
def test_spam_virus_and_unauthenticated_mail_is_quarantined(checked_in, verdicts, applied):
    pairing, mentee_mail, _ = checked_in
    outcome = receive_with(reply_to(mentee_mail, pairing.mentee_email, "1 - going well"), **verdicts)
    assert (outcome["outcome"] == "applied") is applied
    if not applied:
        assert outcome["outcome"] == "quarantined" and outcome["reason"]


def test_the_same_ses_message_delivered_three_times_changes_nothing_more(checked_in):
    pairing, mentee_mail, _ = checked_in
    raw = reply_to(mentee_mail, pairing.mentee_email, "2 - some concerns")
    outcomes = [deliver(raw, message_id="ses-message-1")["outcome"] for _ in range(3)]
    assert outcomes == ["applied", "duplicate", "duplicate"]
    assert len(list(Response.query(pairing.id))) == 1
    assert [entry["event"] for entry in get_pairing(pairing.id).history].count("reply_received") == 1


def test_a_failure_after_the_replys_transaction_loses_nothing(checked_in):
    """The reply's record and the committee's alert are written with its effect, all or nothing:
    when a later write fails and SNS delivers the mail again, the committee still gets both."""
    from botocore.exceptions import ClientError
    from pynamodb.connection.base import Connection

    pairing, mentee_mail, _ = checked_in
    raw = reply_to(mentee_mail, pairing.mentee_email, "Could we talk about the conference next week?")
    real_call, committed = Connection._make_api_call, []

    def fail_writes_after_the_first_transaction(self, operation_name, *args, **kwargs):
        if committed and operation_name in ("PutItem", "UpdateItem", "TransactWriteItems"):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, operation_name)
        answer = real_call(self, operation_name, *args, **kwargs)
        committed.extend([operation_name] if operation_name == "TransactWriteItems" else [])
        return answer

    with mock.patch.object(Connection, "_make_api_call", fail_writes_after_the_first_transaction):
        try:
            deliver(raw, message_id="ses-message-2")
        except Exception:  # noqa: BLE001 - a failed invocation: SNS delivers the mail again
            pass
    assert committed  # the reply's effect was written before the failure injected after it
    again = deliver(raw, message_id="ses-message-2")
    [record] = InboundMessage.scan()
    assert (record.outcome, again["outcome"]) == ("unrated", "duplicate")
    assert [alert.kind for alert in Alert.scan()].count("reply_unrated") == 1
    assert len(list(Response.query(pairing.id))) == 1


def test_a_trigger_whose_record_exists_already_changes_nothing(checked_in, fresh_clock):
    from chalicelib.domain import lifecycle

    pairing, _, _ = checked_in
    def record(outcome):
        return InboundMessage(id="seen-before", received_at=fresh_clock.now(), object_key="inbound/seen-before",
                              recipients=[], outcome=outcome)

    record("kept").save()
    event = lifecycle.Event(lifecycle.EventKind.REPLY_RECEIVED, "participant:mentee", "ses/seen-before",
                            rating=lifecycle.Rating.GOING_WELL, text="going well")
    version = get_pairing(pairing.id).version
    outcome = workflow.apply_event(pairing.id, event, records=[(record("applied"), InboundMessage.id.does_not_exist())])
    assert not outcome.applied
    assert get_pairing(pairing.id).version == version and list(Response.query(pairing.id)) == []
    assert InboundMessage.get("seen-before").outcome == "kept"


def test_a_rematch_request_reaches_only_the_committee_and_the_previous_mentor_is_never_proposed_again(checked_in, client, committee_cookie):
    pairing, mentee_mail, _ = checked_in
    before = len(sent_mail())
    outcome = deliver(reply_to(mentee_mail, pairing.mentee_email,
                               "Could I please be matched with a different mentor? We don't get along."))
    assert outcome["outcome"] == "applied"
    assert get_pairing(pairing.id).state == "rematch_requested"
    new_mail = sent_mail()[before:]
    assert [m["to"] for m in new_mail] == [["committee@example.org"]]
    assert "different partner" in new_mail[0]["text"] and pairing.mentor_email not in str(new_mail[0]["to"])

    refused = client.http.post(f"/admin/api/pairings/{pairing.id}/actions",
                               headers={"Content-Type": "application/json", "Cookie": committee_cookie},
                               body=b'{"action": "dissolve"}')
    assert refused.status_code == 400  # a dissolve needs a closure reason
    done = client.http.post(f"/admin/api/pairings/{pairing.id}/actions",
                            headers={"Content-Type": "application/json", "Cookie": committee_cookie},
                            body=json.dumps({"action": "dissolve", "closure_reason": "rematch_request",
                                                 "reason": "Rematch requested in confidence"}).encode())
    assert done.status_code == 200 and done.json_body["state"] == "dissolved"
    assert get_pairing(pairing.id).history[-1]["reason"] == "Rematch requested in confidence"
    assert not any(c.key.endswith(pairing.mentee_id) for c in Claim.scan() if c.key.startswith("live-mentee#"))
    closing = [m for m in sent_mail()[before:] if "closed" in m["subject"]]
    assert all("Rematch" not in m["text"] for m in closing)  # the reason is never mailed

    view = proposals.propose(open_cohort(), {})
    assert pairing.mentee_id in view.mentee_ids
    assert not any(p["mentee_id"] == pairing.mentee_id and p["mentor_id"] == pairing.mentor_id
                   for p in view.proposal["pairs"])
    locked = client.http.post("/admin/api/matching/proposal", headers={"Content-Type": "application/json", "Cookie": committee_cookie},
                              body=json.dumps({"locks": [[pairing.mentor_id, pairing.mentee_id]]}).encode())
    assert locked.status_code == 400 and "partners before" in locked.json_body["errors"]["_body"]


def test_committee_pause_resume_extend_and_refusals(checked_in, client, committee_cookie):
    pairing, _, _ = checked_in
    headers = {"Content-Type": "application/json", "Cookie": committee_cookie}
    url = f"/admin/api/pairings/{pairing.id}/actions"

    def act(document):
        return client.http.post(url, headers=headers, body=json.dumps(document).encode())

    assert act({"action": "pause"}).json_body["state"] == "paused"
    assert get_pairing(pairing.id).next_due_at is None
    assert act({"action": "pause"}).status_code == 409
    assert act({"action": "resume"}).json_body["state"] == "introduced"
    before = get_pairing(pairing.id)
    assert act({"action": "extend", "days": 30}).status_code == 200
    assert get_pairing(pairing.id).extension_days == before.extension_days + 30
    assert act({"action": "extend", "days": "lots"}).status_code == 400
    assert act({"action": "promote"}).status_code == 400
    assert client.http.post(f"/admin/api/pairings/{'0' * 32}/actions", headers=headers, body=b'{"action": "pause"}').status_code == 404
    detail = client.http.get(f"/admin/api/pairings/{pairing.id}", headers={"Cookie": committee_cookie}).json_body
    assert [h["event"] for h in detail["history"]][-3:] == ["committee_pause", "committee_resume", "committee_extend"]
    assert detail["history"][-1]["by"] == "committee:committee@example.org"


def test_the_web_form_records_an_answer_once(checked_in, client):
    pairing, mentee_mail, _ = checked_in
    link = respond_link(mentee_mail)
    form = client.http.get(link)
    assert form.status_code == 200 and b"How is it going?" in form.body and b"different partner" in form.body
    invalid = client.http.post(link, headers=FORM, body=b"comments=Hello+%3Cb%3E")
    assert invalid.status_code == 400 and b"Hello &lt;b&gt;" in invalid.body and b"error-summary" in invalid.body
    first = client.http.post(link, headers=FORM, body=b"rating=1&comments=Monthly+calls+work")
    second = client.http.post(link, headers=FORM, body=b"rating=1&comments=Monthly+calls+work")
    assert first.status_code == second.status_code == 200 and b"already have" in second.body
    [answer] = Response.query(pairing.id)
    assert (answer.rating, answer.source, answer.text) == (1, "web", "Monthly calls work")


def test_the_evaluation_form_asks_the_programs_questions(aws, fresh_clock, client):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 365)
    [evaluation] = mails_to(pairing.mentor_email, "evaluation")
    link = respond_link(evaluation)
    page = client.http.get(link).body.decode()
    for question in ("set goals", "progress", "communicate", "How often", "worked well", "should change",
                     "take part in the program again", "satisfied"):
        assert question in page, question
    body = ("goals_set=yes&goals_progress=Two+of+three&communication_modes=video&communication_modes=email"
            "&communication_frequency=monthly&what_worked=Video&what_to_change=More+events&take_part_again=yes&satisfaction=5").encode()
    assert client.http.post(link, headers=FORM, body=body).status_code == 200
    [answer] = [r for r in Response.query(pairing.id) if r.kind == "evaluation"]
    assert answer.answers["satisfaction"] == 5 and answer.answers["communication_modes"] == ["email", "video"]
    assert get_pairing(pairing.id).evaluations_returned == ["mentor"]


def test_each_partners_kickoff_link_answers_for_them_alone(aws, fresh_clock, client):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 14)
    [kickoff] = mails_to(pairing.mentor_email, "starting")
    assert kickoff["to"] == [pairing.mentor_email]
    link = respond_link(kickoff)
    page = client.http.get(link).body.decode()
    assert "Who is answering" not in page and f"For {pairing.mentor_name}." in page
    # A forged "who" from an old form is not a question the form has: the answer is the mentor's.
    answer = client.http.post(link, headers=FORM, body=b"who=mentee&connected=yes&agreed_how=yes&goals_set=started&rating=1")
    assert answer.status_code == 200
    assert get_pairing(pairing.id).state == "active"
    assert [r.participant for r in Response.query(pairing.id)] == ["mentor"]


@pytest.mark.parametrize("token", ["abc", "a" * 56])
def test_a_forged_respond_link_gets_a_friendly_400(client, token):
    assert client.http.get(f"/respond/{token}").status_code == 400
    assert client.http.post(f"/respond/{token}", headers=FORM, body=b"rating=1").status_code == 400


def test_the_dashboard_shows_alerts_and_quarantined_replies(checked_in, client, committee_cookie):
    pairing, mentee_mail, _ = checked_in
    deliver(reply_to(mentee_mail, "someone@example.com", "1 - going well <script>x</script>"))
    page = client.http.get("/admin", headers={"Cookie": committee_cookie}).body.decode()
    assert "<title>Committee dashboard</title>" in page
    assert "Quarantined replies" in page and "not the participant" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page


def test_the_pairing_page_shows_each_answer_beside_its_question(checked_in, client, committee_cookie):
    pairing, mentee_mail, _ = checked_in
    deliver(reply_to(mentee_mail, pairing.mentee_email, "2 - we keep missing our calls"))
    [kickoff] = mails_to(pairing.mentor_email, "starting")
    link = respond_link(kickoff)
    form = ("connected=yes&modes=email&modes=video&frequency=weekly&goal_1=Learn+cataloguing&rating=1"
            "&comments=We+met+at+the+library.")
    assert client.http.post(link, headers=FORM, body=form.encode()).status_code == 200
    answer = client.http.get(f"/admin/pairings/{pairing.id}", headers={"Cookie": committee_cookie})
    assert answer.status_code == 200
    page = answer.body.decode()
    assert "some concerns" in page and "we keep missing our calls" in page  # the mail, as read
    assert "kickoff check" in page and "Check-in sent." in page and "checkin" not in page
    assert "How often will you be in touch? <strong>Weekly</strong>" in page
    assert "Goal 1 for the year <strong>Learn cataloguing</strong>" in page
    assert "We met at the library." in page


def test_an_alert_names_the_partners_of_its_pairing(checked_in, client, committee_cookie):
    pairing, mentee_mail, _ = checked_in
    deliver(reply_to(mentee_mail, pairing.mentee_email, "3 - need help"))
    page = client.http.get("/admin", headers={"Cookie": committee_cookie}).body.decode()
    assert f"Open the pairing of {pairing.mentee_name} and {pairing.mentor_name}" in page
    assert "answered the check-in with" in page


def test_a_mail_that_reached_no_pairing_is_in_the_committees_digest(checked_in):
    from chalicelib.services import alerts

    pairing, mentee_mail, _ = checked_in
    assert receive_with(reply_to(mentee_mail, pairing.mentee_email, "1 - fine"), spamVerdict="FAIL")["pairing_id"] is None
    before = len(sent_mail())  # the pair's not-started flag of day 28 had a digest of its own
    assert alerts.send_digest() >= 1
    [digest] = [m for m in sent_mail()[before:]
                if m["to"] == ["committee@example.org"] and "for the committee" in m["subject"]]
    assert "A reply was quarantined" in digest["text"]


def test_the_digest_names_each_alerts_pair(checked_in):
    from chalicelib.services import alerts

    pairing, mentee_mail, _ = checked_in
    deliver(reply_to(mentee_mail, pairing.mentee_email, "2 - some concerns about our schedule"))
    before = len(sent_mail())
    assert alerts.send_digest() == 1
    [digest] = [m for m in sent_mail()[before:]
                if m["to"] == ["committee@example.org"] and "for the committee" in m["subject"]]
    assert f"{pairing.mentee_name} and {pairing.mentor_name}: The mentee answered the check-in" in digest["text"]

