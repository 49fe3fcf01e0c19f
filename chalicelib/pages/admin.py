"""The committee's admin area: dashboard, applications, roster, committee, cohorts and people.

Every function here is reached only through app.py's committee guard, and
takes the signed-in member's Session so each action lands in the audit trail.
"""
from __future__ import annotations

import re
from collections import Counter

from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Application, Job
from chalicelib.adapters.store import cohort_applications, cohort_or_open, open_cohort, required_cohort
from chalicelib.domain.cohort_phases import CLOSED, MEANING
from chalicelib.domain import clock, limits, settings_document
from chalicelib.domain.refusals import Invalid, Refused, TooLarge
from chalicelib.domain.roster import RosterInvalid, decode_spreadsheet_export
from chalicelib.domain.schema import ROLES
from chalicelib.domain.validation import EMAIL_PATTERN
from chalicelib.pages import admin_jobs, web
from chalicelib.pages.sign_in import UPLOAD_LIMIT
from chalicelib.services import (alerts, audit, carry_over, cohorts, committee, concerns, jobs, mail, membership, retention,
                                 settings_store)
from chalicelib.services.application_review import MAX_REASON, act_on_application, cohort_is_open
from chalicelib.services.applications import STATUSES, Status, application_record, get_application
from chalicelib.services.committee import Session

ROLE_VALUES = tuple(value for value, _ in ROLES)


def dashboard(session: Session, query: dict | None = None) -> web.Answer:
    cohort = cohort_or_open((query or {}).get("cohort"))
    summary = {}
    if cohort:
        for application in cohort_applications(cohort.id):
            counts = summary.setdefault(application.role, Counter())
            counts[application.status] += 1
            counts["unconfirmed"] += application.email_confirmed_at is None
    recent = alerts.recent(cohort.id) if cohort else []
    open_concerns, open_in_all = concerns.open_for(session.email)
    pairing_ids = {alert.pairing_id for alert in recent} | {concern["pairing_id"] for concern in open_concerns}
    return web.admin_page("pages/admin/dashboard.html", session, cohort=cohort, summary=summary, statuses=STATUSES,
                 alerts=recent, partners=alerts.partners(pairing_ids - {None}), concerns=open_concerns,
                 concerns_in_all=open_in_all,
                 quarantined=alerts.replies_to_read("quarantined"), unrated=alerts.replies_to_read("unrated"),
                 parked=mail.parked_mail(), parked_days=mail.KEEP_PARKED_FOR.days)


def applications_page(session: Session, query: dict) -> web.Answer:
    cohort = cohort_or_open(query.get("cohort"))
    role, status = query.get("role") or "", query.get("status") or ""
    found = [application_record(a) for a in cohort_applications(cohort.id, role, status)] if cohort else []
    return web.admin_page("pages/admin/applications.html", session, cohort=cohort, applications=found,
                 role_filter=role, status_filter=status, statuses=STATUSES)


@web.json_route
def applications_json(query: dict) -> web.Answer:
    cohort = required_cohort(query.get("cohort"))
    role, status = query.get("role"), query.get("status")
    if role and role not in ROLE_VALUES:
        raise Invalid("Use mentor or mentee.", field="role")
    if status and status not in STATUSES:
        raise Invalid(f"Use one of: {', '.join(STATUSES)}.", field="status")
    return web.json_answer({"cohort": cohort.id,
                            "applications": [application_record(a) for a in cohort_applications(cohort.id, role, status)]})


def answered_form(application: Application) -> tuple[int, tuple]:
    """The settings version whose form the application answered, and that form's fields as
    asked of the applicant (retired topics included), so old answers keep their labels."""
    number = int(application.form_version or 0)
    try:
        document = settings_store.version(application.cohort, number).document
    except LookupError:
        document = settings_store.current(application.cohort).document
    fields = settings_document.application_fields(document, include_retired=True)
    return number, tuple(field for field in fields if field.asks(application.role))


@web.html_route
def application_page(session: Session, application_id: str, problem: str = "", status: int = 200,
                     confirm_withdrawal: bool = False, reason: str = "", done: str = "") -> web.Answer:
    application = get_application(application_id)
    form_version, fields = answered_form(application)
    name = application.answers.get("name", "The applicant")
    flash = {"withdraw": f"The application is withdrawn, and {name} has been told in a short mail.",
             "undo_withdraw": f"The withdrawal is undone: {name}'s application is back in the cohort, "
                              f"and {name} has been told in a short mail."}.get(done, "")
    low, high = limits.CAPACITY
    return web.admin_page("pages/admin/application.html", session, status=status, application=application_record(application),
                 fields=fields, form_version=form_version, flash=flash, problem=problem, capacities=range(low, high + 1),
                 pending_because=pending_reasons(application), confirm_withdrawal=confirm_withdrawal, reason=reason,
                 can_undo=application.status == Status.WITHDRAWN and cohort_is_open(application.cohort))


