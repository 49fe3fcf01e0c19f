"""Put every table of a stage back as it was at a moment: `make restore STAGE=prod AT=...` (docs/deploy.md).

A restore must not race the app: a reply applied, or a timer fired, during the
copy-back would be overwritten, or half-kept. So it runs in three steps, in
this order:

1. stop the writers:
   - the API stage is throttled to 0 requests a second (every request is
     answered 429 "Too Many Requests");
   - the schedules (the daily tick, the sweeper, the digest, the
     reconciliation) are disabled;
   - the queues' consumers are paused. The receipt rule keeps running: SES
     still stores each reply in S3 and its notification waits in the queue
     (four days), where a disabled receipt rule would make SES bounce it;
2. restore each table to the moment into a new table, copy it back over the
   live one (mirror: what was written since is deleted), and drop the copy;
3. start the writers again, the other way round.

If a step fails, the script stops and the writers stay stopped: run it again
with `--step copy` or `--step start` once the cause is fixed.

    python -m infra.restore --stage prod --at 2026-11-20T09:00:00Z
    python -m infra.restore --stage prod --step start      # only start the writers again
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import datetime

from infra.build_template import API_THROTTLING, PROJECT_DIR, BuildError, load_stage
from infra.copy_table import copy_table

RESTORED_SUFFIX = "-restored"


@dataclass(frozen=True)
class Writers:
    """Everything that writes to a stage's tables, by the names the stack gives them."""

    api_name: str
    api_stage: str
    schedule_rules: tuple[str, ...]
    queue_consumers: tuple[str, ...]  # functions fed by a queue


def _api_id(apigateway, name: str) -> str:
    for page in apigateway.get_paginator("get_rest_apis").paginate():
        for api in page["items"]:
            if api["name"] == name:
                return api["id"]
    raise LookupError(f"no REST API named {name}")


def _throttle_api(apigateway, writers: Writers, rate: float, burst: int) -> None:
    apigateway.update_stage(restApiId=_api_id(apigateway, writers.api_name), stageName=writers.api_stage,
                            patchOperations=[
                                {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(rate)},
                                {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(burst)}])


def _consumers(lambda_client, writers: Writers):
    for function in writers.queue_consumers:
        for mapping in lambda_client.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]:
            yield mapping["UUID"]


def stop_writers(clients, writers: Writers) -> None:
    _throttle_api(clients["apigateway"], writers, 0, 0)
    for rule in writers.schedule_rules:
        clients["events"].disable_rule(Name=rule)
    for uuid in _consumers(clients["lambda"], writers):
        clients["lambda"].update_event_source_mapping(UUID=uuid, Enabled=False)


def start_writers(clients, writers: Writers) -> None:
    for uuid in _consumers(clients["lambda"], writers):
        clients["lambda"].update_event_source_mapping(UUID=uuid, Enabled=True)
    for rule in writers.schedule_rules:
        clients["events"].enable_rule(Name=rule)
    _throttle_api(clients["apigateway"], writers, API_THROTTLING["ThrottlingRateLimit"],
                  API_THROTTLING["ThrottlingBurstLimit"])


def copy_back(dynamodb, tables: list[str], at: datetime) -> dict[str, dict]:
    """Restore each table to the moment, then make the live table exactly that copy."""
    done = {}
    for table in tables:
        restored = table + RESTORED_SUFFIX
        dynamodb.restore_table_to_point_in_time(SourceTableName=table, TargetTableName=restored,
                                                RestoreDateTime=at)
        dynamodb.get_waiter("table_exists").wait(TableName=restored)
        done[table] = copy_table(restored, table, mirror=True)
        dynamodb.delete_table(TableName=restored)
    return done


def restore(clients, writers: Writers, tables: list[str], at: datetime | None, step: str = "all") -> dict:
    if step in ("all", "stop"):
        stop_writers(clients, writers)
    copied = copy_back(clients["dynamodb"], tables, at) if step in ("all", "copy") else {}
    if step in ("all", "start"):
        start_writers(clients, writers)
    return copied


def stage_writers_and_tables(stage_name: str) -> tuple[Writers, list[str]]:
    from chalice.app import ScheduledEventConfig, SQSEventConfig

    from infra.build_template import table_name

    stage = load_stage(stage_name)
    sys.path.insert(0, str(PROJECT_DIR))
    from chalicelib.adapters.models import ALL_MODELS

    tables = [table_name(stage, model) for model in ALL_MODELS]  # before the environment is the stage's
    os.environ.update(stage.env)
    from app import app

    named = lambda handler: f"{stage.prefix}-{handler}"  # noqa: E731 - the stack's function and rule names
    writers = Writers(
        api_name=stage.prefix, api_stage=stage.api_stage,
        schedule_rules=tuple(named(s.name) for s in app.event_sources if isinstance(s, ScheduledEventConfig)),
        queue_consumers=tuple(named(s.name) for s in app.event_sources if isinstance(s, SQSEventConfig)))
    return writers, tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--at", help="the moment to go back to, in UTC: 2026-11-20T09:00:00Z")
    parser.add_argument("--step", choices=["all", "stop", "copy", "start"], default="all")
    arguments = parser.parse_args(argv)
    if arguments.step in ("all", "copy") and not arguments.at:
        parser.error("--at is needed to restore")
    at = datetime.fromisoformat(arguments.at.replace("Z", "+00:00")) if arguments.at else None
    try:
        writers, tables = stage_writers_and_tables(arguments.stage)
    except BuildError as error:
        print(f"infra/restore.py: {error}", file=sys.stderr)
        return 1
    import boto3

    clients = {name: boto3.client(name) for name in ("apigateway", "events", "lambda", "dynamodb")}
    try:
        copied = restore(clients, writers, tables, at, arguments.step)
    except Exception:
        print(f"infra/restore.py: the restore stopped; the writers stay stopped. Fix the cause, then run "
              f"`python -m infra.restore --stage {arguments.stage} --step copy --at ...` (or --step start).",
              file=sys.stderr)
        raise
    for table, counts in copied.items():
        print(f"{table}: {counts}")
    print(f"writers of {arguments.stage}: {'started' if arguments.step in ('all', 'start') else 'stopped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
