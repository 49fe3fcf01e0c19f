"""Build one stage's CloudFormation stack: Chalice's template plus what Chalice does not make.

    python -m infra.build_template package --stage prod   # what `make package STAGE=prod` runs
    python -m infra.build_template policy --stage prod    # only rewrite .chalice/policy-prod.json
    python -m infra.build_template template --stage prod  # only write build/prod/infra.json

`package` writes, into build/<stage>/:
- infra.json: the template generated here (tables, mail in and out, alarms,
  log groups, and overrides of Chalice's functions);
- package/sam.json and package/deployment.zip: `chalice package
  --merge-template infra.json`, the one stack the stage deploys;
and it rewrites .chalice/policy-<stage>.json, the functions' IAM policy.

Everything is derived, so it follows the code without edits here:
- tables and indexes from chalicelib.adapters.models.ALL_MODELS, named as the code
  names them under the stage's TABLE_PREFIX;
- functions, schedules and queues from app.py's handlers: each @app.on_sqs_message
  queue gets its dead-letter queue, and the two SES writes to get an SNS topic
  feeding them;
- the IAM policy from the AWS calls the code makes (infra/permissions.py).
Stage settings come from .chalice/config.json: its environment variables,
each function's timeout (lambda_functions), and the stage's "infra" block
(retention days, alarm email, receipt rule set).

What only a person can decide is kept in named tables below: which of the
stage's resources a boto3 action may touch (CLIENT_RESOURCES), and which
queue SES's notifications go to (SES_QUEUES). A new kind of call stops the
build with a message that says where to add it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from chalicelib.adapters.config import INBOUND_PREFIX  # reads no setting at import

PROJECT_DIR = Path(__file__).resolve().parents[1]
CONFIG_FILE = PROJECT_DIR / ".chalice" / "config.json"
BUILD_DIR = PROJECT_DIR / "build"
# chalice package fetches Lambda-platform wheels of requirements.txt. The Lambda
# python3.11 runtime has glibc 2.26, and the newest numpy and scipy publish only
# manylinux_2_28 wheels: these caps pick the newest releases that run there.
LAMBDA_CONSTRAINTS = PROJECT_DIR / "infra" / "lambda-constraints.txt"

UPLOADS_DAYS = 1  # an upload (chalicelib/adapters/uploads.py) is loaded in minutes; then it is only personal data
SES_QUEUES = {"inbound": "INBOUND_QUEUE", "mail_events": "MAIL_EVENTS_QUEUE"}  # app.py constants
JOB_WORKER = "JOB_WORKER"  # the app.py constant that names the job worker's function
ROUTE_ERRORS_METRIC = "RouteErrors"
ROUTE_ERROR_PATTERN = '"Caught exception for path"'  # what Chalice logs when a route raises
MAX_RECEIVES = 3  # deliveries of one message before SQS moves it to the dead-letter queue
DEAD_LETTER_SUFFIX = "-failed"
VISIBILITY_PER_TIMEOUT = 6  # AWS's advice for a queue that feeds a function: 6 x its timeout
KEEP_QUEUED = 4 * 24 * 3600  # a message waits 4 days in a queue whose consumer is paused (a restore)
KEEP_DEAD_LETTERS = 14 * 24 * 3600  # the most SQS keeps: two weeks to redrive
API_THROTTLING = {"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40}  # requests a second, per stage
MAX_METRICS_PER_ALARM = 10  # CloudWatch's limit on the metrics one metric-math alarm reads
TICK_HANDLER = "fire_due_timers"
HEARTBEAT_HOURS = 26  # the daily tick's heartbeat: a run missed by two hours raises the alarm
SES_BOUNCE_RATE = 0.02  # AWS reviews an account at 5% bounces
SES_COMPLAINT_RATE = 0.0005  # and at 0.1% complaints
RETAIN_EXCEPT_ON_CREATE = "RetainExceptOnCreate"  # kept on delete, unless the stack's creation rolls back
SUB = "Fn::Sub"


class BuildError(Exception):
    """The code asks for something this generator does not know how to grant or build."""


# The stage.

@dataclass(frozen=True)
class Stage:
    name: str
    app_name: str
    env: dict
    infra: dict
    config: dict  # the whole .chalice/config.json

    @property
    def prefix(self) -> str:
        return f"{self.app_name}-{self.name}"

    @property
    def table_prefix(self) -> str:
        return self.env["TABLE_PREFIX"]

    @property
    def sender_domain(self) -> str:
        return self.env["SENDER_ADDRESS"].rsplit("@", 1)[1].lower()

    @property
    def reply_domain(self) -> str:
        return self.env["REPLY_DOMAIN"].lower()

    @property
    def bucket_name(self) -> str:
        # Bucket names are global: the account and region make the configured name unique.
        return f"{self.env['INBOUND_BUCKET']}-${{AWS::AccountId}}-${{AWS::Region}}"

    @property
    def signing_key_parameter(self) -> str:
        return self.env["SIGNING_KEY_PARAMETER"]

    @property
    def configuration_set(self) -> str:
        return self.prefix

    @property
    def creates_rule_set(self) -> bool:
        return not self.infra.get("receipt_rule_set")

    @property
    def rule_set_name(self) -> str:
        return self.infra.get("receipt_rule_set") or f"{self.prefix}-inbound"

    @property
    def rule_name(self) -> str:
        return f"{self.prefix}-replies"

    def function_name(self, handler: str) -> str:
        return f"{self.prefix}-{handler}"  # as chalice package names a handler's function

    @property
    def alarm_email(self) -> str:
        return self.infra["alarm_email"]

    @property
    def api_stage(self) -> str:
        return self.chalice.get("api_gateway_stage", "api")

    @property
    def custom_domain(self) -> dict | None:
        return self.chalice.get("api_gateway_custom_domain")

    @property
    def endpoint_type(self) -> str:
        return self.chalice.get("api_gateway_endpoint_type", "EDGE")

    def timeout(self, handler: str) -> int:
        """The function's timeout in seconds, looked up as chalice package looks it up."""
        from chalice.config import Config

        return int(Config(chalice_stage=self.name, function_name=handler, config_from_disk=self.config,
                          default_params={"lambda_timeout": 60}).lambda_timeout)

    @property
    def chalice(self) -> dict:
        return self.config["stages"][self.name]


