"""The committee's audit trail: every committee action, with who did it.

It is kept longest of all records, RETENTION_MONTHS, so that what the
committee did stays answerable after the people's data it touched is gone.
"""
from __future__ import annotations

import secrets

from chalicelib.domain import clock
from chalicelib.adapters.models import AuditEntry

RETENTION_MONTHS = 36


def entry(member: str, action: str, target: str | None = None, details: dict | None = None) -> AuditEntry:
    """An audit entry to save, alone or inside the action's own transaction."""
    now = clock.now()
    return AuditEntry(
        month=now.strftime("%Y-%m"),
        at_id=f"{clock.iso(now)}#{secrets.token_hex(4)}",
        member=member, action=action, target=target, details=details,
        expires_at=clock.months_after(now, RETENTION_MONTHS),
    )


def record(member: str, action: str, target: str | None = None, details: dict | None = None) -> None:
    entry(member, action, target, details).save()


def recent(month: str, limit: int = 200) -> list[AuditEntry]:
    return list(AuditEntry.query(month, scan_index_forward=False, limit=limit))
