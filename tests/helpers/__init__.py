"""Helpers the tests share: answers to apply with, the mail moto sent, signing in, and the sandbox."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from infra.local.sandbox import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
MAIL_FIXTURES = PROJECT_DIR / "tests" / "fixtures" / "mail"
TEST_SIGNING_KEY = "test-signing-key-not-secret"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def sent_mail():
    """Every mail moto's SES accepted, parsed like the sandbox mailbox shows it."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from infra.local.persistence import mailbox_entry

    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [mailbox_entry(message.id, message.raw_data) for message in backend.sent_messages]


def valid_answers(role: str = "mentee", **overrides) -> dict:
    answers = {
        "role": role, "name": "Jo Reader", "email": "jo.reader@example.org", "membership_id": "KLA-1001",
        "library_name": "Pine Mountain Public Library", "library_type": "public", "position": "Library assistant",
        "years_experience": "3", "career_stage": "new_professional", "region": "Pikeville",
        "interests": ["technology", "youth_services"], "communication": ["email", "video"],
        "meeting_frequency": "monthly", "goals": "Learn how to plan a summer reading program.",
        "consent_confidentiality": "yes", "comments": "",
    }
    if role == "mentor":
        answers.update({"capacity": "2", "cross_type_ok": "yes", "goals": "", "years_experience": "15",
                        "career_stage": "senior", "email": "pat.mentor@example.org", "membership_id": "KLA-2002"})
    answers.update(overrides)
    return answers


def as_form(answers: dict) -> dict[str, list[str]]:
    """Answers as a decoded form holds them: every value a list."""
    return {name: value if isinstance(value, list) else [value] for name, value in answers.items()}


def apply_as(role: str = "mentee", **overrides):
    """A valid application submitted through intake, as the form would."""
    from chalicelib.services import intake

    return intake.submit(as_form(valid_answers(role, **overrides)))


def post_json(client, cookie: str, path: str, document) -> object:
    """A committee member's JSON request to the admin API."""
    return client.http.post(path, headers={"Content-Type": "application/json", "Cookie": cookie},
                            body=json.dumps(document).encode())


def propose(client, cookie: str, **options) -> dict:
    """A matching proposal asked for through the API; it must succeed."""
    answer = post_json(client, cookie, "/admin/api/matching/proposal", options)
    assert answer.status_code == 200, answer.body
    return answer.json_body


def form_body(answers: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode(answers, doseq=True).encode()


class RunningSandbox:
    def __init__(self, base_url: str, process: subprocess.Popen, data_dir: Path):
        self.base_url, self.process, self.data_dir = base_url, process, data_dir

    def get_json(self, path: str):
        return json.loads(self.get_text(path))

    def get_text(self, path: str) -> str:
        with urllib.request.urlopen(self.base_url + path, timeout=30) as answer:
            return answer.read().decode("utf-8")

    def post_form(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, dict | str]:
        from urllib.parse import urlencode

        return self.post(path, urlencode(fields).encode(), "application/x-www-form-urlencoded")

    def post_json(self, path: str, document) -> tuple[int, dict]:
        return self.post(path, json.dumps(document).encode(), "application/json")

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, dict | str]:
        """POST and follow redirects; a JSON answer comes back parsed, a page as text."""
        request = urllib.request.Request(self.base_url + path, data=body, method="POST",
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=600) as answer:
                return answer.status, self._parsed(answer)
        except urllib.error.HTTPError as error:
            return error.code, self._parsed(error)

    @staticmethod
    def _parsed(answer):
        body = answer.read()
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(body or b"{}")
        return body.decode("utf-8")

    def mailbox(self) -> list[dict]:
        return self.get_json("/_sandbox/mailbox.json")

    def as_committee(self, method: str, path: str, document=None):
        """Call the committee's JSON API with a session, signing in afresh from the mailbox when
        there is none yet or it has ended (sessions last 12 hours of sandbox time, tests move its
        clock by days, and sign-in links are limited to a few an hour)."""
        body = json.dumps(document).encode() if document is not None else None
        for attempt in ("as signed in", "signed in afresh"):
            if attempt == "signed in afresh" or not getattr(self, "_cookie", None):
                self._cookie = self._signed_in_cookie()
            call = urllib.request.Request(self.base_url + path, data=body, method=method,
                                          headers={"Content-Type": "application/json", "Cookie": self._cookie})
            try:
                with urllib.request.urlopen(call, timeout=120) as answer:
                    return json.loads(answer.read())
            except urllib.error.HTTPError as error:
                if error.code != 401 or attempt == "signed in afresh":
                    raise

    def _signed_in_cookie(self) -> str:
        import re

        self.post_json("/admin/login", {"email": COMMITTEE_EMAIL})
        link = re.search(r"/admin/login/[a-z0-9]+", self.mailbox()[-1]["text"]).group(0)
        sign_in = urllib.request.Request(self.base_url + link, data=b"", method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        return urllib.request.build_opener(_NoRedirect).open(sign_in).headers["Set-Cookie"].split(";")[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_303(self, request, response, code, message, headers):
        return response


def start_sandbox(data_dir: Path, *extra: str) -> RunningSandbox:
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local.sandbox", "--port", str(port), "--data-dir", str(data_dir), *extra],
        cwd=PROJECT_DIR, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the sandbox exited early:\n" + process.stdout.read())
        try:
            with urllib.request.urlopen(base_url + "/apply", timeout=5) as answer:
                if answer.status == 200:
                    return RunningSandbox(base_url, process, data_dir)
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the sandbox did not start in 90 seconds")


def stop_sandbox(sandbox: RunningSandbox) -> str:
    sandbox.process.terminate()
    try:
        output, _ = sandbox.process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        sandbox.process.kill()
        output, _ = sandbox.process.communicate()
    return output


COMMITTEE_EMAIL = "committee@example.org"


def sign_in(client, email: str = COMMITTEE_EMAIL) -> str:
    """Sign in through the mailed link, as a member would; returns the Cookie header."""
    import re

    before = len(sent_mail())
    client.http.post("/admin/login", headers={"Content-Type": "application/json"},
                     body=json.dumps({"email": email}).encode())
    send_sign_in_links()
    link = re.search(r"/admin/login/([a-z0-9]+)", sent_mail()[before]["text"]).group(0)
    answer = client.http.post(link, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"")
    return answer.headers["Set-Cookie"].split(";")[0]


def send_sign_in_links() -> int:
    """The minute's run of the job that mails the requested sign-in links, as EventBridge starts it."""
    from chalicelib.services import committee

    return committee.send_sign_in_links()


def csrf_of(client, cookie: str) -> str:
    import re

    page = client.http.get("/admin/committee", headers={"Cookie": cookie}).body.decode()
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
