"""The committee's admin area: applications, roster and committee members.

Every function here is reached only through app.py's committee guard, and
takes the signed-in member's Session so each action lands in the audit trail.
"""
from __future__ import annotations

from collections import Counter

from pynamodb.exceptions import PynamoDBException, TransactWriteError

from chalicelib.services import alerts, audit, committee, mail, membership, pairings, retention, settings_store
from chalicelib.domain import program_settings
from chalicelib.pages import web
from chalicelib.services.committee import Session, admin_page
from chalicelib.adapters.config import settings
from chalicelib.services.intake import WITHDRAWN, claim_key
from chalicelib.adapters.models import Application, Claim, Cohort
from chalicelib.domain.roster import RosterInvalid, parse_roster
from chalicelib.domain.schema import FIELDS_BY_NAME, ROLES
from chalicelib.adapters.store import ConflictError, cohort_applications, open_cohort, transaction
from chalicelib.domain.validation import EMAIL_PATTERN

STATUSES = (membership.PENDING_VERIFICATION, membership.ELIGIBLE, WITHDRAWN)
ROLE_VALUES = tuple(value for value, _ in ROLES)
ACTIONS = ("mark_eligible", "withdraw", "set_capacity")


class NotFound(Exception):
    pass


def application_record(application: Application) -> dict:
    return {
        "id": application.id,
        "cohort": application.cohort,
        "role": application.role,
        "status": application.status,
        "email_confirmed": application.email_confirmed_at is not None,
        "created_at": application.created_at.isoformat(),
        "answers": application.answers,
    }


def cohort_or_open(cohort_id: str | None) -> Cohort | None:
    if cohort_id:
        try:
            return Cohort.get(cohort_id)
        except Cohort.DoesNotExist:
            return None
    return open_cohort()


def get_application(application_id: str) -> Application:
    try:
        return Application.get(application_id, consistent_read=True)
    except Application.DoesNotExist:
        raise NotFound(f"No application {application_id}.") from None


def act_on_application(session: Session, application_id: str, action: str, capacity: str | None = None) -> Application:
    """Mark eligible by hand, withdraw, or change a mentor's capacity."""
    application = get_application(application_id)
    if action == "mark_eligible":
        if application.status != membership.PENDING_VERIFICATION:
            raise ConflictError(f"This application is {application.status.replace('_', ' ')}, not waiting for verification.")
        application.status = membership.ELIGIBLE
    elif action == "withdraw":
        if application.status == WITHDRAWN:
            return application
        application.status = WITHDRAWN
    elif action == "set_capacity":
        field = FIELDS_BY_NAME["capacity"]
        if application.role != "mentor":
            raise ValueError("Only mentors have a capacity.")
        if capacity not in dict(field.choices):
            raise ValueError("Choose a capacity of 1, 2 or 3 mentees.")
        if any(slot > int(capacity) for slot in pairings.taken_slots(application.id)):
            raise ConflictError(f"{application.answers['name']}'s live pairings already use more places than that. "
                                "Lower the capacity once one of them has ended.")
        application.answers = {**application.answers, "capacity": int(capacity)}
    else:
        raise ValueError(f"Unknown action. Use one of: {', '.join(ACTIONS)}.")
    try:
        with transaction() as write:
            write.save(application)  # conditional on the version read above
            if action == "withdraw":  # a withdrawn application is not live: the person may apply again
                write.delete(Claim(key=claim_key(application.cohort, application.role, application.email)))
            write.save(audit.entry(session.email, f"application_{action}", application.id,
                                   {"capacity": int(capacity)} if action == "set_capacity" else None))
    except TransactWriteError:
        raise ConflictError("The application changed while you were looking at it. Reload and try again.") from None
    return application


def load_roster(session: Session, csv_text: str) -> dict:
    rows = parse_roster(csv_text)
    members = membership.replace_roster(rows, by=session.email)
    cohort = open_cohort()
    newly_eligible = membership.recheck_pending(cohort.id) if cohort else 0
    return {"members": members, "newly_eligible": newly_eligible}


# Web answers: HTML pages and the JSON API. Each app.py handler calls one.

def dashboard(session: Session) -> web.Answer:
    cohort = open_cohort()
    summary = {}
    if cohort:
        for application in cohort_applications(cohort.id):
            counts = summary.setdefault(application.role, Counter())
            counts[application.status] += 1
            counts["unconfirmed"] += application.email_confirmed_at is None
    recent = alerts.recent(cohort.id) if cohort else []
    return admin_page("pages/admin/dashboard.html", session, cohort=cohort, summary=summary, statuses=STATUSES,
                 alerts=recent, partners=alerts.partners({alert.pairing_id for alert in recent} - {None}),
                 quarantined=alerts.replies_to_read("quarantined"), unrated=alerts.replies_to_read("unrated"),
                 parked=mail.parked_mail(), parked_days=mail.KEEP_PARKED_FOR.days)


