"""The committee's roster and application tools, through the routes."""
import pytest

from chalicelib.services import intake
from chalicelib.services.membership import current_roster
from chalicelib.adapters.models import Application, AuditEntry, Member
from tests.helpers import apply_as, as_form, csrf_of, form_body, valid_answers

JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}


def test_loading_the_roster_replaces_it_and_makes_waiting_applications_eligible(client, committee_cookie):
    waiting = apply_as("mentee")
    other = apply_as("mentor", membership_id="KLA-5555", email="pat.mentor@example.org")
    roster = "membership_id,email,name\nKLA-1001,jo.reader@example.org,Jo Reader\nKLA-7,x@example.org,X Y\n"
    answer = client.http.put("/admin/api/roster", headers={**CSV, "Cookie": committee_cookie}, body=roster.encode())
    assert answer.status_code == 200 and answer.json_body == {"members": 2, "newly_eligible": 1}
    assert Application.get(waiting.id).status == "eligible" and Application.get(other.id).status == "pending_verification"

    replacement = "membership_id,email,name,expires\nKLA-5555,pat.mentor@example.org,Pat,2099-12-31\n"
    answer = client.http.put("/admin/api/roster", headers={**CSV, "Cookie": committee_cookie}, body=replacement.encode())
    assert answer.json_body == {"members": 1, "newly_eligible": 1}
    assert [m.membership_id for m in Member.scan()] == ["KLA-5555"]  # the old version is gone
    assert any(entry.action == "roster_replaced" for entry in AuditEntry.scan())


def test_a_bad_roster_names_its_lines_and_nothing_is_imported(client, committee_cookie):
    good = "membership_id,email,name\nKLA-1,a@example.org,A\n"
    client.http.put("/admin/api/roster", headers={**CSV, "Cookie": committee_cookie}, body=good.encode())
    version = current_roster()
    bad = ("membership_id,email,name,expires\nKLA-2,b@example.org,B,\nKLA-3,not-an-email,C,\n"
           "KLA-2,d@example.org,D,\nKLA-4,e@example.org,E,31/12/2027\nKLA-5,f@example.org\n")
    answer = client.http.put("/admin/api/roster", headers={**CSV, "Cookie": committee_cookie}, body=bad.encode())
    assert answer.status_code == 400
    lines = answer.json_body["errors"]["lines"]
    assert [line.split(":")[0] for line in lines] == ["Line 3", "Line 4", "Line 5", "Line 6"]
    assert current_roster() == version and sorted(m.membership_id for m in Member.scan()) == ["KLA-1"]


