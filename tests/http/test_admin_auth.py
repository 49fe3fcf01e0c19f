"""Committee sign-in, sessions, CSRF and the guard on every /admin route."""
import json
import re
from datetime import timedelta

import pytest

from app import app
from chalicelib.pages import sign_in as sign_in_pages
from chalicelib.services import committee
from chalicelib.adapters.models import AuditEntry
from tests.helpers import COMMITTEE_EMAIL, csrf_of, send_sign_in_links, sent_mail, sign_in

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def guarded_routes():
    for path, methods in sorted(app.routes.items()):
        if not path.startswith("/admin") or path in sign_in_pages.OPEN_PATHS:
            continue
        for method, entry in sorted(methods.items()):
            yield path, method, entry.content_types[0]


ROUTES = list(guarded_routes())


def test_the_route_enumeration_sees_the_admin_area():
    assert len(ROUTES) >= 10 and any(path.startswith("/admin/api/") for path, _, _ in ROUTES)


@pytest.mark.parametrize("path,method,content_type", ROUTES, ids=[f"{m} {p}" for p, m, _ in ROUTES])
def test_every_admin_route_refuses_without_a_session(client, path, method, content_type):
    concrete = re.sub(r"\{[^}]+\}", "0" * 32, path)
    answer = client.http.request(method, concrete, headers={"Content-Type": content_type}, body=b"")
    if path.startswith("/admin/api/"):
        assert answer.status_code == 401 and "Sign in" in answer.json_body["errors"]["_body"]
    else:
        assert answer.status_code == 303 and answer.headers["Location"].partition("?")[0] == "/admin/login"


def test_the_sign_in_page_asks_for_an_email_address(client):
    answer = client.http.get("/admin/login")
    assert answer.status_code == 200 and b'<label for="email">Email address</label>' in answer.body
    button = client.http.get("/admin/login/" + "a" * 53)
    assert button.status_code == 200 and b"Sign in" in button.body


def test_a_member_signs_in_through_the_mailed_link(client):
    answer = client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": "Committee@Example.org"}).encode())
    assert answer.status_code == 202
    assert sent_mail() == []  # the link goes out with the minute's job, not in the answer's time
    assert send_sign_in_links() == 1
    [mail] = sent_mail()
    assert mail["to"] == [COMMITTEE_EMAIL]
    link = re.search(r"/admin/login/[a-z0-9]+", mail["text"]).group(0)
    button_page = client.http.get(link)  # a mail scanner opening the link uses nothing up
    assert button_page.status_code == 200 and b"Sign in" in button_page.body
    signed_in = client.http.post(link, headers=FORM, body=b"")
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/admin"
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # the sandbox serves plain http; every other stage sets Secure
    dashboard = client.http.get("/admin", headers={"Cookie": cookie.split(";")[0]})
    assert dashboard.status_code == 200 and b"Committee dashboard" in dashboard.body
    assert [entry.action for entry in AuditEntry.scan()] == ["signed_in"]


@pytest.mark.parametrize("setting,secure", [("true", True), ("false", False)])
def test_the_session_cookie_is_secure_outside_the_sandbox(monkeypatch, setting, secure):
    from chalicelib.adapters.config import settings

    monkeypatch.setenv("SECURE_COOKIES", setting)
    settings.cache_clear()
    try:
        assert ("; Secure" in committee._cookie("value", 60)) is secure
    finally:
        settings.cache_clear()


def test_the_answer_is_the_same_for_members_and_strangers(client):
    member = client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": COMMITTEE_EMAIL}).encode())
    stranger = client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": "nobody@example.org"}).encode())
    assert (member.status_code, member.body) == (stranger.status_code, stranger.body)
    html_member = client.http.post("/admin/login", headers=FORM, body=b"email=committee%40example.org")
    html_stranger = client.http.post("/admin/login", headers=FORM, body=b"email=nobody%40example.org")
    assert html_member.body == html_stranger.body
    assert send_sign_in_links() == 2
    assert [mail["to"] for mail in sent_mail()] == [[COMMITTEE_EMAIL], [COMMITTEE_EMAIL]]


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"email": 5}', b"{}"])
def test_odd_sign_in_requests_get_a_clear_answer(client, body):
    answer = client.http.post("/admin/login", headers=JSON, body=body)
    assert answer.status_code in (202, 400)
    send_sign_in_links()
    assert sent_mail() == []