def pending_reasons(application: Application) -> list[str]:
    """Why an application waits for verification, in the committee's words; empty when it does not."""
    if application.status != Status.PENDING_VERIFICATION:
        return []
    reasons = []
    if application.email_confirmed_at is None:
        reasons.append("The applicant has not confirmed their email address yet: the confirmation mail asks them to.")
    if membership.current_roster() is None:
        reasons.append("No member roster is loaded yet: load one on the roster page, or mark the applicant as a member.")
    elif not membership.on_roster(application.membership_id, application.email):
        reasons.append(f"Neither the membership number {application.membership_id or '(none given)'} nor the address "
                       f"{application.email} is on the current member roster (or the membership has expired). "
                       "Check the number with them, or mark them as a member if you know they are one.")
    return reasons


@web.html_route
def application_action_form(session: Session, application_id: str, raw_body: bytes) -> web.Answer:
    values = {name: items[0] for name, items in web.decode_form(raw_body).items()}
    get_application(application_id)  # an unknown application is "not found", not a problem on its page
    action = values.get("action", "")
    if action == "withdraw" and values.get("confirm") != "yes":  # the first press asks to confirm, with a reason
        return application_page(session, application_id, confirm_withdrawal=True, reason=values.get("reason", ""))
    try:
        act_on_application(session.email, application_id, *_action_and_capacity(action, values.get("capacity")),
                           reason=values.get("reason"))
    except Refused as refusal:
        return application_page(session, application_id, problem=refusal.message, status=web.status_of(refusal),
                                confirm_withdrawal=action == "withdraw", reason=values.get("reason", ""))
    done = f"?done={action}" if action in ("withdraw", "undo_withdraw") else ""
    return web.redirect(f"/admin/applications/{application_id}{done}")


@web.json_route
def application_action_json(session: Session, application_id: str, raw_body: bytes) -> web.Answer:
    document = web.decode_json(raw_body)
    if not isinstance(document, dict):
        raise Invalid('Send {"action": "mark_eligible" | "withdraw" | "undo_withdraw" | "set_capacity", '
                      '"reason"?: "...", "capacity"?: n}.')
    application = act_on_application(session.email, application_id,
                                     *_action_and_capacity(document.get("action"), document.get("capacity")),
                                     reason=limits.text(document.get("reason"), "reason", MAX_REASON, what="the reason"))
    return web.json_answer(application_record(application))


def _action_and_capacity(action, capacity) -> tuple[str, int | None]:
    action = limits.text(action, "action", 20, what="the action")
    if action != "set_capacity":
        return action, None
    return action, limits.whole_number(capacity, "capacity", limits.CAPACITY, "the number of mentees")


ROSTER_SAMPLE_ROWS = 5
ROSTER_UPLOADED = "/admin/roster/uploaded"


def roster_page(session: Session, problems: list[str] = (), flash: str = "", status: int = 200,
                preview: dict | None = None) -> web.Answer:
    """The roster page. Its form uploads the file straight to S3, whatever its size (a request
    to the API carries at most 6 MB); S3 then sends the browser on to roster_uploaded."""
    form = membership.upload_form(membership.upload_owner(session.session_id),
                                  redirect_to=settings().base_url + ROSTER_UPLOADED)
    answer = web.admin_page("pages/admin/roster.html", session, status=status, problems=problems, flash=flash,
                            upload=form, max_megabytes=membership.MAX_ROSTER_BYTES // (1024 * 1024),
                            loaded=membership.roster_summary(), preview=preview)
    web.allow_form_action(answer, form["url"])
    return answer


def _preview(read, key: str = "", text: str = "") -> dict:
    """What the roster page shows before anything is replaced; `key` (an uploaded file) or
    `text` (a file sent with the form) is what its confirmation sends back."""
    return {"key": key, "text": text, "mapping": read.mapping, "members": len(read.rows), "rows": read.rows[:ROSTER_SAMPLE_ROWS]}


