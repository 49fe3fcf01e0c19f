"""Membership in the association, the program's only requirement.

The committee loads the roster; an application whose membership number or
email is on the current roster (and not expired) is eligible. A small roster is
loaded within the request; a large one is uploaded straight to S3 and loaded by
the job worker, a thousand members a step (roster_step).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import date
from functools import lru_cache

from pynamodb.exceptions import TransactWriteError

from chalicelib.adapters import uploads
from chalicelib.adapters.aws import signing_key
from chalicelib.services import audit, jobs
from chalicelib.domain import clock
from chalicelib.adapters.models import Application, AuditEntry, Claim, Job, Member
from chalicelib.domain.roster import (RosterRead, RosterRow, decode_spreadsheet_export, normalise_membership_id,
                                      parse_roster, read_roster)
from chalicelib.domain.refusals import Conflict, Invalid, NotFound
from chalicelib.adapters.store import cohort_size_at_most, open_cohort, transaction
from chalicelib.services.applications import Status

log = logging.getLogger(__name__)

CURRENT_ROSTER = "roster#current"
ROSTER_REPLACED = "roster_replaced"


def current_roster() -> str | None:
    try:
        return Claim.get(CURRENT_ROSTER, consistent_read=True).owner
    except Claim.DoesNotExist:
        return None


def _valid(member: Member, today: date) -> bool:
    return not member.expires or date.fromisoformat(member.expires) >= today


def on_roster(membership_id: str, email: str) -> bool:
    roster = current_roster()
    if roster is None:
        return False
    today = clock.now().date()
    if membership_id:
        try:
            if _valid(Member.get(roster, normalise_membership_id(membership_id)), today):
                return True
        except Member.DoesNotExist:
            pass
    return any(_valid(member, today) for member in Member.by_email.query(f"{roster}#{email.lower()}"))


def status_for(membership_id: str, email: str) -> str:
    return Status.ELIGIBLE if on_roster(membership_id, email) else Status.PENDING_VERIFICATION


def replace_roster(rows: list[RosterRow], by: str) -> int:
    """Write the new roster as a new version, then switch to it in one step."""
    previous = current_roster()
    version = _new_version()
    _write_rows(version, rows)
    try:
        _switch_to(version, previous, by, len(rows))
    except Conflict:
        _delete_version(version)
        raise
    if previous:
        _delete_version(previous)
    return len(rows)


def _new_version() -> str:
    return f"{clock.iso(clock.now())}#{secrets.token_hex(4)}"


def _write_rows(version: str, rows) -> None:
    with Member.batch_write() as batch:
        for row in rows:
            batch.save(Member(
                roster=version, membership_id=row.membership_id, roster_email=f"{version}#{row.email}",
                email=row.email, name=row.name, expires=row.expires.isoformat() if row.expires else None,
            ))


def _switch_to(version: str, previous: str | None, by: str, members: int) -> None:
    """Make `version` the current roster, unless another was loaded since `previous` was read."""
    pointer = Claim(key=CURRENT_ROSTER, owner=version)
    unchanged = Claim.key.does_not_exist() if previous is None else Claim.owner == previous
    try:
        with transaction() as write:
            write.save(pointer, condition=unchanged)
            write.save(audit.entry(by, ROSTER_REPLACED, version, details={"members": members}))
    except TransactWriteError:
        if current_roster() == version:
            return  # this very switch was made before (a step repeated)
        raise Conflict("Another roster was loaded at the same moment. Please load yours again.") from None


def _delete_version(version: str, limit: int | None = None) -> int:
    """Delete the version's rows (at most `limit` of them); returns how many were deleted."""
    deleted = 0
    with Member.batch_write() as batch:
        for member in Member.query(version, consistent_read=True, limit=limit):
            batch.delete(member)
            deleted += 1
    return deleted


def recheck_pending(cohort_id: str) -> int:
    """Make eligible every pending application of the cohort now on the roster."""
    return sum(_recheck(application) for role in ("mentor", "mentee")
               for application in Application.by_cohort_role.query(f"{cohort_id}#{role}"))


