"""The committee's program settings in DynamoDB: every saved version, and a small cache.

One document per cohort (see domain/settings_document.py), kept as versions: each save
writes a new SettingsVersion item (cohort, version 1, 2, ...) with who saved it
and when, in one transaction with its audit entry; nothing is overwritten.
The current version is the highest, read with one Query, newest first, limit 1.
Version 0 stands for the defaults and is never stored.

The cache: a module-level dict (the current settings by cohort, the open
cohort's id, old versions), emptied by `forget()` at the start of every
invocation (app.py's middleware for every kind of event: HTTP requests,
schedules, SNS messages). So settings are read at most once per cohort per
request however many fields, mails or pairs use them, and a warm Lambda
never keeps an old document into the next request. A save updates the cache
of the process that saved.

The reply path alone accepts settings up to adapters.warm_cache.LIFETIME old
(`use_recent`): a mail a few milliseconds after the last must not cost a Query
each, and a committee's change may reach replies that much later.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import TransactWriteError

from chalicelib.services import audit
from chalicelib.domain import clock, settings_document, settings_validation
from chalicelib.adapters import warm_cache
from chalicelib.adapters.models import Cohort, SettingsVersion
from chalicelib.domain.refusals import Conflict
from chalicelib.adapters.store import conditions_failed, open_cohort, transaction

MAX_DOCUMENT_BYTES = 350_000  # a DynamoDB item holds 400 KB


@dataclass(frozen=True)
class Saved:
    """One version of a cohort's settings. Treat `document` as read-only: it is shared through the cache."""

    cohort: str | None
    version: int  # 0: the defaults
    document: dict
    saved_by: str | None = None
    saved_at: datetime | None = None

    def as_json(self) -> dict:
        return {**self.document, "cohort": self.cohort, "version": self.version, "saved_by": self.saved_by,
                "saved_at": clock.iso(self.saved_at) if self.saved_at else None}


_cache: dict[tuple, object] = {}


def forget() -> None:
    """Empty the cache: called at the start of every invocation (and by the tests' fresh AWS)."""
    _cache.clear()


def current(cohort_id: str) -> Saved:
    key = ("current", cohort_id)
    if key not in _cache:
        _cache[key] = _latest(cohort_id)
    return _cache[key]


def use_recent(cohort_id: str) -> Saved:
    """The cohort's settings as this container read them less than warm_cache.LIFETIME ago (read
    now if not), and the cohort's settings for the rest of this invocation."""
    saved = warm_cache.read(SettingsVersion.Meta.table_name, ("settings", cohort_id), lambda: current(cohort_id))
    _cache[("current", cohort_id)] = saved
    return saved


def for_open_cohort() -> Saved:
    """The open cohort's settings; the defaults when no cohort is open."""
    if ("open",) not in _cache:
        cohort = open_cohort()
        _cache[("open",)] = cohort.id if cohort else None
    cohort_id = _cache[("open",)]
    return current(cohort_id) if cohort_id else Saved(None, 0, settings_document.defaults())


def for_cohort(cohort: Cohort | None) -> Saved:
    """The settings of a cohort the caller has read; the defaults when there is none."""
    return current(cohort.id) if cohort else Saved(None, 0, settings_document.defaults())


def of(cohort_id: str | None) -> Saved:
    """A cohort's settings, or the open cohort's when none is named."""
    return current(cohort_id) if cohort_id else for_open_cohort()


def version(cohort_id: str, number: int) -> Saved:
    """One version (0: the defaults). Raises LookupError if the cohort has no such version."""
    latest = current(cohort_id)
    if number == latest.version:
        return latest
    if number == 0:
        return Saved(cohort_id, 0, settings_document.defaults())
    key = ("version", cohort_id, number)
    if key not in _cache:
        try:
            _cache[key] = _saved(SettingsVersion.get(cohort_id, number))
        except SettingsVersion.DoesNotExist:
            raise LookupError(f"Cohort {cohort_id} has no settings version {number}.") from None
    return _cache[key]


def history(cohort_id: str, limit: int = 50) -> list[Saved]:
    """The saved versions, newest first."""
    return [_saved(item) for item in SettingsVersion.query(cohort_id, scan_index_forward=False, limit=limit)]


def save(cohort_id: str, document, member: str, based_on: int | None = None) -> Saved:
    """Check the whole document and keep it as the cohort's next version, audited.

    Raises settings_validation.SettingsInvalid (nothing saved) and Conflict when
    someone saved since `based_on`, the version the editor started from."""
    latest = _latest(cohort_id)
    if based_on is not None and based_on != latest.version:
        raise Conflict(f"{latest.saved_by or 'Someone'} saved the settings (version {latest.version}) "
                       "since you opened them. Your changes were not saved: reload to see theirs.", field="version")
    clean = settings_validation.validate(document, previous=latest.document)
    if len(json.dumps(clean)) > MAX_DOCUMENT_BYTES:
        raise settings_validation.SettingsInvalid({"_body": "The settings are too large: shorten the guidelines or mails."})
    changed = [part for part in settings_document.PARTS if clean[part] != latest.document[part]]
    item = SettingsVersion(cohort=cohort_id, version=latest.version + 1, document=clean, saved_by=member,
                           saved_at=clock.now())
    try:
        with transaction() as write:
            write.save(item, condition=SettingsVersion.version.does_not_exist())
            write.save(audit.entry(member, "settings_saved", cohort_id, {"version": item.version, "changed": changed}))
    except TransactWriteError as error:
        if not conditions_failed(error):
            raise
        raise Conflict("Someone else saved the settings at the same moment. "
                       "Your changes were not saved: reload and try again.", field="version") from None
    saved = _saved(item)
    _cache[("current", cohort_id)] = saved
    warm_cache.keep(SettingsVersion.Meta.table_name, ("settings", cohort_id), saved)
    return saved


def _latest(cohort_id: str) -> Saved:
    for item in SettingsVersion.query(cohort_id, scan_index_forward=False, limit=1, consistent_read=True):
        return _saved(item)
    return Saved(cohort_id, 0, settings_document.defaults())


def _saved(item: SettingsVersion) -> Saved:
    return Saved(item.cohort, int(item.version), item.document, item.saved_by, item.saved_at)
