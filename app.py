"""The mentoring program's Lambda entry points.

Each handler reads its trigger, calls one function in chalicelib, and returns
what it answers. Nothing heavy is imported here: cold starts stay short.
"""
import logging
import os
from datetime import timedelta

from chalice import Chalice, Cron, Rate, Response
from chalice.app import Request

from chalicelib.adapters import logs
from chalicelib.pages import (admin, admin_concerns, admin_jobs, admin_matching, admin_pairings, admin_report,
                              admin_settings, admin_supply, admin_years, apply, exports, respond, sign_in, web)
from chalicelib.services import alerts, carry_over, committee, deliverability, inbound, job_kinds, mail, settings_store, workflow

app = Chalice(app_name="mentoring")
app.api.binary_types.append("multipart/form-data")
log = logging.getLogger("mentoring")
if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:  # in Lambda every log line is JSON (adapters/logs.py)
    logs.configure(app.log)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MULTIPART = "multipart/form-data"
CSV = "text/csv"
# SES publishes to an SNS topic, which feeds a queue of the same name with a dead-letter
# queue (infra/build_template.py builds the three; each stage's names carry its stage).
INBOUND_QUEUE = "mentoring-inbound-mail"  # SES receipt notifications
MAIL_EVENTS_QUEUE = "mentoring-mail-events"  # SES bounces and complaints
JOB_WORKER = "run_job"  # the function that runs background jobs (services/jobs.py)


@app.route("/", methods=["GET"])
def home():
    return _respond(web.redirect("/apply", status=302))


@app.route("/apply", methods=["GET"])
def show_application_form():
    return _respond(apply.apply_page())


@app.route("/apply", methods=["POST"], content_types=[FORM])
def submit_application_form():
    return _respond(apply.apply_with_form(app.current_request.raw_body))


@app.route("/apply/thanks", methods=["GET"])
def show_thanks():
    return _respond(apply.thanks_page())


@app.route("/program", methods=["GET"])
def show_program_guidelines():
    return _respond(apply.program_page())


@app.route("/api/applications", methods=["POST"], content_types=[JSON])
def submit_application_json():
    return _respond(apply.apply_with_json(app.current_request.raw_body))


@app.route("/confirm/{token}", methods=["GET"])
def confirm_email(token):
    return _respond(apply.confirm_page(token))


@app.route("/respond/{token}", methods=["GET"])
def show_response_form(token):
    return _respond(respond.form_page(token))


@app.route("/respond/{token}", methods=["POST"], content_types=[FORM])
def submit_response(token):
    return _respond(respond.submit(token, app.current_request.raw_body))


# The committee's sign-in. Everything else under /admin passes the guard below.

@app.route("/admin/login", methods=["GET"])
def show_sign_in():
    return _respond(sign_in.login_page(query=_query()))


@app.route("/admin/login", methods=["POST"], content_types=[FORM, JSON])
def request_sign_in():
    request = app.current_request
    return _respond(sign_in.login_request(request.raw_body, request.headers.get("content-type", "")))


@app.route("/admin/login/{token}", methods=["GET"])
def show_sign_in_button(token):
    return _respond(sign_in.confirm_sign_in_page(token, _query()))


@app.route("/admin/login/{token}", methods=["POST"], content_types=[FORM])
def sign_in_with_link(token):
    return _respond(sign_in.complete_sign_in(token, app.current_request.raw_body))


@app.route("/admin/logout", methods=["POST"], content_types=[FORM])
def sign_out():
    return _respond(sign_in.sign_out(_session()))


@app.route("/admin", methods=["GET"])
def show_dashboard():
    return _respond(admin.dashboard(_session(), _query()))


@app.route("/admin/applications", methods=["GET"])
def show_applications():
    return _respond(admin.applications_page(_session(), _query()))


@app.route("/admin/applications/{application_id}", methods=["GET"])
def show_application(application_id):
    return _respond(admin.application_page(_session(), application_id, done=_query().get("done", "")))


@app.route("/admin/applications/{application_id}", methods=["POST"], content_types=[FORM])
def act_on_application_form(application_id):
    return _respond(admin.application_action_form(_session(), application_id, app.current_request.raw_body))


@app.route("/admin/api/applications", methods=["GET"])
def list_applications():
    return _respond(admin.applications_json(_query()))


@app.route("/admin/api/applications/{application_id}", methods=["POST"], content_types=[JSON])
def act_on_application(application_id):
    return _respond(admin.application_action_json(_session(), application_id, app.current_request.raw_body))


@app.route("/admin/roster", methods=["GET"])
def show_roster():
    return _respond(admin.roster_page(_session()))


