"""The sandbox as a newcomer meets it: a subprocess driven over HTTP."""
import re
import urllib.request

from tests.helpers import form_body, start_sandbox, stop_sandbox, valid_answers


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_apply_find_the_confirmation_in_the_mailbox_follow_it_and_be_confirmed(sandbox):
    email = "e2e.mentee@example.org"
    status, document = sandbox.post_json("/api/applications", valid_answers(email=email))
    assert status == 201 and document["status"] in ("eligible", "pending_verification")

    [mail] = [m for m in sandbox.mailbox() if m["to"] == [email]]
    assert set(mail) == {"id", "to", "from", "reply_to", "subject", "text", "html", "sent_at"}
    link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/[a-z0-9]+)", mail["text"]).group(1)
    assert link.startswith(sandbox.base_url)  # links point at the sandbox, so a person can click through

    status, page = fetch(link)
    assert status == 200 and "Your email address is confirmed" in page
    status, page = fetch(link)
    assert status == 200  # following it twice is harmless

    status, again = sandbox.post_json("/api/applications", valid_answers(email=email))
    assert status == 409 and "already applied" in again["errors"]["email"]


def test_the_mailbox_page_lists_mail_for_people(sandbox):
    status, page = fetch(sandbox.base_url + "/_sandbox/mailbox")
    assert status == 200 and "Sandbox mailbox" in page


def test_the_sandbox_clock_moves_forward_by_whole_days(sandbox):
    from datetime import datetime, timedelta

    before = datetime.fromisoformat(sandbox.get_json("/_sandbox/clock")["now"])
    status, moved = sandbox.post_json("/_sandbox/clock", {"advance_days": 2})
    after = datetime.fromisoformat(moved["now"])
    assert status == 200 and timedelta(days=2) <= after - before < timedelta(days=2, minutes=5)
    assert sandbox.post_json("/_sandbox/clock", {"advance_days": "soon"})[0] == 400


def test_inbound_mail_is_delivered_through_s3_and_an_sns_shaped_event(sandbox):
    raw = (b"From: Jo Reader <jo.reader@example.org>\r\nTo: reply+abc@reply.example.org\r\n"
           b"Subject: Re: check-in\r\nMessage-ID: <one@example.org>\r\n\r\n1 - going well\r\n")
    status, outcome = sandbox.post("/_sandbox/inbound", raw, "message/rfc822")
    assert status == 200 and outcome["message_id"] and outcome["outcome"]
    assert sandbox.post("/_sandbox/inbound", b"", "message/rfc822")[0] == 400


def test_the_same_raw_reply_posted_twice_to_the_sandbox_inbound_is_one_answer(sandbox):
    proposal = sandbox.as_committee("POST", "/admin/api/matching/proposal", {})
    chosen = {"mentor_id": proposal["pairs"][0]["mentor_id"], "mentee_id": proposal["pairs"][0]["mentee_id"]}
    assert len(sandbox.as_committee("POST", "/admin/api/pairings", {"pairs": [chosen]})["pairings"]) == 1
    sandbox.post_json("/_sandbox/clock", {"advance_days": 15})
    kickoffs = [m for m in sandbox.mailbox() if "starting" in m["subject"]]
    assert kickoffs and all(len(m["to"]) == 1 for m in kickoffs)  # one mail to each partner
    kickoff = kickoffs[-1]
    reply = (f"From: {kickoff['to'][0]}\r\nTo: {kickoff['reply_to'][0]}\r\nSubject: Re: {kickoff['subject']}\r\n"
             f"Message-ID: <sent-once-delivered-twice@example.org>\r\n\r\n3 - need help, we have not met.\r\n").encode()

    outcomes = [sandbox.post("/_sandbox/inbound", reply, "message/rfc822") for _ in range(2)]
    assert [(status, outcome["outcome"]) for status, outcome in outcomes] == [(200, "applied"), (200, "duplicate")]
    assert outcomes[0][1]["message_id"] != outcomes[1][1]["message_id"]  # two SES messages, one mail
    detail = sandbox.as_committee("GET", f"/admin/api/pairings/{outcomes[0][1]['pairing_id']}")
    assert [r["kind"] for r in detail["responses"]] == ["kickoff"]
    assert len([m for m in sandbox.mailbox() if "needs help" in m["subject"]]) == 1


def test_the_demo_cohort_is_seeded_with_every_library_type(sandbox):
    import json

    from chalicelib.domain.schema import LIBRARY_TYPES

    snapshot = json.loads((sandbox.data_dir / "snapshot.json").read_text())
    applications = [item for table, items in snapshot["tables"].items() if table.endswith("applications")
                    for item in items]
    demo = [json.loads(item["answers"]["S"]) for item in applications if "email_confirmed_at" in item]
    assert 35 <= len(demo) <= 45
    assert {answers["library_type"] for answers in demo} == {value for value, _ in LIBRARY_TYPES}
    assert {answers["role"] for answers in demo} == {"mentor", "mentee"}
    assert len({answers.get("capacity") for answers in demo if answers["role"] == "mentor"}) > 1


def test_data_survives_a_restart_and_reset_starts_empty(tmp_path):
    first = start_sandbox(tmp_path)
    try:
        status, page = first.post("/apply", form_body(valid_answers()), "application/x-www-form-urlencoded")
        assert status == 200 and "Thank you for applying" in page
        assert len(first.mailbox()) == 1
    finally:
        output = stop_sandbox(first)
    assert "Data is kept in" in output

    second = start_sandbox(tmp_path)
    try:
        assert len(second.mailbox()) == 1
        status, again = second.post_json("/api/applications", valid_answers())
        assert status == 201  # unconfirmed: applying again updates the same application
        assert len(second.mailbox()) == 2
    finally:
        stop_sandbox(second)

    third = start_sandbox(tmp_path, "--reset")
    try:
        assert third.mailbox() == []
    finally:
        stop_sandbox(third)
