"""The deploy path, proved offline: each stage's packaged stack is built once per
session (`python -m infra.build_template package`, what `make package` runs),
linted, and checked against the code it deploys.

Every expectation here is derived from the code (ALL_MODELS, app.py's
handlers, the AWS calls in chalicelib/, the settings config.py reads), so a
new model, index, handler or call is checked without touching this file.
"""
from __future__ import annotations

import ast
import copy
import fnmatch
import io
import json
import re
import subprocess
import sys
import zipfile
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import pytest

from tests.helpers import PROJECT_DIR

from infra import build_template  # noqa: E402  (conftest puts the project on sys.path)
from infra.permissions import IAM_ACTION_EXCEPTIONS, analyse, iam_actions

ACCOUNT, REGION = "123456789012", "us-east-1"
STAGES = build_template.deployable_stages()


# Building the stacks, once.

def _build(stage: str, out_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "infra.build_template", "package", "--stage", stage, "--out", str(out_dir),
         "--keep-policy"],  # package the committed policy file, so a stale one is caught below
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {
        "stage": build_template.load_stage(stage),
        "infra": json.loads((out_dir / "infra.json").read_text()),
        "sam_text": (out_dir / "package" / "sam.json").read_text(),
        "sam": json.loads((out_dir / "package" / "sam.json").read_text()),
        "zip": out_dir / "package" / "deployment.zip",
    }


@pytest.fixture(scope="session")
def stacks(tmp_path_factory):
    root = tmp_path_factory.mktemp("stacks")
    return {stage: _build(stage, root / stage) for stage in STAGES}


@pytest.fixture(params=STAGES)
def stack(request, stacks):
    return stacks[request.param]


def resources(template: dict, kind: str) -> dict:
    return {name: resource for name, resource in template["Resources"].items() if resource.get("Type") == kind}


