"""The mail outbox: composed from templates, written with the record, sent raw,
and swept when sending failed."""
from datetime import timedelta
from email import message_from_string, policy
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from chalicelib.domain import clock
from chalicelib.services import intake, mail
from chalicelib.adapters.models import OutboxMail
from chalicelib.adapters.store import transaction
from tests.helpers import as_form, sent_mail, valid_answers


def throttled(*args, **kwargs):
    raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."}},
                      "SendEmail")


def test_mime_keeps_reply_to_and_both_bodies():
    composed = mail.Mail(template="t", to=("a@example.org",), subject="Hello", text="Plain ünïcode",
                         html="<p>Html</p>", reply_to=("reply+abc@reply.example.org",))
    message = message_from_string(mail.to_mime(composed, "mentoring@example.org", clock.now()), policy=policy.default)
    assert message["Reply-To"] == "reply+abc@reply.example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_body(("plain",)).get_content().strip() == "Plain ünïcode"
    assert message.get_body(("html",)).get_content().strip() == "<p>Html</p>"
    assert mail.to_mime(composed, "mentoring@example.org", clock.now()).isascii()


def test_names_are_escaped_in_html_mail_but_not_in_plain_text(aws):
    composed = mail.compose("confirm_application", ("a@example.org",),
                            {"application": {"name": "<b>Jo</b>", "role": "mentee"}, "confirm_token": "x"})
    assert "&lt;b&gt;Jo&lt;/b&gt;" in composed.html and "<b>Jo</b>" not in composed.html
    assert "Dear <b>Jo</b>," in composed.text


def test_a_mail_that_ses_refuses_stays_in_the_outbox_and_the_sweeper_sends_it_once(aws):
    with mock.patch.object(mail, "_send", side_effect=throttled):
        intake.submit(as_form(valid_answers()))
    [queued] = list(OutboxMail.scan())
    assert queued.queue == mail.PENDING and queued.last_error == "TooManyRequestsException" and sent_mail() == []

    assert mail.sweep() == 0  # too fresh: the request that queued it may still be sending
    clock.shift_by(mail.SWEEP_GRACE + timedelta(seconds=1))
    assert mail.sweep() == 1
    assert mail.sweep() == 0
    assert len(sent_mail()) == 1
    assert OutboxMail.get(queued.id).queue is None


def test_a_sent_mail_keeps_neither_its_content_nor_its_addresses(aws):
    with mock.patch.object(mail, "_send", side_effect=throttled):
        intake.submit(as_form(valid_answers()))
    [queued] = list(OutboxMail.scan())
    assert queued.mime and queued.recipients  # kept while it waits to be sent
    assert mail.deliver(queued.id) is True
    kept = OutboxMail.get(queued.id)
    assert (kept.mime, kept.recipients, kept.queue) == (None, None, None)
    assert kept.sent_at and kept.ses_message_id == sent_mail()[0]["id"]


def test_a_leased_mail_is_not_sent_by_a_second_sender(aws):
    with mock.patch.object(mail, "_send", side_effect=throttled):
        intake.submit(as_form(valid_answers()))
    [queued] = list(OutboxMail.scan())
    queued.update(actions=[OutboxMail.lease_until.set(clock.now() + mail.LEASE)])
    assert mail.deliver(queued.id) is False
    assert sent_mail() == []
    clock.shift_by(mail.LEASE + timedelta(seconds=1))
    assert mail.deliver(queued.id) is True
    assert len(sent_mail()) == 1


def test_a_failed_transaction_queues_no_mail(aws):
    composed = mail.compose("confirm_application", ("a@example.org",),
                            {"application": {"name": "Jo", "role": "mentee"}, "confirm_token": "x"})
    existing = mail.outbox_item(composed)
    existing.save()
    with pytest.raises(Exception):
        with transaction() as write:
            mail.queue(write, composed)
            write.save(existing, condition=OutboxMail.id.does_not_exist())  # fails: already there
    assert [item.id for item in OutboxMail.scan()] == [existing.id]


def test_delivering_an_already_sent_mail_sends_nothing_more(aws):
    intake.submit(as_form(valid_answers()))
    [sent] = list(OutboxMail.scan())
    assert mail.deliver(sent.id) is True
    assert len(sent_mail()) == 1
