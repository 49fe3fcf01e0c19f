"""The roster page: the roster in use, common header spellings, and the mapping shown before
anything is replaced."""
import html
import re

import pytest

from chalicelib.adapters.models import Member
from chalicelib.domain.roster import RosterInvalid, read_roster
from chalicelib.services import membership
from tests.helpers import csrf_of

BOUNDARY = "----rosterboundary"


def _multipart(**fields) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"'
             + ('; filename="members.csv"\r\nContent-Type: text/csv' if name == "roster" else "")
             + f"\r\n\r\n{value}\r\n" for name, value in fields.items()]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


def _post(client, cookie, **fields):
    return client.http.post("/admin/roster", headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                                                      "Cookie": cookie},
                            body=_multipart(csrf_token=csrf_of(client, cookie), **fields))


def _text(answer) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", answer.body.decode())).split())


@pytest.mark.parametrize("header,row", [
    ("Member ID,E-mail,Name", "KLA-1,jo@example.org,Jo Reader"),
    ("E-mail,Member ID,First name,Last name", "jo@example.org,KLA-1,Jo,Reader"),
    ("membership_id,email,name", "KLA-1,jo@example.org,Jo Reader"),
    ("Email address, Membership number ,Surname,First Name,Notes", "jo@example.org,KLA-1,Reader,Jo,paid"),
])
def test_common_header_spellings_are_read(header, row):
    [member] = read_roster(f"{header}\n{row}\n").rows
    assert (member.membership_id, member.email, member.name) == ("KLA-1", "jo@example.org", "Jo Reader")


def test_a_header_without_an_email_column_is_refused_naming_it():
    with pytest.raises(RosterInvalid) as refused:
        read_roster("Member ID,Name\nKLA-1,Jo\n")
    assert "no column for Email address" in refused.value.problems[0]


def test_the_mapping_is_shown_and_nothing_replaced_until_confirmed(client, committee_cookie):
    membership.load_roster("first@example.org", "membership_id,email,name\nKLA-0,old@example.org,Old\n")
    page = _text(client.http.get("/admin/roster", headers={"Cookie": committee_cookie}))
    assert "The roster in use has 1 members" in page and "by first@example.org" in page
    upload = "E-mail,Member ID,First name,Last name,Notes\r\njo@example.org,KLA-1,Jo,Reader,x\r\npat@example.org,KLA-2,Pat,Rivera,y\r\n"
    preview = _post(client, committee_cookie, roster=upload)
    text = _text(preview)
    assert preview.status_code == 200 and "Nothing is replaced yet. The file has 2 members." in text
    for written, used in (("E-mail", "Email address"), ("Member ID", "Membership number"),
                          ("First name", "First name"), ("Notes", "not used")):
        assert f"{written} {used}" in text
    assert "KLA-1 jo@example.org Jo Reader" in text
    assert [m.email for m in Member.scan()] == ["old@example.org"]  # nothing replaced
    kept = re.search(r'<textarea name="roster_text"[^>]*>(.*?)</textarea>', preview.body.decode(), re.S).group(1)
    done = _post(client, committee_cookie, confirm="yes", roster_text=html.unescape(kept))
    assert done.status_code == 200 and "Loaded 2 members" in _text(done)
    assert sorted(m.email for m in Member.scan()) == ["jo@example.org", "pat@example.org"]
    assert "The roster in use has 2 members" in _text(done) and "by committee@example.org" in _text(done)


def test_a_confirmed_roster_is_read_again_and_refused_if_broken(client, committee_cookie):
    answer = _post(client, committee_cookie, confirm="yes", roster_text="E-mail,Name\nx@example.org,X\n")
    assert answer.status_code == 400 and "The roster was not loaded" in _text(answer)
    assert membership.current_roster() is None
