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
- functions, schedules and SNS subscriptions from app.py's handlers;
- the IAM policy from the AWS calls the code makes (infra/permissions.py).
Stage settings come from .chalice/config.json: its environment variables,
and the stage's "infra" block (retention days, alarm email, receipt rule set).

What only a person can decide is kept in named tables below: which of the
stage's resources a boto3 action may touch (CLIENT_RESOURCES), and which SNS
topic SES writes to (SES_TOPICS). A new kind of call stops the build with a
message that says where to add it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
CONFIG_FILE = PROJECT_DIR / ".chalice" / "config.json"
BUILD_DIR = PROJECT_DIR / "build"
# chalice package fetches Lambda-platform wheels of requirements.txt. The Lambda
# python3.11 runtime has glibc 2.26, and the newest numpy and scipy publish only
# manylinux_2_28 wheels: these caps pick the newest releases that run there.
LAMBDA_CONSTRAINTS = PROJECT_DIR / "infra" / "lambda-constraints.txt"

INBOUND_PREFIX = "inbound/"  # where the receipt rule stores raw mail; the functions read only there
SES_TOPICS = {"inbound": "INBOUND_TOPIC", "mail_events": "MAIL_EVENTS_TOPIC"}  # app.py constants
ROUTE_ERRORS_METRIC = "RouteErrors"
ROUTE_ERROR_PATTERN = '"Caught exception for path"'  # what Chalice logs when a route raises
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
    return Stage(name=name, app_name=config["app_name"], env=env, infra=stage["infra"])


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
            # Data outlives the stack: deleting or replacing the stack never drops a table.
            "DeletionPolicy": "Retain",
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
            event = ("sns", cfn_name(f"{source.name}-sns-subscription"), source.topic)
        elif isinstance(source, chalice_module.SQSEventConfig):
            event = ("sqs", cfn_name(f"{source.name}-sqs-event-source"), source.queue or source.queue_arn)
        else:
            raise BuildError(f"handler {source.name}: chalice package cannot deploy a "
                             f"{type(source).__name__} (S3 events need `chalice deploy`); use SNS instead")
        found.append(Function(cfn_name(source.name), source.name, f"{stage.prefix}-{source.name}", (event,)))
    for pure in chalice_app.pure_lambda_functions:
        found.append(Function(cfn_name(pure.name), pure.name, f"{stage.prefix}-{pure.name}"))
    if chalice_app.websocket_handlers or chalice_app.builtin_auth_handlers:
        raise BuildError("websocket and built-in authorizer handlers are not covered by infra/build_template.py")
    return found


def topic_name(stage: Stage, topic: str) -> str:
    """The app names topics without a stage; each stage's stack gets its own."""
    if topic.startswith(f"{stage.app_name}-"):
        return f"{stage.prefix}-{topic[len(stage.app_name) + 1:]}"
    return f"{stage.prefix}-{topic}"


def topic_logical_id(stage: Stage, topic: str) -> str:
    short = topic[len(stage.app_name) + 1:] if topic.startswith(f"{stage.app_name}-") else topic
    return cfn_name(short) + "Topic"


def sns_topics(stage: Stage, handlers: list[Function]) -> dict[str, str]:
    """Topic name in app.py -> the stack's topic resource, for every topic the handlers subscribe to."""
    topics = {}
    for function in handlers:
        for kind, _key, topic in function.events:
            if kind == "sns" and not topic.startswith("arn:"):
                topics[topic] = topic_logical_id(stage, topic)
    return topics


def function_overrides(stage: Stage, handlers: list[Function], topics: dict[str, str]) -> dict:
    resources = {}
    for function in handlers:
        override = {
            "Properties": {
                "FunctionName": function.function_name,
                "Environment": {"Variables": {
                    # The placeholders in .chalice/config.json, replaced by the stack's own resources.
                    "INBOUND_BUCKET": {"Ref": "InboundMailBucket"},
                    "SES_CONFIGURATION_SET": {"Ref": "MailConfigurationSet"},
                }},
            },
            # The log group exists before the function can write: the role may not create one.
            "DependsOn": [function.log_group_id],
        }
        events = {}
        for kind, key, topic in function.events:
            if kind == "sns" and topic in topics:
                # Chalice names the topic with an Fn::Sub; the merge replaces that string (a Ref
                # would be merged into the same dict), and ${Topic} makes CloudFormation create the
                # stack's topic before the subscription.
                events[key] = {"Properties": {"Topic": {SUB: "${%s}" % topics[topic]}}}
        if events:
            override["Properties"]["Events"] = events
        resources[function.logical_id] = override
        resources[function.log_group_id] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": function.log_group,
                           "RetentionInDays": int(stage.infra.get("log_retention_days", 30))},
        }
    return resources


# Mail in: SES receipt rule -> S3 -> SNS -> handler.