def applications_page(session: Session, query: dict) -> web.Answer:
    cohort = cohort_or_open(query.get("cohort"))
    role, status = query.get("role") or "", query.get("status") or ""
    found = [application_record(a) for a in cohort_applications(cohort.id, role, status)] if cohort else []
    return admin_page("pages/admin/applications.html", session, cohort=cohort, applications=found,
                 role_filter=role, status_filter=status, statuses=STATUSES)


def applications_json(query: dict) -> web.Answer:
    cohort = cohort_or_open(query.get("cohort"))
    if cohort is None:
        return web.json_answer({"errors": {"cohort": "No such cohort, and none is open."}}, status=404)
    role, status = query.get("role"), query.get("status")
    if role and role not in ROLE_VALUES:
        return web.json_answer({"errors": {"role": "Use mentor or mentee."}}, status=400)
    if status and status not in STATUSES:
        return web.json_answer({"errors": {"status": f"Use one of: {', '.join(STATUSES)}."}}, status=400)
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
    fields = program_settings.application_fields(document, include_retired=True)
    return number, tuple(field for field in fields if field.asks(application.role))


def application_page(session: Session, application_id: str, flash: str = "", problem: str = "", status: int = 200) -> web.Answer:
    try:
        application = get_application(application_id)
    except NotFound as error:
        return web.page("pages/error.html", status=404, heading="Not found", message=str(error))
    form_version, fields = answered_form(application)
    return admin_page("pages/admin/application.html", session, status=status, application=application_record(application),
                 fields=fields, form_version=form_version, flash=flash, problem=problem)


def application_action_form(session: Session, application_id: str, raw_body: bytes) -> web.Answer:
    values = web.decode_form(raw_body)
    action = values.get("action", [""])[0]
    try:
        act_on_application(session, application_id, action, values.get("capacity", [None])[0])
    except NotFound as error:
        return web.page("pages/error.html", status=404, heading="Not found", message=str(error))
    except (ValueError, ConflictError) as error:
        return application_page(session, application_id, problem=str(error), status=409 if isinstance(error, ConflictError) else 400)
    return web.redirect(f"/admin/applications/{application_id}")


def application_action_json(session: Session, application_id: str, raw_body: bytes) -> web.Answer:
    try:
        document = web.decode_json(raw_body)
        if not isinstance(document, dict):
            raise web.BadRequest(400, 'Send {"action": "mark_eligible" | "withdraw" | "set_capacity", "capacity"?: n}.')
        capacity = document.get("capacity")
        application = act_on_application(session, application_id, str(document.get("action", "")),
                                         None if capacity is None else str(capacity))
    except web.BadRequest as error:
        return web.json_error(error.status, error.message)
    except NotFound as error:
        return web.json_error(404, str(error))
    except ConflictError as error:
        return web.json_error(409, str(error))
    except ValueError as error:
        return web.json_error(400, str(error))
    return web.json_answer(application_record(application))


def roster_page(session: Session, problems: list[str] = (), flash: str = "", status: int = 200) -> web.Answer:
    return admin_page("pages/admin/roster.html", session, status=status, problems=problems, flash=flash)


def roster_upload(session: Session, raw_body: bytes, content_type: str) -> web.Answer:
    try:
        files = web.decode_multipart(raw_body, content_type, committee.UPLOAD_LIMIT).get("roster", [""])
        result = load_roster(session, files[0])
    except web.BadRequest as error:
        return roster_page(session, [error.message], status=error.status)
    except RosterInvalid as error:
        return roster_page(session, error.problems, status=400)
    except ConflictError as error:
        return roster_page(session, [str(error)], status=409)
    return roster_page(session, flash=f"Loaded {result['members']} members. "
                                      f"{result['newly_eligible']} waiting applications are now eligible.")


def roster_put(session: Session, raw_body: bytes) -> web.Answer:
    try:
        if len(raw_body or b"") > committee.UPLOAD_LIMIT:
            raise web.BadRequest(413, "The roster is too large: keep it under 5 MB.")
        result = load_roster(session, web.decode_text_file(raw_body or b""))
    except web.BadRequest as error:
        return web.json_error(error.status, error.message)
    except RosterInvalid as error:
        return web.json_answer({"errors": {"_body": "The roster was not loaded.", "lines": error.problems}}, status=400)
    except ConflictError as error:
        return web.json_error(409, str(error))
    return web.json_answer(result)