def load_config() -> dict:
    return json.loads(CONFIG_FILE.read_text())


def deployable_stages(config: dict | None = None) -> list[str]:
    """The stages with an "infra" block: those that deploy to AWS (not "local")."""
    config = config or load_config()
    return [name for name, stage in config["stages"].items() if "infra" in stage]


def load_stage(name: str, config: dict | None = None) -> Stage:
    config = config or load_config()
    if name not in config["stages"]:
        raise BuildError(f"no stage {name!r} in .chalice/config.json")
    stage = config["stages"][name]
    if "infra" not in stage:
        raise BuildError(f"stage {name!r} has no \"infra\" block in .chalice/config.json: it does not deploy to AWS")
    env = {**config.get("environment_variables", {}), **stage.get("environment_variables", {})}
    missing = [key for key in ("TABLE_PREFIX", "SENDER_ADDRESS", "REPLY_DOMAIN", "SIGNING_KEY_PARAMETER",
                               "INBOUND_BUCKET", "APP_STAGE") if not env.get(key)]
    if missing:
        raise BuildError(f"stage {name!r} lacks environment variables {missing}")
    alarm_email = str(stage["infra"].get("alarm_email") or "").strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", alarm_email):
        raise BuildError(f"stage {name!r} has no alarm address: set \"alarm_email\" in its \"infra\" block of "
                         f".chalice/config.json to the address of a person who reads it (docs/deploy.md, 11. Alarms). "
                         f"Without one, every alarm fires into nothing.")
    return Stage(name=name, app_name=config["app_name"], env=env, infra=stage["infra"], config=config)


def arn(service: str, resource: str, region: bool = True, account: bool = True) -> dict:
    return {SUB: "arn:${AWS::Partition}:%s:%s:%s:%s" % (
        service, "${AWS::Region}" if region else "", "${AWS::AccountId}" if account else "", resource)}


def cfn_name(name: str) -> str:
    from chalice.utils import to_cfn_resource_name

    return to_cfn_resource_name(name)


# DynamoDB, from the models.

def table_logical_id(model) -> str:
    return f"{model.__name__}Table"


def table_name(stage: Stage, model) -> str:
    """The model's table name under the stage's prefix (the code computes it from TABLE_PREFIX)."""
    current = os.environ.get("TABLE_PREFIX", "mentoring-dev-")
    name = model.Meta.table_name
    if not name.startswith(current):
        raise BuildError(f"{model.__name__}'s table {name!r} is not named with TABLE_PREFIX (config.table_name)")
    return stage.table_prefix + name[len(current):]


def _ttl_attribute(model) -> str | None:
    from pynamodb.attributes import TTLAttribute

    for name, attribute in model.get_attributes().items():
        if isinstance(attribute, TTLAttribute):
            return attribute.attr_name
    return None


def _key_schema(schema: list[dict]) -> list[dict]:
    # DynamoDB wants the HASH key first; PynamoDB's schema may list RANGE first.
    ordered = sorted(schema, key=lambda key: key["KeyType"] != "HASH")
    return [{"AttributeName": key["AttributeName"], "KeyType": key["KeyType"]} for key in ordered]


def _projection(projection: dict) -> dict:
    shaped = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        shaped["NonKeyAttributes"] = sorted(projection["NonKeyAttributes"])
    return shaped


def tables(stage: Stage, models) -> dict:
    protect = bool(stage.infra.get("deletion_protection", False))
    resources = {}
    for model in models:
        schema = model._get_schema()
        properties = {
            "TableName": table_name(stage, model),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
            "KeySchema": _key_schema(schema["key_schema"]),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},  # KMS, with the AWS managed key aws/dynamodb
            "DeletionProtectionEnabled": protect,
            "Tags": [{"Key": "app", "Value": stage.app_name}, {"Key": "stage", "Value": stage.name}],
        }
        for kind, key in (("global_secondary_indexes", "GlobalSecondaryIndexes"),
                          ("local_secondary_indexes", "LocalSecondaryIndexes")):
            if schema.get(kind):
                properties[key] = [{
                    "IndexName": index["index_name"],
                    "KeySchema": _key_schema(index["key_schema"]),
                    "Projection": _projection(index["projection"]),
                } for index in sorted(schema[kind], key=lambda i: i["index_name"])]
        ttl = _ttl_attribute(model)
        if ttl:
            properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
        resources[table_logical_id(model)] = {
            "Type": "AWS::DynamoDB::Table",
            # Data outlives the stack: deleting or replacing the stack never drops a table. A first
            # deploy that fails and rolls back takes its new, empty tables with it, so the retry
            # does not stop at "already exists".
            "DeletionPolicy": RETAIN_EXCEPT_ON_CREATE,
            "UpdateReplacePolicy": "Retain",
            "Properties": properties,
        }
    return resources


