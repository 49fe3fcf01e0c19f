"""Data retention when a cohort closes, and one person's export and erasure."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import clock
from chalicelib.adapters.models import Application, Claim, Cohort, InboundMessage, Pairing, Response
from chalicelib.adapters.store import open_cohort
from tests.helpers.workflow import at_first_checkin, deliver, mails_to, receive_with, reply_to

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def year_with_answers(aws, fresh_clock):
    pairing, checkin, _ = at_first_checkin(fresh_clock)
    deliver(reply_to(checkin, pairing.mentee_email, "1 - going well. Confidential detail."))
    return pairing


@pytest.mark.parametrize("start,months,expected", [
    (datetime(2026, 1, 31, tzinfo=timezone.utc), 1, datetime(2026, 2, 28, tzinfo=timezone.utc)),
    (datetime(2026, 11, 15, tzinfo=timezone.utc), 6, datetime(2027, 5, 15, tzinfo=timezone.utc)),
    (datetime(2026, 6, 1, tzinfo=timezone.utc), 24, datetime(2028, 6, 1, tzinfo=timezone.utc)),
])
def test_months_after_counts_calendar_months(start, months, expected):
    assert clock.months_after(start, months) == expected


def test_closing_a_cohort_keeps_the_report_and_sets_a_ttl_on_every_personal_record(year_with_answers, client, committee_cookie):
    pairing = year_with_answers
    cohort = open_cohort()
    refused = client.http.post(f"/admin/api/cohorts/{cohort.id}/close", headers={**JSON, "Cookie": committee_cookie}, body=b"")
    assert refused.status_code == 409 and "1 live pairing" in refused.json_body["errors"]["end_live_pairings"]
    assert Cohort.get(cohort.id).status == "accepting" and Pairing.get(pairing.id).state == "active"
    answer = client.http.post(f"/admin/api/cohorts/{cohort.id}/close", headers={**JSON, "Cookie": committee_cookie},
                              body=b'{"end_live_pairings": true}')
    assert answer.status_code == 200 and "deleted on" in answer.json_body["message"]
    closed = Cohort.get(cohort.id)
    assert closed.status == "closed" and closed.report["pairings"]["total"] == 1
    expected = int(clock.months_after(closed.closed_at, 6).timestamp())  # TTL keeps whole seconds

    def expiry(record):
        return int(record.expires_at.timestamp()) if record.expires_at else None

    applications = list(Application.scan())
    assert applications and all(expiry(a) == expected for a in applications)
    assert expiry(Pairing.get(pairing.id)) == expected
    assert all(expiry(r) == expected for r in Response.query(pairing.id))
    replies = [m for m in InboundMessage.scan() if m.pairing_id == pairing.id]
    assert replies and all(expiry(m) == expected for m in replies)
    again = client.http.post(f"/admin/api/cohorts/{cohort.id}/close", headers={**JSON, "Cookie": committee_cookie}, body=b"")
    assert again.status_code == 409
    # Once DynamoDB's TTL has deleted them, the frozen report still answers.
    for application in Application.scan():
        application.delete()
    report = client.http.get(f"/admin/api/report?cohort={cohort.id}", headers={"Cookie": committee_cookie}).json_body
    assert report["pairings"]["total"] == 1 and report["applications"]["mentors"] + report["applications"]["mentees"] == 40


def test_an_answer_that_arrives_after_the_cohort_closed_expires_with_its_pairing(year_with_answers, client,
                                                                                committee_cookie):
    pairing = year_with_answers
    cohort = open_cohort()
    client.http.post(f"/admin/api/cohorts/{cohort.id}/close", headers={**JSON, "Cookie": committee_cookie},
                     body=b'{"end_live_pairings": true}')
    expires = Pairing.get(pairing.id).expires_at
    [checkin] = mails_to(pairing.mentor_email, "check-in")
    # Closing ended the pairing ("program year ended"): the late answer is kept for the committee, not applied.
    assert Pairing.get(pairing.id).state == "dissolved"
    assert deliver(reply_to(checkin, pairing.mentor_email, "2 - a late answer"))["outcome"] == "kept"
    [record] = [m for m in InboundMessage.scan() if m.participant == "mentor"]
    assert expires and record.expires_at == expires


def test_a_close_cut_short_leaves_the_cohort_open_and_closing_again_finishes(year_with_answers, client,
                                                                            committee_cookie):
    from unittest import mock

    from pynamodb.exceptions import UpdateError

    cohort = open_cohort()
    url, headers = f"/admin/api/cohorts/{cohort.id}/close", {**JSON, "Cookie": committee_cookie}
    with mock.patch.object(Response, "update", side_effect=UpdateError("injected: the close is cut short")):
        cut_short = client.http.post(url, headers=headers, body=b'{"end_live_pairings": true}')
    assert cut_short.status_code == 503 and "Traceback" not in cut_short.body.decode()
    assert Cohort.get(cohort.id).status == "accepting"
    assert any(a.expires_at for a in Application.scan())  # the first attempt got this far
    assert client.http.post(url, headers=headers, body=b'{"end_live_pairings": true}').status_code == 200
    assert Cohort.get(cohort.id).status == "closed"
    for model in (Application, Pairing, Response):
        assert all(item.expires_at for item in model.scan())


def test_a_new_cohort_opens_only_when_none_is_open(aws, client, committee_cookie):
    headers = {**JSON, "Cookie": committee_cookie}
    refused = client.http.post("/admin/api/cohorts", headers=headers, body=json.dumps({"id": "2099", "name": "2099 year"}).encode())
    assert refused.status_code == 409
    current = open_cohort()
    client.http.post(f"/admin/api/cohorts/{current.id}/close", headers=headers, body=b"")
    opened = client.http.post("/admin/api/cohorts", headers=headers, body=json.dumps({"id": "2099", "name": "2099 year"}).encode())
    assert opened.status_code == 201 and open_cohort().id == "2099"
    assert client.http.post("/admin/api/cohorts", headers=headers, body=b'{"id": ""}').status_code == 400
    page = client.http.get("/admin/cohorts", headers={"Cookie": committee_cookie}).body.decode()
    assert "2099 year" in page and "closed" in page


def test_a_persons_data_is_exported_whole(year_with_answers, client, committee_cookie):
    pairing = year_with_answers
    exported = client.http.get(f"/admin/api/people/export?email={pairing.mentee_email}", headers={"Cookie": committee_cookie})
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    data = exported.json_body
    assert [a["role"] for a in data["applications"]] == ["mentee"]
    assert [p["role"] for p in data["pairings"]] == ["mentee"] and data["pairings"][0]["partner"] == pairing.mentor_name
    assert any("Confidential detail" in (r["text"] or "") for r in data["responses"])
    assert data["replies"] and data["roster"]
    assert client.http.get("/admin/api/people/export?email=nonsense", headers={"Cookie": committee_cookie}).status_code == 400


def test_erasing_a_person_replaces_their_fields_and_keeps_the_history_consistent(year_with_answers, client, committee_cookie):
    pairing = year_with_answers
    history_before = Pairing.get(pairing.id).history
    answer = client.http.post("/admin/api/people/erase", headers={**JSON, "Cookie": committee_cookie},
                              body=json.dumps({"email": pairing.mentee_email}).encode())
    assert answer.status_code == 200 and answer.json_body["erased"]["applications"] == 1
    after = Pairing.get(pairing.id)
    assert after.mentee_name == "(erased)" and pairing.mentee_email not in after.mentee_email
    assert after.mentor_name == pairing.mentor_name  # the partner's own data stays
    # They left the program: the history is kept, and says so; the partner is told, and is free again.
    assert after.history[:len(history_before)] == history_before
    assert after.state == "withdrawn" and after.history[-1]["event"] == "participant_withdrew"
    assert mails_to(pairing.mentor_email, "has closed: two questions")  # the partner who stays is asked why
    assert not any(claim.owner == pairing.id for claim in Claim.scan())
    [application] = [a for a in Application.scan() if a.id == pairing.mentee_id]
    assert application.answers == {"role": "mentee", "name": "(erased)"} and application.email.endswith("@erased.invalid")
    assert application.status == "withdrawn"  # in nobody's matching again
    assert all(r.text is None for r in Response.query(pairing.id) if r.participant == "mentee")
    dump = json.dumps([i.attribute_values for model in (Application, Pairing, Response, InboundMessage, Claim)
                       for i in model.scan()], default=str)
    assert pairing.mentee_email not in dump and "Confidential detail" not in dump
    found = client.http.get(f"/admin/api/people/export?email={pairing.mentee_email}", headers={"Cookie": committee_cookie}).json_body
    assert found["applications"] == [] and found["pairings"] == [] and found["roster"] == []


@pytest.fixture
def rematch_asked_and_spam_kept(aws, fresh_clock):
    """The mentee asked for a different mentor in their own words, and a mail of theirs was quarantined."""
    pairing, checkin, _ = at_first_checkin(fresh_clock)
    deliver(reply_to(checkin, pairing.mentee_email, "I would like a different mentor, please. It is about my divorce."))
    spam = receive_with(reply_to(checkin, pairing.mentee_email, "1 - going well. Another private matter."),
                        spamVerdict="FAIL")
    assert spam["outcome"] == "quarantined" and spam["pairing_id"] is None  # reached no pairing
    return pairing


def test_erasing_reaches_their_words_wherever_the_system_kept_them(rematch_asked_and_spam_kept, client,
                                                                   committee_cookie):
    from chalicelib.adapters.models import ALL_MODELS

    pairing = rematch_asked_and_spam_kept
    answer = client.http.post("/admin/api/people/erase", headers={**JSON, "Cookie": committee_cookie},
                              body=json.dumps({"email": pairing.mentee_email}).encode())
    assert answer.status_code == 200
    dump = json.dumps([item.attribute_values for model in ALL_MODELS for item in model.scan()], default=str)
    for personal in (pairing.mentee_email, "divorce", "Another private matter"):
        assert personal not in dump  # not in the history, the replies, nor the mail sent about them
    history = Pairing.get(pairing.id).history
    assert [entry["reason"] for entry in history if entry["event"] == "rematch_requested"] == ["(erased)"]


def test_the_erase_form_needs_a_confirmation(year_with_answers, client, committee_cookie):
    from tests.helpers import csrf_of

    pairing = year_with_answers
    token = csrf_of(client, committee_cookie)
    page = client.http.get(f"/admin/people?email={pairing.mentee_email}", headers={"Cookie": committee_cookie}).body.decode()
    assert "1 application(s)" in page and "Download all of it" in page
    unconfirmed = client.http.post("/admin/people/erase", headers={**FORM, "Cookie": committee_cookie},
                                   body=f"csrf_token={token}&email={pairing.mentee_email}".encode())
    assert unconfirmed.status_code == 400 and Pairing.get(pairing.id).mentee_name == pairing.mentee_name
    confirmed = client.http.post("/admin/people/erase", headers={**FORM, "Cookie": committee_cookie},
                                 body=f"csrf_token={token}&email={pairing.mentee_email}&confirm=yes".encode())
    assert confirmed.status_code == 200 and b"Erased: 1 applications" in confirmed.body


def test_the_cohort_forms_need_a_confirmation_to_close_and_then_open_the_next(aws, client, committee_cookie):
    from tests.helpers import csrf_of

    token, current = csrf_of(client, committee_cookie), open_cohort()
    headers = {**FORM, "Cookie": committee_cookie}
    unconfirmed = client.http.post("/admin/cohorts/close", headers=headers, body=f"csrf_token={token}&cohort={current.id}".encode())
    assert unconfirmed.status_code == 400 and b"cannot be undone" in unconfirmed.body and open_cohort().id == current.id
    closed = client.http.post("/admin/cohorts/close", headers=headers,
                              body=f"csrf_token={token}&cohort={current.id}&confirm=yes".encode())
    assert closed.status_code == 200 and b"personal data will be deleted on" in closed.body and open_cohort() is None
    opened = client.http.post("/admin/cohorts/open", headers=headers, body=f"csrf_token={token}&id=2031&name=2031+year".encode())
    assert opened.status_code == 200 and b"2031 year is open" in opened.body and open_cohort().id == "2031"
    again = client.http.post("/admin/cohorts/open", headers=headers, body=f"csrf_token={token}&id=2032&name=2032+year".encode())
    assert again.status_code == 409 and b"Move it on to matching first" in again.body


def test_every_table_has_a_retention_and_the_audit_trail_is_kept_longest(year_with_answers, client,
                                                                          committee_cookie):
    from chalicelib.adapters.models import ALL_MODELS, Alert, AuditEntry, UndeliverableAddress
    from chalicelib.adapters.store import ALERT_RETENTION_MONTHS
    from chalicelib.services import audit, deliverability, mail
    from pynamodb.attributes import TTLAttribute

    pairing = year_with_answers
    receive_with(b"From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\n\r\nhi\r\n", spamVerdict="FAIL")
    deliverability.record(json.dumps({"eventType": "Complaint", "mail": {"messageId": "m"}, "complaint": {
        "complainedRecipients": [{"emailAddress": pairing.mentor_email}]}}))
    cohort = open_cohort()
    client.http.post(f"/admin/api/cohorts/{cohort.id}/close", headers={**JSON, "Cookie": committee_cookie},
                     body=b'{"end_live_pairings": true}')
    now = clock.now()

    def months(record, since=None):
        return (record.expires_at - (since or now)).days / 30.44

    def raised(record):  # the time in its sort key
        return datetime.fromisoformat(record.at_id.split("#", 1)[0])

    alerts, entries = list(Alert.scan()), list(AuditEntry.scan())
    assert alerts and all(abs(months(a, raised(a)) - ALERT_RETENTION_MONTHS) < 1 for a in alerts)
    assert len(entries) > 2 and all(abs(months(e, raised(e)) - audit.RETENTION_MONTHS) < 1 for e in entries)
    [marked] = UndeliverableAddress.scan()
    assert abs((marked.expires_at - now) - deliverability.KEEP_FOR) < timedelta(minutes=5)
    claims = [c for c in Claim.scan() if c.key.startswith("application#")]
    assert claims and all(c.expires_at and abs(months(c) - 6) < 1 for c in claims), "the claim keys hold addresses"
    kept_longer = max(ALERT_RETENTION_MONTHS, 6, deliverability.KEEP_FOR.days / 30.44,
                      mail.KEEP_SENT_FOR.days / 30.44, mail.KEEP_PARKED_FOR.days / 30.44)
    assert audit.RETENTION_MONTHS > kept_longer
    without_expiry = {model.__name__ for model in ALL_MODELS
                      if not any(isinstance(a, TTLAttribute) for a in model.get_attributes().values())}
    # The cohorts keep only their aggregate report, the committee and settings name no participant, and
    # the roster is the association's, replaced whole by each upload (docs/deploy.md lists each).
    assert without_expiry == {"Cohort", "CommitteeMember", "Member", "SettingsVersion"}


def test_an_erased_persons_address_is_gone_from_every_table(rematch_asked_and_spam_kept, client, committee_cookie,
                                                            monkeypatch):
    import boto3
    from botocore.exceptions import ClientError

    from chalicelib.adapters.models import ALL_MODELS, OutboxMail
    from app import app
    from chalicelib.domain.refusals import Invalid
    from chalicelib.services import deliverability, jobs, mail
    from infra.local import worker
    from chalicelib.adapters.store import transaction

    pairing = rematch_asked_and_spam_kept
    person = pairing.mentee_email
    deliverability.record(json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {
        "bounceType": "Permanent", "bounceSubType": "General", "bouncedRecipients": [{"emailAddress": person}]}}))

    def refused(code):
        def send(*args, **kwargs):
            raise ClientError({"Error": {"Code": code, "Message": "no"}}, "SendEmail")
        return send

    for code in ("MessageRejected", "TooManyRequestsException"):  # one mail parked, one waiting to be sent
        with transaction() as write:
            queued = mail.queue(write, mail.compose("address_undeliverable", to=("x@example.org", person),
                                                    context={"address": person, "reason": "bounce", "detail": ""}))
        monkeypatch.setattr(mail, "_send", refused(code))
        mail.send_queued(queued)
    monkeypatch.undo()
    statuses = sorted((item.parked or "", item.queue or "") for item in OutboxMail.scan() if item.mime or item.parked)
    assert ("", "pending") in statuses and ("parked", "") in statuses
    # A background job whose refusal quotes the address (as a roster's line may), run by the real runner.
    def quoting_step(job):
        raise Invalid(f"Line 7: {person.upper()} is on the roster twice.", field="lines")

    held = worker.install(app, worker.Deferred())  # the job is stepped here, with a kind of the test's own
    try:
        job = jobs.submit("quoting", "committee@example.org", {})
        jobs.run(job.id, {"quoting": quoting_step}, lambda: timedelta(minutes=5))
    finally:
        worker.uninstall(held)
    assert person in jobs.job_record(jobs.get(job.id))["errors"][0].lower()
    exported = client.http.get(f"/admin/api/people/export?email={person}", headers={"Cookie": committee_cookie}).json_body
    assert exported["undeliverable"][0]["reason"] == "bounce" and exported["mail_not_sent"]

    answer = client.http.post("/admin/api/people/erase", headers={**JSON, "Cookie": committee_cookie},
                              body=json.dumps({"email": person}).encode())
    assert answer.status_code == 200 and answer.json_body["erased"]["mails_not_sent"] == 2
    dynamodb = boto3.client("dynamodb")
    for model in ALL_MODELS:  # every item, as DynamoDB holds it, in every table
        pages = dynamodb.get_paginator("scan").paginate(TableName=model.Meta.table_name)
        dump = json.dumps([item for page in pages for item in page["Items"]]).lower()
        assert person.lower() not in dump, f"{model.Meta.table_name} still holds the address"
    found = client.http.get(f"/admin/api/people/export?email={person}", headers={"Cookie": committee_cookie}).json_body
    assert found["undeliverable"] == [] and found["mail_not_sent"] == []
    assert jobs.job_record(jobs.get(job.id))["errors"] == [jobs.ERASED_PROBLEM]