@pytest.mark.parametrize("body", [b"", b"id,mail\n1,a@example.org\n"])
def test_a_roster_without_the_right_header_is_refused(client, committee_cookie, body):
    answer = client.http.put("/admin/api/roster", headers={**CSV, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 400 and "header" in answer.json_body["errors"]["lines"][0]


def test_a_roster_in_utf_16_is_refused_by_name_and_nothing_is_loaded(client, committee_cookie):
    body = "membership_id,email,name\nKLA-1,a@example.org,A\n".encode("utf-16")  # NULs, read as Windows text
    answer = client.http.put("/admin/api/roster", headers={**CSV, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 400 and "U+0000" in answer.json_body["errors"]["roster"]
    assert current_roster() is None


def test_an_excel_roster_with_a_byte_order_mark_and_windows_accents_loads(client, committee_cookie):
    body = "\ufeffmembership_id,email,name\r\nKLA-9,zoe@example.org,Zoë Brontë\r\n".encode("utf-8")
    answer = client.http.put("/admin/api/roster", headers={**CSV, "Cookie": committee_cookie}, body=body)
    assert answer.status_code == 200
    latin = "membership_id,email,name\r\nKLA-9,zoe@example.org,Zoë\r\n".encode("cp1252")
    assert client.http.put("/admin/api/roster", headers={**CSV, "Cookie": committee_cookie}, body=latin).status_code == 200
    assert [m.name for m in Member.scan()] == ["Zoë"]


def test_the_roster_upload_form_takes_a_file(client, committee_cookie):
    token = csrf_of(client, committee_cookie)
    boundary = "----formboundary7MA4YWxk"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"roster\"; filename=\"members.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\nmembership_id,email,name\nKLA-1001,jo.reader@example.org,Jo\n\r\n"
            f"--{boundary}--\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": committee_cookie}
    answer = client.http.post("/admin/roster", headers=headers, body=body)
    assert answer.status_code == 200 and b"Nothing is replaced yet" in answer.body and current_roster() is None
    confirm = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"confirm\"\r\n\r\nyes\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"roster_text\"\r\n\r\n"
               f"membership_id,email,name\r\nKLA-1001,jo.reader@example.org,Jo\r\n\r\n--{boundary}--\r\n").encode()
    answer = client.http.post("/admin/roster", headers=headers, body=confirm)
    assert answer.status_code == 200 and b"Loaded 1 members" in answer.body
    without_token = body.replace(token.encode(), b"0" * len(token))
    assert client.http.post("/admin/roster", headers=headers, body=without_token).status_code == 403


def test_applications_are_listed_as_json_with_filters(client, committee_cookie):
    apply_as("mentee")
    apply_as("mentor")
    every = client.http.get("/admin/api/applications", headers={"Cookie": committee_cookie}).json_body
    assert {a["role"] for a in every["applications"]} == {"mentor", "mentee"}
    mentors = client.http.get("/admin/api/applications?role=mentor&status=pending_verification",
                              headers={"Cookie": committee_cookie}).json_body["applications"]
    assert [a["role"] for a in mentors] == ["mentor"] and mentors[0]["answers"]["capacity"] == 2
    bad = client.http.get("/admin/api/applications?status=asleep", headers={"Cookie": committee_cookie})
    assert bad.status_code == 400


def test_the_committee_marks_eligible_changes_capacity_and_withdraws(client, committee_cookie):
    mentor = apply_as("mentor")
    headers = {**JSON, "Cookie": committee_cookie}
    url = f"/admin/api/applications/{mentor.id}"
    assert client.http.post(url, headers=headers, body=b'{"action": "mark_eligible"}').json_body["status"] == "eligible"
    again = client.http.post(url, headers=headers, body=b'{"action": "mark_eligible"}')
    assert again.status_code == 409
    assert client.http.post(url, headers=headers, body=b'{"action": "set_capacity", "capacity": 3}').json_body["answers"]["capacity"] == 3
    too_many = client.http.post(url, headers=headers, body=b'{"action": "set_capacity", "capacity": 11}')
    assert too_many.status_code == 400 and "1 to 10" in too_many.json_body["errors"]["capacity"]
    assert client.http.post(url, headers=headers, body=b'{"action": "withdraw"}').status_code == 400  # no reason
    assert client.http.post(url, headers=headers, body=b'{"action": "withdraw", "reason": "Moved away"}').json_body["status"] == "withdrawn"
    # Withdrawn is not live: the person can apply again.
    assert intake.submit(as_form(valid_answers("mentor"))).id != mentor.id
    actions = {entry.action for entry in AuditEntry.scan()}
    assert {"application_mark_eligible", "application_set_capacity", "application_withdraw"} <= actions


def test_unknown_applications_and_actions_get_clear_answers(client, committee_cookie):
    headers = {**JSON, "Cookie": committee_cookie}
    assert client.http.post(f"/admin/api/applications/{'f' * 32}", headers=headers, body=b'{"action": "withdraw"}').status_code == 404
    mentee = apply_as("mentee")
    assert client.http.post(f"/admin/api/applications/{mentee.id}", headers=headers, body=b'{"action": "promote"}').status_code == 400
    assert client.http.post(f"/admin/api/applications/{mentee.id}", headers=headers, body=b'[1]').status_code == 400


def test_the_html_list_and_detail_pages_escape_what_applicants_wrote(client, committee_cookie):
    application = apply_as("mentee", name="<img src=x onerror=alert(1)>")
    listing = client.http.get("/admin/applications?role=mentee", headers={"Cookie": committee_cookie}).body.decode()
    assert "&lt;img src=x" in listing and "<img src=x" not in listing
    detail = client.http.get(f"/admin/applications/{application.id}", headers={"Cookie": committee_cookie})
    assert detail.status_code == 200 and b"Mark as a member" in detail.body
    token = csrf_of(client, committee_cookie)
    done = client.http.post(f"/admin/applications/{application.id}", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": committee_cookie},
        body=form_body({"action": "mark_eligible", "csrf_token": token}))
    assert done.status_code == 303 and Application.get(application.id).status == "eligible"