# Functions, from app.py's handlers.

@dataclass(frozen=True)
class Function:
    logical_id: str  # the AWS::Serverless::Function that chalice package generates
    handler: str  # the handler's name in app.py ("api_handler" for the REST API)
    function_name: str
    events: tuple = ()  # (kind, event key in the SAM function's Events, detail)

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_group_id(self) -> str:
        return f"{self.logical_id}LogGroup"


def functions(chalice_app, stage: Stage) -> list[Function]:
    """Every Lambda function chalice package makes for the app, named as it names them."""
    from chalice import app as chalice_module

    found = []
    if chalice_app.routes:
        found.append(Function("APIHandler", "api_handler", stage.prefix))
    for source in chalice_app.event_sources:
        if isinstance(source, chalice_module.ScheduledEventConfig):
            expression = source.schedule_expression
            expression = expression if isinstance(expression, str) else expression.to_string()
            event = ("schedule", cfn_name(f"{source.name}-event"), expression)
        elif isinstance(source, chalice_module.CloudWatchEventConfig):
            event = ("cloudwatch_event", cfn_name(f"{source.name}-event"), source.event_pattern)
        elif isinstance(source, chalice_module.SNSEventConfig):
            raise BuildError(f"handler {source.name}: SNS invokes it asynchronously, and a failed event is "
                             f"dropped after two retries. Read a queue instead (@app.on_sqs_message): the stack "
                             f"gives each queue a dead-letter queue, and can feed it from a topic")
        elif isinstance(source, chalice_module.SQSEventConfig):
            event = ("sqs", cfn_name(f"{source.name}-sqs-event-source"), source.queue or source.queue_arn)
        else:
            raise BuildError(f"handler {source.name}: chalice package cannot deploy a "
                             f"{type(source).__name__} (S3 events need `chalice deploy`); use SQS instead")
        found.append(Function(cfn_name(source.name), source.name, stage.function_name(source.name), (event,)))
    for pure in chalice_app.pure_lambda_functions:
        found.append(Function(cfn_name(pure.name), pure.name, stage.function_name(pure.name)))
    if chalice_app.websocket_handlers or chalice_app.builtin_auth_handlers:
        raise BuildError("websocket and built-in authorizer handlers are not covered by infra/build_template.py")
    return found


def staged_name(stage: Stage, name: str) -> str:
    """The app names its queues without a stage; each stage's stack gets its own."""
    if name.startswith(f"{stage.app_name}-"):
        return f"{stage.prefix}-{name[len(stage.app_name) + 1:]}"
    return f"{stage.prefix}-{name}"


def dead_letter_name(queue: str) -> str:
    return f"{queue}{DEAD_LETTER_SUFFIX}"


def _short(stage: Stage, name: str) -> str:
    return cfn_name(name[len(stage.app_name) + 1:] if name.startswith(f"{stage.app_name}-") else name)


@dataclass(frozen=True)
class Queue:
    """One @app.on_sqs_message queue of the stack, with its dead-letter queue, and the SNS
    topic that feeds it when SES writes to it."""

    name: str  # in app.py
    staged: str  # in the stack
    logical_id: str
    dead_letter_id: str
    topic_id: str
    handler: Function


def queues(stage: Stage, handlers: list[Function]) -> dict[str, Queue]:
    """Queue name in app.py -> the stack's queue, for every queue a handler reads."""
    found = {}
    for function in handlers:
        for kind, _key, queue in function.events:
            if kind == "sqs":
                if queue.startswith("arn:"):
                    raise BuildError(f"{function.handler} reads a queue by ARN: give app.py a queue name, so the "
                                     f"stack creates it with its dead-letter queue")
                short = _short(stage, queue)
                found[queue] = Queue(queue, staged_name(stage, queue), f"{short}Queue", f"{short}DeadLetterQueue",
                                     f"{short}Topic", function)
    return found


def function_overrides(stage: Stage, handlers: list[Function], stack_queues: dict[str, Queue], job_worker: str) -> dict:
    resources = {}
    for function in handlers:
        override = {
            "Properties": {
                "FunctionName": function.function_name,
                "Environment": {"Variables": {
                    # The placeholders in .chalice/config.json, replaced by the stack's own resources.
                    "INBOUND_BUCKET": {"Ref": "InboundMailBucket"},
                    "SES_CONFIGURATION_SET": {"Ref": "MailConfigurationSet"},
                    # A name, not a Ref: the worker starts itself again, and may not refer to itself.
                    "JOB_WORKER_FUNCTION": stage.function_name(job_worker),
                }},
            },
            # The log group exists before the function can write: the role may not create one.
            "DependsOn": [function.log_group_id],
        }
        events = {}
        for kind, key, detail in function.events:
            if kind == "sqs":
                # Chalice names the queue with an Fn::Sub of its app-wide name; the merge replaces that
                # string (a Ref would be merged into the same dict) with the stack's own queue.
                events[key] = {"Properties": {"Queue": {SUB: "${%s.Arn}" % stack_queues[detail].logical_id}}}
            elif kind == "schedule":
                # A known rule name, so the restore (infra/restore.py) can pause the schedules.
                events[key] = {"Properties": {"Name": function.function_name}}
        if events:
            override["Properties"]["Events"] = events
        resources[function.logical_id] = override
        resources[function.log_group_id] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": function.log_group,
                           "RetentionInDays": int(stage.infra.get("log_retention_days", 30))},
        }
    if any(function.logical_id == "APIHandler" for function in handlers):
        resources["RestAPI"] = {"Properties": {
            # A name of the stage's own, so its metrics (ApiName) are not dev's and prod's together.
            "Name": stage.prefix,
            "DefinitionBody": {"info": {"title": stage.prefix}},
            "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", **API_THROTTLING}],
        }}
    return resources