def committee_page(session: Session, flash: str = "", problem: str = "", status: int = 200) -> web.Answer:
    return admin_page("pages/admin/committee.html", session, status=status, members=committee.members(),
                 flash=flash, problem=problem)


def committee_change(session: Session, change: str, raw_body: bytes) -> web.Answer:
    email = web.decode_form(raw_body).get("email", [""])[0]
    try:
        if change == "add":
            committee.add_member(session, email)
        else:
            committee.remove_member(session, email)
    except ValueError as error:
        return committee_page(session, problem=str(error), status=400)
    except PynamoDBException:
        return committee_page(session, problem="That did not work; please try again.", status=409)
    done = "added to" if change == "add" else "removed from"
    return committee_page(session, flash=f"{email.strip().lower()} was {done} the committee.")


def sign_out(session: Session) -> web.Answer:
    answer = web.redirect("/admin/login")
    answer.headers["Set-Cookie"] = committee.sign_out(session)
    return answer


# Cohorts, and one person's data (retention and erasure).

def cohorts_page(session: Session, flash: str = "", problem: str = "", status: int = 200) -> web.Answer:
    cohorts = [cohort for state in ("open", "closed") for cohort in Cohort.by_status.query(state, scan_index_forward=False)]
    return admin_page("pages/admin/cohorts.html", session, status=status, cohorts=cohorts, flash=flash, problem=problem,
                 retention_months=settings().retention_months)


def _cohort_change(session: Session, change: str, values: dict) -> str:
    if change == "open":
        cohort = retention.open_cohort_named(session.email, str(values.get("id", "")), str(values.get("name", "")))
        return f"Cohort {cohort.name} is open for applications."
    if values.get("confirm") not in ("yes", True):
        raise ValueError("Tick the box to confirm: closing a cohort cannot be undone.")
    expires = retention.close_cohort(session.email, str(values.get("cohort", "")))
    return f"The cohort is closed. Its personal data will be deleted on {expires.date().isoformat()}; the report is kept."


def cohort_change_form(session: Session, change: str, raw_body: bytes) -> web.Answer:
    values = {name: items[0] for name, items in web.decode_form(raw_body).items()}
    try:
        return cohorts_page(session, flash=_cohort_change(session, change, values))
    except ValueError as error:
        return cohorts_page(session, problem=str(error), status=400)
    except (ConflictError, Cohort.DoesNotExist) as error:
        return cohorts_page(session, problem=str(error) or "No such cohort.", status=409)


def cohort_change_json(session: Session, change: str, raw_body: bytes, cohort_id: str = "") -> web.Answer:
    try:
        document = web.decode_json(raw_body) if raw_body else {}
        if not isinstance(document, dict):
            raise ValueError("Send a JSON object.")
        message = _cohort_change(session, change, {**document, "cohort": cohort_id, "confirm": True})
    except web.BadRequest as error:
        return web.json_error(error.status, error.message)
    except ValueError as error:
        return web.json_error(400, str(error))
    except Cohort.DoesNotExist:
        return web.json_error(404, f"No cohort {cohort_id}.")
    except ConflictError as error:
        return web.json_error(409, str(error))
    return web.json_answer({"message": message}, status=201 if change == "open" else 200)


def person_page(session: Session, query: dict, flash: str = "", problem: str = "", status: int = 200) -> web.Answer:
    email = (query.get("email") or "").strip().lower()
    found = retention.export_person(email) if email else None
    return admin_page("pages/admin/person.html", session, status=status, email=email, found=found, flash=flash, problem=problem)


def person_export_json(query: dict) -> web.Answer:
    email = (query.get("email") or "").strip().lower()
    if not EMAIL_PATTERN.match(email):
        return web.json_answer({"errors": {"email": "Give the person's email address: ?email=name@example.org"}}, status=400)
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


def person_erase_json(session: Session, raw_body: bytes) -> web.Answer:
    try:
        document = web.decode_json(raw_body)
    except web.BadRequest as error:
        return web.json_error(error.status, error.message)
    email = document.get("email", "") if isinstance(document, dict) else ""
    if not isinstance(email, str) or not EMAIL_PATTERN.match(email.strip().lower()):
        return web.json_answer({"errors": {"email": "Give the person's email address."}}, status=400)
    return web.json_answer({"erased": retention.erase_person(session.email, email)})