@app.route("/admin/roster", methods=["POST"], content_types=[MULTIPART])
def upload_roster():
    request = app.current_request
    return _respond(admin.roster_upload(_session(), request.raw_body, request.headers.get("content-type", "")))


@app.route("/admin/roster/uploaded", methods=["GET"])
def load_uploaded_roster():
    return _respond(admin.roster_uploaded(_session(), _query()))


@app.route("/admin/api/roster", methods=["PUT"], content_types=[CSV])
def replace_roster():
    return _respond(admin.roster_put(_session(), app.current_request.raw_body))


@app.route("/admin/cohorts", methods=["GET"])
def show_cohorts():
    return _respond(admin.cohorts_page(_session()))


@app.route("/admin/cohorts/open", methods=["POST"], content_types=[FORM])
def open_cohort_form():
    return _respond(admin.cohort_change_form(_session(), "open", app.current_request.raw_body))


@app.route("/admin/cohorts/close", methods=["POST"], content_types=[FORM])
def close_cohort_form():
    return _respond(admin.cohort_change_form(_session(), "close", app.current_request.raw_body))


@app.route("/admin/api/cohorts", methods=["POST"], content_types=[JSON])
def open_cohort():
    return _respond(admin.cohort_change_json(_session(), "open", app.current_request.raw_body))


@app.route("/admin/api/cohorts/{cohort_id}/close", methods=["POST"], content_types=[JSON])
def close_cohort(cohort_id):
    return _respond(admin.cohort_change_json(_session(), "close", app.current_request.raw_body, cohort_id))


@app.route("/admin/api/cohorts", methods=["GET"])
def list_cohorts():
    return _respond(admin.cohorts_json())


@app.route("/admin/api/cohorts/{cohort_id}/phase", methods=["POST"], content_types=[JSON])
def move_cohort(cohort_id):
    return _respond(admin.cohort_change_json(_session(), "phase", app.current_request.raw_body, cohort_id))


@app.route("/admin/api/cohorts/carry-over", methods=["POST"], content_types=[JSON])
def invite_previous_participants():
    return _respond(admin.carry_over_json(_session()))


@app.route("/carry-over/{token}", methods=["GET"])
def show_carry_over(token):
    return _respond(apply.carry_over_page(token))


@app.route("/carry-over/{token}", methods=["POST"], content_types=[FORM])
def answer_carry_over(token):
    return _respond(apply.carry_over_answer(token, app.current_request.raw_body))


@app.route("/admin/cohorts/phase", methods=["POST"], content_types=[FORM])
def move_cohort_form():
    return _respond(admin.cohort_change_form(_session(), "phase", app.current_request.raw_body))


@app.route("/admin/people", methods=["GET"])
def show_person():
    return _respond(admin.person_page(_session(), _query()))


@app.route("/admin/people/erase", methods=["POST"], content_types=[FORM])
def erase_person_form():
    return _respond(admin.person_erase_form(_session(), app.current_request.raw_body))


@app.route("/admin/api/people/export", methods=["GET"])
def export_person():
    return _respond(admin.person_export_json(_query()))


@app.route("/admin/api/people/erase", methods=["POST"], content_types=[JSON])
def erase_person():
    return _respond(admin.person_erase_json(_session(), app.current_request.raw_body))


@app.route("/admin/committee", methods=["GET"])
def show_committee():
    return _respond(admin.committee_page(_session()))


@app.route("/admin/committee/add", methods=["POST"], content_types=[FORM])
def add_committee_member():
    return _respond(admin.committee_change(_session(), "add", app.current_request.raw_body))


@app.route("/admin/committee/remove", methods=["POST"], content_types=[FORM])
def remove_committee_member():
    return _respond(admin.committee_change(_session(), "remove", app.current_request.raw_body))


@app.route("/admin/matching", methods=["GET"])
def show_matching_proposal():
    return _respond(admin_matching.matching_page(_session(), _query()))


@app.route("/admin/matching", methods=["POST"], content_types=[FORM])
def start_matching_proposal():
    return _respond(admin_matching.start_proposal_form(_session(), app.current_request.raw_body))


@app.route("/admin/matching/draft", methods=["POST"], content_types=[FORM])
def change_matching_draft():
    return _respond(admin_matching.draft_change_form(_session(), app.current_request.raw_body))


@app.route("/admin/matching/review", methods=["POST"], content_types=[FORM])
def review_introductions():
    return _respond(admin_matching.review_form(_session(), app.current_request.raw_body))


@app.route("/admin/matching/approve", methods=["POST"], content_types=[FORM])
def approve_pairs_form():
    return _respond(admin_matching.approve_form(_session(), app.current_request.raw_body))


@app.route("/admin/api/matching/draft", methods=["GET"])
def show_matching_draft():
    return _respond(admin_matching.draft_json(_query()))


