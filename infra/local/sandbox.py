"""The local sandbox: the whole system on this machine, with AWS emulated.

It wraps the unchanged Chalice app from outside:
- a moto server on 127.0.0.1 stands in for DynamoDB, SES, S3, SNS and SSM
  (the app reaches it through AWS_ENDPOINT_URL, as it reaches AWS);
- an HTTP server passes every request to the app as API Gateway would, and
  adds the sandbox-only routes under /_sandbox/, which app.py never has;
- the sandbox clock runs the scheduled handlers once per simulated day, as
  EventBridge would, and the outbox sweeper once more a few minutes later (on
  AWS it runs every 5 minutes), so the mail the daily tick queued goes out;
- inbound mail goes through S3 and the queue's SQS-shaped event as SES,
  SNS and Lambda deliver it.

Data survives restarts as a snapshot in a git-ignored folder.

Run it with `make run` (or `python -m infra.local.sandbox --port 8000`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_DIR / ".sandbox-data"
REGION = "us-east-1"
SNAPSHOT_DELAY_SECONDS = 0.5
SWEEPER = "sweep_outbox"
SWEEP_AFTER = timedelta(minutes=10)  # the daily tick only queues its mail: the sweeper's next runs send it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stage_environment(stage: str) -> dict[str, str]:
    """The environment variables .chalice/config.json gives the stage."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    variables = dict(config.get("environment_variables", {}))
    variables.update(config["stages"][stage].get("environment_variables", {}))
    return variables


def configure_for_in_process_moto() -> None:
    """The local stage's settings, for tests and benchmarks that run moto inside
    their own process (mock_aws): no endpoint, and credentials that are no one's."""
    os.environ.update(stage_environment("local"))
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION})
    os.environ.pop("AWS_ENDPOINT_URL", None)