# The failure path of every queue: SQS keeps what failed MAX_RECEIVES times in its dead-letter queue.

def queue_resources(stage: Stage, queue: Queue, ses_writes: bool) -> dict:
    encrypted = {"SqsManagedSseEnabled": True}  # SQS's own key: free, and SNS may write to it
    resources = {
        queue.dead_letter_id: {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": dead_letter_name(queue.staged), "MessageRetentionPeriod": KEEP_DEAD_LETTERS, **encrypted}},
        queue.logical_id: {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": queue.staged,
            "VisibilityTimeout": VISIBILITY_PER_TIMEOUT * stage.timeout(queue.handler.handler),
            "MessageRetentionPeriod": KEEP_QUEUED,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [queue.dead_letter_id, "Arn"]},
                              "maxReceiveCount": MAX_RECEIVES},
            **encrypted,
        }},
    }
    if ses_writes:
        resources[queue.topic_id] = _topic(queue.staged)
        resources[f"{queue.topic_id}Subscription"] = {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": queue.topic_id}, "Protocol": "sqs",
            "Endpoint": {"Fn::GetAtt": [queue.logical_id, "Arn"]},
            "RawMessageDelivery": True,  # the queue's message is SES's notification itself
        }}
        resources[f"{queue.logical_id}Policy"] = {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "Queues": [{"Ref": queue.logical_id}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "OnlyItsTopicWrites", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": [queue.logical_id, "Arn"]},
                "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": queue.topic_id}}},
            }]},
        }}
    return resources


# Mail in: SES receipt rule -> S3, and its notification -> SNS -> SQS -> handler.

def _ses_source(stage: Stage, resource: str) -> dict:
    return {"StringEquals": {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {"AWS:SourceArn": arn("ses", resource)}}


def _topic(name: str) -> dict:
    return {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name}}


def _ses_topic_policy(logical_id: str, source: dict) -> dict:
    return {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "Topics": [{"Ref": logical_id}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "OnlySesOfThisAccountPublishes",
                "Effect": "Allow",
                "Principal": {"Service": "ses.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": {"Ref": logical_id},
                "Condition": source,
            }]},
        },
    }


def inbound_mail(stage: Stage, topic_id: str) -> dict:
    rule_source = _ses_source(stage, f"receipt-rule-set/{stage.rule_set_name}:receipt-rule/{stage.rule_name}")
    objects = {SUB: "${InboundMailBucket.Arn}/*"}
    resources = {
        "InboundMailBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": RETAIN_EXCEPT_ON_CREATE,
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": {SUB: stage.bucket_name},
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {"Rules": [{
                    "Id": "ExpireRawMail",
                    "Status": "Enabled",
                    "ExpirationInDays": int(stage.infra.get("inbound_mail_days", 30)),
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }, {
                    "Id": "ExpireUploads",
                    "Status": "Enabled",
                    "Prefix": uploads_prefix(),
                    "ExpirationInDays": UPLOADS_DAYS,
                }]},
                "Tags": [{"Key": "app", "Value": stage.app_name}, {"Key": "stage", "Value": stage.name}],
            },
        },
        "InboundMailBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "InboundMailBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {
                        "Sid": "OnlySesOfThisAccountWritesMail",
                        "Effect": "Allow",
                        "Principal": {"Service": "ses.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": {SUB: "${InboundMailBucket.Arn}/" + INBOUND_PREFIX + "*"},
                        "Condition": rule_source,
                    },
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [{"Fn::GetAtt": ["InboundMailBucket", "Arn"]}, objects],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ]},
            },
        },
        f"{topic_id}Policy": _ses_topic_policy(topic_id, rule_source),
        "InboundMailRule": {
            "Type": "AWS::SES::ReceiptRule",
            # SES checks at creation that it may write to the bucket and publish to the topic.
            "DependsOn": ["InboundMailBucketPolicy", f"{topic_id}Policy"],
            "Properties": {
                "RuleSetName": {"Ref": "InboundMailRuleSet"} if stage.creates_rule_set else stage.rule_set_name,
                "Rule": {
                    "Name": stage.rule_name,
                    "Enabled": True,
                    "ScanEnabled": True,
                    "TlsPolicy": "Optional",
                    "Recipients": [stage.reply_domain],
                    "Actions": [{"S3Action": {
                        "BucketName": {"Ref": "InboundMailBucket"},
                        "ObjectKeyPrefix": INBOUND_PREFIX,
                        "TopicArn": {"Ref": topic_id},
                    }}],
                },
            },
        },
    }
    if stage.creates_rule_set:
        # CloudFormation creates the rule set but cannot make it the active one: docs/deploy.md.
        resources["InboundMailRuleSet"] = {"Type": "AWS::SES::ReceiptRuleSet",
                                           "Properties": {"RuleSetName": stage.rule_set_name}}
    return resources


# Mail out: a configuration set whose bounces and complaints reach a handler (SNS -> SQS).

