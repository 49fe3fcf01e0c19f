"""The container's AWS clients read answers exactly as botocore's own clients do, only faster."""
from datetime import datetime

import boto3
import pytest
from botocore.utils import parse_timestamp
from dateutil.tz import tzutc

from chalicelib.adapters import aws as clients
from chalicelib.adapters.config import settings


@pytest.mark.parametrize("value", [
    "Tue, 01 Dec 2026 16:00:00 GMT", "Tue, 29 Feb 2028 23:59:59 GMT", "Mon, 01 Jan 1900 00:00:00 GMT",
    "Tue, 1 Dec 2026 16:00:00 GMT",  # not the form S3 writes: botocore's own reader
    "2026-12-01T16:00:00.000Z", "2026-12-01T16:00:00+02:00", 1764604800, 1764604800.25, "1764604800",
])
def test_a_timestamp_reads_as_botocore_reads_it(value):
    ours, botocores = clients.http_timestamp(value), parse_timestamp(value)
    assert (ours, ours.utcoffset(), repr(ours.tzinfo)) == (botocores, botocores.utcoffset(), repr(botocores.tzinfo))


@pytest.mark.parametrize("value", ["Tue, 31 Feb 2026 16:00:00 GMT", "Tue, 01 Dec 2026 25:00:00 GMT", "yesterday"])
def test_an_impossible_timestamp_is_refused_in_botocores_words(value):
    with pytest.raises(ValueError) as ours:
        clients.http_timestamp(value)
    with pytest.raises(ValueError) as botocores:
        parse_timestamp(value)
    assert str(ours.value) == str(botocores.value)


def test_an_s3_answer_reads_the_same_through_our_client_and_a_plain_one(aws):
    bucket = settings().inbound_bucket
    clients.client("s3").put_object(Bucket=bucket, Key="inbound/m1", Body=b"Subject: hi\r\n\r\nhello")
    ours = clients.client("s3").get_object(Bucket=bucket, Key="inbound/m1")
    plain = boto3.client("s3").get_object(Bucket=bucket, Key="inbound/m1")
    assert isinstance(ours["LastModified"], datetime) and ours["LastModified"].tzinfo == tzutc()
    assert ours["LastModified"] == plain["LastModified"]
    assert ours["Body"].read() == plain["Body"].read() == b"Subject: hi\r\n\r\nhello"
    [listed] = clients.client("s3").list_objects_v2(Bucket=bucket, Prefix="inbound/")["Contents"]
    assert listed["LastModified"] == plain["LastModified"]
