"""The one clock the whole system reads.

Tests and the local sandbox move time by shifting it; nothing else in the
code base calls datetime.now().
"""
from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(timezone.utc) + _offset


def shift_by(delta: timedelta) -> datetime:
    """Move time forward (or back) for every later call to now()."""
    global _offset
    _offset += delta
    return now()


def set_offset(offset: timedelta) -> None:
    global _offset
    _offset = offset


def offset() -> timedelta:
    return _offset


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def months_after(moment: datetime, months: int) -> datetime:
    """The same day so many calendar months later (the month's last day if it is shorter)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
