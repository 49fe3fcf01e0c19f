"""Withdrawing an application: confirmed, with a reason, told kindly, undone while the cohort is
open; and a pending application says why it is pending."""
import html
import re
from datetime import timedelta

import pytest

from chalicelib.adapters.models import Application, AuditEntry, Claim, OutboxMail
from chalicelib.services import mail, membership, retention
from chalicelib.services.application_review import act_on_application
from chalicelib.services.applications import claim_key
from chalicelib.domain.refusals import Conflict, Invalid
from tests.helpers import apply_as, csrf_of, form_body, sent_mail

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _post(client, cookie, application_id, **fields):
    return client.http.post(f"/admin/applications/{application_id}", headers={**FORM, "Cookie": cookie},
                            body=form_body({"csrf_token": csrf_of(client, cookie), **fields}))


def _text(answer) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", answer.body.decode())).split())


def test_withdrawing_asks_first_then_needs_a_reason_then_tells_the_applicant(client, committee_cookie):
    application = apply_as("mentee")
    asked = _post(client, committee_cookie, application.id, action="withdraw")
    assert asked.status_code == 200 and Application.get(application.id).status == "pending_verification"
    assert "Withdraw Jo Reader's application?" in _text(asked) and 'name="confirm" value="yes"' in asked.body.decode()
    no_reason = _post(client, committee_cookie, application.id, action="withdraw", confirm="yes", reason="  ")
    assert no_reason.status_code == 400 and "Say why the application is withdrawn" in _text(no_reason)
    assert Application.get(application.id).status == "pending_verification"
    before = len(sent_mail())
    done = _post(client, committee_cookie, application.id, action="withdraw", confirm="yes", reason="Applied twice")
    assert done.status_code == 303 and done.headers["Location"].endswith("?done=withdraw")
    assert Application.get(application.id).status == "withdrawn"
    [told] = sent_mail()[before:]
    assert told["to"] == ["jo.reader@example.org"] or "jo.reader@example.org" in told["to"]
    assert "withdrawn your application as a mentee" in told["text"] and "Applied twice" not in told["text"]
    [entry] = [e for e in AuditEntry.scan() if e.action == "application_withdraw"]
    assert entry.details == {"reason": "Applied twice"}
    page = client.http.get(done.headers["Location"], headers={"Cookie": committee_cookie})
    assert "Jo Reader has been told in a short mail" in _text(page) and "Undo the withdrawal" in _text(page)


def test_a_withdrawal_is_undone_while_the_cohort_is_open(client, committee_cookie):
    application = apply_as("mentee")
    act_on_application("committee@example.org", application.id, "withdraw", reason="By mistake")
    undone = _post(client, committee_cookie, application.id, action="undo_withdraw")
    assert undone.status_code == 303
    assert Application.get(application.id).status == "pending_verification"  # as the roster says: not on it
    assert Claim.get(claim_key(application.cohort, "mentee", application.email)).owner == application.id
    again = _post(client, committee_cookie, application.id, action="undo_withdraw")
    assert again.status_code == 409


def restored_mails(before: int) -> list[dict]:
    return [m for m in sent_mail()[before:] if m["subject"] == "Your mentoring program application is back"]


def test_undoing_a_withdrawal_tells_the_applicant_once(client, committee_cookie, fresh_clock):
    application = apply_as("mentee")
    act_on_application("committee@example.org", application.id, "withdraw", reason="By mistake")
    before = len(sent_mail())
    undone = _post(client, committee_cookie, application.id, action="undo_withdraw")
    assert undone.status_code == 303
    [told] = sent_mail()[before:]
    assert told["to"] == ["jo.reader@example.org"]
    assert told["subject"] == "Your mentoring program application is back"
    for part in (told["text"], told["html"]):
        assert "Dear Jo Reader," in part and "undone the withdrawal of your application as a mentee" in part
        assert "By mistake" not in part  # the reason stays in the audit trail
    page = client.http.get(undone.headers["Location"], headers={"Cookie": committee_cookie})
    assert "has been told in a short mail" in _text(page)
    # A second undo, and a later sweep of the outbox, send nothing more.
    assert _post(client, committee_cookie, application.id, action="undo_withdraw").status_code == 409
    fresh_clock.shift_by(mail.SWEEP_GRACE + timedelta(seconds=1))
    assert mail.sweep() == 0 and len(sent_mail()) == before + 1


def test_the_undo_mail_waits_in_the_outbox_when_sending_fails_and_goes_out_once(client, fresh_clock, monkeypatch):
    application = apply_as("mentee")
    act_on_application("committee@example.org", application.id, "withdraw", reason="By mistake")
    before = len(sent_mail())
    with monkeypatch.context() as patched:
        patched.setattr(mail, "_send", lambda item, skip=frozenset(): (_ for _ in ()).throw(RuntimeError("down")))
        act_on_application("committee@example.org", application.id, "undo_withdraw")
    assert Application.get(application.id).status == "pending_verification" and not restored_mails(before)
    fresh_clock.shift_by(mail.LEASE + mail.SWEEP_GRACE)
    assert mail.sweep() == 1 and len(restored_mails(before)) == 1
    fresh_clock.shift_by(mail.LEASE + mail.SWEEP_GRACE)
    assert mail.sweep() == 0 and len(restored_mails(before)) == 1


def test_undo_refuses_when_the_person_applied_again_meanwhile(client):
    first = apply_as("mentee")
    act_on_application("committee@example.org", first.id, "withdraw", reason="Asked to")
    second = apply_as("mentee")
    before = len(sent_mail())
    with pytest.raises(Conflict, match="applied again"):
        act_on_application("committee@example.org", first.id, "undo_withdraw")
    assert Application.get(first.id).status == "withdrawn" and Application.get(second.id).status != "withdrawn"
    assert not restored_mails(before)
    assert not [m for m in OutboxMail.scan() if m.template == "application_restored"]  # nothing left to send later


def test_undo_refuses_once_the_cohort_is_closed(client):
    application = apply_as("mentee")
    act_on_application("committee@example.org", application.id, "withdraw", reason="Asked to")
    retention.close_cohort("committee@example.org", application.cohort)
    with pytest.raises(Conflict, match="cohort is closed"):
        act_on_application("committee@example.org", application.id, "undo_withdraw")


def test_a_huge_reason_is_refused_and_nothing_changes(client):
    application = apply_as("mentee")
    with pytest.raises(Invalid):
        act_on_application("committee@example.org", application.id, "withdraw", reason="x" * 5000)
    assert Application.get(application.id).status == "pending_verification"


def test_a_pending_application_says_why(client, committee_cookie):
    application = apply_as("mentee")
    page = _text(client.http.get(f"/admin/applications/{application.id}", headers={"Cookie": committee_cookie}))
    assert "Why it is waiting for verification" in page
    assert "has not confirmed their email address" in page and "No member roster is loaded yet" in page
    membership.load_roster("committee@example.org", "membership_id,email,name\nKLA-9,other@example.org,Other\n")
    page = _text(client.http.get(f"/admin/applications/{application.id}", headers={"Cookie": committee_cookie}))
    assert "Neither the membership number KLA-1001 nor the address jo.reader@example.org is on the current member roster" in page
    membership.load_roster("committee@example.org", "membership_id,email,name\nKLA-1001,jo.reader@example.org,Jo\n")
    page = _text(client.http.get(f"/admin/applications/{application.id}", headers={"Cookie": committee_cookie}))
    assert "Why it is waiting" not in page  # eligible now
