"""What SES wrote at the top of a mail it stored in S3, read back when its notification is lost.

SES's receipt rule prepends its own headers to the stored mail:

    Received: from ... by inbound-smtp.<region>.amazonaws.com with SMTP id <id> for <recipient>; <date>
    X-SES-Spam-Verdict: PASS
    X-SES-Virus-Verdict: PASS
    Received-SPF: pass (...)
    Authentication-Results: amazonses.com; spf=pass ...; dkim=pass ...; dmarc=pass ...

From them the reconciliation rebuilds what the notification carried: the
envelope recipients and the verdicts, in the notification's shape. SES's
headers come first, so only the first of each is read: a sender cannot
overrule them with headers of their own lower down. A mail without SES's
spam and virus verdicts gets verdicts that say so, so it is quarantined
rather than trusted.
"""
from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

MISSING = "MISSING"
SES_RECEIVER = re.compile(r"\bby inbound-smtp\.[a-z0-9-]+\.amazonaws\.com\b", re.IGNORECASE)
FOR_CLAUSE = re.compile(r"\bfor\s+<?([^\s<>;]+@[^\s<>;]+)>?\s*;", re.IGNORECASE)
RESULT = re.compile(r"\b(spf|dkim|dmarc)=([a-z]+)", re.IGNORECASE)
SES_AUTHSERV = "amazonses.com"


def envelope(raw: bytes) -> tuple[list[str], dict]:
    """(recipients, receipt) for a stored mail: the receipt has the verdict fields of an SES
    notification (spamVerdict, virusVerdict, spfVerdict, dkimVerdict, dmarcVerdict)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    first = {}
    for name, value in headers.items():
        first.setdefault(name.lower(), " ".join(str(value).split()))

    recipients = []
    received = first.get("received", "")
    if SES_RECEIVER.search(received) and (match := FOR_CLAUSE.search(received)):
        recipients.append(match.group(1))
    for name in ("to", "cc"):
        recipients += [address for _, address in getaddresses(
            [str(value) for value in headers.get_all(name, [])]) if address and address not in recipients]

    def status(value: str | None) -> dict:
        return {"status": (value or MISSING).strip().upper()}

    receipt = {"spamVerdict": status(first.get("x-ses-spam-verdict")),
               "virusVerdict": status(first.get("x-ses-virus-verdict"))}
    results = first.get("authentication-results", "")
    if results.split(";", 1)[0].strip().lower() == SES_AUTHSERV:
        for check, outcome in RESULT.findall(results):
            receipt.setdefault(f"{check.lower()}Verdict", status(outcome))
    return recipients, receipt
