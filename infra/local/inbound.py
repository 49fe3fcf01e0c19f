"""Deliver a raw mail to the app the way SES does on AWS.

SES's receipt rule stores the raw mail in S3, with its own headers on top (the
verdicts, and the recipient in its Received line), then publishes a
notification to SNS; SNS puts it in the inbound queue, and Lambda invokes the
app's @app.on_sqs_message handler with it (infra/local/queues.py). Here every
verdict is PASS and the envelope recipients are the message's To and Cc.
"""
from __future__ import annotations

import json
import secrets
from email import message_from_bytes, policy
from email.utils import format_datetime, getaddresses

from chalicelib.adapters import aws
from chalicelib.domain import clock
from chalicelib.adapters.config import settings
from infra.local.queues import invoke

INBOUND_HANDLER = "receive_inbound_mail"
PASS = {"status": "PASS"}


def _header(message, name: str) -> list[str]:
    return [str(value) for value in message.get_all(name, [])]  # 8-bit headers come back as Header objects


def ses_notification(raw: bytes, message_id: str, bucket: str, key: str) -> dict:
    message = message_from_bytes(raw, policy=policy.compat32)
    recipients = [address for _, address in getaddresses(_header(message, "To") + _header(message, "Cc")) if address]
    sender = next((address for _, address in getaddresses(_header(message, "From")) if address), "")
    return {
        "notificationType": "Received",
        "mail": {
            "timestamp": clock.iso(clock.now()), "source": sender, "messageId": message_id,
            "destination": recipients,
            "commonHeaders": {"from": _header(message, "From"), "to": _header(message, "To"),
                              "subject": " ".join(_header(message, "Subject"))},
        },
        "receipt": {
            "timestamp": clock.iso(clock.now()), "recipients": recipients,
            "spamVerdict": PASS, "virusVerdict": PASS, "spfVerdict": PASS, "dkimVerdict": PASS, "dmarcVerdict": PASS,
            "action": {"type": "S3", "topicArn": f"arn:aws:sns:us-east-1:123456789012:{INBOUND_HANDLER}",
                       "bucketName": bucket, "objectKey": key},
        },
    }


def as_ses_stores(raw: bytes, message_id: str) -> bytes:
    """The raw mail with the headers SES's receipt rule puts on top when it stores it."""
    message = message_from_bytes(raw, policy=policy.compat32)
    recipients = [address for _, address in getaddresses(_header(message, "To") + _header(message, "Cc")) if address]
    sender = next((address for _, address in getaddresses(_header(message, "From")) if address), "")
    domain = sender.rsplit("@", 1)[-1] or "example.org"
    added = (f"Return-Path: <{sender}>\r\n"
             f"Received: from mail.{domain} (mail.{domain} [192.0.2.1]) by inbound-smtp.us-east-1.amazonaws.com "
             f"with SMTP id {message_id} for {recipients[0] if recipients else 'nobody@invalid'}; "
             f"{format_datetime(clock.now())}\r\n"
             "X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n"
             f"Received-SPF: pass (spfCheck: domain of {domain} designates 192.0.2.1 as permitted sender)\r\n"
             f"Authentication-Results: amazonses.com; spf=pass smtp.mailfrom={domain}; dkim=pass header.i=@{domain}; "
             f"dmarc=pass header.from={domain};\r\n")
    return added.encode() + raw


def deliver_like_ses(app, raw: bytes, message_id: str | None = None) -> dict:
    message_id = message_id or secrets.token_hex(16)
    store_like_ses(raw, message_id)
    return notify_like_ses(app, raw, message_id)


def store_like_ses(raw: bytes, message_id: str) -> None:
    """The receipt rule's S3 action: the raw mail, stored once under its SES message id."""
    aws.client("s3").put_object(Bucket=settings().inbound_bucket, Key=f"inbound/{message_id}",
                                Body=as_ses_stores(raw, message_id))


def notify_like_ses(app, raw: bytes, message_id: str) -> dict:
    """The SNS notification of a stored mail, through its queue to the handler (SES may send it more than once)."""
    bucket, key = settings().inbound_bucket, f"inbound/{message_id}"
    [outcome] = invoke(app, INBOUND_HANDLER, json.dumps(ses_notification(raw, message_id, bucket, key)))
    return outcome