def serialise_moto_dynamodb() -> None:
    """DynamoDB applies each request atomically; moto lets concurrent transactions interleave
    (and rolls back by restoring a copy). One lock around its DynamoDB handler restores the
    real service's behaviour, for threaded tests and for the sandbox's job worker thread."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_serialised", False):
        return
    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self):
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action
    DynamoHandler._serialised = True


def configure_environment(port: int, moto_port: int, committee: str) -> None:
    os.environ.update(stage_environment("local"))
    os.environ.update({
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": REGION,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "COMMITTEE_ADDRESS": committee,
        "COMMITTEE_MEMBERS": committee,
    })


class Sandbox:
    def __init__(self, port: int, data_dir: Path, committee: str, demo: bool):
        self.port = port
        self.data_dir = data_dir
        self.committee = committee
        self.demo = demo
        self.moto = None
        self.gateway_lock = threading.Lock()  # Chalice keeps the current request on the app object
        self.snapshot_timer: threading.Timer | None = None
        self.snapshot_lock = threading.Lock()

    # Start and stop.

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request log drowns the sandbox's
        moto_port = free_port()
        configure_environment(self.port, moto_port, self.committee)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        self.moto.start()

        from chalice.config import Config
        from chalice.local import LocalGateway

        import app as application
        from infra.local import persistence, worker
        from infra.local.provision import ensure_open_cohort, provision

        self.app = application.app
        # Jobs run beside the requests, as the worker's Lambda runs beside the API's.
        serialise_moto_dynamodb()
        worker.install(self.app, self.run_job_in_a_thread)
        self.persistence = persistence.Persistence(self.data_dir)
        provision(self.persistence.signing_key())
        self.persistence.restore()
        ensure_open_cohort()
        if self.demo:
            from infra.local.seed import seed_demo_cohort

            seeded = seed_demo_cohort()
            print(f"Demo data: {seeded}")
        self.persistence.save()
        self.gateway = LocalGateway(self.app, Config.create(chalice_stage="local", app_name="mentoring"))

    def run_job_in_a_thread(self, work) -> None:
        from infra.local import worker

        def work_then_save() -> None:
            work()
            self.snapshot_soon()

        worker.in_a_thread(work_then_save)

    def stop(self) -> None:
        if self.snapshot_timer:
            self.snapshot_timer.cancel()
        self.persistence.save()
        self.moto.stop()

    def snapshot_soon(self) -> None:
        """Save shortly after the last change, so a burst of requests saves once."""
        with self.snapshot_lock:
            if self.snapshot_timer:
                self.snapshot_timer.cancel()
            self.snapshot_timer = threading.Timer(SNAPSHOT_DELAY_SECONDS, self._save_quietly)
            self.snapshot_timer.daemon = True
            self.snapshot_timer.start()

    def _save_quietly(self) -> None:
        with self.gateway_lock:
            self.persistence.save()

    # What the app is asked.

    def call_app(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, list, bytes]:
        from chalice.local import LocalGatewayException

        with self.gateway_lock:
            try:
                response = self.gateway.handle_request(method=method, path=path, headers=headers, body=body)
            except LocalGatewayException as error:
                return error.CODE, list(error.headers.items()), error.body or b""
        header_pairs = list(response.get("headers", {}).items())
        for name, values in (response.get("multiValueHeaders") or {}).items():
            header_pairs.extend((name, value) for value in values)
        body_out = response.get("body") or b""
        if isinstance(body_out, str):
            body_out = body_out.encode("utf-8")
        return response["statusCode"], header_pairs, body_out

    def run_scheduled_handlers(self, only: str | None = None) -> list[dict]:
        """Invoke every @app.schedule handler (or only the one named) once, as one EventBridge tick."""
        from chalice.app import ScheduledEventConfig
        from chalice.local import LambdaContext

        from chalicelib.domain import clock

        results = []
        for source in self.app.event_sources:
            if isinstance(source, ScheduledEventConfig) and only in (None, source.name):
                event = {
                    "version": "0", "id": secrets.token_hex(8), "detail-type": "Scheduled Event", "source": "aws.events",
                    "account": "123456789012", "time": clock.iso(clock.now()), "region": REGION,
                    "resources": [], "detail": {},
                }
                handler = self.app.handler_map[source.name]
                results.append({source.name: handler(event, LambdaContext(source.name, 512))})
        return results

    def run_minute_schedules(self) -> None:
        """EventBridge runs the every-minute schedules (the sign-in links) within the minute; the
        sandbox, whose clock moves by whole days, runs them after each request that changes something."""
        from chalice.app import ScheduledEventConfig

        with self.gateway_lock:
            for source in self.app.event_sources:
                if isinstance(source, ScheduledEventConfig) and _every_minute(source):
                    self.run_scheduled_handlers(only=source.name)

    def advance_clock(self, days: int) -> str:
        from chalicelib.domain import clock

        with self.gateway_lock:
            for _ in range(days):
                clock.shift_by(timedelta(days=1) - SWEEP_AFTER)
                self.run_scheduled_handlers()
                clock.shift_by(SWEEP_AFTER)
                self.run_scheduled_handlers(only=SWEEPER)
            self.persistence.save()
            return clock.iso(clock.now())

    def deliver_inbound(self, raw: bytes) -> dict:
        from infra.local.inbound import deliver_like_ses

        with self.gateway_lock:
            outcome = deliver_like_ses(self.app, raw)
            self.persistence.save()
        return outcome

    def mailbox(self) -> list[dict]:
        with self.gateway_lock:
            return self.persistence.mailbox()


def _every_minute(source) -> bool:
    expression = source.schedule_expression
    return (expression if isinstance(expression, str) else expression.to_string()) == "rate(1 minute)"


def make_handler(sandbox: Sandbox):
    from chalicelib.pages.web import SECURITY_HEADERS
    from infra.local import pages

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "MentoringSandbox"

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            sys.stderr.write(f"  {self.command} {urlsplit(self.path).path} -> {args[1] if len(args) > 1 else ''}\n")

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, headers: list, body: bytes) -> None:
            # The sandbox's own answers (mailbox, clock, its 404) and the local gateway's (its 403
            # for a path no route has) carry the app's security headers too.
            present = {name.lower() for name, _ in headers}
            headers = [*headers, *((name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present)]
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _send_json(self, status: int, document) -> None:
            self._send(status, [("Content-Type", "application/json")], json.dumps(document, indent=2).encode())

        def _dispatch(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            if path.startswith("/_sandbox/"):
                return self._sandbox_route(path, body)
            headers = {name: value for name, value in self.headers.items()}
            status, header_pairs, response_body = sandbox.call_app(self.command, self.path, headers, body)
            if self.command != "GET":
                sandbox.run_minute_schedules()  # before answering, so a sign-in link is in the mailbox at once
            self._send(status, header_pairs, response_body)
            if self.command != "GET" or path.startswith("/confirm/") or path.startswith("/admin/login/"):
                sandbox.snapshot_soon()

        def _sandbox_route(self, path: str, body: bytes) -> None:
            from chalicelib.domain import clock

            route = (self.command, path)
            if route == ("GET", "/_sandbox/mailbox.json"):
                return self._send_json(200, sandbox.mailbox())
            if route == ("GET", "/_sandbox/mailbox"):
                html = pages.mailbox_page(sandbox.mailbox()).encode("utf-8")
                return self._send(200, [("Content-Type", "text/html; charset=utf-8")], html)
            if route == ("GET", "/_sandbox/clock"):
                return self._send_json(200, {"now": clock.iso(clock.now())})
            if route == ("POST", "/_sandbox/clock"):
                try:
                    days = int(json.loads(body or b"{}").get("advance_days", 0))
                except (ValueError, TypeError, AttributeError):
                    return self._send_json(400, {"error": 'Send {"advance_days": N} with N a whole number.'})
                if not 0 <= days <= 1000:
                    return self._send_json(400, {"error": "advance_days must be from 0 to 1000."})
                return self._send_json(200, {"now": sandbox.advance_clock(days)})
            if route == ("POST", "/_sandbox/inbound"):
                if not body:
                    return self._send_json(400, {"error": "Send a raw RFC 5322 message as the body."})
                return self._send_json(200, sandbox.deliver_inbound(body))
            return self._send_json(404, {"error": f"No sandbox route {self.command} {path}."})

        def _guarded(self) -> None:
            try:
                self._dispatch()
            except Exception as error:  # noqa: BLE001 - the sandbox must keep serving
                sys.stderr.write(f"  sandbox error: {type(error).__name__}: {error}\n")
                self._send_json(500, {"error": "The sandbox failed on this request; see its console."})

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _guarded

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the mentoring program on this machine, AWS emulated.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--reset", action="store_true", help="start with empty data")
    parser.add_argument("--demo", action="store_true", help="seed a realistic synthetic cohort")
    parser.add_argument("--committee", default=os.environ.get("COMMITTEE", "committee@example.org"))
    options = parser.parse_args(argv)

    if options.reset:
        from infra.local.persistence import erase

        erase(options.data_dir)
    sandbox = Sandbox(options.port, options.data_dir, options.committee, options.demo)
    server = ThreadingHTTPServer(("127.0.0.1", options.port), make_handler(sandbox))
    sandbox.start()
    base = f"http://127.0.0.1:{options.port}"
    print(
        "\nThe mentoring program is running on this machine, with AWS emulated by moto.\n"
        f"  Apply as a mentor or mentee:  {base}/apply\n"
        f"  Sandbox mailbox:              {base}/_sandbox/mailbox\n"
        f"  Sandbox clock:                {base}/_sandbox/clock\n"
        f"  Committee sign-in:            {base}/admin (as {options.committee})\n"
        f"Data is kept in {options.data_dir} (make run RESET=1 starts empty).\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )

    def shut_down(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        sandbox.stop()
        print("Sandbox stopped; data saved.", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_DIR))
    main()
