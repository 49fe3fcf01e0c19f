"""Signing in returns the committee to the page it asked for (a path of the admin area only),
says why when a session has ended; the admin area's not-found pages point to the dashboard."""
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.pages.sign_in import safe_return_path
from tests.helpers import COMMITTEE_EMAIL, send_sign_in_links, sent_mail, sign_in

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("value", [
    "https://evil.example/admin", "//evil.example/admin", "/\\evil.example", "/\\/evil.example", "http:/admin",
    "/apply", "/admin/login/abc", "/admin/api/report", "javascript:alert(1)", "/admin\n/x", "", None,
    "/admin/" + "a" * 600, "/administrator",
])
def test_only_a_page_of_the_admin_area_is_a_place_to_return_to(value):
    assert safe_return_path(value) == ""


@pytest.mark.parametrize("value", ["/admin", "/admin/pairings/abc", "/admin/applications?role=mentor&status=eligible"])
def test_admin_pages_are_returned_to(value):
    assert safe_return_path(value) == value


def _follow_the_link(client, login_location: str) -> str:
    """Ask for a link on the sign-in page the guard sent us to, and use it; the final Location."""
    wanted = parse_qs(urlsplit(login_location).query).get("next", [""])[0]
    page = client.http.get(login_location).body.decode()
    assert (f'name="next" value="{wanted}"' in page.replace("&amp;", "&")) == bool(wanted)
    before = len(sent_mail())
    client.http.post("/admin/login", headers=FORM,
                     body=f"email={COMMITTEE_EMAIL}&next={wanted}".replace("?", "%3F").replace("&role", "%26role").encode())
    send_sign_in_links()
    link = re.search(r"/admin/login/[a-z0-9]+(\?next=\S+)?", sent_mail()[before]["text"]).group(0)
    button = client.http.get(link).body.decode()
    token_path = link.split("?")[0]
    hidden = re.search(r'name="next" value="([^"]*)"', button)
    body = f"next={hidden.group(1).replace('&amp;', '%26').replace('?', '%3F')}" if hidden else ""
    answer = client.http.post(token_path, headers=FORM, body=body.encode())
    assert answer.status_code == 303
    return answer.headers["Location"]


def test_signing_in_returns_to_the_page_asked_for(aws, client):
    asked = client.http.get("/admin/applications?role=mentor")
    assert asked.status_code == 303 and asked.headers["Location"].startswith("/admin/login?next=")
    assert _follow_the_link(client, asked.headers["Location"]) == "/admin/applications?role=mentor"


def test_the_dashboard_is_where_a_plain_sign_in_lands(aws, client):
    assert _follow_the_link(client, "/admin/login") == "/admin"


def test_a_forged_return_address_lands_on_the_dashboard(aws, client):
    client.http.post("/admin/login", headers=JSON,
                     body=json.dumps({"email": COMMITTEE_EMAIL, "next": "//evil.example/admin"}).encode())
    send_sign_in_links()
    link = re.search(r"/admin/login/[a-z0-9]+\S*", sent_mail()[-1]["text"]).group(0)
    assert "evil" not in link
    answer = client.http.post(link.split("?")[0], headers=FORM, body=b"next=%2F%2Fevil.example%2Fadmin")
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin"


def test_an_ended_session_is_explained(aws, fresh_clock, client):
    cookie = sign_in(client)
    fresh_clock.shift_by(timedelta(hours=13))
    answer = client.http.get("/admin/pairings", headers={"Cookie": cookie})
    location = answer.headers["Location"]
    assert answer.status_code == 303 and "ended=1" in location and "next=%2Fadmin%2Fpairings" in location
    page = client.http.get(location).body.decode()
    assert "Your session has ended" in page and "go back to the page you asked for" in page
    assert "Your session has ended" not in client.http.get("/admin/login").body.decode()


def test_admin_not_found_pages_point_to_the_dashboard(aws, client, committee_cookie):
    for path in ("/admin/pairings/" + "0" * 32, "/admin/applications/" + "0" * 32, "/admin/settings/nothing"):
        answer = client.http.get(path, headers={"Cookie": committee_cookie})
        page = answer.body.decode()
        assert answer.status_code == 404 and '<a href="/admin">Back to the dashboard</a>' in page, path
        assert "application form" not in page
    public = client.http.get("/respond/" + "a" * 40).body.decode()
    assert "dashboard" not in public