def roster_uploaded(session: Session, query: dict) -> web.Answer:
    """Where S3 sends the browser once the file is uploaded: the file is read and shown with
    nothing replaced; the confirmation (roster_upload) starts the job that loads it. A forged
    link shows nothing: the key must name a file that this very session uploaded."""
    key = query.get("key") or ""
    try:
        read = membership.preview_uploaded(membership.upload_owner(session.session_id), key)
    except RosterInvalid as refusal:
        return roster_page(session, refusal.problems, status=web.status_of(refusal))
    except Refused as refusal:
        return roster_page(session, [refusal.message], status=web.status_of(refusal))
    return roster_page(session, preview=_preview(read, key=key))


def roster_upload(session: Session, raw_body: bytes, content_type: str) -> web.Answer:
    """Two steps: a file sent here is read and shown (the column mapping, the count, the first
    rows) with nothing replaced; the confirmation sends the same text back, or the key of the
    file uploaded to S3, to load it."""
    try:
        fields = web.decode_multipart(raw_body, content_type, UPLOAD_LIMIT)
        owner = membership.upload_owner(session.session_id)
        if fields.get("confirm", [""])[0] != "yes":
            text = fields.get("roster", [""])[0]
            return roster_page(session, preview=_preview(membership.preview_roster(text), text=text))
        key = fields.get("key", [""])[0]
        loaded = (membership.load_uploaded(session.email, owner, key) if key
                  else membership.load_roster_or_start(session.email, owner, fields.get("roster_text", [""])[0]))
    except RosterInvalid as refusal:
        return roster_page(session, refusal.problems, status=web.status_of(refusal))
    except Refused as refusal:
        return roster_page(session, [refusal.message], status=web.status_of(refusal))
    if isinstance(loaded, Job):
        return admin_jobs.accepted_page(loaded)
    return roster_page(session, flash=admin_jobs.roster_message(loaded))


@web.json_route
def roster_put(session: Session, raw_body: bytes) -> web.Answer:
    if len(raw_body or b"") > UPLOAD_LIMIT:
        raise TooLarge("The roster is too large to send here: keep it under 5 MB, or upload it on the roster page.")
    loaded = membership.load_roster_or_start(session.email, membership.upload_owner(session.session_id),
                                             decode_spreadsheet_export(raw_body or b""))
    if isinstance(loaded, Job):
        return admin_jobs.accepted_json(loaded)
    return web.json_answer(loaded)


def committee_page(session: Session, flash: str = "", problem: str = "", status: int = 200) -> web.Answer:
    return web.admin_page("pages/admin/committee.html", session, status=status, members=committee.members(),
                 flash=flash, problem=problem)


def committee_change(session: Session, change: str, raw_body: bytes) -> web.Answer:
    email = web.decode_form(raw_body).get("email", [""])[0]
    try:
        if change == "add":
            committee.add_member(session, email)
        else:
            committee.remove_member(session, email)
    except Refused as refusal:
        return committee_page(session, problem=refusal.message, status=web.status_of(refusal))
    done = "added to" if change == "add" else "removed from"
    return committee_page(session, flash=f"{email.strip().lower()} was {done} the committee.")


# Cohorts, and one person's data (retention and erasure).

def cohorts_page(session: Session, flash: str = "", problem: str = "", status: int = 200,
                 confirm_invitations: bool = False) -> web.Answer:
    accepting = open_cohort()
    return web.admin_page("pages/admin/cohorts.html", session, status=status, cohorts=cohorts.summaries(), flash=flash,
                          problem=problem, retention_months=settings().retention_months, meaning=MEANING,
                          accepting=accepting, invitations=_invitation_jobs(accepting),
                          confirm_invitations=confirm_invitations)


def _invitation_jobs(accepting) -> list[dict]:
    """The accepting cohort's invitation jobs, as the cohorts page shows their progress."""
    if accepting is None:
        return []
    found = ((scope, carry_over.latest_job(accepting, scope)) for scope in carry_over.SCOPES)
    return [{**jobs.job_record(job), "scope": scope, "url": admin_jobs.page_url(job),
             "outcome": admin_jobs.outcome(job.kind, job.result)} for scope, job in found if job is not None]


def _cohort_change(session: Session, change: str, values: dict) -> str | Job:
    if change == "open":
        cohort = cohorts.open_new(session.email, limits.text(values.get("id"), "id", 40, what="the cohort's id"),
                                  limits.text(values.get("name"), "name", 100, what="the cohort's name"))
        return (f"Cohort {cohort.name} is open for applications. The mentors who asked to stay in the standing "
                "pool are being invited.")
    target = CLOSED if change == "close" else limits.text(values.get("phase"), "phase", 20, what="the phase")
    if target == CLOSED and values.get("confirm") not in ("yes", True):
        raise Invalid("Tick the box to confirm: closing a cohort cannot be undone.", field="confirm")
    end_live = values.get("end_live_pairings")
    if not isinstance(end_live, bool) and end_live not in (None, "yes"):
        raise Invalid("end_live_pairings is true or false.", field="end_live_pairings")
    cohort_id = limits.text(values.get("cohort"), "cohort", 40, what="the cohort")
    if not cohort_id:
        raise Invalid("Choose the cohort to move on.", field="cohort")
    return cohorts.move(session.email, cohort_id, target, end_live_pairings=end_live in (True, "yes"))


