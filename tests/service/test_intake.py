"""Application intake against emulated AWS: records, claims, outbox and mail."""
import re
from datetime import timedelta

import pytest

from chalicelib.domain import clock, tokens
from chalicelib.services import intake
from chalicelib.services.applications import Status, claim_key
from chalicelib.services.membership import replace_roster
from chalicelib.adapters.models import Application, Claim, OutboxMail
from chalicelib.domain.roster import parse_roster
from chalicelib.domain.refusals import Conflict
from chalicelib.domain.validation import Invalid

ELIGIBLE, PENDING_VERIFICATION = Status.ELIGIBLE, Status.PENDING_VERIFICATION
from tests.helpers import as_form, sent_mail, valid_answers


def confirm_token_in(mail: dict) -> str:
    return re.search(r"/confirm/([a-z0-9]+)", mail["text"]).group(1)


def test_an_application_is_stored_with_its_claim_and_a_confirmation_mail_is_sent(aws):
    application = intake.submit(as_form(valid_answers()))
    stored = Application.get(application.id)
    assert stored.answers["name"] == "Jo Reader" and stored.role == "mentee"
    assert stored.status == PENDING_VERIFICATION and stored.email_confirmed_at is None
    assert Claim.get(claim_key(stored.cohort, "mentee", "jo.reader@example.org")).owner == stored.id
    [mail] = sent_mail()
    assert mail["to"] == ["jo.reader@example.org"]
    assert "confirm" in mail["subject"].lower()
    assert f"/confirm/{confirm_token_in(mail)}" in mail["html"]
    [outbox] = list(OutboxMail.scan())
    assert outbox.queue is None and outbox.sent_at is not None and outbox.ses_message_id


@pytest.mark.parametrize("roster_line", ["KLA1001,someone.else@example.org,Someone", "OTHER-9,Jo.Reader@example.org,Jo"])
def test_a_member_on_the_roster_is_eligible_by_number_or_email(aws, roster_line):
    replace_roster(parse_roster("membership_id,email,name\n" + roster_line), by="test")
    assert intake.submit(as_form(valid_answers(membership_id="kla 1001"))).status == ELIGIBLE


def test_without_a_roster_match_the_application_waits_for_verification(aws):
    assert intake.submit(as_form(valid_answers())).status == PENDING_VERIFICATION
    replace_roster(parse_roster("membership_id,email,name\nKLA-9999,other@example.org,Other"), by="test")
    assert intake.submit(as_form(valid_answers("mentor"))).status == PENDING_VERIFICATION


def test_an_expired_membership_does_not_make_an_application_eligible(aws):
    replace_roster(parse_roster("membership_id,email,name,expires\nKLA-1001,jo.reader@example.org,Jo,2020-01-31"), by="test")
    assert intake.submit(as_form(valid_answers())).status == PENDING_VERIFICATION


def test_confirming_marks_the_email_confirmed_and_a_second_visit_changes_nothing(aws):
    application = intake.submit(as_form(valid_answers()))
    token = confirm_token_in(sent_mail()[0])
    first = intake.confirm(token)
    confirmed_at = Application.get(application.id).email_confirmed_at
    second = intake.confirm(token)
    assert first.id == second.id == application.id
    assert confirmed_at is not None and Application.get(application.id).email_confirmed_at == confirmed_at


def test_a_forged_confirmation_token_is_refused(aws):
    intake.submit(as_form(valid_answers()))
    token = confirm_token_in(sent_mail()[0])
    with pytest.raises(tokens.TokenError):
        intake.confirm(token[:-2] + ("aa" if not token.endswith("aa") else "bb"))


def test_an_expired_confirmation_token_is_refused(aws):
    intake.submit(as_form(valid_answers()))
    token = confirm_token_in(sent_mail()[0])
    clock.shift_by(intake.CONFIRM_LINK_LIFETIME + timedelta(minutes=1))
    with pytest.raises(tokens.TokenError, match="expired"):
        intake.confirm(token)


def test_applying_again_before_confirming_updates_the_first_application(aws):
    first = intake.submit(as_form(valid_answers()))
    second = intake.submit(as_form(valid_answers(name="Jo A. Reader", email="JO.READER@example.org")))
    assert second.id == first.id
    assert Application.get(first.id).answers["name"] == "Jo A. Reader"
    assert len(list(Application.scan())) == 1
    assert len(sent_mail()) == 2  # a fresh confirmation link


def test_applying_again_after_confirming_is_refused_with_a_reason(aws):
    intake.submit(as_form(valid_answers()))
    intake.confirm(confirm_token_in(sent_mail()[0]))
    with pytest.raises(Conflict, match="already applied"):
        intake.submit(as_form(valid_answers(name="Someone pretending")))
    assert len(list(Application.scan())) == 1


def test_the_same_person_may_apply_as_mentor_and_as_mentee(aws):
    intake.submit(as_form(valid_answers("mentee")))
    intake.submit(as_form(valid_answers("mentor", email="jo.reader@example.org")))
    assert sorted(a.role for a in Application.scan()) == ["mentee", "mentor"]


def test_an_invalid_application_writes_nothing(aws):
    with pytest.raises(Invalid):
        intake.submit(as_form(valid_answers(years_experience="lots")))
    assert list(Application.scan()) == [] and [c.key for c in Claim.scan()] == ["cohort#accepting"] and list(OutboxMail.scan()) == []


def test_without_an_open_cohort_applications_are_closed(aws):
    from chalicelib.adapters.models import Cohort

    for cohort in Cohort.scan():
        cohort.delete()
    with pytest.raises(intake.ApplicationsClosed):
        intake.submit(as_form(valid_answers()))


def test_one_address_gets_three_confirmation_mails_an_hour_and_the_page_answers_as_before(client):
    import json

    from chalicelib.adapters.models import MailQuota

    answers = [client.http.post("/api/applications", headers={"Content-Type": "application/json"},
                                body=json.dumps(valid_answers(goals=f"Attempt {number}")).encode())
               for number in range(5)]
    mentor = client.http.post("/api/applications", headers={"Content-Type": "application/json"},
                              body=json.dumps(valid_answers("mentor", email="jo.reader@example.org")).encode())
    assert [answer.status_code for answer in answers + [mentor]] == [201] * 6
    assert Application.get(answers[-1].json_body["id"]).answers["goals"] == "Attempt 4", "the application is kept"
    assert len([m for m in sent_mail() if m["to"] == ["jo.reader@example.org"]]) == 3
    assert not list(OutboxMail.pending.query("pending")), "the mail not sent is not queued either"
    counters = list(MailQuota.scan())
    assert counters and "jo.reader" not in json.dumps([c.attribute_values for c in counters], default=str)
    assert all(c.expires_at - clock.now() <= timedelta(hours=2) for c in counters)

    clock.shift_by(timedelta(hours=1))
    again = client.http.post("/api/applications", headers={"Content-Type": "application/json"},
                             body=json.dumps(valid_answers(goals="An hour later")).encode())
    assert again.status_code == 201
    assert len([m for m in sent_mail() if m["to"] == ["jo.reader@example.org"]]) == 4
    other = client.http.post("/api/applications", headers={"Content-Type": "application/json"},
                             body=json.dumps(valid_answers(email="someone.else@example.org")).encode())
    assert other.status_code == 201 and sent_mail()[-1]["to"] == ["someone.else@example.org"]
