"""Copy every item of one DynamoDB table into another.

This is how a point-in-time restore is put back into service (docs/deploy.md):
DynamoDB restores into a new table, and the stack's tables keep their names,
so the restored items are copied into the live table.

    python -m infra.copy_table SOURCE TARGET            # add and overwrite
    python -m infra.copy_table SOURCE TARGET --mirror   # and delete what SOURCE lacks

It uses the AWS credentials and region of the shell (AWS_PROFILE, AWS_REGION).
"""
from __future__ import annotations

import argparse
import json
import sys


def _items(table, **scan):
    while True:
        page = table.scan(**scan)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def copy_table(source: str, target: str, mirror: bool = False, dynamodb=None) -> dict:
    """Put every item of source into target; with mirror, delete target's items that source lacks."""
    import boto3

    dynamodb = dynamodb or boto3.resource("dynamodb")
    source_table, target_table = dynamodb.Table(source), dynamodb.Table(target)
    keys = [key["AttributeName"] for key in target_table.key_schema]

    def key_of(item):
        return json.dumps([str(item[name]) for name in keys])

    copied, seen = 0, set()
    with target_table.batch_writer(overwrite_by_pkeys=keys) as batch:
        for item in _items(source_table):
            batch.put_item(Item=item)
            seen.add(key_of(item))
            copied += 1
    deleted = 0
    if mirror:
        names = {f"#k{index}": name for index, name in enumerate(keys)}
        stale = [item for item in _items(target_table, ProjectionExpression=", ".join(names),
                                         ExpressionAttributeNames=names) if key_of(item) not in seen]
        with target_table.batch_writer(overwrite_by_pkeys=keys) as batch:
            for item in stale:
                batch.delete_item(Key={name: item[name] for name in keys})
                deleted += 1
    return {"copied": copied, "deleted": deleted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--mirror", action="store_true", help="also delete target items that source lacks")
    arguments = parser.parse_args(argv)
    print(copy_table(arguments.source, arguments.target, arguments.mirror))
    return 0


if __name__ == "__main__":
    sys.exit(main())