def _ses_source(stage: Stage, resource: str) -> dict:
    return {"StringEquals": {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {"AWS:SourceArn": arn("ses", resource)}}


def _topic(stage: Stage, topic: str) -> dict:
    return {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": topic_name(stage, topic)}}


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


def inbound_mail(stage: Stage, topics: dict[str, str], inbound_topic: str) -> dict:
    rule_source = _ses_source(stage, f"receipt-rule-set/{stage.rule_set_name}:receipt-rule/{stage.rule_name}")
    topic_id = topics[inbound_topic]
    objects = {SUB: "${InboundMailBucket.Arn}/*"}
    resources = {
        "InboundMailBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
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
        topic_id: _topic(stage, inbound_topic),
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


# Mail out: a configuration set whose bounces and complaints reach a handler.

def mail_events(stage: Stage, topics: dict[str, str], events_topic: str) -> dict:
    topic_id = topics[events_topic]
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
        topic_id: _topic(stage, events_topic),
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


# Alarms.

def alarms(stage: Stage, handlers: list[Function], backlog_metric: str, namespace: str) -> dict:
    actions = [{"Ref": "AlarmTopic"}]
    resources = {"AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{stage.prefix}-alarms"}}}
    if stage.infra.get("alarm_email"):
        resources["AlarmEmailSubscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                           "Endpoint": stage.infra["alarm_email"]},
        }

    def alarm(name: str, description: str, metric: dict, evaluation_periods: int = 1) -> dict:
        return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": f"{stage.prefix}-{name}",
            "AlarmDescription": description,
            **metric,
            "Period": 300,
            "EvaluationPeriods": evaluation_periods,
            "DatapointsToAlarm": evaluation_periods,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": actions,
            "OKActions": actions,
        }}

    for function in handlers:
        resources[f"{function.logical_id}ErrorsAlarm"] = alarm(
            f"{function.handler}-errors",
            f"The {function.handler} function failed (an exception, a timeout or running out of memory).",
            {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
             "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}]},
        )
    api = next((function for function in handlers if function.logical_id == "APIHandler"), None)
    if api is not None:
        # A route that raises is answered (500, or a kind 503 page) and is no Lambda error; Chalice logs it.
        resources["RouteErrorsMetricFilter"] = {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": api.log_group_id},
                "FilterPattern": ROUTE_ERROR_PATTERN,
                "MetricTransformations": [{"MetricNamespace": namespace, "MetricName": ROUTE_ERRORS_METRIC,
                                           "MetricValue": "1", "DefaultValue": 0, "Unit": "Count"}],
            },
        }
        resources["RouteErrorsAlarm"] = alarm(
            "route-errors", "A web or API request failed with an unexpected error.",
            {"Namespace": namespace, "MetricName": ROUTE_ERRORS_METRIC, "Statistic": "Sum"},
        )
    resources["OutboxBacklogAlarm"] = alarm(
        "outbox-backlog",
        "For 15 minutes the outbox sweeper has found mail it could not send (SES refusing, throttling or down).",
        {"Namespace": namespace, "MetricName": backlog_metric, "Statistic": "Minimum"},
        evaluation_periods=3,
    )
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
        {SUB: f"arn:${{AWS::Partition}}:s3:::{stage.bucket_name}/{INBOUND_PREFIX}*"}],
    "ssm:GetParameter": lambda stage: [arn("ssm", "parameter/" + stage.signing_key_parameter.lstrip("/"))],
}


def _sid(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace(":", " ").replace("-", " ").split())


def policy(stage: Stage, findings, handlers: list[Function]) -> dict:
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
    from chalicelib.services import mail
    from chalicelib.adapters import metrics
    from chalicelib.adapters.models import ALL_MODELS
    from chalicelib.pages import web
    from infra.permissions import analyse

    handlers = functions(application.app, stage)
    topics = sns_topics(stage, handlers)
    ses_topics = {}
    for role, constant in SES_TOPICS.items():
        topic = getattr(application, constant, None)
        if topic not in topics:
            raise BuildError(f"app.py must subscribe a handler to {constant} (the {role} topic SES writes to)")
        ses_topics[role] = topic
    namespace = metrics.namespace(stage.name)
    resources = {}
    resources.update(tables(stage, ALL_MODELS))
    resources.update(inbound_mail(stage, topics, ses_topics["inbound"]))
    resources.update(mail_events(stage, topics, ses_topics["mail_events"]))
    for topic, logical_id in topics.items():  # topics the app adds later get a plain stage topic
        resources.setdefault(logical_id, _topic(stage, topic))
    resources.update(function_overrides(stage, handlers, topics))
    resources.update(alarms(stage, handlers, mail.BACKLOG_METRIC, namespace))
    resources.update(gateway_responses(web.SECURITY_HEADERS))
    template = {
        "Description": f"The {stage.app_name} program's {stage.name} stage: functions, tables, mail in and out, "
                       f"alarms. Generated by infra/build_template.py from the code; do not edit.",
        "Resources": resources,
        "Outputs": {
            "InboundMailBucketName": {"Value": {"Ref": "InboundMailBucket"}},
            "ReceiptRuleSetName": {"Value": stage.rule_set_name},
            "ConfigurationSetName": {"Value": {"Ref": "MailConfigurationSet"}},
            "AlarmTopicArn": {"Value": {"Ref": "AlarmTopic"}},
            "SigningKeyParameterName": {"Value": stage.signing_key_parameter},
        },
    }
    return template, policy(stage, analyse(PROJECT_DIR), handlers)


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
    """Every resource the merge template only overrides must be one Chalice made."""
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