def test_a_sign_in_link_works_once(client):
    client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": COMMITTEE_EMAIL}).encode())
    send_sign_in_links()
    link = re.search(r"/admin/login/[a-z0-9]+", sent_mail()[0]["text"]).group(0)
    assert client.http.post(link, headers=FORM, body=b"").status_code == 303
    reused = client.http.post(link, headers=FORM, body=b"")
    assert reused.status_code == 400 and b"used already" in reused.body
    assert "Set-Cookie" not in reused.headers


def test_a_sign_in_link_expires_after_15_minutes(client, fresh_clock):
    client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": COMMITTEE_EMAIL}).encode())
    send_sign_in_links()
    link = re.search(r"/admin/login/[a-z0-9]+", sent_mail()[0]["text"]).group(0)
    fresh_clock.shift_by(timedelta(minutes=15, seconds=5))
    expired = client.http.post(link, headers=FORM, body=b"")
    assert expired.status_code == 400 and b"expired" in expired.body


def test_a_session_expires_after_12_hours(client, fresh_clock):
    cookie = sign_in(client)
    fresh_clock.shift_by(timedelta(hours=12, minutes=1))
    assert client.http.get("/admin/api/applications", headers={"Cookie": cookie}).status_code == 401


def test_a_removed_member_is_refused_at_once(client):
    founder = sign_in(client)
    token = csrf_of(client, founder)
    added = client.http.post("/admin/committee/add", headers={**FORM, "Cookie": founder},
                             body=f"email=helper%40example.org&csrf_token={token}".encode())
    assert added.status_code == 200 and b"helper@example.org was added" in added.body
    helper = sign_in(client, "helper@example.org")
    assert client.http.get("/admin/api/applications", headers={"Cookie": helper}).status_code == 200
    client.http.post("/admin/committee/remove", headers={**FORM, "Cookie": founder},
                     body=f"email=helper%40example.org&csrf_token={token}".encode())
    assert client.http.get("/admin/api/applications", headers={"Cookie": helper}).status_code == 401
    actions = sorted(entry.action for entry in AuditEntry.scan())
    assert "committee_member_added" in actions and "committee_member_removed" in actions


def test_founding_members_cannot_be_removed_from_the_admin_area(client, committee_cookie):
    token = csrf_of(client, committee_cookie)
    answer = client.http.post("/admin/committee/remove", headers={**FORM, "Cookie": committee_cookie},
                              body=f"email=committee%40example.org&csrf_token={token}".encode())
    assert answer.status_code == 400 and b"configuration" in answer.body


@pytest.mark.parametrize("token", ["", "0" * 32])
def test_html_form_posts_need_the_csrf_token(client, committee_cookie, token):
    answer = client.http.post("/admin/committee/add", headers={**FORM, "Cookie": committee_cookie},
                              body=f"email=intruder%40example.org&csrf_token={token}".encode())
    assert answer.status_code == 403
    assert b"intruder" not in client.http.get("/admin/committee", headers={"Cookie": committee_cookie}).body


def test_the_json_api_accepts_only_json(client, committee_cookie):
    answer = client.http.post(f"/admin/api/applications/{'0' * 32}", headers={"Content-Type": "text/plain", "Cookie": committee_cookie},
                              body=b'{"action": "withdraw"}')
    assert answer.status_code == 415


@pytest.mark.parametrize("cookie", ["committee_session=forged", "committee_session=", "other=1", "committee_session=a;;;b=\\"])
def test_forged_or_damaged_cookies_are_refused(client, cookie):
    assert client.http.get("/admin/api/applications", headers={"Cookie": cookie}).status_code == 401


def test_signing_out_ends_the_session(client, committee_cookie):
    token = csrf_of(client, committee_cookie)
    answer = client.http.post("/admin/logout", headers={**FORM, "Cookie": committee_cookie}, body=f"csrf_token={token}".encode())
    assert answer.status_code == 303 and "Max-Age=0" in answer.headers["Set-Cookie"]
    assert client.http.get("/admin/api/applications", headers={"Cookie": committee_cookie}).status_code == 401


def test_an_oversized_admin_form_is_refused_with_413(client, committee_cookie):
    token = csrf_of(client, committee_cookie)
    body = f"csrf_token={token}&email=a%40example.org&filler={'x' * 70_000}".encode()
    answer = client.http.post("/admin/committee/add", headers={**FORM, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 413 and b"too large" in answer.body