@web.json_route
def carry_over_json(session: Session) -> web.Answer:
    return admin_jobs.accepted_json(carry_over.invite_previous(session.email))


def carry_over_form(session: Session, raw_body: bytes) -> web.Answer:
    """Two steps, since it mails many people: the first press asks to confirm, the second starts the job."""
    if web.decode_form(raw_body).get("confirm", [""])[0] != "yes":
        return cohorts_page(session, confirm_invitations=True)
    try:
        job = carry_over.invite_previous(session.email)
    except Refused as refusal:
        return cohorts_page(session, problem=refusal.message, status=web.status_of(refusal))
    return admin_jobs.accepted_page(job)


@web.json_route
def cohorts_json() -> web.Answer:
    return web.json_answer(cohorts.summaries())


def cohort_change_form(session: Session, change: str, raw_body: bytes) -> web.Answer:
    values = {name: items[0] for name, items in web.decode_form(raw_body).items()}
    try:
        changed = _cohort_change(session, change, values)
    except Refused as refusal:
        return cohorts_page(session, problem=refusal.message, status=web.status_of(refusal))
    return admin_jobs.accepted_page(changed) if isinstance(changed, Job) else cohorts_page(session, flash=changed)


@web.json_route
def cohort_change_json(session: Session, change: str, raw_body: bytes, cohort_id: str = "") -> web.Answer:
    document = web.decode_json(raw_body) if raw_body else {}
    if not isinstance(document, dict):
        raise Invalid("Send a JSON object.")
    changed = _cohort_change(session, change, {**document, "cohort": cohort_id, "confirm": True})
    if isinstance(changed, Job):
        return admin_jobs.accepted_json(changed)
    if change == "open":
        return web.json_answer({"message": changed}, status=201)
    return web.json_answer({"message": changed, "cohort": cohorts.summary(required_cohort(cohort_id))})


def person_page(session: Session, query: dict, flash: str = "", problem: str = "", status: int = 200) -> web.Answer:
    email = (query.get("email") or "").strip().lower()
    found = retention.export_person(email) if email else None
    return web.admin_page("pages/admin/person.html", session, status=status, email=email, found=found, flash=flash, problem=problem)


@web.json_route
def person_export_json(query: dict) -> web.Answer:
    email = (query.get("email") or "").strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise Invalid("Give the person's email address: ?email=name@example.org", field="email")
    answer = web.json_answer(retention.export_person(email))
    answer.headers["Content-Disposition"] = 'attachment; filename="personal-data.json"'
    return answer


def person_erase_form(session: Session, raw_body: bytes) -> web.Answer:
    values = {name: items[0] for name, items in web.decode_form(raw_body).items()}
    email = values.get("email", "").strip().lower()
    if values.get("confirm") != "yes" or not EMAIL_PATTERN.match(email):
        return person_page(session, {"email": email}, problem="Tick the box to confirm: erasing cannot be undone.", status=400)
    counts = retention.erase_person(session.email, email)
    return person_page(session, {}, flash=f"Erased: {counts['applications']} applications, {counts['pairings']} pairings, "
                                         f"{counts['roster_rows']} roster rows.")


@web.json_route
def person_erase_json(session: Session, raw_body: bytes) -> web.Answer:
    document = web.decode_json(raw_body)
    email = document.get("email", "") if isinstance(document, dict) else ""
    if not isinstance(email, str) or not EMAIL_PATTERN.match(email.strip().lower()):
        raise Invalid("Give the person's email address.", field="email")
    return web.json_answer({"erased": retention.erase_person(session.email, email)})


@web.json_route
def audit_json(query: dict) -> web.Answer:
    """The committee's audit trail for one month ("2027-02"; this month by default), newest first."""
    month = query.get("month") or clock.now().strftime("%Y-%m")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise Invalid("Give the month as YYYY-MM.", field="month")
    return web.json_answer({"month": month, "entries": [
        {"at": entry.at_id.split("#", 1)[0], "member": entry.member, "action": entry.action, "target": entry.target,
         "details": entry.details} for entry in audit.recent(month)]})