@app.route("/admin/api/matching/draft", methods=["PUT"], content_types=[JSON])
def replace_matching_draft():
    return _respond(admin_matching.draft_put_json(_session(), app.current_request.raw_body, _query()))


@app.route("/admin/api/matching/proposal", methods=["POST"], content_types=[JSON])
def propose_matches():
    return _respond(admin_pairings.proposal_json(_session(), app.current_request.raw_body, _query()))


@app.route("/admin/api/matching/proposals/{job_id}", methods=["GET"])
def show_stored_proposal(job_id):
    return _respond(admin_pairings.stored_proposal_json(job_id))


@app.route("/admin/api/pairings", methods=["POST"], content_types=[JSON])
def approve_pairs():
    return _respond(admin_pairings.approve_json(_session(), app.current_request.raw_body))


@app.route("/admin/api/pairings", methods=["GET"])
def list_pairings():
    return _respond(admin_pairings.pairings_json(_query()))


@app.route("/admin/api/pairings/{pairing_id}", methods=["GET"])
def show_pairing_json(pairing_id):
    return _respond(admin_pairings.pairing_json(pairing_id))


@app.route("/admin/pairings", methods=["GET"])
def show_pairings():
    return _respond(admin_pairings.pairings_page(_session(), _query()))


@app.route("/admin/pairings/{pairing_id}", methods=["GET"])
def show_pairing(pairing_id):
    return _respond(admin_pairings.pairing_page(_session(), pairing_id))


@app.route("/admin/pairings/{pairing_id}", methods=["POST"], content_types=[FORM])
def act_on_pairing_form(pairing_id):
    return _respond(admin_pairings.pairing_action_form(_session(), pairing_id, app.current_request.raw_body))


@app.route("/admin/api/pairings/{pairing_id}/actions", methods=["POST"], content_types=[JSON])
def act_on_pairing(pairing_id):
    return _respond(admin_pairings.pairing_action_json(_session(), pairing_id, app.current_request.raw_body))


@app.route("/admin/supply", methods=["GET"])
def show_supply():
    return _respond(admin_supply.supply_page(_session(), _query()))


@app.route("/admin/api/cohorts/{cohort_id}/supply", methods=["GET"])
def get_supply(cohort_id):
    return _respond(admin_supply.supply_json(cohort_id))


@app.route("/admin/jobs/{job_id}", methods=["GET"])
def show_job(job_id):
    return _respond(admin_jobs.job_page(_session(), job_id))


@app.route("/admin/jobs/{job_id}/run", methods=["POST"], content_types=[FORM])
def run_job_again_form(job_id):
    return _respond(admin_jobs.rerun_form(_session(), job_id))


@app.route("/admin/api/jobs/{job_id}", methods=["GET"])
def get_job(job_id):
    return _respond(admin_jobs.job_json(job_id))


@app.route("/admin/api/jobs/{job_id}/run", methods=["POST"], content_types=[JSON])
def run_job_again(job_id):
    return _respond(admin_jobs.rerun_json(_session(), job_id))


@app.route("/admin/pairings/{pairing_id}/concerns/{concern_id}", methods=["POST"], content_types=[FORM])
def mark_concern_handled_form(pairing_id, concern_id):
    return _respond(admin_concerns.handled_form(_session(), pairing_id, concern_id, app.current_request.raw_body))


@app.route("/admin/api/pairings/{pairing_id}/concerns/{concern_id}", methods=["POST"], content_types=[JSON])
def mark_concern_handled(pairing_id, concern_id):
    return _respond(admin_concerns.handled_json(_session(), pairing_id, concern_id, app.current_request.raw_body))


@app.route("/admin/pairings/{pairing_id}/liaison", methods=["POST"], content_types=[FORM])
def name_pairing_liaison(pairing_id):
    return _respond(admin_concerns.liaison_form(_session(), pairing_id, app.current_request.raw_body))


@app.route("/admin/api/audit", methods=["GET"])
def list_audit_entries():
    return _respond(admin.audit_json(_query()))


@app.route("/admin/report", methods=["GET"])
def show_report():
    return _respond(admin_report.report_page(_session(), _query()))


@app.route("/admin/api/report", methods=["GET"])
def get_report():
    return _respond(admin_report.report_json(_query()))


@app.route("/admin/report/years", methods=["GET"])
def show_report_across_years():
    return _respond(admin_years.years_page(_session()))


@app.route("/admin/api/report/years", methods=["GET"])
def get_report_across_years():
    return _respond(admin_years.years_json())


@app.route("/admin/api/export/years.csv", methods=["GET"])
def export_report_across_years():
    return _respond(admin_years.years_csv())