def mail_events(stage: Stage, topic_id: str) -> dict:
    source = _ses_source(stage, f"configuration-set/{stage.configuration_set}")
    return {
        "MailConfigurationSet": {
            "Type": "AWS::SES::ConfigurationSet",
            "Properties": {
                "Name": stage.configuration_set,
                "ReputationOptions": {"ReputationMetricsEnabled": True},
                "SendingOptions": {"SendingEnabled": True},
                "SuppressionOptions": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
            },
        },
        f"{topic_id}Policy": _ses_topic_policy(topic_id, source),
        "MailEventsDestination": {
            "Type": "AWS::SES::ConfigurationSetEventDestination",
            "DependsOn": [f"{topic_id}Policy"],
            "Properties": {
                "ConfigurationSetName": {"Ref": "MailConfigurationSet"},
                "EventDestination": {
                    "Name": "bounces-and-complaints",
                    "Enabled": True,
                    "MatchingEventTypes": ["bounce", "complaint"],
                    "SnsDestination": {"TopicARN": {"Ref": topic_id}},
                },
            },
        },
    }


# Alarms: about ten per stage (docs/deploy.md counts them), each reaching a person by mail.

def alarms(stage: Stage, handlers: list[Function], stack_queues: dict[str, Queue], namespace: str) -> dict:
    """The stage's alarms, named by their logical ids (ALARMS lists them with what each means)."""
    from chalicelib.services import mail, workflow

    actions = [{"Ref": "AlarmTopic"}]
    resources = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{stage.prefix}-alarms"}},
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": stage.alarm_email}},
    }

    def alarm(name: str, description: str, metric: dict, *, period: int = 300, periods: int = 1,
              threshold: float = 1, comparison: str = "GreaterThanOrEqualToThreshold",
              missing: str = "notBreaching") -> dict:
        shaped = {"Namespace": metric["namespace"], "MetricName": metric["name"], "Statistic": metric["statistic"],
                  "Period": period, **({"Dimensions": metric["dimensions"]} if metric.get("dimensions") else {})
                  } if "name" in metric else {"Metrics": metric["metrics"]}
        return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": f"{stage.prefix}-{name}", "AlarmDescription": description, **shaped,
            "EvaluationPeriods": periods, "DatapointsToAlarm": periods, "Threshold": threshold,
            "ComparisonOperator": comparison, "TreatMissingData": missing,
            "AlarmActions": actions, "OKActions": actions,
        }}

    def summed(label: str, series: list[dict], statistic: str, period: int = 300) -> dict:
        """One metric-math series: the sum of the given ones, a missing point counting as 0."""
        if len(series) > MAX_METRICS_PER_ALARM:
            raise BuildError(f"{label} would read {len(series)} metrics; one alarm reads at most "
                             f"{MAX_METRICS_PER_ALARM}: split it in infra/build_template.py")
        ids = [f"m{index}" for index in range(len(series))]
        return {"metrics": [
            {"Id": "total", "Label": label, "Expression": f"SUM(FILL([{', '.join(ids)}], 0))", "ReturnData": True},
            *({"Id": metric_id, "ReturnData": False, "MetricStat": {
                "Metric": one, "Period": period, "Stat": statistic}} for metric_id, one in zip(ids, series)),
        ]}

    resources["FunctionErrorsAlarm"] = alarm(
        "function-errors", "A function failed: an exception, a timeout or running out of memory. Its log says which "
        "(docs/deploy.md, 11. Alarms).",
        summed("errors", [{"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": [
            {"Name": "FunctionName", "Value": {"Ref": function.logical_id}}]} for function in handlers], "Sum"))
    resources["FunctionThrottlesAlarm"] = alarm(
        "function-throttles", "Lambda refused to run a function: the account's concurrency is used up. Throttles "
        "are counted for the whole account and region, as the concurrency is shared.",
        {"namespace": "AWS/Lambda", "name": "Throttles", "statistic": "Sum"})
    if any(function.logical_id == "APIHandler" for function in handlers):
        # A route that raises is answered with a kind 503 page: API Gateway counts it as a 5XX too.
        resources["RouteErrorsMetricFilter"] = {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": "APIHandlerLogGroup"},
                "FilterPattern": ROUTE_ERROR_PATTERN,
                "MetricTransformations": [{"MetricNamespace": namespace, "MetricName": ROUTE_ERRORS_METRIC,
                                           "MetricValue": "1", "DefaultValue": 0, "Unit": "Count"}],
            },
        }
        resources["Api5xxAlarm"] = alarm(
            "api-5xx", "A web or API request was answered with a server error (an exception, a timeout after 29 "
            "seconds, or the function failing).",
            {"namespace": "AWS/ApiGateway", "name": "5XXError", "statistic": "Sum", "dimensions": [
                {"Name": "ApiName", "Value": stage.prefix}, {"Name": "Stage", "Value": stage.api_stage}]})
    resources["OutboxBacklogAlarm"] = alarm(
        "outbox-backlog",
        "For 15 minutes the outbox sweeper has found mail it could not send (SES refusing, throttling or down).",
        {"namespace": namespace, "name": mail.BACKLOG_METRIC, "statistic": "Minimum"}, periods=3)
    resources["SesBounceRateAlarm"] = alarm(
        "ses-bounce-rate", f"Over {SES_BOUNCE_RATE:.0%} of the account's mail bounces; AWS reviews an account at 5%.",
        {"namespace": "AWS/SES", "name": "Reputation.BounceRate", "statistic": "Maximum"},
        period=3600, threshold=SES_BOUNCE_RATE, comparison="GreaterThanThreshold")
    resources["SesComplaintRateAlarm"] = alarm(
        "ses-complaint-rate", f"Over {SES_COMPLAINT_RATE:.2%} of the account's mail is marked as spam; AWS reviews "
        "an account at 0.1%.",
        {"namespace": "AWS/SES", "name": "Reputation.ComplaintRate", "statistic": "Maximum"},
        period=3600, threshold=SES_COMPLAINT_RATE, comparison="GreaterThanThreshold")
    resources["DeadLettersAlarm"] = alarm(
        "dead-letters", f"A message failed {MAX_RECEIVES} times and waits in a dead-letter queue: run "
        f"`make redrive STAGE={stage.name}` once the cause is fixed (docs/deploy.md).",
        summed("dead letters", [{"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
                                 "Dimensions": [{"Name": "QueueName", "Value": dead_letter_name(queue.staged)}]}
                                for queue in stack_queues.values()], "Maximum"))
    if any(function.handler == TICK_HANDLER for function in handlers):
        resources["TickHeartbeatAlarm"] = alarm(
            "tick-heartbeat", f"The daily tick has not run to its end for {HEARTBEAT_HOURS} hours: no check-in or "
            "reminder goes out. Read the fire_due_timers log.",
            {"namespace": namespace, "name": workflow.TICK_RUNS_METRIC, "statistic": "Sum"},
            period=3600, periods=HEARTBEAT_HOURS, comparison="LessThanThreshold", missing="breaching")
        resources["TickFailuresAlarm"] = alarm(
            "tick-pairing-failures", "The daily tick failed on some pairings and went on with the others. The "
            "fire_due_timers log names them; after three days the committee is told too.",
            {"namespace": namespace, "name": workflow.TICK_FAILURES_METRIC, "statistic": "Sum"})
    return resources


