"""Triggers delivered again and again, at once, and through failing services."""
import random
import threading
from email import message_from_string
from unittest import mock

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import lifecycle
from chalicelib.services import mail, workflow
from chalicelib.adapters.models import InboundMessage, OutboxMail, Pairing, Response
from chalicelib.services.pairings import get_pairing
from infra.local.inbound import notify_like_ses, store_like_ses
from tests.helpers import MAIL_FIXTURES, sent_mail
from tests.helpers.workflow import approved_pairs, deliver, mails_to, receive_with, reply_to, respond_link, run_days

from app import app

FIXTURES = MAIL_FIXTURES


def test_twenty_threads_sending_events_to_one_pairing_are_each_recorded_once(aws, fresh_clock):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 90)
    answers = [lifecycle.Event(lifecycle.EventKind.REPLY_RECEIVED, f"participant:{('mentor', 'mentee')[i % 2]}",
                               f"thread/{i}", rating=lifecycle.Rating(1 + i % 2), text=f"answer {i}") for i in range(16)]
    pauses = [lifecycle.Event(lifecycle.EventKind.COMMITTEE_PAUSE, "committee:committee@example.org", f"pause/{i}")
              for i in range(2)]
    resumes = [lifecycle.Event(lifecycle.EventKind.COMMITTEE_RESUME, "committee:committee@example.org", f"resume/{i}")
               for i in range(2)]
    accepted, refused, broken = [], [], []

    def send(event):
        try:
            outcome = workflow.apply_event(pairing.id, event)
            (accepted if outcome.applied else refused).append(event.trigger_id)
        except lifecycle.TransitionRefused:
            refused.append(event.trigger_id)
        except Exception as error:  # noqa: BLE001 - anything else is a failure of the test
            broken.append(repr(error))

    threads = [threading.Thread(target=send, args=(event,)) for event in answers + pauses + resumes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert broken == []
    assert len(accepted) + len(refused) == 20
    history = get_pairing(pairing.id).history
    recorded = [entry["trigger_id"] for entry in history if entry["trigger_id"] in accepted]
    assert sorted(recorded) == sorted(accepted)  # every accepted transition exactly once
    assert not any(entry["trigger_id"] in refused for entry in history)
    assert all(f"thread/{i}" in accepted for i in range(16))  # answers are taken in every live state
    responses = [r.trigger_id for r in Response.query(pairing.id)]
    assert sorted(responses) == sorted(t for t in accepted if t.startswith("thread/"))
    versions = [entry for entry in history]
    assert get_pairing(pairing.id).version == len(versions)


def test_one_ses_message_delivered_four_times_at_once_is_applied_and_recorded_once(aws, fresh_clock):
    from chalicelib.adapters.models import Alert

    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 90)
    [checkin] = mails_to(pairing.mentee_email, "check-in")
    raw = reply_to(checkin, pairing.mentee_email, "Could we talk about the conference next week?")
    outcomes, broken = [], []

    store_like_ses(raw, "same-ses-id-at-once")  # SES stores a mail once, and may notify of it more than once

    def receive():
        try:
            outcomes.append(notify_like_ses(app, raw, "same-ses-id-at-once")["outcome"])
        except Exception as error:  # noqa: BLE001 - anything else is a failure of the test
            broken.append(repr(error))

    threads = [threading.Thread(target=receive) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert broken == []
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "unrated"]
    [record] = InboundMessage.scan()
    assert record.outcome == "unrated"
    assert [alert.kind for alert in Alert.scan()].count("reply_unrated") == 1
    assert len(list(Response.query(pairing.id))) == 1
    assert sum(entry["trigger_id"].startswith("mail/") for entry in get_pairing(pairing.id).history) == 1  # its Message-ID key


