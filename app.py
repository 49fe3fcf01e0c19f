"""The mentoring program's Lambda entry points.

Each handler reads its trigger, calls one function in chalicelib, and returns
what it answers. Nothing heavy is imported here: cold starts stay short.
"""
from chalice import Chalice, Rate, Response

from chalicelib import inbound, intake, mail, web

app = Chalice(app_name="mentoring")

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
INBOUND_TOPIC = "mentoring-inbound-mail"


@app.route("/", methods=["GET"])
def home():
    return _respond(web.redirect("/apply", status=302))


@app.route("/apply", methods=["GET"])
def show_application_form():
    return _respond(intake.apply_page())


@app.route("/apply", methods=["POST"], content_types=[FORM])
def submit_application_form():
    return _respond(intake.apply_with_form(app.current_request.raw_body))


@app.route("/apply/thanks", methods=["GET"])
def show_thanks():
    return _respond(intake.thanks_page())


@app.route("/api/applications", methods=["POST"], content_types=[JSON])
def submit_application_json():
    return _respond(intake.apply_with_json(app.current_request.raw_body))


@app.route("/confirm/{token}", methods=["GET"])
def confirm_email(token):
    return _respond(intake.confirm_page(token))


@app.schedule(Rate(5, unit=Rate.MINUTES))
def sweep_outbox(event):
    return {"sent": mail.sweep()}


@app.on_sns_message(topic=INBOUND_TOPIC)
def receive_inbound_mail(event):
    return inbound.receive(event.message)


@app.middleware("http")
def answer_failures_kindly(event, get_response):
    # Chalice turns an unexpected exception into a bare 500; people get a calm
    # page (or JSON) that invites them to try again, and no stack trace.
    response = get_response(event)
    if response.status_code >= 500:
        return _respond(web.unavailable(event.headers.get("accept", "")))
    return response


def _respond(answer):
    return Response(body=answer.body, status_code=answer.status, headers=answer.all_headers())