# A gateway response's static header value is written between single quotes and cannot hold
# one, which CSP's keywords need: its own answers (a short JSON message) are sandboxed instead.
GATEWAY_CSP = "sandbox"


def gateway_responses(security_headers: dict[str, str]) -> dict:
    """API Gateway's own answers (its 403 for a path no route has, a throttled 429, its 5xx when
    the function fails) carry the security headers the app's answers carry."""
    headers = {**security_headers, "Content-Security-Policy": GATEWAY_CSP}
    parameters = {f"gatewayresponse.header.{name}": f"'{value}'" for name, value in headers.items()}
    return {f"GatewayResponse{kind.title().replace('_', '')}": {
        "Type": "AWS::ApiGateway::GatewayResponse",
        "Properties": {"RestApiId": {"Ref": "RestAPI"}, "ResponseType": kind, "ResponseParameters": parameters},
    } for kind in ("DEFAULT_4XX", "DEFAULT_5XX")}


# The IAM policy, from the code's calls.

def dynamodb_arn(stage: Stage, models_by_name: dict, resource: tuple) -> dict:
    model = models_by_name[resource[1]]
    path = f"table/{table_name(stage, model)}"
    if resource[0] == "index":
        path += f"/index/{resource[2]}"
    return arn("dynamodb", path)


def ses_identity(stage: Stage, identity: str) -> dict:
    return arn("ses", f"identity/{identity}")


# Which of the stage's resources each boto3 action may touch. An action the code
# starts using that is not here stops the build: decide its scope and add it.
CLIENT_RESOURCES = {
    "ses:SendEmail": lambda stage: [
        ses_identity(stage, stage.sender_domain),
        arn("ses", f"configuration-set/{stage.configuration_set}"),
        # In the SES sandbox, SES also checks the role against each verified recipient.
        *[ses_identity(stage, address) for address in stage.infra.get("sandbox_recipients", [])],
    ],
    "s3:GetObject": lambda stage: [
        {SUB: f"arn:${{AWS::Partition}}:s3:::{stage.bucket_name}/{INBOUND_PREFIX}*"}, _uploads(stage)],
    "s3:PutObject": lambda stage: [_uploads(stage)],
    "s3:DeleteObject": lambda stage: [_uploads(stage)],
    # The worker's function, started by the API's and by itself.
    "lambda:InvokeFunction": lambda stage: [arn("lambda", f"function:{stage.function_name(job_worker())}")],
    "s3:ListBucket": lambda stage: [{SUB: f"arn:${{AWS::Partition}}:s3:::{stage.bucket_name}"}],  # reconciliation
    "ssm:GetParameter": lambda stage: [arn("ssm", "parameter/" + stage.signing_key_parameter.lstrip("/"))],
}


def job_worker() -> str:
    """The handler in app.py that runs background jobs (a @app.lambda_function)."""
    import app as application

    handler = getattr(application, JOB_WORKER, None)
    if handler not in {function.name for function in application.app.pure_lambda_functions}:
        raise BuildError(f"app.py's {JOB_WORKER} must name the @app.lambda_function that runs background jobs")
    return handler


def uploads_prefix() -> str:
    from chalicelib.adapters.uploads import PREFIX

    return PREFIX


def _uploads(stage: Stage) -> dict:
    return {SUB: f"arn:${{AWS::Partition}}:s3:::{stage.bucket_name}/{uploads_prefix()}*"}


def _sid(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace(":", " ").replace("-", " ").split())


