"""Settings read from the stage's environment (see .chalice/config.json).

Read lazily so that tests and the sandbox can set the environment first.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

INBOUND_PREFIX = "inbound/"  # the receipt rule stores each mail as inbound/<SES message id>; read only there


@dataclass(frozen=True)
class Settings:
    stage: str
    table_prefix: str
    sender_address: str
    reply_domain: str
    base_url: str
    committee_address: str
    signing_key_parameter: str
    inbound_bucket: str
    configuration_set: str
    secure_cookies: bool
    founding_committee: tuple[str, ...]  # members from configuration; others are added in the admin area
    retention_months: int  # personal data is deleted this long after its cohort closes
    job_worker_function: str  # the Lambda function that runs background jobs (services/jobs.py)


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = os.environ
    return Settings(
        stage=env.get("APP_STAGE", "dev"),
        table_prefix=env.get("TABLE_PREFIX", "mentoring-dev-"),
        sender_address=env.get("SENDER_ADDRESS", "mentoring@example.org"),
        reply_domain=env.get("REPLY_DOMAIN", "reply.example.org"),
        base_url=env.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        committee_address=env.get("COMMITTEE_ADDRESS", "committee@example.org"),
        signing_key_parameter=env.get("SIGNING_KEY_PARAMETER", "/mentoring/dev/signing-key"),
        inbound_bucket=env.get("INBOUND_BUCKET", "mentoring-dev-inbound"),
        configuration_set=env.get("SES_CONFIGURATION_SET", ""),
        secure_cookies=env.get("SECURE_COOKIES", "true").lower() != "false",
        retention_months=int(env.get("RETENTION_MONTHS", "6")),
        job_worker_function=env.get("JOB_WORKER_FUNCTION", "mentoring-dev-run_job"),
        founding_committee=tuple(
            address.strip().lower() for address in env.get("COMMITTEE_MEMBERS", "").split(",") if address.strip()
        ),
    )


def table_name(suffix: str) -> str:
    return os.environ.get("TABLE_PREFIX", "mentoring-dev-") + suffix
