"""Restoring a stage from point-in-time recovery (infra/restore.py), in emulated AWS: the
writers stop before the first table is copied back, and start again after the last."""
import io
import json
import zipfile

import boto3
import pytest

from infra import restore as restoring
from infra.build_template import API_THROTTLING

FUNCTION = "mentoring-local-receive_inbound_mail"
RULES = ("mentoring-local-fire_due_timers", "mentoring-local-sweep_outbox")


@pytest.fixture
def stage_writers(aws):
    """The stack's writers, as the restore finds them: a throttled API stage, enabled schedules,
    and a queue's consumer."""
    apigateway, events, lambda_client = (boto3.client(name) for name in ("apigateway", "events", "lambda"))
    api = apigateway.create_rest_api(name="mentoring-local")["id"]
    root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
    apigateway.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigateway.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apigateway.create_deployment(restApiId=api, stageName="api")
    for rule in RULES:
        events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)", State="ENABLED")
    role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    lambda_client.create_function(FunctionName=FUNCTION, Runtime="python3.11", Role=role, Handler="app.handler",
                                  Code={"ZipFile": code.getvalue()})
    sqs = boto3.client("sqs")
    queue = sqs.get_queue_url(QueueName="mentoring-inbound-mail")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lambda_client.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=FUNCTION, Enabled=True)
    restoring._throttle_api(apigateway, writers(), API_THROTTLING["ThrottlingRateLimit"],
                            API_THROTTLING["ThrottlingBurstLimit"])
    return {"apigateway": apigateway, "events": events, "lambda": lambda_client, "dynamodb": boto3.client("dynamodb")}


def writers() -> restoring.Writers:
    return restoring.Writers(api_name="mentoring-local", api_stage="api", schedule_rules=RULES,
                             queue_consumers=(FUNCTION,))


def writing(clients) -> dict:
    """What each writer is doing now."""
    api = restoring._api_id(clients["apigateway"], "mentoring-local")
    settings = clients["apigateway"].get_stage(restApiId=api, stageName="api")["methodSettings"]["*/*"]
    mappings = clients["lambda"].list_event_source_mappings(FunctionName=FUNCTION)["EventSourceMappings"]
    return {"api": (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]),
            "rules": {clients["events"].describe_rule(Name=rule)["State"] for rule in RULES},
            "consumers": {mapping["State"] for mapping in mappings}}


STOPPED = {"api": (0.0, 0), "rules": {"DISABLED"}, "consumers": {"Disabled"}}
RUNNING = {"api": (20.0, 40), "rules": {"ENABLED"}, "consumers": {"Enabled"}}


def test_the_writers_stop_before_the_copy_back_and_start_after_it(stage_writers, monkeypatch):
    from datetime import datetime, timezone

    from chalicelib.adapters.models import Claim, Cohort

    clients = stage_writers
    assert writing(clients) == RUNNING
    tables = [Claim.Meta.table_name, Cohort.Meta.table_name]
    Claim(key="before-the-restore-point", owner="x").save()
    seen = []
    real_copy = restoring.copy_table

    def copy_while_watching(source, target, mirror=False):
        seen.append((target, writing(clients)))
        return real_copy(source, target, mirror=mirror)

    monkeypatch.setattr(restoring, "copy_table", copy_while_watching)
    copied = restoring.restore(clients, writers(), tables, datetime(2026, 11, 20, 9, tzinfo=timezone.utc))
    assert [target for target, _ in seen] == tables
    assert all(state == STOPPED for _, state in seen), "every writer is stopped during every copy"
    assert writing(clients) == RUNNING, "and started again once the last table is back"
    assert set(copied) == set(tables)
    assert not [name for name in clients["dynamodb"].list_tables()["TableNames"] if name.endswith("-restored")]


def test_a_copy_that_fails_leaves_the_writers_stopped(stage_writers, monkeypatch):
    from datetime import datetime, timezone

    from chalicelib.adapters.models import Claim

    clients = stage_writers

    def broken(*args, **kwargs):
        raise RuntimeError("the copy was cut short")

    monkeypatch.setattr(restoring, "copy_table", broken)
    with pytest.raises(RuntimeError):
        restoring.restore(clients, writers(), [Claim.Meta.table_name], datetime(2026, 11, 20, tzinfo=timezone.utc))
    assert writing(clients) == STOPPED
    restoring.restore(clients, writers(), [], None, step="start")
    assert writing(clients) == RUNNING


def test_the_restore_finds_the_stacks_writers_and_tables_by_name():
    import os

    environment = dict(os.environ)
    try:
        found, tables = restoring.stage_writers_and_tables("prod")
    finally:
        os.environ.clear()
        os.environ.update(environment)
    assert found.api_name == "mentoring-prod" and found.api_stage == "api"
    assert set(found.schedule_rules) >= {"mentoring-prod-fire_due_timers", "mentoring-prod-sweep_outbox",
                                         "mentoring-prod-reconcile_inbound_mail"}
    assert set(found.queue_consumers) == {"mentoring-prod-receive_inbound_mail", "mentoring-prod-receive_mail_event"}
    assert tables and all(table.startswith("mentoring-prod-") for table in tables)
