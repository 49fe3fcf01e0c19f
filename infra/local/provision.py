"""Create, from the code's own definitions, the AWS resources the app expects.

Used by the local sandbox (against a moto server) and by the tests (inside
mock_aws). On AWS, the CloudFormation template in infra/ creates them.
"""
from __future__ import annotations

from datetime import timedelta

from chalicelib.adapters import aws
from chalicelib.domain import clock
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import ALL_MODELS
from chalicelib.adapters.store import open_cohort, open_new_cohort


def provision(signing_key: str) -> None:
    from app import app
    from infra.local.queues import provision_queues

    stamp_objects_with_the_app_clock()
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
    ses = aws.client("sesv2")
    for identity in (settings().sender_address.split("@", 1)[1], settings().committee_address):
        ses.create_email_identity(EmailIdentity=identity)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=settings().inbound_bucket)
    aws.client("ssm").put_parameter(
        Name=settings().signing_key_parameter, Value=signing_key, Type="SecureString", Overwrite=True
    )
    provision_queues(app)


def stamp_objects_with_the_app_clock() -> None:
    """moto dates S3 objects by the machine's clock; the sandbox and the tests move the app's
    clock. The reconciliation compares the two, so emulated S3 must read the app's."""
    import moto.s3.models

    moto.s3.models.utcnow = lambda: clock.now().replace(tzinfo=None)


def ensure_open_cohort() -> None:
    if open_cohort() is None:
        year = (clock.now() + timedelta(days=31)).year
        open_new_cohort(str(year), f"{year} program year")
