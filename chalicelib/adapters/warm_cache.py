"""What a warm container keeps from one invocation to the next: reads that rarely change, briefly.

Lambda hands one container invocation after invocation. Reading a cohort's program
settings again for every reply costs a DynamoDB call per reply; keeping them for
LIFETIME costs at most that much delay before a change the committee saves is seen
by another container. An entry is keyed by the table it was read from, so it cannot
serve another stage or table, and it lives LIFETIME by domain.clock (tests move it).
Only for reads whose callers accept that delay: nothing that decides whether a
write may happen (a pairing's state and version) is kept here.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Callable, Hashable, TypeVar

from cachetools import TTLCache

from chalicelib.domain import clock

LIFETIME = timedelta(seconds=30)
MAX_ENTRIES = 512  # cohorts' settings are a few per stage; the bound keeps a stray key from growing it

Value = TypeVar("Value")

_entries: TTLCache = TTLCache(maxsize=MAX_ENTRIES, ttl=LIFETIME.total_seconds(),
                              timer=lambda: clock.now().timestamp())


def read(table: str, key: Hashable, load: Callable[[], Value]) -> Value:
    """The value kept for (table, key) if it was read less than LIFETIME ago; else load() it and keep it."""
    try:
        return _entries[(table, key)]
    except KeyError:
        value = _entries[(table, key)] = load()
        return value


def keep(table: str, key: Hashable, value) -> None:
    """Replace the kept value: this process has just written it."""
    _entries[(table, key)] = value


def forget() -> None:
    """Forget everything (tests start each case with a fresh emulated AWS)."""
    _entries.clear()