def resolve(value) -> str:
    """A string or Fn::Sub of pseudo parameters, as it would be in ACCOUNT and REGION."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        for name, known in (("AWS::Partition", "aws"), ("AWS::Region", REGION), ("AWS::AccountId", ACCOUNT)):
            text = text.replace("${%s}" % name, known)
        assert "${" not in text, f"cannot resolve {value}"
        return text
    assert isinstance(value, str), f"cannot resolve {value}"
    return value


def lint(text: str) -> list:
    from cfnlint.api import ManualArgs, lint as cfn_lint

    return cfn_lint(text, config=ManualArgs(regions=[REGION]))


# 1. The merged template is valid CloudFormation.

def test_the_packaged_stack_passes_cfn_lint(stack):
    problems = lint(stack["sam_text"])
    assert problems == [], "\n".join(str(problem) for problem in problems)


def test_cfn_lint_here_does_catch_a_broken_stack(stacks):
    broken = copy.deepcopy(next(iter(stacks.values()))["sam"])
    table = next(iter(resources(broken, "AWS::DynamoDB::Table").values()))
    table["Properties"]["BillingMode"] = "FREE_OF_CHARGE"
    del table["Properties"]["KeySchema"]
    assert len(lint(json.dumps(broken))) >= 2


def test_one_stack_holds_chalices_resources_and_ours(stack):
    sam = stack["sam"]
    assert sam["Transform"] == "AWS::Serverless-2016-10-31"
    assert "RestAPI" in sam["Resources"] and "InboundMailBucket" in sam["Resources"]
    for name in stack["infra"]["Resources"]:
        assert "Type" in sam["Resources"][name], f"{name} only overrides, and chalice made no such resource"


# 2. Tables and indexes match the PynamoDB models.

def expected_table(model, stage) -> dict:
    """What the model needs, read from its attributes (not from the schema the generator uses)."""
    from pynamodb.attributes import TTLAttribute
    from pynamodb.indexes import GlobalSecondaryIndex

    attributes = model.get_attributes()
    types = {}

    def key(attribute, kind):
        types[attribute.attr_name] = attribute.attr_type
        return {"AttributeName": attribute.attr_name, "KeyType": kind}

    expected = {
        "TableName": stage.table_prefix + model.Meta.table_name.removeprefix(_local_prefix()),
        "KeySchema": [key(attributes[model._hash_keyname], "HASH")]
        + ([key(attributes[model._range_keyname], "RANGE")] if model._range_keyname else []),
        "GlobalSecondaryIndexes": [], "LocalSecondaryIndexes": [],
    }
    for index in model._indexes.values():
        keys = [key(a, "HASH") for a in index.Meta.attributes.values() if a.is_hash_key]
        keys += [key(a, "RANGE") for a in index.Meta.attributes.values() if a.is_range_key]
        projection = {"ProjectionType": index.Meta.projection.projection_type}
        if index.Meta.projection.non_key_attributes:
            projection["NonKeyAttributes"] = sorted(index.Meta.projection.non_key_attributes)
        kind = "GlobalSecondaryIndexes" if isinstance(index, GlobalSecondaryIndex) else "LocalSecondaryIndexes"
        expected[kind].append({"IndexName": index.Meta.index_name, "KeySchema": keys, "Projection": projection})
    expected["AttributeDefinitions"] = [{"AttributeName": name, "AttributeType": kind} for name, kind in types.items()]
    ttl = [attribute.attr_name for attribute in attributes.values() if isinstance(attribute, TTLAttribute)]
    expected["TimeToLiveSpecification"] = {"AttributeName": ttl[0], "Enabled": True} if ttl else None
    return expected


def _local_prefix() -> str:
    import os

    return os.environ["TABLE_PREFIX"]  # the tests' stage, which the models were imported under


def table_mismatches(model, resource: dict, stage) -> list[str]:
    def by_name(items, field):
        return sorted(items or [], key=lambda item: item[field])

    expected, properties = expected_table(model, stage), resource["Properties"]
    problems = []
    for field in ("TableName", "KeySchema", "TimeToLiveSpecification"):
        if properties.get(field) != expected[field]:
            problems.append(f"{field}: template has {properties.get(field)}, the model needs {expected[field]}")
    if by_name(properties["AttributeDefinitions"], "AttributeName") != by_name(
            expected["AttributeDefinitions"], "AttributeName"):
        problems.append(f"AttributeDefinitions differ: {properties['AttributeDefinitions']}")
    for field in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if by_name(properties.get(field), "IndexName") != by_name(expected[field], "IndexName"):
            problems.append(f"{field}: template has {properties.get(field)}, the model needs {expected[field]}")
    if properties.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append("not on-demand")
    if properties.get("PointInTimeRecoverySpecification") != {"PointInTimeRecoveryEnabled": True}:
        problems.append("no point-in-time recovery")
    if properties.get("SSESpecification", {}).get("SSEEnabled") is not True:
        problems.append("no KMS encryption at rest")
    if resource.get("DeletionPolicy") != "RetainExceptOnCreate" or resource.get("UpdateReplacePolicy") != "Retain":
        problems.append("a stack delete or replacement would drop the data, or a failed first deploy leave it behind")
    return problems


def test_every_model_has_its_table_and_indexes(stack):
    from chalicelib.adapters.models import ALL_MODELS

    tables = resources(stack["sam"], "AWS::DynamoDB::Table")
    for model in ALL_MODELS:
        resource = tables.get(f"{model.__name__}Table")
        assert resource is not None, f"no table for {model.__name__}"
        assert table_mismatches(model, resource, stack["stage"]) == [], model.__name__
    names = [resource["Properties"]["TableName"] for resource in tables.values()]
    assert len(tables) == len(ALL_MODELS) and len(set(names)) == len(names)
    assert all(name.startswith(stack["stage"].table_prefix) for name in names)


def test_the_table_check_notices_drift(stacks):
    from chalicelib.adapters.models import ALL_MODELS

    stack = next(iter(stacks.values()))
    model = next(model for model in ALL_MODELS if model._indexes)
    resource = copy.deepcopy(stack["sam"]["Resources"][f"{model.__name__}Table"])
    resource["Properties"]["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "INCLUDE",
                                                                         "NonKeyAttributes": ["x"]}
    resource["Properties"]["TimeToLiveSpecification"] = {"AttributeName": "gone", "Enabled": True}
    assert len(table_mismatches(model, resource, stack["stage"])) == 2


def test_index_keys_agree_with_their_model():
    from chalicelib.adapters.models import ALL_MODELS

    for model in ALL_MODELS:
        attributes = {attribute.attr_name: attribute for attribute in model.get_attributes().values()}
        for index in model._indexes.values():
            for attribute in index.Meta.attributes.values():
                declared = attributes.get(attribute.attr_name)
                assert declared is not None and declared.attr_type == attribute.attr_type, (
                    f"{model.__name__}.{index.Meta.index_name}: key {attribute.attr_name} is not a model attribute "
                    f"of the same type")


# 3. The IAM policy allows exactly what the code calls.

def role_policies(sam: dict) -> list[dict]:
    documents = []
    for role in resources(sam, "AWS::IAM::Role").values():
        documents += [policy["PolicyDocument"] for policy in role["Properties"].get("Policies", [])]
        assert not role["Properties"].get("ManagedPolicyArns"), "a managed policy would grant more than the code needs"
    return documents


def allowed(statements: list[dict]) -> set[tuple[str, str]]:
    pairs = set()
    for statement in statements:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        pairs |= {(action, resolve(target)) for action in actions for target in targets}
    return pairs


def required(stack: dict) -> set[tuple[str, str]]:
    """(action, a concrete ARN it touches) for every call the code makes, on this stack's resources."""
    from chalicelib.services import membership

    sam, stage = stack["sam"], stack["stage"]
    tables = {name.removesuffix("Table"): resource["Properties"]["TableName"]
              for name, resource in resources(sam, "AWS::DynamoDB::Table").items()}
    functions = resources(sam, "AWS::Serverless::Function")
    env = next(iter(functions.values()))["Properties"]["Environment"]["Variables"]
    bucket = resolve(sam["Resources"]["InboundMailBucket"]["Properties"]["BucketName"])
    rule = sam["Resources"]["InboundMailRule"]["Properties"]["Rule"]
    prefix = rule["Actions"][0]["S3Action"]["ObjectKeyPrefix"]
    upload = f"{bucket}/{membership.new_upload_key('0123456789abcdef')}"
    examples = {  # where each client action lands in this stack; a new action needs a line here
        "ses:SendEmail": [f"identity/{env['SENDER_ADDRESS'].rsplit('@', 1)[1]}",
                          f"configuration-set/{sam['Resources']['MailConfigurationSet']['Properties']['Name']}",
                          *[f"identity/{address}" for address in stage.infra.get("sandbox_recipients", [])]],
        "s3:GetObject": [f"{bucket}/{prefix}0123456789abcdef", upload],
        "s3:PutObject": [upload],
        "s3:DeleteObject": [upload],
        "s3:ListBucket": [bucket],
        "ssm:GetParameter": [f"parameter/{env['SIGNING_KEY_PARAMETER'].lstrip('/')}"],
        "lambda:InvokeFunction": [f"function:{env['JOB_WORKER_FUNCTION']}"],
    }
    arns = {"ses": f"arn:aws:ses:{REGION}:{ACCOUNT}:", "ssm": f"arn:aws:ssm:{REGION}:{ACCOUNT}:", "s3": "arn:aws:s3:::",
            "lambda": f"arn:aws:lambda:{REGION}:{ACCOUNT}:"}
    needed = set()
    for use in analyse().uses:
        if use.resource:
            path = f"table/{tables[use.resource[1]]}" + (f"/index/{use.resource[2]}" if use.resource[0] == "index" else "")
            needed.add((use.action, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:{path}"))
        else:
            assert use.action in examples, f"{use.action} ({use.where}): say in required() where it lands"
            service = use.action.split(":")[0]
            needed |= {(use.action, arns[service] + example) for example in examples[use.action]}
    for function in functions.values():
        group = f"/aws/lambda/{function['Properties']['FunctionName']}"
        stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:2026/01/05/[$LATEST]0123abcd"
        needed |= {("logs:CreateLogStream", stream), ("logs:PutLogEvents", stream)}
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":  # Lambda polls the queue with the function's role
                queue = sam["Resources"][event["Properties"]["Queue"]["Fn::Sub"][2:-len(".Arn}")]]
                queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue['Properties']['QueueName']}"
                needed |= {(action, queue_arn) for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage",
                                                              "sqs:GetQueueAttributes")}
    return needed