def _recheck(application: Application) -> bool:
    if application.status != Status.PENDING_VERIFICATION or not on_roster(application.membership_id, application.email):
        return False
    try:
        application.update(actions=[Application.status.set(Status.ELIGIBLE)],
                           condition=Application.status == Status.PENDING_VERIFICATION)
    except Exception:  # noqa: BLE001 - changed meanwhile (withdrawn, say): leave it
        log.info("application %s changed while the roster was checked", application.id)
        return False
    return True


def roster_summary() -> dict | None:
    """The roster in use: how many members, when it was loaded and by whom (from its audit entry,
    written with it); None when none is loaded."""
    version = current_roster()
    if version is None:
        return None
    loaded_at = version.split("#", 1)[0]
    found = AuditEntry.query(loaded_at[:7], AuditEntry.at_id >= loaded_at,
                             filter_condition=AuditEntry.action == ROSTER_REPLACED)
    entry = next((entry for entry in found if entry.target in (version, None)), None)
    return {"loaded_at": loaded_at, "loaded_by": entry.member if entry else None,
            "members": (entry.details or {}).get("members") if entry else None}


def preview_roster(csv_text: str) -> RosterRead:
    """The roster as it would be loaded, and the column mapping it was read with; nothing is stored."""
    return read_roster(csv_text)


def load_roster(by: str, csv_text: str) -> dict:
    """Replace the roster from the committee's CSV, then re-check the open cohort's waiting applications."""
    members = replace_roster(read_roster(csv_text).rows, by=by)
    cohort = open_cohort()
    return {"members": members, "newly_eligible": recheck_pending(cohort.id) if cohort else 0}


# Large rosters: uploaded to S3, loaded by the job worker (services/jobs.py).

ROSTER_JOB = "load_roster"
ROSTER_UPLOADS = uploads.PREFIX + "roster/"
MAX_ROSTER_BYTES = 20 * 1024 * 1024  # some 200,000 members (domain.roster.MAX_MEMBERS)
# A roster this small is loaded within the request, if the open cohort (whose waiting
# applications are checked again) is small too; otherwise the job worker loads it.
INLINE_ROSTER_BYTES = 256 * 1024
INLINE_COHORT = 100
ROSTER_STEP = 1_000  # rows written (or deleted, or applications checked) in one step


def fits_in_request(size: int) -> bool:
    cohort = open_cohort()
    return size <= INLINE_ROSTER_BYTES and (cohort is None or cohort_size_at_most(cohort.id, INLINE_COHORT))


def upload_owner(session_id: str) -> str:
    """A tag for one committee session's uploads, so an uploaded file is loaded only by whoever sent it."""
    return hmac.new(signing_key(), f"roster-upload:{session_id}".encode(), hashlib.sha256).hexdigest()[:24]


def new_upload_key(owner: str) -> str:
    return f"{ROSTER_UPLOADS}{owner}/{secrets.token_hex(16)}.csv"


def upload_form(owner: str, redirect_to: str) -> dict:
    """The form that uploads a roster file straight to S3 (see adapters.uploads)."""
    return uploads.upload_form(new_upload_key(owner), redirect_to, MAX_ROSTER_BYTES)


def load_roster_or_start(by: str, owner: str, csv_text: str) -> dict | Job:
    """Load a roster sent in a request: now if it is small, else through an upload and a job."""
    raw = csv_text.encode("utf-8")
    if fits_in_request(len(raw)):
        return load_roster(by, csv_text)
    key = new_upload_key(owner)
    uploads.put(key, raw)
    return load_uploaded(by, owner, key)


def _check_owner(owner: str, key: str) -> None:
    if not key.startswith(f"{ROSTER_UPLOADS}{owner}/") or ".." in key:
        raise Invalid("That upload is not one of yours.", field="key")