def policy(stage: Stage, findings, handlers: list[Function], stack_queues: dict[str, Queue] | None = None) -> dict:
    """The policy every function's role gets: exactly the actions the code calls, on the stage's resources."""
    if findings.unresolved:
        listed = "\n".join(f"  {item.where}: {item.call} ({item.why})" for item in findings.unresolved)
        raise BuildError(f"AWS calls whose table or service could not be told from the code:\n{listed}")
    from chalicelib.adapters.models import ALL_MODELS

    models_by_name = {model.__name__: model for model in ALL_MODELS}
    per_table: dict[str, set] = {}
    per_index_table: dict[str, set] = {}
    index_resources: dict[str, dict] = {}
    client_actions: set[str] = set()
    for use in findings.uses:
        if not use.resource:
            client_actions.add(use.action)
        elif use.resource[0] == "table":
            per_table.setdefault(use.resource[1], set()).add(use.action)
        else:
            per_index_table.setdefault(use.resource[1], set()).add(use.action)
            index_resources[json.dumps(use.resource)] = use.resource
    statements = []
    for model in sorted(per_table):
        statements.append({"Sid": f"{model}Table", "Effect": "Allow", "Action": sorted(per_table[model]),
                           "Resource": dynamodb_arn(stage, models_by_name, ("table", model))})
    for model in sorted(per_index_table):
        indexes = sorted(resource for resource in index_resources.values() if resource[1] == model)
        statements.append({"Sid": f"{model}Indexes", "Effect": "Allow", "Action": sorted(per_index_table[model]),
                           "Resource": [dynamodb_arn(stage, models_by_name, index) for index in indexes]})
    for action in sorted(client_actions):
        if action not in CLIENT_RESOURCES:
            where = sorted(use.where for use in findings.uses if use.action == action)
            raise BuildError(f"the code calls {action} ({', '.join(where)}); say which resources it may touch "
                             f"in CLIENT_RESOURCES in infra/build_template.py")
        statements.append({"Sid": _sid(action), "Effect": "Allow", "Action": [action],
                           "Resource": CLIENT_RESOURCES[action](stage)})
    if stack_queues:  # Lambda polls each queue with the role of the function it feeds
        statements.append({
            "Sid": "PollOwnQueues", "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            "Resource": [arn("sqs", queue.staged) for queue in stack_queues.values()],
        })
    # Lambda writes each function's logs with the role; the stack creates the groups.
    statements.append({
        "Sid": "OwnLogStreams", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [arn("logs", f"log-group:{function.log_group}:*") for function in handlers],
    })
    return {"Version": "2012-10-17", "Statement": statements}


# Putting it together.

def merge_template(stage: Stage) -> tuple[dict, dict]:
    """The template merged into Chalice's, and the stage's IAM policy (the process env must be the stage's)."""
    import app as application
    from chalicelib.adapters import metrics
    from chalicelib.adapters.models import ALL_MODELS
    from chalicelib.pages import web
    from infra.permissions import analyse

    handlers = functions(application.app, stage)
    stack_queues = queues(stage, handlers)
    ses_queues = {}
    for role, constant in SES_QUEUES.items():
        queue = getattr(application, constant, None)
        if queue not in stack_queues:
            raise BuildError(f"app.py must read {constant} with an @app.on_sqs_message handler "
                             f"(the {role} queue SES's notifications go to)")
        ses_queues[role] = stack_queues[queue]
    resources = {}
    resources.update(tables(stage, ALL_MODELS))
    for queue in stack_queues.values():
        resources.update(queue_resources(stage, queue, ses_writes=queue in ses_queues.values()))
    resources.update(inbound_mail(stage, ses_queues["inbound"].topic_id))
    resources.update(mail_events(stage, ses_queues["mail_events"].topic_id))
    resources.update(function_overrides(stage, handlers, stack_queues, job_worker()))
    resources.update(alarms(stage, handlers, stack_queues, metrics.namespace(stage.name)))
    resources.update(gateway_responses(web.SECURITY_HEADERS))
    outputs = {
        "InboundMailBucketName": {"Value": {"Ref": "InboundMailBucket"}},
        "ReceiptRuleSetName": {"Value": stage.rule_set_name},
        "ConfigurationSetName": {"Value": {"Ref": "MailConfigurationSet"}},
        "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
        "SigningKeyParameterName": {"Value": stage.signing_key_parameter},
    }
    if stage.custom_domain:
        # Where the custom domain's DNS record points: a CNAME, or a Route 53 alias with the zone id.
        regional = stage.endpoint_type == "REGIONAL"
        outputs["CustomDomainTarget"] = {
            "Description": f"Point a CNAME for {stage.custom_domain['domain_name']} at this name",
            "Value": {"Fn::GetAtt": ["ApiGatewayCustomDomain",
                                     "RegionalDomainName" if regional else "DistributionDomainName"]}}
        outputs["CustomDomainHostedZoneId"] = {
            "Description": "The hosted zone of that name, for a Route 53 alias record instead of a CNAME",
            "Value": {"Fn::GetAtt": ["ApiGatewayCustomDomain",
                                     "RegionalHostedZoneId" if regional else "DistributionHostedZoneId"]}}
    template = {
        "Description": f"The {stage.app_name} program's {stage.name} stage: functions, tables, mail in and out, "
                       f"alarms. Generated by infra/build_template.py from the code; do not edit.",
        "Resources": resources,
        "Outputs": outputs,
    }
    return template, policy(stage, analyse(PROJECT_DIR), handlers, stack_queues)


