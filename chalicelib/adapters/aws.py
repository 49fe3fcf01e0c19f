"""Lazily built AWS clients, one per container.

botocore reads AWS_ENDPOINT_URL, so the same code reaches AWS or a local
moto server. boto3 is imported on first use to keep cold starts cheap.
"""
from __future__ import annotations

import re
from functools import lru_cache

from chalicelib.adapters import warm_cache
from chalicelib.adapters.config import settings

# An HTTP date as S3 writes it in headers (Last-Modified on every GetObject).
_HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


@lru_cache(maxsize=None)
def client(service: str):
    return _session().client(service)


@lru_cache(maxsize=1)
def _session():
    """One session for the container's clients, whose answers' timestamps are read by
    http_timestamp: botocore's own reader (dateutil) took a tenth of an S3 GetObject's time."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=http_timestamp)
    return boto3.session.Session(botocore_session=core)


def http_timestamp(value):
    """What botocore's timestamp reader returns for the same value, with a fast path for HTTP dates."""
    from botocore.utils import parse_timestamp

    if isinstance(value, str) and _HTTP_DATE.fullmatch(value):
        from datetime import datetime
        from email.utils import parsedate

        from dateutil.tz import tzutc

        try:
            return datetime(*parsedate(value)[:6], tzinfo=tzutc())
        except ValueError:  # no such day: botocore's reader says so in its own words
            pass
    return parse_timestamp(value)


@lru_cache(maxsize=1)
def signing_key() -> bytes:
    """The HMAC key, read once per container from an SSM SecureString."""
    answer = client("ssm").get_parameter(Name=settings().signing_key_parameter, WithDecryption=True)
    return answer["Parameter"]["Value"].encode("utf-8")


def reset() -> None:
    """Forget cached clients, key and warm reads (tests start each case afresh)."""
    client.cache_clear()
    _session.cache_clear()
    warm_cache.forget()
    signing_key.cache_clear()
    settings.cache_clear()