@app.route("/admin/api/export/applications.csv", methods=["GET"])
def export_applications():
    return _respond(exports.applications_csv(_query()))


@app.route("/admin/api/export/pairings.csv", methods=["GET"])
def export_pairings():
    return _respond(exports.pairings_csv(_query()))


@app.route("/admin/api/export/responses.csv", methods=["GET"])
def export_responses():
    return _respond(exports.responses_csv(_query()))


@app.route("/admin/settings", methods=["GET"])
def show_program_settings():
    return _respond(admin_settings.settings_page(_session(), _query()))


@app.route("/admin/settings/{editor}", methods=["GET"])
def show_settings_editor(editor):
    return _respond(admin_settings.editor_page(_session(), editor, _query()))


@app.route("/admin/settings/{editor}", methods=["POST"], content_types=[FORM])
def save_settings_editor(editor):
    return _respond(admin_settings.editor_form(_session(), editor, app.current_request.raw_body))


@app.route("/admin/api/settings", methods=["GET"])
def get_program_settings():
    return _respond(admin_settings.settings_json(_query()))


@app.route("/admin/api/settings", methods=["PUT"], content_types=[JSON])
def replace_program_settings():
    return _respond(admin_settings.settings_put(_session(), _query(), app.current_request.raw_body))


@app.schedule(Rate(5, unit=Rate.MINUTES))
def sweep_outbox(event):
    return {"sent": mail.sweep()}


@app.schedule(Rate(1, unit=Rate.MINUTES))
def send_sign_in_links(event):
    return {"sent": committee.send_sign_in_links()}


@app.schedule(Cron(0, 12, "*", "*", "?", "*"))
def fire_due_timers(event):
    return {**vars(workflow.tick()), "carry_over": carry_over.continue_invitations()}


@app.schedule(Cron(0, 13, "*", "*", "?", "*"))
def send_committee_digest(event):
    return {"alerts": alerts.send_digest()}


@app.schedule(Cron(30, 3, "*", "*", "?", "*"))
def reconcile_inbound_mail(event):
    return inbound.reconcile()


@app.lambda_function(name=JOB_WORKER)
def run_job(event, context):
    # Invoked asynchronously with {"job_id"} by services/jobs.py, and again by itself when
    # its time runs short; the job's record says where to go on.
    return job_kinds.run(event["job_id"], lambda: timedelta(milliseconds=context.get_remaining_time_in_millis()))


@app.on_sqs_message(queue=INBOUND_QUEUE)
def receive_inbound_mail(event):
    return [inbound.receive(record.body) for record in event]


@app.on_sqs_message(queue=MAIL_EVENTS_QUEUE)
def receive_mail_event(event):
    return [deliverability.record(record.body) for record in event]


@app.middleware("all")
def begin_each_invocation(event, get_response):
    # Each log line carries the invocation's id; settings are cached for one invocation (settings_store).
    context = event.lambda_context if isinstance(event, Request) else event.context
    logs.begin_invocation(getattr(context, "aws_request_id", None))
    settings_store.forget()
    return get_response(event)


@app.middleware("http")
def guard_every_request(event, get_response):
    # Every request passes the edge checks and every /admin route the guard, so a new route
    # cannot forget them. Every answer carries the security headers, the framework's own
    # 405 and 415 too.
    response = _guarded(event, get_response)
    response.headers = web.with_security_headers(response.headers)
    return response


def _guarded(event, get_response):
    # Chalice turns an unexpected exception into a bare 500; people get a calm
    # page (or JSON) that invites them to try again, and no stack trace.
    route = app.routes.get(event.path, {}).get(event.method)
    if route is None:
        return get_response(event)  # the framework's 405
    params = {**(event.uri_params or {}), **dict(event.query_params or {})}
    try:
        outcome = (web.refused_at_the_edge(event.path, event.method, event.headers.get("content-type"),
                                           route.content_types, params)
                   or sign_in.guard(event.path, event.method, event.headers, event.raw_body,
                                     web.address_of(event.path, event.uri_params, event.query_params)))
    except Exception:  # noqa: BLE001 - the store is unreachable: refuse calmly
        log.exception("admin guard failed on %s", event.path)
        outcome = web.unavailable(event.headers.get("accept", ""))
    if isinstance(outcome, web.Answer):
        return _respond(outcome)
    event.context["committee_session"] = outcome
    response = get_response(event)
    if response.status_code >= 500:
        return _respond(web.unavailable(event.headers.get("accept", "")))
    return response


def _session():
    return app.current_request.context["committee_session"]


def _query():
    return dict(app.current_request.query_params or {})


def _respond(answer):
    return Response(body=answer.body, status_code=answer.status, headers=answer.all_headers())
