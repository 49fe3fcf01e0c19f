"""Lazily built AWS clients, one per container.

botocore reads AWS_ENDPOINT_URL, so the same code reaches AWS or a local
moto server. boto3 is imported on first use to keep cold starts cheap.
"""
from __future__ import annotations

from functools import lru_cache

from chalicelib.adapters import warm_cache
from chalicelib.adapters.config import settings


@lru_cache(maxsize=None)
def client(service: str):
    import boto3

    return boto3.client(service)


@lru_cache(maxsize=1)
def signing_key() -> bytes:
    """The HMAC key, read once per container from an SSM SecureString."""
    answer = client("ssm").get_parameter(Name=settings().signing_key_parameter, WithDecryption=True)
    return answer["Parameter"]["Value"].encode("utf-8")


def reset() -> None:
    """Forget cached clients, key and warm reads (tests start each case afresh)."""
    client.cache_clear()
    warm_cache.forget()
    signing_key.cache_clear()
    settings.cache_clear()
