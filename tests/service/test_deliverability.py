"""Bounces and complaints from SES: the address is marked, the committee told
once, and the outbox stops mailing it. Also the outbox backlog metric."""
import io
import json
from contextlib import redirect_stdout
from datetime import timedelta

from chalicelib.domain import clock
from chalicelib.services import deliverability, mail
from chalicelib.adapters.models import OutboxMail, UndeliverableAddress
from chalicelib.adapters.store import transaction
from infra.local.queues import invoke
from tests.helpers import sent_mail

JO = "jo.reader@example.org"


def bounce(*addresses, kind="Permanent", subtype="General"):
    return json.dumps({
        "eventType": "Bounce", "mail": {"messageId": "0100abc"},
        "bounce": {"bounceType": kind, "bounceSubType": subtype,
                   "bouncedRecipients": [{"emailAddress": address} for address in addresses]},
    })


def complaint(address):
    return json.dumps({
        "notificationType": "Complaint", "mail": {"messageId": "0100def"},
        "complaint": {"complaintFeedbackType": "abuse", "complainedRecipients": [{"emailAddress": address}]},
    })


def queue_mail(*to):
    composed = mail.compose("address_undeliverable", to=to, context={"address": "x@example.org", "reason": "bounce", "detail": ""})
    with transaction() as write:
        queued = mail.queue(write, composed)
    return queued.id


def test_a_permanent_bounce_marks_the_address_and_tells_the_committee_once(aws):
    outcome = deliverability.record(bounce("Jo Reader <Jo.Reader@example.org>"))
    assert outcome == {"outcome": "marked", "addresses": [JO]}
    marked = UndeliverableAddress.get(JO)
    assert marked.reason == "bounce" and marked.detail == "General" and marked.ses_message_id == "0100abc"
    [notice] = sent_mail()
    assert notice["to"] == ["committee@example.org"] and JO in notice["subject"]
    assert "stopped mailing this address" in notice["text"]

    assert deliverability.record(bounce(JO))["outcome"] == "known"  # SNS delivers at least once
    assert len(sent_mail()) == 1


def test_a_transient_bounce_changes_nothing(aws):
    assert deliverability.record(bounce(JO, kind="Transient", subtype="MailboxFull"))["outcome"] == "ignored"
    assert mail.undeliverable([JO]) == set() and sent_mail() == []


def test_a_complaint_marks_the_address(aws):
    assert deliverability.record(complaint(JO))["outcome"] == "marked"
    assert UndeliverableAddress.get(JO).reason == "complaint"
    assert "marked a mail from the mentoring program as spam" in sent_mail()[0]["text"]


def test_notifications_that_are_not_bounces_or_complaints_are_ignored(aws):
    assert deliverability.record("not json")["outcome"] == "ignored"
    assert deliverability.record(json.dumps({"eventType": "Delivery", "mail": {}}))["outcome"] == "ignored"
    assert deliverability.record(json.dumps({"eventType": "Bounce"}))["outcome"] == "ignored"


def test_mail_to_an_undeliverable_address_leaves_the_queue_unsent(aws):
    deliverability.record(bounce(JO))
    before = len(sent_mail())
    mail_id = queue_mail(JO)
    assert mail.deliver(mail_id) is True
    assert len(sent_mail()) == before
    dropped = OutboxMail.get(mail_id)
    assert dropped.queue is None and dropped.last_error == mail.UNDELIVERABLE and dropped.sent_at is None
    assert dropped.mime is None and dropped.recipients is None


def test_a_mail_to_several_goes_only_to_those_who_can_receive_it(aws):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    deliverability.record(bounce(JO))
    mail_id = queue_mail(JO, "pat.mentor@example.org")
    assert mail.deliver(mail_id) is True
    last = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages[-1]
    assert set(last.destinations) == {"pat.mentor@example.org"}
    assert sent_mail()[-1]["to"] == ["pat.mentor@example.org"]
    assert OutboxMail.get(mail_id).sent_at is not None


def test_the_handler_in_app_passes_the_queued_message_on(aws):
    from app import app

    [outcome] = invoke(app, "receive_mail_event", bounce(JO))
    assert outcome["outcome"] == "marked"


def test_each_sweep_reports_the_mail_it_could_not_send(aws, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "mentoring-local-sweep_outbox")  # only Lambda's output is read
    queue_mail("pat.mentor@example.org")
    clock.shift_by(mail.SWEEP_GRACE + timedelta(seconds=1))
    monkeypatch.setattr(mail, "_send", lambda item, skip=frozenset(): (_ for _ in ()).throw(RuntimeError("down")))
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert mail.sweep() == 0
    document = json.loads(printed.getvalue().strip().splitlines()[-1])
    assert document[mail.BACKLOG_METRIC] == 1
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Mentoring/local"


def test_outside_lambda_the_metric_line_is_not_printed(aws, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    printed = io.StringIO()
    with redirect_stdout(printed):
        mail.sweep()
    assert printed.getvalue() == ""