def _grants(pattern: tuple[str, str], need: tuple[str, str]) -> bool:
    return fnmatch.fnmatchcase(need[0], pattern[0]) and fnmatch.fnmatchcase(need[1], pattern[1])


def test_the_policy_allows_every_call_the_code_makes_and_nothing_more(stack):
    documents = role_policies(stack["sam"])
    assert documents and all(document == documents[0] for document in documents), "every function gets one policy"
    committed = json.loads(build_template.policy_file(stack["stage"].name).read_text())
    assert documents[0] == committed, "the stack must carry .chalice/policy-<stage>.json"
    grants, needs = allowed(documents[0]["Statement"]), required(stack)
    fix = f"run `make package STAGE={stack['stage'].name}` and commit .chalice/policy-{stack['stage'].name}.json"
    missing = sorted(need for need in needs if not any(_grants(grant, need) for grant in grants))
    assert missing == [], f"the code calls these but the policy does not allow them ({fix}):\n{missing}"
    unused = sorted(grant for grant in grants if not any(_grants(grant, need) for need in needs))
    assert unused == [], f"the policy allows these but no code calls them ({fix}):\n{unused}"


def test_the_policy_names_no_wildcard_action_or_resource(stack):
    for action, resource in allowed(role_policies(stack["sam"])[0]["Statement"]):
        assert "*" not in action, action
        assert resource != "*" and not resource.startswith("arn:aws:*"), resource
        assert resource.endswith(":*") is (action.startswith("logs:")), (action, resource)  # log streams only