def policy_file(stage_name: str) -> Path:
    return PROJECT_DIR / ".chalice" / f"policy-{stage_name}.json"


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def compile_bytecode() -> None:
    """Ship chalicelib's bytecode in the package (chalice zips chalicelib/ whole), so a
    cold start does not compile our modules: Lambda cannot write a bytecode cache.
    Checked-hash bytecode is used only while it matches the source, so it never goes stale."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash",
                    str(PROJECT_DIR / "chalicelib")], check=True)


def chalice_package(stage: Stage, merge_template_path: Path, out_dir: Path) -> str:
    """Run `chalice package --merge-template`; returns its output. Fails if a dependency is missing."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    env = {key: value for key, value in os.environ.items() if key not in stage.env}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # chalice wants one; the template uses ${AWS::Region}
    env["PIP_CONSTRAINT"] = str(LAMBDA_CONSTRAINTS)
    compile_bytecode()
    command = [sys.executable, "-c", "from chalice.cli import main; main()", "--project-dir", str(PROJECT_DIR),
               "package", "--stage", stage.name, "--merge-template", str(merge_template_path), str(out_dir)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise BuildError(f"chalice package failed:\n{output}")
    if "Could not install dependencies" in output:
        raise BuildError(f"chalice package could not get Lambda builds of some requirements:\n{output}")
    return output


def check_merge(template: dict, merged: dict) -> None:
    """Every resource the merge template only overrides must be one Chalice made, and
    every resource an output names must be in the stack."""
    for name, output in template["Outputs"].items():
        value = output["Value"]
        named = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0] if isinstance(value, dict) else None
        if named and named not in merged["Resources"]:
            raise BuildError(f"output {name} names {named}, which the stack does not have")
    for logical_id, resource in template["Resources"].items():
        if "Type" not in resource and "Type" not in merged["Resources"].get(logical_id, {}):
            raise BuildError(f"{logical_id} overrides a resource chalice package did not generate")
        for key, event in merged["Resources"][logical_id].get("Properties", {}).get("Events", {}).items():
            if "Type" not in event:
                raise BuildError(f"{logical_id}'s event {key} overrides an event chalice package did not generate")


def _prune_chalice_cache(keep: int = 2) -> None:
    """Chalice caches one ~70 MB zip per version of the code; keep only the latest few."""
    cached = sorted((PROJECT_DIR / ".chalice" / "deployments").glob("*.zip"), key=lambda path: path.stat().st_mtime)
    for path in cached[:-keep]:
        path.unlink(missing_ok=True)


def package(stage: Stage, out_dir: Path, write_policy: bool = True) -> dict:
    template, stage_policy = merge_template(stage)
    if write_policy:
        write_json(policy_file(stage.name), stage_policy)
    write_json(out_dir / "infra.json", template)
    output = chalice_package(stage, out_dir / "infra.json", out_dir / "package")
    merged = json.loads((out_dir / "package" / "sam.json").read_text())
    check_merge(template, merged)
    _prune_chalice_cache()
    return {"infra": out_dir / "infra.json", "sam": out_dir / "package" / "sam.json",
            "zip": out_dir / "package" / "deployment.zip", "output": output}


NAMES = {
    "stack": lambda stage: stage.prefix,
    "rule-set": lambda stage: stage.rule_set_name,
    "signing-key-parameter": lambda stage: stage.signing_key_parameter,
    "sender-domain": lambda stage: stage.sender_domain,
    "reply-domain": lambda stage: stage.reply_domain,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["package", "policy", "template", "name"])
    parser.add_argument("name", nargs="?", choices=sorted(NAMES), help="name: which of the stage's names to print")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--out", type=Path, help="default: build/<stage>")
    parser.add_argument("--keep-policy", action="store_true",
                        help="package with .chalice/policy-<stage>.json as it is, without rewriting it")
    parser.add_argument("--check", action="store_true",
                        help="policy: do not write; fail if .chalice/policy-<stage>.json is not what the code needs")
    arguments = parser.parse_intermixed_args(argv)
    if (arguments.what == "name") != (arguments.name is not None):
        parser.error("name takes one of: " + ", ".join(sorted(NAMES)) + "; other commands take none")
    try:
        stage = load_stage(arguments.stage)
        # The code names its tables from the environment at import: give it the stage's.
        os.environ.update(stage.env)
        sys.path.insert(0, str(PROJECT_DIR))
        out_dir = arguments.out or BUILD_DIR / stage.name
        if arguments.what == "name":  # for the Makefile's AWS CLI steps
            print(NAMES[arguments.name](stage))
        elif arguments.what == "package":
            built = package(stage, out_dir, write_policy=not arguments.keep_policy)
            print(f"{built['sam']}: the {stage.name} stack (with {built['zip'].name} beside it)")
        else:
            template, stage_policy = merge_template(stage)
            if arguments.what == "policy" and arguments.check:
                path = policy_file(stage.name)
                if not path.exists() or json.loads(path.read_text()) != stage_policy:
                    raise BuildError(f"{path.relative_to(PROJECT_DIR)} is not the policy the code needs now: "
                                     f"run `make package STAGE={stage.name}` and commit it")
                print(f"{path.relative_to(PROJECT_DIR)} is current")
            elif arguments.what == "policy":
                write_json(policy_file(stage.name), stage_policy)
                print(policy_file(stage.name))
            else:
                write_json(out_dir / "infra.json", template)
                print(out_dir / "infra.json")
    except BuildError as error:
        print(f"infra/build_template.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
