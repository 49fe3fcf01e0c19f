"""How many mails of one kind one address may be sent in an hour.

Anyone can submit the application form with anyone's address, as often as
they like; the confirmation mail must not become a way to flood a mailbox.
The count lives in DynamoDB, one item per kind, address and clock hour, with
a TTL that removes it after its hour. Its key is an HMAC of the address
(keyed with the signing key), so the table holds no address and the key
cannot be reversed by trying addresses.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from chalicelib.domain import clock
from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.models import MailQuota

CONFIRMATIONS_PER_HOUR = 3


def allow(kind: str, address: str, per_hour: int) -> bool:
    """Count one more mail of the kind to the address this hour; False once that is over the limit."""
    now = clock.now()
    hour = now.strftime("%Y-%m-%dT%H")
    digest = hmac.new(signing_key(), address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    counter = MailQuota(key=f"{kind}#{hour}#{digest}")
    counter.update(actions=[MailQuota.count.add(1),
                            MailQuota.expires_at.set(now.replace(minute=0, second=0, microsecond=0)
                                                     + timedelta(hours=2))])
    return int(counter.count) <= per_hour
