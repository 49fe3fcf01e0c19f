"""Deliver a raw mail to the app the way SES does on AWS.

SES's receipt rule stores the raw mail in S3, then publishes a notification
to SNS, which invokes the app's @app.on_sns_message handler. Here every
verdict is PASS and the envelope recipients are the message's To and Cc.
"""
from __future__ import annotations

import json
import secrets
from email import message_from_bytes, policy
from email.utils import getaddresses

from chalicelib.adapters import aws
from chalicelib.domain import clock
from chalicelib.adapters.config import settings

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


def sns_event(notification: dict) -> dict:
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:mentoring-inbound-mail:sandbox",
        "Sns": {
            "Type": "Notification", "MessageId": secrets.token_hex(16),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:mentoring-inbound-mail",
            "Subject": "Amazon SES Email Receipt Notification", "Message": json.dumps(notification),
            "Timestamp": clock.iso(clock.now()), "MessageAttributes": {},
        },
    }]}


def deliver_like_ses(app, raw: bytes, message_id: str | None = None) -> dict:
    from chalice.local import LambdaContext

    message_id = message_id or secrets.token_hex(16)
    bucket, key = settings().inbound_bucket, f"inbound/{message_id}"
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=raw)
    event = sns_event(ses_notification(raw, message_id, bucket, key))
    return app.handler_map[INBOUND_HANDLER](event, LambdaContext(INBOUND_HANDLER, 512))
