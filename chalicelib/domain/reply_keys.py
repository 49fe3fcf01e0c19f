"""When two received mails are one answer: the keys a reply is counted once by.

A reply has two keys, and a second mail that shares either changes nothing:
- the SES message id of its delivery (the shell's record of the mail is
  written on the condition that none exists with that id); and
- when the mail has an RFC 5322 Message-ID, the pairing, the participant and
  that Message-ID, normalised. A mail server that retries after a lost
  acknowledgement, or a participant who writes to two of our addresses, makes
  two SES deliveries of one mail; its Message-ID stays the same.
Two different mails, even with the same words, have different Message-IDs and
are two answers. This key is the event's trigger id, so the pairing's history
holds it and the shell's version-conditional write keeps it unique.

Nothing here does I/O.
"""
from __future__ import annotations

import hashlib
import re

MAX_MESSAGE_ID_CHARS = 998  # RFC 5322's longest line; anything longer is not a Message-ID

_COMMENT = re.compile(r"\([^()]*\)")  # CFWS comments, innermost first
_ANGLE_ADDR = re.compile(r"<([^<>]*)>")
_SPACE = re.compile(r"\s+")


def normalise_message_id(header: str) -> str | None:
    """The msg-id of a Message-ID header as `id-left@id-right`, without the angle brackets,
    comments and folding whitespace, the domain part in lower case (domains are
    case-insensitive; the left part is compared as written). None when there is none."""
    if not header or len(header) > MAX_MESSAGE_ID_CHARS:
        return None
    text, previous = header, None
    while text != previous:
        previous, text = text, _COMMENT.sub(" ", text)
    bracketed = _ANGLE_ADDR.search(text)
    candidate = _SPACE.sub("", bracketed.group(1) if bracketed else text)
    left, at, right = candidate.rpartition("@")
    if not (left and at and right) or "<" in candidate or ">" in candidate:
        return None
    return f"{left}@{right.lower()}"


def mail_trigger_id(pairing_id: str, participant: str, message_id: str | None, ses_message_id: str) -> str:
    """The trigger id of a mailed answer: its (pairing, participant, Message-ID) key when it has a
    Message-ID, else its SES message id. The Message-ID is hashed: it often names the sender's
    host or address, and the history is no place for that."""
    if message_id is None:
        return f"ses/{ses_message_id}"
    digest = hashlib.sha256(f"{pairing_id}\n{participant}\n{message_id}".encode()).hexdigest()[:32]
    return f"mail/{digest}"
