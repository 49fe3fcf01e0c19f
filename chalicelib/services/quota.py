"""How many mails of one kind one address may be sent in an hour.

Anyone can submit the application form with anyone's address, as often as
they like, and anyone can ask for a committee member's sign-in link; neither
mail must become a way to flood a mailbox. The count lives in DynamoDB, one
item per kind, address and clock hour: a conditional update adds one unless
the hour's count has reached the limit. The hour is in the key, so a counter
counts for its own hour only, and the TTL removes it after (moto never does:
the key keeps the tests honest). Its key holds an HMAC of the address (keyed
with the signing key), so the table holds no address and the key cannot be
reversed by trying addresses.

A caller that is refused goes on as if the mail had gone: nobody learns from
the answer that a limit was reached (or that an address is known at all).
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.models import MailQuota
from chalicelib.domain import clock

CONFIRMATIONS_PER_HOUR = 3
SIGN_IN_LINKS_PER_HOUR = 5
KEEP_COUNTS_FOR = timedelta(hours=2)  # past the end of the counter's hour


def allow(kind: str, address: str, per_hour: int) -> bool:
    """Count one more `kind` mail to `address` this hour and say True, or say False
    (and count nothing) when `per_hour` have been counted already."""
    hour = clock.now().replace(minute=0, second=0, microsecond=0)
    digest = hmac.new(signing_key(), address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    counter = MailQuota(key=f"{kind}#{hour:%Y-%m-%dT%H}#{digest}")
    try:
        counter.update(actions=[MailQuota.count.add(1), MailQuota.expires_at.set(hour + KEEP_COUNTS_FOR)],
                       condition=MailQuota.count.does_not_exist() | (MailQuota.count < per_hour))
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
