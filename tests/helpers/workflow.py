"""Helpers for tests that walk pairings through their year."""
from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta

from chalicelib.services import alerts, inbound, pairings, proposals, workflow
from chalicelib.adapters.store import open_cohort
from infra.local.inbound import ses_notification
from infra.local.seed import seed_demo_cohort
from tests.helpers import sent_mail


def approved_pairs(count: int | None = None) -> list:
    """Seed the demo cohort and approve the engine's proposal (or its first `count` pairs)."""
    seed_demo_cohort()
    proposal = proposals.propose(open_cohort(), {}).proposal
    chosen = proposal["pairs"][:count] if count else proposal["pairs"]
    return pairings.approve("committee@example.org", [pairings.PairRequest(p["mentor_id"], p["mentee_id"]) for p in chosen])


def run_days(clock, days: int) -> None:
    """Let the days pass, running the tick and the digest whenever a timer falls due
    (as a daily EventBridge rule would that day), and the outbox sweeper just after the
    tick (which only queues its mail), without stopping on quiet days."""
    from chalicelib.adapters.models import Pairing
    from chalicelib.services import mail

    end = clock.now() + timedelta(days=days)
    while True:
        due = next(iter(Pairing.due.query(Pairing.TIMER, Pairing.next_due_at <= end, limit=1)), None)
        if due is None:
            break
        if due.next_due_at > clock.now():
            clock.shift_by(due.next_due_at - clock.now() + timedelta(seconds=1))
        workflow.tick()
        clock.shift_by(mail.SWEEP_GRACE + timedelta(seconds=1))
        mail.sweep()
        alerts.send_digest()
    if end > clock.now():  # time only moves forward, even when the ticks took a while
        clock.shift_by(end - clock.now())


def at_first_checkin(clock) -> tuple:
    """One approved pairing, 90 days in: (the pairing, the mentee's check-in, the mentor's check-in)."""
    [pairing] = approved_pairs(1)
    run_days(clock, 90)
    return pairing, mails_to(pairing.mentee_email, "check-in")[0], mails_to(pairing.mentor_email, "check-in")[0]


def respond_link(mail: dict) -> str:
    """The /respond/{token} path a participant's mail links to."""
    return re.search(r"/respond/[a-z0-9]+", mail["text"]).group(0)


def mails_to(address: str, template_word: str = "") -> list[dict]:
    return [m for m in sent_mail() if address in m["to"] and template_word.lower() in m["subject"].lower()]


def reply_to(mail: dict, sender: str, body: str, subject: str | None = None, headers: str = "",
             cc: tuple[str, ...] = ()) -> bytes:
    """A participant's reply to one of the system's mails, as their mail program sends it
    (with a fresh Message-ID, unless `headers` carries one)."""
    message_id = "" if "message-id:" in headers.lower() else f"Message-ID: <{secrets.token_hex(8)}@example.org>\r\n"
    copies = f"Cc: {', '.join(cc)}\r\n" if cc else ""
    return (f"From: Participant <{sender}>\r\nTo: {mail['reply_to'][0]}\r\n{copies}"
            f"Subject: {subject or 'Re: ' + mail['subject']}\r\n{message_id}"
            f"{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\n"
            f"On Mon, 5 Jan 2026 at 09:00, Mentoring Committee <mentoring@example.org> wrote:\r\n"
            f"> {mail['text'].splitlines()[0]}\r\n").encode()


def reply_all(mail: dict, sender: str, body: str) -> bytes:
    """Reply All, as mail programs do it: to the Reply-To, with every other recipient of the
    mail (and its From) copied, the sender left out."""
    others = tuple(address for address in (*mail["to"], mail["from"]) if address.lower() != sender.lower())
    return reply_to(mail, sender, body, cc=others)


def deliver(raw: bytes, message_id: str | None = None) -> dict:
    from app import app
    from infra.local.inbound import deliver_like_ses

    return deliver_like_ses(app, raw, message_id)


def receive_with(raw: bytes, **verdicts) -> dict:
    """Deliver with chosen SES verdicts, as the SNS handler receives them."""
    from chalicelib.adapters import aws
    from chalicelib.adapters.config import settings

    message_id = secrets.token_hex(8)
    key = f"inbound/{message_id}"
    aws.client("s3").put_object(Bucket=settings().inbound_bucket, Key=key, Body=raw)
    notification = ses_notification(raw, message_id, settings().inbound_bucket, key)
    for name, status in verdicts.items():
        notification["receipt"][name] = {"status": status}
    return inbound.receive(json.dumps(notification))
