"""Files the committee sends straight to S3, too large for a request (a roster of many
thousands): a presigned POST lets the browser upload without passing through the API.

They live under uploads/ in the stage's bucket, apart from the raw mail under inbound/.
The bucket's lifecycle deletes them after a day; an import deletes its file when done.
"""
from __future__ import annotations

from datetime import timedelta

from chalicelib.adapters.aws import client
from chalicelib.adapters.config import settings

PREFIX = "uploads/"
FORM_LIFETIME = timedelta(minutes=30)  # how long an upload form works once shown


def upload_form(key: str, redirect_to: str, max_bytes: int) -> dict:
    """{"url", "fields"} of an HTML form that uploads one file to `key`; S3 then sends the
    browser on to `redirect_to`, with the bucket, key and ETag in its query string."""
    return client("s3").generate_presigned_post(
        Bucket=settings().inbound_bucket, Key=_checked(key),
        Fields={"success_action_redirect": redirect_to},
        Conditions=[["content-length-range", 1, max_bytes], {"success_action_redirect": redirect_to}],
        ExpiresIn=int(FORM_LIFETIME.total_seconds()),
    )


def size(key: str) -> int | None:
    """The uploaded file's size in bytes; None when there is no such file."""
    s3 = client("s3")
    try:
        return int(s3.head_object(Bucket=settings().inbound_bucket, Key=_checked(key))["ContentLength"])
    except s3.exceptions.ClientError as error:
        # Without s3:ListBucket (which the functions do not get), S3 answers a missing key with 403.
        if error.response.get("Error", {}).get("Code") in ("403", "404", "NoSuchKey", "NotFound", "AccessDenied"):
            return None
        raise


def put(key: str, body: bytes) -> None:
    client("s3").put_object(Bucket=settings().inbound_bucket, Key=_checked(key), Body=body)


def read(key: str) -> bytes:
    return client("s3").get_object(Bucket=settings().inbound_bucket, Key=_checked(key))["Body"].read()


def delete(key: str) -> None:
    client("s3").delete_object(Bucket=settings().inbound_bucket, Key=_checked(key))


def _checked(key: str) -> str:
    if not key.startswith(PREFIX) or ".." in key:
        raise ValueError("uploads are kept under uploads/ only")  # never the raw mail beside them
    return key
