"""How many mails of one kind one address may be sent in an hour.

One counter per kind, address and clock hour, in DynamoDB: a conditional update
adds one unless the hour's count has reached the limit. The hour is in the key,
so a counter counts for its own hour only, and DynamoDB's TTL removes it after
(moto never does: the key keeps the tests honest). The key holds a keyed hash of
the address, not the address.

A caller that is refused goes on as if the mail had gone: nobody learns from the
answer that a limit was reached (or that an address is known at all).
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.models import MailCount
from chalicelib.domain import clock

KEEP_COUNTS_FOR = timedelta(hours=2)  # past the end of the counter's hour


def allow(kind: str, address: str, per_hour: int) -> bool:
    """Count one more `kind` mail to `address` this hour and say True, or say False
    (and count nothing) when `per_hour` have been counted already."""
    hour = clock.now().replace(minute=0, second=0, microsecond=0)
    counter = MailCount(f"{kind}#{_pseudonym(address)}#{hour:%Y-%m-%dT%H}")
    try:
        counter.update(actions=[MailCount.count.add(1), MailCount.expires_at.set(hour + KEEP_COUNTS_FOR)],
                       condition=MailCount.count.does_not_exist() | (MailCount.count < per_hour))
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _pseudonym(address: str) -> str:
    digest = hmac.new(signing_key(), f"mail-limit:{address.strip().lower()}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
