"""Concerns: something about a pairing that a committee member must own until it is handled.

A concern is opened by a worrying answer, a request for a different partner, a
not-started or stalled flag, a quarantined reply that names the pairing, or an
address that bounces. It stays open until a committee member marks it handled
with a short note. This module holds the vocabulary and the rules; the
services keep each concern as a record of its own, beside the pairing, so a
year of concerns does not grow the pairing's item.

Pure: no I/O, no clock (`now` is a parameter).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from chalicelib.domain import limits
from chalicelib.domain.lifecycle import AlertKind
from chalicelib.domain.refusals import Invalid

MAX_NOTE_LENGTH = limits.MAX_REASON
DIGEST_CONCERNS = 50  # listed in one digest mail, oldest first; the dashboard lists them all
DIGEST_AFTER = timedelta(days=7)  # the digest lists the concerns still open this long after they were opened


class ConcernKind(StrEnum):
    SOME_CONCERNS = "some_concerns"
    NEED_HELP = "need_help"
    REMATCH = "rematch"
    NOT_STARTED = "not_started"
    STALLED = "stalled"
    SILENT = "silent"
    QUARANTINED_REPLY = "quarantined_reply"
    BOUNCED_ADDRESS = "bounced_address"

    @property
    def words(self) -> str:
        return _WORDS[self]


_WORDS = {
    ConcernKind.SOME_CONCERNS: "Some concerns", ConcernKind.NEED_HELP: "Needs help",
    ConcernKind.REMATCH: "Asks for a different partner", ConcernKind.NOT_STARTED: "Not started",
    ConcernKind.STALLED: "Stalled", ConcernKind.SILENT: "Silent", ConcernKind.QUARANTINED_REPLY: "Quarantined reply",
    ConcernKind.BOUNCED_ADDRESS: "Mail bounces",
}

# The lifecycle's alerts that open a concern (the others are news, not something to own).
_FROM_ALERT = {
    AlertKind.SOME_CONCERNS: ConcernKind.SOME_CONCERNS, AlertKind.NEED_HELP: ConcernKind.NEED_HELP,
    AlertKind.REMATCH: ConcernKind.REMATCH, AlertKind.NOT_STARTED: ConcernKind.NOT_STARTED,
    AlertKind.STALLED: ConcernKind.STALLED, AlertKind.SILENT: ConcernKind.SILENT,
}


def kind_for_alert(alert: AlertKind) -> ConcernKind | None:
    """The concern an alert of the lifecycle opens, or None."""
    return _FROM_ALERT.get(alert)


def handled_note(note: object) -> str:
    """The committee's note on a handled concern, checked: some words, at most MAX_NOTE_LENGTH."""
    if not isinstance(note, str) or not note.strip():
        raise Invalid("Write a short note on how the concern was handled.", field="note")
    note = limits.check_text(note.strip(), "note", "The note")
    if len(note) > MAX_NOTE_LENGTH:
        raise Invalid(f"The note is {len(note):,} characters long; keep it to {MAX_NOTE_LENGTH:,}.", field="note")
    return note


class Owned(Protocol):
    """What the ordering needs to know of an open concern."""

    pairing_id: str
    opened_at: datetime


T = TypeVar("T", bound=Owned)


def in_order_for(member: str, concerns: Iterable[T], liaisons: Mapping[str, str | None]) -> list[T]:
    """The open concerns as `member` reads them: those of the pairings they are liaison for
    first, then the rest; oldest first within each."""
    return sorted(concerns, key=lambda concern: (liaisons.get(concern.pairing_id) != member, concern.opened_at))


def by_liaison(concerns: Iterable[T], liaisons: Mapping[str, str | None]) -> dict[str | None, list[T]]:
    """The concerns grouped by their pairing's liaison, liaisons in alphabetical order and those
    without one last; oldest first within each."""
    groups: dict[str | None, list[T]] = {}
    for concern in sorted(concerns, key=lambda concern: concern.opened_at):
        groups.setdefault(liaisons.get(concern.pairing_id), []).append(concern)
    return dict(sorted(groups.items(), key=lambda group: (group[0] is None, group[0] or "")))
