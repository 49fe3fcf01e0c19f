"""Put what failed back in its queue: `make redrive STAGE=prod` (docs/deploy.md).

A message its handler failed on MAX_RECEIVES times waits in the queue's
dead-letter queue for two weeks. Once the cause is fixed, this moves every
such message back to the queue it came from, where Lambda handles it again.
Handling is idempotent (a reply the daily reconciliation applied meanwhile is
a duplicate and changes nothing), so a message moved twice does no harm: each
is sent back before it is deleted from the dead-letter queue.

    python -m infra.redrive --stage prod     # every queue of the stage
"""
from __future__ import annotations

import argparse
import os
import sys

from infra.build_template import PROJECT_DIR, BuildError, dead_letter_name, load_stage, staged_name


def redrive(sqs, queue: str, wait_seconds: int = 2) -> int:
    """Move every message of the queue's dead-letter queue back to it; returns how many."""
    source = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    dead = sqs.get_queue_url(QueueName=dead_letter_name(queue))["QueueUrl"]
    moved = 0
    while True:
        # Long polling asks every SQS server, so an empty answer means the queue is empty.
        messages = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10, VisibilityTimeout=120,
                                       WaitTimeSeconds=wait_seconds, MessageAttributeNames=["All"]
                                       ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(QueueUrl=source, MessageBody=message["Body"],
                             MessageAttributes=message.get("MessageAttributes", {}))
            sqs.delete_message(QueueUrl=dead, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def stage_queues(stage_name: str) -> list[str]:
    """The stack's names of the queues the app's handlers read."""
    from chalice.app import SQSEventConfig

    stage = load_stage(stage_name)
    os.environ.update(stage.env)  # the app names its tables from the environment at import
    sys.path.insert(0, str(PROJECT_DIR))
    from app import app

    return [staged_name(stage, source.queue) for source in app.event_sources if isinstance(source, SQSEventConfig)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True)
    arguments = parser.parse_args(argv)
    try:
        queues = stage_queues(arguments.stage)
    except BuildError as error:
        print(f"infra/redrive.py: {error}", file=sys.stderr)
        return 1
    import boto3

    sqs = boto3.client("sqs")
    for queue in queues:
        print(f"{queue}: {redrive(sqs, queue)} messages moved back from {dead_letter_name(queue)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
