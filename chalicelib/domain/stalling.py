"""When a running pair has stalled, read from its recorded answers to the last contacts.

A contact is one mail that asks both partners for an answer (the kickoff check, a
check-in, the mid-program feedback). Each is kept as a mapping from the role that
answered it to the number of meetings they reported since the contact before
(None when the answer gave no count, as a mailed reply may not); a role that did
not answer is absent. The pairing keeps only the last KEPT_CONTACTS of them, so
its item does not grow through the year.

A pair has stalled when
- a partner reports 0 meetings in two contacts in a row; or
- one partner answered two contacts in a row while the other answered neither.
The second can only be told once those contacts are over (the next one has gone
out), since the other partner may still answer.

Pure: no I/O, no clock.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from chalicelib.domain.schema import BOTH_ROLES

KEPT_CONTACTS = 2
IN_A_ROW = 2

Answers = Mapping[str, int | None]


def opened(contacts: Sequence[Answers]) -> tuple[dict[str, int | None], ...]:
    """The contacts once a new one has gone out: the oldest beyond KEPT_CONTACTS is dropped."""
    return tuple(dict(contact) for contact in (*contacts, {}))[-KEPT_CONTACTS:]


def answered(contacts: Sequence[Answers], role: str, meetings: int | None) -> tuple[dict[str, int | None], ...]:
    """The contacts once `role` has answered the latest one; unchanged if none has gone out yet."""
    if role not in BOTH_ROLES:
        raise ValueError(f"a participant is one of {', '.join(BOTH_ROLES)}, not {role!r}")
    if meetings is not None and (type(meetings) is not int or meetings < 0):
        raise ValueError(f"meetings are a whole number of at least 0, not {meetings!r}")
    if not contacts:
        return ()
    *before, latest = (dict(contact) for contact in contacts)
    return (*before, {**latest, role: meetings})


def stall_reason(contacts: Sequence[Answers], *, latest_is_open: bool) -> str | None:
    """Why the pair has stalled, as a sentence naming roles only; None if it has not.
    `latest_is_open`: the last contact can still be answered (it is left out of the
    one-sided rule, not of the meetings rule: a reported 0 stands)."""
    recent = list(contacts)[-IN_A_ROW:]
    if len(recent) == IN_A_ROW:
        for role in BOTH_ROLES:
            if all(contact.get(role) == 0 for contact in recent):
                return f"The {role} reported no meetings in {IN_A_ROW} check-ins in a row."
    closed = list(contacts)[:-1] if latest_is_open else list(contacts)
    closed = closed[-IN_A_ROW:]
    if len(closed) == IN_A_ROW:
        for role, other in (BOTH_ROLES, tuple(reversed(BOTH_ROLES))):
            if all(role in contact and other not in contact for contact in closed):
                return f"The {role} answered {IN_A_ROW} check-ins in a row; the {other} answered neither."
    return None


def recovered(contacts: Sequence[Answers]) -> bool:
    """True once both partners answered the latest contact and neither reported 0 meetings."""
    if not contacts:
        return False
    latest = contacts[-1]
    return all(role in latest and latest[role] != 0 for role in BOTH_ROLES)
