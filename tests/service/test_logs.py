"""Structured logs: JSON lines with each invocation's correlation id, and no personal data
in any line, over a whole simulated year."""
import io
import json
import logging
import re
import subprocess
import sys
from contextlib import contextmanager, redirect_stdout

from chalicelib.adapters import logs
from chalicelib.adapters.logs import JsonFormatter
from tests.helpers import PROJECT_DIR


@contextmanager
def lambda_logs(monkeypatch):
    """Every line the deployed functions would write: the log records at the level Lambda
    runs them (root at INFO, Chalice's own logger at ERROR), as JSON, and what is printed
    (the metrics' EMF lines)."""
    from app import app

    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "mentoring-local-simulated")
    root.addHandler(handler)
    app.log.addHandler(handler)
    root.setLevel(logging.INFO)
    printed = io.StringIO()
    try:
        with redirect_stdout(printed):
            yield lambda: captured.getvalue().splitlines() + printed.getvalue().splitlines()
    finally:
        root.removeHandler(handler)
        app.log.removeHandler(handler)
        root.setLevel(level)


def test_a_logged_exception_keeps_its_type_and_place_but_not_its_message():
    logs.begin_invocation("request-1")
    try:
        raise KeyError("jo.reader@example.org")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "pairing %s failed", ("p1",), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "pairing p1 failed" and line["level"] == "ERROR" and line["correlation_id"] == "request-1"
    assert line["error"]["type"] == "KeyError" and "test_logs.py" in line["error"]["where"][-1]
    assert "jo.reader" not in json.dumps(line)


def test_each_invocation_logs_with_its_own_correlation_id(aws, client, monkeypatch):
    from chalice.local import LambdaContext

    from app import app
    from tests.helpers import valid_answers

    with lambda_logs(monkeypatch) as lines:
        for email in ("a@example.org", "b@example.org"):
            client.http.post("/api/applications", headers={"Content-Type": "application/json"},
                             body=json.dumps(valid_answers(email=email)).encode())
        context = LambdaContext("sweep_outbox", 512)
        app.handler_map["sweep_outbox"]({"version": "0", "id": "1", "detail-type": "Scheduled Event",
                                         "source": "aws.events", "account": "1", "time": "2026-01-01T00:00:00Z",
                                         "region": "us-east-1", "resources": [], "detail": {}}, context)
    written = [json.loads(line) for line in lines() if line.startswith("{") and '"correlation_id"' in line]
    created = [line["correlation_id"] for line in written if "created" in line["message"]]
    assert len(created) == 2 and None not in created and created[0] != created[1]
    assert logs.correlation_id() == context.aws_request_id, "a scheduled invocation gets Lambda's request id"
    assert all(line["function"] == "mentoring-local-simulated" for line in written)


def test_in_lambda_the_app_writes_json_lines():
    program = ("import logging, os; os.environ['AWS_LAMBDA_FUNCTION_NAME'] = 'f'; import app; "
               "logging.getLogger('chalicelib.x').info('hello %s', 'there'); app.app.log.error('chalice says')")
    done = subprocess.run([sys.executable, "-c", program], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [("chalicelib.x", "hello there"),
                                                                      ("mentoring", "chalice says")]


def test_no_log_line_of_a_simulated_year_names_a_participant(aws, fresh_clock, client, committee_cookie, monkeypatch):
    from chalicelib.adapters.models import Application
    from chalicelib.services import deliverability, intake, retention, workflow
    from tests.helpers.workflow import approved_pairs, deliver, mails_to, receive_with, reply_to, run_days

    with lambda_logs(monkeypatch) as lines:
        pairs = approved_pairs()
        people = {(a.answers["name"], a.email) for a in Application.scan()}
        assert len(people) > 20
        first, second, third = pairs[:3]
        real_mails_for = workflow._mails_for

        def failing_once_for(pairing_id):
            def mails_for(effect, pairing, named):
                if pairing.id == pairing_id and not failed:
                    failed.append(1)
                    raise ValueError(f"cannot write to {pairing.mentee_name} <{pairing.mentee_email}>")
                return real_mails_for(effect, pairing, named)
            return mails_for

        failed = []
        monkeypatch.setattr(workflow, "_mails_for", failing_once_for(second.id))
        run_days(fresh_clock, 20)
        [kickoff] = mails_to(first.mentee_email, "starting")
        deliver(reply_to(kickoff, first.mentee_email, f"1 - going well. {first.mentor_name} is great."))
        run_days(fresh_clock, 75)
        [checkin] = mails_to(first.mentee_email, "check-in")
        deliver(reply_to(checkin, first.mentee_email, "I would like a different mentor, please."))
        deliver(reply_to(checkin, third.mentor_email, "2 - some concerns"))  # not theirs to answer: quarantined
        receive_with(reply_to(checkin, first.mentee_email, "spam?"), spamVerdict="FAIL")
        deliverability.record(json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {
            "bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": third.mentee_email}]}}))
        monkeypatch.setattr(intake, "confirm", lambda token: (_ for _ in ()).throw(
            RuntimeError(f"{first.mentee_email} could not be confirmed")))
        assert client.http.get("/confirm/abc").status_code == 503  # a route that raises, as Chalice logs it
        client.http.get(f"/admin/people?email={first.mentor_email}", headers={"Cookie": committee_cookie})
        retention.erase_person("committee@example.org", third.mentor_email)
        run_days(fresh_clock, 300)
    written = lines()
    assert failed and len(written) > 100
    assert any("Caught exception for path" in line for line in written), "the route's failure was logged"
    assert any('"Outcome": "quarantined"' in line for line in written), "the inbound outcomes are metrics"
    text = "\n".join(written).lower()
    for name, email in people:
        for personal in (name.lower(), email.lower(), email.split("@")[0].lower()):
            assert not re.search(rf"\b{re.escape(personal)}\b", text), f"a log line names {personal}"