def preview_uploaded(owner: str, key: str) -> RosterRead:
    """An uploaded roster file as it would be loaded, and its column mapping; nothing is stored."""
    _check_owner(owner, key)
    if uploads.size(key) is None:
        raise NotFound("The uploaded file is not there (uploads are kept for a day). Please upload it again.")
    return read_roster(decode_spreadsheet_export(uploads.read(key)))


def load_uploaded(by: str, owner: str, key: str) -> Job:
    """Start loading an uploaded roster file. Asked twice for one file (a confirmation sent
    twice), it starts one job: the job's id comes from the file's key."""
    _check_owner(owner, key)
    job_id = hashlib.sha256(key.encode()).hexdigest()[:32]
    started = jobs.find(job_id)
    if started is not None:
        return started  # its file may be gone already: loaded, and deleted
    if uploads.size(key) is None:
        raise NotFound("The uploaded file is not there (uploads are kept for a day). Please upload it again.")
    return jobs.submit(ROSTER_JOB, by, {"key": key}, job_id=job_id)


def roster_step(job: Job) -> jobs.Progress:
    """One step of loading an uploaded roster: read and check it whole, write its rows as a
    new version a thousand at a time, switch to it, delete the old version, check the open
    cohort's waiting applications again. Each step is safe to repeat."""
    cursor = job.cursor or {"phase": "read"}
    phase, key = cursor["phase"], job.params["key"]
    if phase == "read":
        rows = _uploaded_rows(key)  # a roster with problems is refused here, whole
        return _progress({"phase": "write", "version": _new_version(), "previous": current_roster(), "next": 0},
                         0, len(rows))
    if phase == "write":
        rows = _uploaded_rows(key)
        end = min(cursor["next"] + ROSTER_STEP, len(rows))
        _write_rows(cursor["version"], rows[cursor["next"]:end])
        return _progress({**cursor, "phase": "switch" if end == len(rows) else "write", "next": end}, end, len(rows))
    if phase == "switch":
        try:
            _switch_to(cursor["version"], cursor["previous"], job.requested_by, int(job.total))
        except Conflict as refusal:
            return _progress({**cursor, "phase": "discard", "problem": refusal.message}, job.done, job.total)
        return _progress({**cursor, "phase": "delete_old" if cursor["previous"] else "recheck"}, job.done, job.total)
    if phase in ("delete_old", "discard"):
        version = cursor["previous"] if phase == "delete_old" else cursor["version"]
        if _delete_version(version, limit=ROSTER_STEP):
            return _progress(cursor, job.done, job.total)
        if phase == "discard":
            raise Conflict(cursor["problem"])
        return _progress({**cursor, "phase": "recheck"}, job.done, job.total)
    return _recheck_step(job, cursor)


def _recheck_step(job: Job, cursor: dict) -> jobs.Progress:
    cohort = open_cohort()
    role, eligible = cursor.get("role", "mentor"), cursor.get("eligible", 0)
    if cohort is not None:
        page = Application.by_cohort_role.query(f"{cohort.id}#{role}", limit=ROSTER_STEP,
                                                last_evaluated_key=cursor.get("last"))
        eligible += sum(_recheck(application) for application in page)
        if page.last_evaluated_key is not None or role == "mentor":
            more = page.last_evaluated_key is not None
            return _progress({**cursor, "role": role if more else "mentee", "last": page.last_evaluated_key,
                              "eligible": eligible}, job.done, job.total)
    uploads.delete(key=job.params["key"])  # the members' details are in the roster now, and only there
    return jobs.Progress(cursor, int(job.done), int(job.total), finished=True,
                         result={"members": int(job.total), "newly_eligible": eligible})


def _progress(cursor: dict, done, total) -> jobs.Progress:
    return jobs.Progress(cursor, int(done), int(total))


@lru_cache(maxsize=1)
def _uploaded_rows(key: str) -> tuple[RosterRow, ...]:
    """The uploaded roster, read and checked once per container (the write steps reuse it)."""
    if uploads.size(key) is None:
        raise NotFound("The uploaded file is gone (uploads are kept for a day). Please upload it again.")
    return tuple(parse_roster(decode_spreadsheet_export(uploads.read(key))))