def test_every_trigger_delivered_three_times_changes_nothing_the_second_time(aws, fresh_clock, client):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 90)
    snapshot = (len(get_pairing(pairing.id).history), len(sent_mail()))
    for _ in range(3):
        workflow.tick()
    assert (len(get_pairing(pairing.id).history), len(sent_mail())) == snapshot

    [checkin] = mails_to(pairing.mentee_email, "check-in")
    raw = reply_to(checkin, pairing.mentee_email, "1 - going well")
    for _ in range(3):
        deliver(raw, message_id="same-ses-id")
    link = respond_link(mails_to(pairing.mentor_email, "check-in")[0])
    for _ in range(3):
        client.http.post(link, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"rating=1")
    history = get_pairing(pairing.id).history
    assert len(history) == snapshot[0] + 2
    assert len(list(Response.query(pairing.id))) == 2
    assert len(sent_mail()) == snapshot[1]


def throttle_sometimes(rate: float, seed: int):
    chance = random.Random(seed)
    real_send = mail._send

    def send(item, *args, **kwargs):
        if chance.random() < rate:
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."}},
                              "SendEmail")
        return real_send(item, *args, **kwargs)

    return send


def fail_dynamodb_sometimes(rate: float, seed: int):
    from pynamodb.connection.base import Connection

    chance = random.Random(seed)
    real_call = Connection._make_api_call

    def call(self, operation_name, operation_kwargs, *args, **kwargs):
        if chance.random() < rate:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, operation_name)
        return real_call(self, operation_name, operation_kwargs, *args, **kwargs)

    return call


def test_with_ses_throttling_and_dynamodb_errors_every_mail_is_sent_exactly_once(aws, fresh_clock):
    from pynamodb.connection.base import Connection

    pairs = approved_pairs(3)
    with mock.patch.object(mail, "_send", throttle_sometimes(0.3, seed=1)), \
            mock.patch.object(Connection, "_make_api_call", fail_dynamodb_sometimes(0.1, seed=2)):
        for _ in range(200):  # a stretch of the year in which some days' ticks fail and are retried
            try:
                run_days(fresh_clock, 2)
            except Exception:  # noqa: BLE001 - a failed invocation: EventBridge runs the next one
                pass
        for _ in range(20):
            try:
                fresh_clock.shift_by(mail.SWEEP_GRACE)
                mail.sweep()
            except Exception:  # noqa: BLE001
                pass
    run_days(fresh_clock, 150)  # the services recover; the year runs to its end
    for _ in range(3):
        fresh_clock.shift_by(mail.LEASE)
        mail.sweep()
    outbox = list(OutboxMail.scan())
    assert outbox and all(item.queue is None for item in outbox)
    sent_ids = [message_from_string(m.raw_data)["Message-ID"] for m in _moto_sent()]
    assert len(sent_ids) == len(set(sent_ids))  # no mail twice
    assert {item.ses_message_id for item in outbox} == {m.id for m in _moto_sent()}  # and none lost
    assert all(item.mime is None and item.recipients is None for item in outbox)  # nor kept once sent
    assert all(get_pairing(p.id).state == "completed" for p in pairs)


def _moto_sent():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


CORPUS = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]


def mutated(data: st.DataObject) -> bytes:
    raw = bytearray(data.draw(st.sampled_from(CORPUS)))
    for _ in range(data.draw(st.integers(0, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    return bytes(raw[:cut])


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(raw=st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_inbound_path(aws, raw):
    outcome = receive_with(raw)
    assert outcome["outcome"] == "quarantined" and outcome["reason"]
    assert InboundMessage.get(outcome["message_id"]).reason == outcome["reason"]


@FUZZ
@given(data=st.data())
def test_mutated_real_messages_never_crash_and_bad_mail_is_quarantined_with_a_reason(aws, data):
    outcome = receive_with(mutated(data))
    assert outcome["outcome"] in {"quarantined", "auto_reply", "applied", "unrated", "kept"}
    if outcome["outcome"] == "quarantined":
        assert outcome["reason"]
    assert list(Pairing.scan()) == []  # no corpus token is valid here, so nothing is applied
