"""The SQS leg of SES's two async paths, emulated in-process.

On AWS, SES publishes to an SNS topic that feeds an SQS queue (raw message
delivery: the queue's message body is SES's notification itself); Lambda polls
the queue, invokes the handler with a batch of one, deletes the message when
the handler returns, and after MAX_RECEIVES failed deliveries SQS moves it to
the dead-letter queue. `sqs_event` builds the event Lambda passes; `poll`
plays Lambda's poller against moto's queues, which keep the receive counts
and the dead-letter queue as SQS does.
"""
from __future__ import annotations

import json
import logging
import secrets

from chalicelib.adapters import aws
from chalicelib.domain import clock
from infra.build_template import MAX_RECEIVES, dead_letter_name

log = logging.getLogger(__name__)
REGION, ACCOUNT = "us-east-1", "123456789012"


def queues(app) -> dict[str, str]:
    """Handler name -> the queue it reads, for every @app.on_sqs_message handler."""
    from chalice.app import SQSEventConfig

    return {source.name: source.queue for source in app.event_sources if isinstance(source, SQSEventConfig)}


def provision_queues(app) -> None:
    sqs = aws.client("sqs")
    for queue in queues(app).values():
        dead = sqs.create_queue(QueueName=dead_letter_name(queue))["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.create_queue(QueueName=queue, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dead_arn, "maxReceiveCount": MAX_RECEIVES})})


def sqs_event(body: str, queue: str, receive_count: int = 1, receipt_handle: str | None = None) -> dict:
    return {"Records": [{
        "messageId": secrets.token_hex(16), "receiptHandle": receipt_handle or secrets.token_hex(16), "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": str(
            int(clock.now().timestamp() * 1000))},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}", "awsRegion": REGION,
    }]}


def invoke(app, handler: str, body: str) -> list:
    """What Lambda does with one message from the handler's queue: invoke it with a batch of one."""
    from chalice.local import LambdaContext

    return app.handler_map[handler](sqs_event(body, queues(app)[handler]), LambdaContext(handler, 512))


def send(handler_queue: str, body: str) -> None:
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=handler_queue)["QueueUrl"], MessageBody=body)


def poll(app, handler: str) -> dict:
    """Play Lambda's poller until the handler's queue is empty: each failure makes the message
    visible again at once (here the visibility timeout is 0), and SQS moves it to the dead-letter
    queue after MAX_RECEIVES deliveries. Returns how many were handled and how many failed."""
    from chalice.local import LambdaContext

    sqs = aws.client("sqs")
    queue = queues(app)[handler]
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    done = {"handled": 0, "failed": 0}
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0,
                                       AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        if not messages:
            return done
        [message] = messages
        event = sqs_event(message["Body"], queue, int(message["Attributes"]["ApproximateReceiveCount"]),
                          message["ReceiptHandle"])
        try:
            app.handler_map[handler](event, LambdaContext(handler, 512))
        except Exception as error:  # noqa: BLE001 - as Lambda does: the message stays for another delivery
            log.warning("%s failed on a message (%s); SQS delivers it again", handler, type(error).__name__)
            done["failed"] += 1
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        done["handled"] += 1
