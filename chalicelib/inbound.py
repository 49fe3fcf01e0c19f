"""Mail that participants send back, delivered by SES through S3 and SNS.

The SNS message is SES's notification: it names the S3 object holding the raw
mail and carries the envelope recipients and the spam, virus, SPF and DKIM
verdicts. Each SES message is handled once, however often it is delivered.
"""
from __future__ import annotations

import json
import logging

from pynamodb.exceptions import PutError

from chalicelib import clock
from chalicelib.aws import client
from chalicelib.models import InboundMessage

log = logging.getLogger(__name__)

RECEIVED = "received"


def receive(sns_message: str) -> dict:
    try:
        notification = json.loads(sns_message)
        message_id = notification["mail"]["messageId"]
        action = notification["receipt"]["action"]
        bucket, key = action["bucketName"], action["objectKey"]
        recipients = [str(address) for address in notification["receipt"].get("recipients", [])]
    except (ValueError, KeyError, TypeError):
        log.warning("inbound notification ignored: not an SES receipt notification")
        return {"outcome": "ignored", "reason": "not an SES receipt notification"}
    raw = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    record = InboundMessage(
        id=message_id, received_at=clock.now(), object_key=key, recipients=recipients, outcome=RECEIVED,
    )
    try:
        record.save(condition=InboundMessage.id.does_not_exist())
    except PutError:
        return {"message_id": message_id, "outcome": "duplicate"}
    log.info("inbound message %s received (%d bytes)", message_id, len(raw))
    return {"message_id": message_id, "outcome": RECEIVED, "bytes": len(raw)}
