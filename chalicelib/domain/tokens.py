"""HMAC-signed, expiring tokens for links and reply addresses.

A token is lowercase base32 (safe in URLs and in the local part of an email
address, where case may not survive), holding: a purpose byte, an expiry in
seconds since the epoch, the subject bytes, and a truncated HMAC-SHA256 over
all of it. The key is passed in; this module does no I/O.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.lifecycle import ResponseKind
from chalicelib.domain.refusals import Invalid

MAC_BYTES = 12

PURPOSES = {
    "confirm": 1,
    "login": 2,
    "session": 3,
    "reply": 4,
    "respond": 5,
    "carry_over": 6,
}


class TokenError(Invalid):
    """A token that was forged, damaged, expired or made for another purpose."""


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _decode(token: str) -> bytes:
    text = token.strip().upper()
    padded = text + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except (ValueError, TypeError) as error:
        raise TokenError("The link is damaged.") from error


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]


def make(key: bytes, purpose: str, subject: bytes, expires_at: datetime) -> str:
    payload = struct.pack(">BI", PURPOSES[purpose], int(expires_at.timestamp())) + subject
    return _encode(payload + _mac(key, payload))


def read(key: bytes, purpose: str, token: str, now: datetime) -> bytes:
    """Return the subject of a valid token, or raise TokenError saying why."""
    if not token or len(token) > 200:
        raise TokenError("The link is damaged.")
    raw = _decode(token)
    if len(raw) <= 5 + MAC_BYTES:
        raise TokenError("The link is damaged.")
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise TokenError("The link is not valid.")
    purpose_code, expires = struct.unpack(">BI", payload[:5])
    if purpose_code != PURPOSES[purpose]:
        raise TokenError("The link is not valid here.")
    if now.timestamp() > expires:
        raise TokenError("The link has expired.")
    return payload[5:]


def make_for_id(key: bytes, purpose: str, record_id: str, now: datetime, lifetime: timedelta) -> str:
    """A token for a record whose id is a uuid4 hex string (16 bytes packed)."""
    return make(key, purpose, bytes.fromhex(record_id), now + lifetime)


def read_id(key: bytes, purpose: str, token: str, now: datetime) -> str:
    subject = read(key, purpose, token, now)
    if len(subject) != 16:
        raise TokenError("The link is not valid.")
    return subject.hex()


# Reply tokens: in a participant mail's Reply-To address and its /respond link.

REPLY_TOKEN_LIFETIME = timedelta(days=200)
# The shared token of a kickoff check mailed to both partners in one mail, before each had their
# own. No mail is sent with it any more; those already sent still work: a mailed answer is the
# From address's partner's, and the shared web link asks them to reply by mail instead.
BOTH = "both"
ROLE_CODES = {"mentor": 0, "mentee": 1, BOTH: 2}
KIND_CODES = {kind: code for code, kind in enumerate(ResponseKind)}


@dataclass(frozen=True)
class ReplyAddress:
    """Who a reply token speaks for: one participant (or BOTH, in an old kickoff check) and what was asked."""

    pairing_id: str
    role: str
    kind: ResponseKind


def make_reply_token(key: bytes, address: ReplyAddress, now: datetime) -> str:
    subject = bytes.fromhex(address.pairing_id) + struct.pack(">BB", ROLE_CODES[address.role], KIND_CODES[address.kind])
    return make(key, "reply", subject, now + REPLY_TOKEN_LIFETIME)


def read_reply_token(key: bytes, token: str, now: datetime) -> ReplyAddress:
    subject = read(key, "reply", token, now)
    if len(subject) != 18:
        raise TokenError("The link is not valid.")
    role_code, kind_code = struct.unpack(">BB", subject[16:])
    roles = {code: role for role, code in ROLE_CODES.items()}
    kinds = {code: kind for kind, code in KIND_CODES.items()}
    if role_code not in roles or kind_code not in kinds:
        raise TokenError("The link is not valid.")
    return ReplyAddress(subject[:16].hex(), roles[role_code], kinds[kind_code])