def test_the_committed_policy_files_are_current():
    for stage in STAGES:
        done = subprocess.run([sys.executable, "-m", "infra.build_template", "policy", "--stage", stage, "--check"],
                              cwd=PROJECT_DIR, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_the_code_analysis_finds_every_table_operation_and_client_call():
    # Not a list of the app's calls: a sample of each shape of call, to show the walk sees it.
    findings = analyse(sources={"chalicelib.sample": '''
from chalicelib.adapters.aws import client
from chalicelib.adapters.models import Application, Claim, OutboxMail
from chalicelib.adapters.store import transaction
from pynamodb.transactions import TransactGet


def made() -> Claim:
    return Claim(key="k", owner="o")


def everything(write, claims: list[Claim]):
    client("s3").put_object(Bucket="b", Key="k", Body=b"")
    s3 = client("s3")
    s3.head_object(Bucket="b", Key="k")
    client("sesv2").get_paginator("list_email_identities")
    for application in Application.by_email.query("a@example.org"):
        application.update(actions=[Application.status.set("x")])
    with transaction() as transaction_write:
        transaction_write.condition_check(Claim, "k", condition=Claim.key.exists())
        transaction_write.delete(made())
    write.save(OutboxMail.get("id"))
    with OutboxMail.batch_write() as batch:
        batch.delete(OutboxMail(id="x"))
    for claim in claims:
        claim.refresh()
    Application.scan()
    TransactGet().get(Claim, "k")
    [c.delete() for c in Claim.batch_get(["a"])]
    settings = {}
    settings.update(a=1)


def pairs() -> list[tuple[str, Application]]:
    return []


def unpacked():
    for role, application in pairs():
        application.delete()
    for name, index in (("mentor", OutboxMail.pending), ("mentee", OutboxMail.pending)):
        index.query(name)


Kept = tuple[Claim | Application, str]  # a type alias: its models are known where it is used


def kept(write, items: list[Kept]):
    for item, _ in items:
        write.save(item)


def unknown(thing):
    thing.save()
    thing.query("x")
'''})
    found = {(use.action, use.resource) for use in findings.uses}
    assert found == {
        ("s3:PutObject", ()), ("s3:GetObject", ()), ("ses:ListEmailIdentities", ()),
        ("dynamodb:Query", ("index", "Application", "email-index")),
        ("dynamodb:UpdateItem", ("table", "Application")), ("dynamodb:Scan", ("table", "Application")),
        ("dynamodb:ConditionCheckItem", ("table", "Claim")), ("dynamodb:DeleteItem", ("table", "Claim")),
        ("dynamodb:GetItem", ("table", "Claim")), ("dynamodb:BatchGetItem", ("table", "Claim")),
        ("dynamodb:GetItem", ("table", "OutboxMail")), ("dynamodb:PutItem", ("table", "OutboxMail")),
        ("dynamodb:BatchWriteItem", ("table", "OutboxMail")),
        ("dynamodb:DeleteItem", ("table", "Application")), ("dynamodb:Query", ("index", "OutboxMail", "pending-index")),
        ("dynamodb:PutItem", ("table", "Claim")), ("dynamodb:PutItem", ("table", "Application")),
    }
    assert sorted(item.call for item in findings.unresolved) == ["thing.query('x')", "thing.save()"]


def test_a_call_the_generator_cannot_scope_stops_the_build():
    findings = analyse(sources={"chalicelib.sample": 'from chalicelib.adapters.aws import client\n'
                                                     'client("sns").publish(TopicArn="t", Message="m")\n'})
    stage = build_template.load_stage(STAGES[0])
    with pytest.raises(build_template.BuildError, match="sns:Publish"):
        build_template.policy(stage, findings, [])
    assert iam_actions("sesv2", "send_email") == ["ses:SendEmail"]


@contextmanager
def recorded_aws_calls():
    """Every AWS API call made inside, as (IAM action, table, index) for DynamoDB and (action,) otherwise."""
    from botocore.client import BaseClient

    calls, original = [], BaseClient._make_api_call
    write_items = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem"}

    def record(self, operation, params):
        prefix = self.meta.service_model.signing_name
        if prefix == "dynamodb" and operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                (kind, body), = item.items()
                calls.append((f"dynamodb:{write_items[kind]}", body["TableName"], None))
        elif prefix == "dynamodb" and operation in ("BatchGetItem", "BatchWriteItem"):
            calls.extend((f"dynamodb:{operation}", table, None) for table in params["RequestItems"])
        elif prefix == "dynamodb":
            calls.append((f"dynamodb:{operation}", params.get("TableName"), params.get("IndexName")))
        else:  # as IAM names it (ListObjectsV2 is s3:ListBucket)
            calls.append((IAM_ACTION_EXCEPTIONS.get(f"{prefix}:{operation}", f"{prefix}:{operation}"),))
        return original(self, operation, params)

    BaseClient._make_api_call = record
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original


def test_the_calls_a_real_flow_makes_are_all_found_by_the_analysis(client):
    # The static walk must not miss calls PynamoDB or boto3 make on their own (a DescribeTable, say).
    from chalice.app import ScheduledEventConfig
    from chalice.local import LambdaContext

    from app import app
    from chalicelib.adapters import aws
    from chalicelib.domain import clock
    from chalicelib.services import mail
    from chalicelib.adapters.models import ALL_MODELS
    from infra.local.inbound import ses_notification
    from infra.local.queues import invoke
    from tests.helpers import sent_mail, valid_answers

    raw = b"From: Jo <jo.reader@example.org>\r\nTo: someone@reply.example.org\r\nSubject: Hi\r\n\r\nHello\r\n"
    aws.client("s3").put_object(Bucket="mentoring-local-inbound", Key="inbound/m1", Body=raw)
    with recorded_aws_calls() as calls:
        answer = client.http.post("/api/applications", headers={"Content-Type": "application/json"},
                                  body=json.dumps(valid_answers()))
        assert answer.status_code == 201
        token = re.search(r"/confirm/([a-z0-9]+)", sent_mail()[-1]["text"]).group(1)
        assert client.http.get(f"/confirm/{token}").status_code == 200
        clock.shift_by(mail.SWEEP_GRACE * 2)
        tick = {"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
                "account": ACCOUNT, "time": clock.iso(clock.now()), "region": REGION, "resources": [], "detail": {}}
        with redirect_stdout(io.StringIO()):
            for source in app.event_sources:  # every scheduled handler, as one EventBridge tick
                if isinstance(source, ScheduledEventConfig):
                    app.handler_map[source.name](tick, LambdaContext(source.name, 512))
        invoke(app, "receive_inbound_mail",
               json.dumps(ses_notification(raw, "m1", "mentoring-local-inbound", "inbound/m1")))
        bounce = {"eventType": "Bounce", "mail": {"messageId": "x"}, "bounce": {
            "bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "jo.reader@example.org"}]}}
        invoke(app, "receive_mail_event", json.dumps(bounce))
        client.http.post("/admin/login", headers={"Content-Type": "application/x-www-form-urlencoded"},
                         body="email=committee%40example.org")
    tables = {model.Meta.table_name: model.__name__ for model in ALL_MODELS}
    found = set()
    for use in analyse().uses:
        found.add((use.action, *use.resource[1:]) if use.resource else (use.action,))
    made = set()
    for call in calls:
        if call[0].startswith("dynamodb:"):
            made.add((call[0], tables[call[1]], *([call[2]] if call[2] else [])))
        else:
            made.add(call)
    assert {call[0] for call in made} >= {"dynamodb:PutItem", "dynamodb:BatchGetItem", "ses:SendEmail",
                                          "s3:GetObject", "s3:ListBucket", "ssm:GetParameter"}, (
        "the flow reaches every service")
    assert made - found == set(), "calls the code made that the analysis (and so the policy) misses"


# 4. Every handler has its trigger; every function its settings, logs and alarm.

def test_every_event_handler_is_fed_by_its_queue_or_scheduled(stack):
    from chalice import app as chalice_module

    from app import app

    sam, stage = stack["sam"], stack["stage"]
    functions = resources(sam, "AWS::Serverless::Function")
    queues = resources(sam, "AWS::SQS::Queue")
    assert app.event_sources, "app.py has event handlers"
    for source in app.event_sources:
        function = functions.get(build_template.cfn_name(source.name))
        assert function is not None, f"no function for handler {source.name}"
        assert function["Properties"]["Handler"] == f"app.{source.name}"
        events = list(function["Properties"].get("Events", {}).values())
        assert len(events) == 1, f"{source.name} has {len(events)} triggers"
        event = events[0]
        if isinstance(source, chalice_module.ScheduledEventConfig):
            expression = source.schedule_expression
            expression = expression if isinstance(expression, str) else expression.to_string()
            assert event == {"Type": "Schedule", "Properties": {"Schedule": expression,
                                                                "Name": function["Properties"]["FunctionName"]}}
        elif isinstance(source, chalice_module.SQSEventConfig):
            assert event["Type"] == "SQS" and event["Properties"]["BatchSize"] == 1
            queue = re.fullmatch(r"\$\{(\w+)\.Arn\}", event["Properties"]["Queue"]["Fn::Sub"]).group(1)
            assert queue in queues, f"{source.name} reads {queue}, which the stack does not create"
            assert queues[queue]["Properties"]["QueueName"] == build_template.staged_name(stage, source.queue)
            assert stage.prefix in queues[queue]["Properties"]["QueueName"], "stages in one account must not share"
        else:
            pytest.fail(f"{source.name}: a {type(source).__name__} has no failure path the stack can give it")
    if app.routes:
        assert sam["Resources"]["APIHandlerInvokePermission"]["Properties"]["Principal"] == "apigateway.amazonaws.com"


def test_every_async_handler_has_its_failure_path(stack):
    """Every queue a handler reads keeps what failed MAX_RECEIVES times, for two weeks, in a dead-letter
    queue an alarm watches; its messages stay hidden long enough for the function to finish."""
    sam = stack["sam"]
    functions = resources(sam, "AWS::Serverless::Function")
    queues = resources(sam, "AWS::SQS::Queue")
    watched = json.dumps(sam["Resources"]["DeadLettersAlarm"]["Properties"]["Metrics"])
    fed = 0
    for function in functions.values():
        for event in function["Properties"].get("Events", {}).values():
            assert event["Type"] in ("SQS", "Schedule"), "an SNS or other async trigger would drop failed events"
            if event["Type"] != "SQS":
                continue
            fed += 1
            queue = queues[event["Properties"]["Queue"]["Fn::Sub"][2:-len(".Arn}")]]["Properties"]
            redrive = queue["RedrivePolicy"]
            assert redrive["maxReceiveCount"] == build_template.MAX_RECEIVES
            dead = queues[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Properties"]
            assert dead["QueueName"] == queue["QueueName"] + build_template.DEAD_LETTER_SUFFIX
            assert dead["MessageRetentionPeriod"] == 14 * 24 * 3600
            assert f'"{dead["QueueName"]}"' in watched, f"no alarm watches {dead['QueueName']}"
            assert queue["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"]
            assert queue["SqsManagedSseEnabled"] and dead["SqsManagedSseEnabled"]
    assert fed == 2, "inbound mail and mail events both come through a queue"


def test_ses_writes_to_the_queues_the_handlers_read(stack):
    import app as application

    sam, stage = stack["sam"], stack["stage"]
    functions = resources(sam, "AWS::Serverless::Function")
    subscriptions = resources(sam, "AWS::SNS::Subscription")

    def topic_feeding(queue_in_app: str) -> str:
        name = build_template.staged_name(stage, queue_in_app)
        [queue] = [logical for logical, resource in resources(sam, "AWS::SQS::Queue").items()
                   if resource["Properties"]["QueueName"] == name]
        assert any(f"${{{queue}.Arn}}" == event["Properties"]["Queue"]["Fn::Sub"]
                   for function in functions.values() for event in function["Properties"].get("Events", {}).values()
                   if event["Type"] == "SQS"), f"no handler reads {name}"
        [subscription] = [s["Properties"] for s in subscriptions.values()
                          if s["Properties"].get("Endpoint") == {"Fn::GetAtt": [queue, "Arn"]}]
        assert subscription["Protocol"] == "sqs" and subscription["RawMessageDelivery"] is True
        [policy] = [p["Properties"] for p in resources(sam, "AWS::SQS::QueuePolicy").values()
                    if p["Properties"]["Queues"] == [{"Ref": queue}]]
        [statement] = policy["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": subscription["TopicArn"]}}
        return subscription["TopicArn"]["Ref"]

    rule = sam["Resources"]["InboundMailRule"]["Properties"]["Rule"]
    assert rule["Recipients"] == [stack["stage"].env["REPLY_DOMAIN"]] and rule["ScanEnabled"] and rule["Enabled"]
    s3_action = rule["Actions"][0]["S3Action"]
    assert s3_action["TopicArn"] == {"Ref": topic_feeding(application.INBOUND_QUEUE)}
    assert s3_action["BucketName"] == {"Ref": "InboundMailBucket"}
    destination = sam["Resources"]["MailEventsDestination"]["Properties"]["EventDestination"]
    assert sorted(destination["MatchingEventTypes"]) == ["bounce", "complaint"]
    assert destination["SnsDestination"]["TopicARN"] == {"Ref": topic_feeding(application.MAIL_EVENTS_QUEUE)}


def test_the_mail_bucket_is_private_encrypted_expiring_and_written_only_by_ses(stack):
    sam = stack["sam"]
    bucket = sam["Resources"]["InboundMailBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    expiry = next(rule for rule in bucket["LifecycleConfiguration"]["Rules"] if rule["Id"] == "ExpireRawMail")
    assert expiry["Status"] == "Enabled" and expiry["ExpirationInDays"] == stack["stage"].infra["inbound_mail_days"]
    statements = sam["Resources"]["InboundMailBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    writers = [s for s in statements if s["Effect"] == "Allow"]
    assert len(writers) == 1 and writers[0]["Principal"] == {"Service": "ses.amazonaws.com"}
    assert writers[0]["Action"] == "s3:PutObject"
    prefix = sam["Resources"]["InboundMailRule"]["Properties"]["Rule"]["Actions"][0]["S3Action"]["ObjectKeyPrefix"]
    assert writers[0]["Resource"] == {"Fn::Sub": "${InboundMailBucket.Arn}/" + prefix + "*"}
    assert writers[0]["Condition"]["StringEquals"] == {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}}
    for policy in resources(sam, "AWS::SNS::TopicPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Principal"] == {"Service": "ses.amazonaws.com"}
            assert "AWS:SourceAccount" in statement["Condition"]["StringEquals"]


def settings_the_code_reads() -> set[str]:
    """Environment variable names read anywhere in app.py and chalicelib/."""
    environments = {"env", "environ", "os.environ"}
    names = set()
    for path in [PROJECT_DIR / "app.py", *(PROJECT_DIR / "chalicelib").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            if isinstance(node, ast.Call) and node.args and (
                    ast.unparse(node.func) == "os.getenv" or (isinstance(node.func, ast.Attribute)
                                                            and node.func.attr == "get"
                                                            and ast.unparse(node.func.value) in environments)):
                key = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in environments:
                key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]*",
                                                                                             key.value):
                names.add(key.value)
    return names


def test_every_function_gets_every_setting_and_the_stacks_own_resources(stack):
    sam, stage = stack["sam"], stack["stage"]
    wanted = settings_the_code_reads() - {"AWS_LAMBDA_FUNCTION_NAME"}  # the Lambda runtime sets that one
    assert {"TABLE_PREFIX", "INBOUND_BUCKET", "SES_CONFIGURATION_SET", "COMMITTEE_MEMBERS"} <= wanted
    for name, function in resources(sam, "AWS::Serverless::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert wanted - set(variables) == set(), f"{name} lacks settings the code reads"
        assert variables["INBOUND_BUCKET"] == {"Ref": "InboundMailBucket"}
        assert variables["SES_CONFIGURATION_SET"] == {"Ref": "MailConfigurationSet"}
        assert variables["APP_STAGE"] == stage.name and variables["TABLE_PREFIX"] == stage.table_prefix
        assert not any(re.search(r"(?i)secret|password|private.?key", key) for key in variables)


def test_every_function_has_a_retained_log_group_and_its_errors_alarmed(stack):
    sam = stack["sam"]
    groups = {resource["Properties"]["LogGroupName"]: resource for resource in resources(sam, "AWS::Logs::LogGroup").values()}
    metrics = sam["Resources"]["FunctionErrorsAlarm"]["Properties"]["Metrics"]
    [total] = [metric for metric in metrics if metric.get("ReturnData")]
    summed = [metric for metric in metrics if not metric.get("ReturnData")]
    assert total["Expression"] == "SUM(FILL([" + ", ".join(metric["Id"] for metric in summed) + "], 0))"
    alarmed = {json.dumps(metric["MetricStat"]["Metric"]["Dimensions"]) for metric in summed
               if metric["MetricStat"]["Metric"]["MetricName"] == "Errors"}
    for name, function in resources(sam, "AWS::Serverless::Function").items():
        group = groups[f"/aws/lambda/{function['Properties']['FunctionName']}"]
        assert group["Properties"]["RetentionInDays"] == stack["stage"].infra["log_retention_days"]
        assert json.dumps([{"Name": "FunctionName", "Value": {"Ref": name}}]) in alarmed


def test_every_alarm_exists_and_mails_the_stages_alarm_address(stack):
    from chalicelib.adapters import metrics
    from chalicelib.services import mail, workflow

    sam, stage = stack["sam"], stack["stage"]
    alarms = {name: alarm["Properties"] for name, alarm in resources(sam, "AWS::CloudWatch::Alarm").items()}
    namespace = metrics.namespace(stage.name)

    def watches(alarm, namespace, metric, **expected):
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
        assert {key: alarm[key] for key in expected} == expected

    watches(alarms["FunctionThrottlesAlarm"], "AWS/Lambda", "Throttles", Statistic="Sum")
    watches(alarms["Api5xxAlarm"], "AWS/ApiGateway", "5XXError", Dimensions=[
        {"Name": "ApiName", "Value": sam["Resources"]["RestAPI"]["Properties"]["Name"]},
        {"Name": "Stage", "Value": sam["Resources"]["RestAPI"]["Properties"]["StageName"]}])
    watches(alarms["OutboxBacklogAlarm"], namespace, mail.BACKLOG_METRIC, TreatMissingData="notBreaching")
    watches(alarms["SesBounceRateAlarm"], "AWS/SES", "Reputation.BounceRate", Threshold=0.02,
            ComparisonOperator="GreaterThanThreshold")
    watches(alarms["SesComplaintRateAlarm"], "AWS/SES", "Reputation.ComplaintRate", Threshold=0.0005,
            ComparisonOperator="GreaterThanThreshold")
    heartbeat = alarms["TickHeartbeatAlarm"]
    watches(heartbeat, namespace, workflow.TICK_RUNS_METRIC, Statistic="Sum", Threshold=1,
            ComparisonOperator="LessThanThreshold", TreatMissingData="breaching")
    assert heartbeat["Period"] * heartbeat["EvaluationPeriods"] == 26 * 3600 == heartbeat["Period"] * heartbeat[
        "DatapointsToAlarm"]
    watches(alarms["TickFailuresAlarm"], namespace, workflow.TICK_FAILURES_METRIC, Threshold=1)
    assert set(alarms) == {"FunctionErrorsAlarm", "FunctionThrottlesAlarm", "Api5xxAlarm", "OutboxBacklogAlarm",
                           "SesBounceRateAlarm", "SesComplaintRateAlarm", "DeadLettersAlarm", "TickHeartbeatAlarm",
                           "TickFailuresAlarm"}, "docs/deploy.md counts these: change both together"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
        assert len(alarm.get("Metrics", [])) <= build_template.MAX_METRICS_PER_ALARM + 1
    [subscription] = [s["Properties"] for s in resources(sam, "AWS::SNS::Subscription").values()
                      if s["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}]
    assert subscription["Protocol"] == "email" and subscription["Endpoint"] == stage.infra["alarm_email"]
    assert "@" in subscription["Endpoint"]


def test_a_stage_without_an_alarm_address_is_not_built(monkeypatch, capsys):
    config = build_template.load_config()
    for stage in STAGES:
        config["stages"][stage]["infra"]["alarm_email"] = ""
    monkeypatch.setattr(build_template, "load_config", lambda: config)
    assert build_template.main(["template", "--stage", "prod", "--out", "/nonexistent"]) == 1
    message = capsys.readouterr().err
    assert "no alarm address" in message and "alarm_email" in message and "docs/deploy.md" in message
    config["stages"]["prod"]["infra"]["alarm_email"] = "not an address"
    with pytest.raises(build_template.BuildError, match="no alarm address"):
        build_template.load_stage("prod", config)


def test_data_outlives_the_stack_but_not_a_failed_first_deploy(stack):
    sam = stack["sam"]
    kept = {name: resource for name, resource in sam["Resources"].items() if "DeletionPolicy" in resource}
    assert set(kept) == set(resources(sam, "AWS::DynamoDB::Table")) | {"InboundMailBucket"}
    for name, resource in kept.items():
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain"), name


def test_the_api_stage_is_throttled_and_named_for_its_stage(stack):
    api = stack["sam"]["Resources"]["RestAPI"]["Properties"]
    assert api["MethodSettings"] == [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 20,
                                      "ThrottlingBurstLimit": 40}]
    assert api["Name"] == api["DefinitionBody"]["info"]["title"] == stack["stage"].prefix


def test_a_custom_domain_gets_an_output_with_its_dns_target():
    config = build_template.load_config()
    config["stages"]["prod"]["api_gateway_custom_domain"] = {
        "domain_name": "mentoring.example.org", "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}
    config["stages"]["prod"]["api_gateway_endpoint_type"] = "REGIONAL"
    template, _ = build_template.merge_template(build_template.load_stage("prod", config))
    # chalice package names the domain resource after its default name, api_gateway_custom_domain.
    assert template["Outputs"]["CustomDomainTarget"]["Value"] == {
        "Fn::GetAtt": [build_template.cfn_name("api_gateway_custom_domain"), "RegionalDomainName"]}
    assert "mentoring.example.org" in template["Outputs"]["CustomDomainTarget"]["Description"]
    plain, _ = build_template.merge_template(build_template.load_stage("prod"))
    assert "CustomDomainTarget" not in plain["Outputs"]
    without_the_domain = {"Resources": {name: {"Type": "X"} for name in template["Resources"]}}
    with pytest.raises(build_template.BuildError, match="CustomDomainTarget"):
        build_template.check_merge(template, without_the_domain)


def test_the_heartbeat_and_failure_alarms_watch_the_metrics_the_tick_emits(stack, aws, monkeypatch):
    from chalicelib.services import workflow

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "mentoring-local-fire_due_timers")
    printed = io.StringIO()
    with redirect_stdout(printed):
        workflow.tick()
    [document] = [json.loads(line) for line in printed.getvalue().splitlines() if '"_aws"' in line]
    names = {metric["Name"] for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    alarms = stack["sam"]["Resources"]
    assert {alarms["TickHeartbeatAlarm"]["Properties"]["MetricName"],
            alarms["TickFailuresAlarm"]["Properties"]["MetricName"]} <= names
    assert document[workflow.TICK_RUNS_METRIC] == 1 and document[workflow.TICK_FAILURES_METRIC] == 0


def test_the_backlog_alarm_watches_the_metric_the_sweeper_emits(stack, aws, monkeypatch):
    from chalicelib.services import mail

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "mentoring-local-sweep_outbox")

    printed = io.StringIO()
    with redirect_stdout(printed):
        mail.sweep()
    document = json.loads(printed.getvalue().strip().splitlines()[-1])
    [directive] = document["_aws"]["CloudWatchMetrics"]
    [metric] = directive["Metrics"]
    assert document[metric["Name"]] == 0
    alarm = stack["sam"]["Resources"]["OutboxBacklogAlarm"]["Properties"]
    assert alarm["MetricName"] == metric["Name"]
    # The stack's stage writes to its own namespace (the test's stage is "local").
    assert alarm["Namespace"] == directive["Namespace"].replace("/local", f"/{stack['stage'].name}")
    assert "Dimensions" not in alarm and directive["Dimensions"] == [[]]


def test_the_job_worker_is_the_function_every_other_starts_and_its_timeout_fits_its_steps(stack):
    from datetime import timedelta

    from chalicelib.services import jobs

    functions = resources(stack["sam"], "AWS::Serverless::Function")
    [worker] = [f for f in functions.values() if f["Properties"]["Handler"] == f"app.{build_template.job_worker()}"]
    for function in functions.values():  # the API starts it, and it starts itself to go on
        assert function["Properties"]["Environment"]["Variables"]["JOB_WORKER_FUNCTION"] == worker["Properties"]["FunctionName"]
    assert not worker["Properties"].get("Events"), "the worker is invoked, never triggered"
    timeout = timedelta(seconds=worker["Properties"]["Timeout"])
    # Each invocation steps until HAND_OVER is left, so it must have room for steps beyond that margin;
    # a step's lease must outlast the margin, so no second invocation takes a job the first still steps.
    assert timeout >= 4 * jobs.HAND_OVER and jobs.LEASE > jobs.HAND_OVER and timeout <= timedelta(minutes=15)
    assert worker["Properties"]["MemorySize"] >= 1024
    rules = stack["sam"]["Resources"]["InboundMailBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    from chalicelib.adapters import uploads

    assert {"Id": "ExpireUploads", "Status": "Enabled", "Prefix": uploads.PREFIX,
            "ExpirationInDays": build_template.UPLOADS_DAYS} in rules


# 5. The deployment package runs on Lambda.

def test_the_deployment_package_holds_lambda_builds_of_every_requirement(stack):
    requirements = [re.split(r"[<>=!~\[; ]", line.strip())[0]
                    for line in (PROJECT_DIR / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith(("#", "-"))]
    with zipfile.ZipFile(stack["zip"]) as package:
        names = package.namelist()
        distributions = {}
        for name in names:
            match = re.match(r"([^/]+)-[^-/]+\.dist-info/WHEEL$", name)
            if match:
                distributions[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = package.read(name).decode()
    for requirement in requirements:
        wheel = distributions.get(re.sub(r"[-_.]+", "-", requirement).lower())
        assert wheel is not None, f"{requirement} is not in the deployment package"
        for tag in re.findall(r"^Tag: (.+)$", wheel, re.M):
            glibc = re.search(r"manylinux_(\d+)_(\d+)", tag)
            assert not glibc or (int(glibc.group(1)), int(glibc.group(2))) <= (2, 26), (
                f"{requirement} was built for {tag}; Lambda's python3.11 has glibc 2.26")
    assert "app.py" in names and "chalicelib/adapters/models.py" in names


def test_stages_in_one_account_do_not_collide(stacks):
    def names(stack):
        sam = stack["sam"]
        found = {resolve(r["Properties"]["BucketName"]) for r in resources(sam, "AWS::S3::Bucket").values()}
        for kind, field in (("AWS::DynamoDB::Table", "TableName"), ("AWS::SNS::Topic", "TopicName"),
                            ("AWS::SQS::Queue", "QueueName"),
                            ("AWS::Serverless::Function", "FunctionName"), ("AWS::SES::ConfigurationSet", "Name"),
                            ("AWS::Logs::LogGroup", "LogGroupName"), ("AWS::CloudWatch::Alarm", "AlarmName")):
            found |= {r["Properties"][field] for r in resources(sam, kind).values()}
        found.add(sam["Resources"]["InboundMailRule"]["Properties"]["Rule"]["Name"])
        found.add(stack["stage"].env["SIGNING_KEY_PARAMETER"])
        return found

    built = list(stacks.values())
    for index, first in enumerate(built):
        for second in built[index + 1:]:
            assert names(first) & names(second) == set()
            assert first["stage"].reply_domain != second["stage"].reply_domain


# 6. Restoring a table from point-in-time recovery (docs/deploy.md).

def test_a_restored_table_is_copied_back_into_the_live_one(aws):
    import boto3

    from chalicelib.adapters.models import Claim
    from infra.copy_table import copy_table

    live = Claim.Meta.table_name
    client = boto3.client("dynamodb")
    client.create_table(TableName="restored", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}])
    for stale in Claim.scan():  # the fixture's own claims (its accepting cohort's): this test counts from none
        stale.delete()
    for index in range(30):  # more than one batch
        Claim(key=f"k{index}", owner="before").save()
    restored = boto3.resource("dynamodb").Table("restored")
    for index in range(40):
        restored.put_item(Item={"key": f"k{index}", "owner": "restored"})
    Claim(key="written-after-the-restore-point", owner="x").save()

    assert copy_table("restored", live) == {"copied": 40, "deleted": 0}
    assert Claim.get("k3").owner == "restored" and Claim.count() == 41
    assert copy_table("restored", live, mirror=True) == {"copied": 40, "deleted": 1}
    assert Claim.count() == 40
