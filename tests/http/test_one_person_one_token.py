"""Every answer reaches only the committee, from the person who wrote it, and counts once.

Each mail that asks for an answer goes to one participant with their own reply
token; a Reply All reaches nobody else; the kickoff check is answered by each
partner on their own; the same mail delivered twice is one answer."""
import re
from email import message_from_string, policy
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

import pytest

from chalicelib.adapters.aws import signing_key
from chalicelib.adapters.config import settings
from chalicelib.adapters.models import Alert, Application, InboundMessage, OutboxMail, Response
from chalicelib.domain import clock, tokens
from chalicelib.domain.lifecycle import AlertKind, ResponseKind, Template
from chalicelib.services import alerts, deliverability, report, workflow
from chalicelib.services.pairings import get_pairing
from chalicelib.services.report import pairing_fact
from chalicelib.services.applications import response_record
from chalicelib.services.application_review import act_on_application
from tests.helpers import form_body, sent_mail, sign_in, valid_answers
from tests.helpers.workflow import approved_pairs, deliver, mails_to, reply_all, reply_to, respond_link, run_days

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MAIL_TEMPLATES = {path.name.split(".subject.")[0]
                  for path in (Path(__file__).parents[2] / "chalicelib" / "templates" / "mail").glob("*.subject*.txt")}
ASKS = {template.value: template.asks for template in Template}


def sent_with_templates() -> list[tuple[str, object]]:
    """Every mail SES accepted, parsed, with the template the outbox made it from."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    templates = {item.ses_message_id: item.template for item in OutboxMail.scan() if item.ses_message_id}
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [(templates[message.id], message_from_string(message.raw_data, policy=policy.default))
            for message in backend.sent_messages]


def addresses(message, *names) -> list[str]:
    return [address.lower() for _, address in getaddresses([str(v) for n in names for v in message.get_all(n, [])])]


def reply_tokens(message) -> set[str]:
    """The reply tokens a mail carries: in its Reply-To addresses and in /respond links in either part."""
    domain = re.escape(settings().reply_domain)
    found = {match.group(1) for address in addresses(message, "Reply-To")
             if (match := re.fullmatch(rf"reply\+([a-z0-9]+)@{domain}", address))}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found |= set(re.findall(r"/respond/([a-z0-9]+)", part.get_content()))
    return found


def kickoff_mails(clock_):
    """One pairing, on the day of its kickoff check: (the pairing, the mentor's mail, the mentee's mail)."""
    [pairing] = approved_pairs(1)
    run_days(clock_, 14)
    [mentor_mail] = mails_to(pairing.mentor_email, "starting")
    [mentee_mail] = mails_to(pairing.mentee_email, "starting")
    return pairing, mentor_mail, mentee_mail


def pairing_named_by(mail: dict) -> str:
    """The pairing a mail's reply token names (its Reply-To is reply+TOKEN@ the reply domain)."""
    token = mail["reply_to"][0].split("@")[0].removeprefix("reply+")
    return tokens.read_reply_token(signing_key(), token, clock.now()).pairing_id


def help_alert_mails() -> list[dict]:
    return [m for m in sent_mail() if m["to"] == [settings().committee_address] and "needs help" in m["subject"]]


# --- One mail, one person, one token -------------------------------------------------------

def test_every_mail_the_system_sends_that_carries_a_reply_token_goes_to_the_one_person_it_names(client, fresh_clock):
    # Mail of every kind: an application's confirmation, its withdrawal and its undoing, a sign-in link, the introductions, the whole
    # schedule of a pair that answers nothing, a need-help alert, a rematch request, the digest, the
    # pairings' close, the exit questions, the letters of participation and an undeliverable address.
    quiet, asking, answering = approved_pairs(3)
    assert client.http.post("/apply", headers=FORM, body=form_body(valid_answers())).status_code == 303
    [applied] = [a for a in Application.scan(Application.email == valid_answers()["email"]) if a.status != "withdrawn"]
    act_on_application("committee@example.org", applied.id, "withdraw", reason="Applied twice by mistake")
    act_on_application("committee@example.org", applied.id, "undo_withdraw")
    sign_in(client)
    run_days(fresh_clock, 14)
    [kickoff] = mails_to(asking.mentee_email, "starting")
    deliver(reply_to(kickoff, asking.mentee_email, "3 - I need help, we have not met."))
    deliver(reply_to(kickoff, asking.mentee_email, "I would like a different mentor, please."))
    workflow.committee_action("committee@example.org", asking.id, "dissolve", closure_reason="rematch_request")
    for email in (answering.mentor_email, answering.mentee_email):
        # A mentor may have two mentees: their own kickoff is the one whose token names this pairing.
        [own] = [m for m in mails_to(email, "starting") if pairing_named_by(m) == answering.id]
        deliver(reply_to(own, email, "1 - we have met"))
    run_days(fresh_clock, 400)
    deliverability.record('{"eventType": "Bounce", "mail": {"messageId": "m1"}, "bounce": {"bounceType": '
                          '"Permanent", "bouncedRecipients": [{"emailAddress": "gone@example.org"}]}}')
    alerts.send_digest()

    sent = sent_with_templates()
    # Every kind of mail was seen, but the invitation into a later cohort: it needs a second
    # cohort, and tests/http/test_carry_over.py checks that it goes to its one person.
    assert {template for template, _ in sent} == MAIL_TEMPLATES - {"carry_over_invitation"}
    asked = 0
    for template, message in sent:
        recipients = addresses(message, "To", "Cc", "Bcc")
        found = reply_tokens(message)
        assert bool(found) == bool(ASKS.get(template)), template  # a token exactly where an answer is asked
        if not found:
            continue
        asked += 1
        assert len(recipients) == 1 and len(found) == 1, (template, recipients)  # Reply-To and link agree
        address = tokens.read_reply_token(signing_key(), found.pop(), parsedate_to_datetime(message["Date"]))
        pairing = get_pairing(address.pairing_id)
        assert address.role in ("mentor", "mentee") and address.kind == ASKS[template]
        assert recipients == [getattr(pairing, f"{address.role}_email").lower()]  # the token names its recipient
    # Each partner of the quiet pair: kickoff, the nudge of day 21, two check-ins, feedback, evaluation,
    # two reminders; of the answering pair the same but the nudge; the kickoff of the pair that then
    # asked for a different partner, and its exit questions once dissolved.
    assert asked == 2 * 8 + 2 * 7 + 2 + 2

    introductions = [message for template, message in sent if template == "introduction"]
    assert len(introductions) == 3
    for message in introductions:
        assert len(addresses(message, "To")) == 2 and not reply_tokens(message)
        assert addresses(message, "Reply-To") == [settings().committee_address]


def test_a_reply_all_to_each_mail_that_asks_reaches_only_the_committee(aws, fresh_clock):
    pairing, _, kickoff = kickoff_mails(fresh_clock)
    mentor, mentee = pairing.mentor_email, pairing.mentee_email
    replied = []

    def answer_all(mail, sender, body):
        raw = reply_all(mail, sender, body)
        partner = mentor if sender == mentee else mentee
        assert partner.encode() not in raw  # Reply All finds nobody else to copy
        assert deliver(raw)["outcome"] == "applied"
        replied.append(mail)

    answer_all(kickoff, mentee, "1 - we met for coffee")
    run_days(fresh_clock, 90 - 14)
    answer_all(mails_to(mentee, "check-in")[-1], mentee, "1 - going well")
    run_days(fresh_clock, 180 - 90)
    answer_all(mails_to(mentee, "feedback")[-1], mentee, "1 - monthly calls")
    run_days(fresh_clock, 365 - 180)
    answer_all(mails_to(mentor, "evaluation")[-1], mentor, "1 - a good year")
    run_days(fresh_clock, 7)
    [reminder] = mails_to(mentee, "reminder")
    answer_all(reminder, mentee, "1 - a good year for me too")

    assert [r.kind for r in sorted(Response.query(pairing.id), key=lambda r: r.at_id)] == [
        "kickoff", "checkin", "feedback", "evaluation", "evaluation"]
    assert get_pairing(pairing.id).state == "completed"
    assert not [a for a in Alert.scan() if a.kind == AlertKind.PARTNER_ADDRESSED]
    [introduction] = mails_to(mentor, "meet your")
    assert introduction["reply_to"] == [settings().committee_address]  # Reply All there reaches the committee


def test_a_reply_that_also_went_to_the_partner_is_applied_and_the_committee_is_told_on_the_pairing(client, fresh_clock):
    pairing, _, kickoff = kickoff_mails(fresh_clock)
    raw = reply_to(kickoff, pairing.mentee_email, "2 - some concerns", cc=(pairing.mentor_email.upper(),))
    assert deliver(raw, message_id="ses-1")["outcome"] == "applied"
    assert deliver(raw, message_id="ses-1")["outcome"] == "duplicate"  # delivered again: told once

    [answer] = Response.query(pairing.id)
    assert (answer.participant, answer.rating) == ("mentee", 2)
    [told] = [a for a in Alert.scan() if a.kind == AlertKind.PARTNER_ADDRESSED]
    assert told.pairing_id == pairing.id and "may have seen it" in told.text and told.digest == Alert.PENDING
    [entry] = [e for e in get_pairing(pairing.id).history if e["event"] == "kickoff_confirmed"]
    assert entry["partner_addressed"] is True
    page = client.http.get(f"/admin/pairings/{pairing.id}", headers={"Cookie": sign_in(client)}).body.decode()
    assert "also addressed to the partner, who may have seen it" in page


# --- The kickoff check, answered by each partner ------------------------------------------------

ORDERS = [(first, second, first_by, second_by) for first, second in (("mentor", "mentee"), ("mentee", "mentor"))
          for first_by in ("mail", "web") for second_by in ("mail", "web")]


@pytest.mark.parametrize("first,second,first_by,second_by", ORDERS)
def test_both_partners_answer_the_kickoff_in_any_order_and_way_and_each_alert_fires_once(
        client, fresh_clock, first, second, first_by, second_by):
    pairing, mentor_mail, mentee_mail = kickoff_mails(fresh_clock)
    own = {"mentor": (mentor_mail, pairing.mentor_email), "mentee": (mentee_mail, pairing.mentee_email)}
    sent = {}

    def answer(role, by):
        mail, address = own[role]
        if by == "mail":
            raw = sent[role] = reply_to(mail, address, f"3 - need help, from the {role}")
            assert deliver(raw, message_id=f"ses-{role}")["outcome"] == "applied"
        else:
            form = f"connected=no&agreed_how=no&goals_set=no&rating=3&comments=Need+help+from+the+{role}"
            sent[role] = form.encode()
            page = client.http.post(respond_link(mail), headers=FORM, body=sent[role])
            assert page.status_code == 200 and b"already have" not in page.body
            assert b"Who is answering" not in client.http.get(respond_link(mail)).body

    answer(first, first_by)
    answer(second, second_by)
    # Delivered and submitted again: nothing more.
    for role, by in ((first, first_by), (second, second_by)):
        if by == "mail":
            assert deliver(sent[role], message_id=f"ses-{role}")["outcome"] == "duplicate"
        else:
            assert b"already have" in client.http.post(respond_link(own[role][0]), headers=FORM, body=sent[role]).body

    answers = sorted((r.participant, r.source, r.text) for r in Response.query(pairing.id))
    ways = {first: first_by, second: second_by}
    assert [(who, source) for who, source, _ in answers] == [
        (role, "email" if ways[role] == "mail" else "web") for role in ("mentee", "mentor")]
    assert all(f"from the {who}" in text for who, _, text in answers)  # each answer is its writer's own
    urgent = help_alert_mails()
    assert sorted(re.match(r"The (mentor|mentee) of the pairing", m["text"]).group(1) for m in urgent) == ["mentee", "mentor"]
    assert sorted(a.text for a in Alert.scan() if a.kind == AlertKind.NEED_HELP) == [
        'The mentee answered the kickoff check with "Need help".', 'The mentor answered the kickoff check with "Need help".']
    built = report.aggregate("c", [], [pairing_fact(get_pairing(pairing.id))],
                             [response_record(r) for r in Response.query(pairing.id)])
    assert built["kickoffs"] == {"sent": 2, "answered": 2, "responses": 2}


def test_a_mailed_and_a_web_answer_to_the_same_request_are_both_kept_and_count_once(client, fresh_clock):
    pairing, _, mentee_mail = kickoff_mails(fresh_clock)
    assert deliver(reply_to(mentee_mail, pairing.mentee_email, "1 - we have met"))["outcome"] == "applied"
    form = b"connected=yes&agreed_how=yes&goals_set=started&rating=1&comments=We+meet+monthly"
    assert client.http.post(respond_link(mentee_mail), headers=FORM, body=form).status_code == 200

    kept = list(Response.query(pairing.id))
    assert sorted(r.source for r in kept) == ["email", "web"]
    built = report.aggregate("c", [], [pairing_fact(get_pairing(pairing.id))], [response_record(r) for r in kept])
    assert built["kickoffs"] == {"sent": 2, "answered": 1, "responses": 2}


# --- Kickoff checks mailed to both partners before this change -----------------------------------

def shared_kickoff(pairing, mentor_mail) -> dict:
    """The kickoff check as it was mailed before each partner had their own: to both, one shared token."""
    token = tokens.make_reply_token(signing_key(), tokens.ReplyAddress(pairing.id, tokens.BOTH, ResponseKind.KICKOFF),
                                    clock.now())
    return {**mentor_mail, "to": [pairing.mentor_email, pairing.mentee_email],
            "reply_to": [f"reply+{token}@{settings().reply_domain}"], "text": f"/respond/{token}"}


def test_a_shared_kickoff_mail_answered_by_both_by_mail_counts_once_per_person(aws, fresh_clock):
    pairing, mentor_mail, _ = kickoff_mails(fresh_clock)
    old = shared_kickoff(pairing, mentor_mail)
    for sender, body in ((pairing.mentee_email, "3 - my mentor never answers"), (pairing.mentor_email, "1 - fine")):
        raw = reply_all(old, sender, body)
        assert deliver(raw, message_id=f"ses-{sender}")["outcome"] == "applied"
        assert deliver(raw, message_id=f"ses-{sender}")["outcome"] == "duplicate"
    assert deliver(reply_to(old, "someone@example.com", "1 - fine"))["outcome"] == "quarantined"

    assert sorted((r.participant, r.rating) for r in Response.query(pairing.id)) == [("mentee", 3), ("mentor", 1)]
    assert len(help_alert_mails()) == 1
    # The old mail was addressed to both: its Reply All reached the partner, and the committee knows.
    assert sorted(a.text.split("'")[0] for a in Alert.scan() if a.kind == AlertKind.PARTNER_ADDRESSED) == [
        "The mentee", "The mentor"]
    built = report.aggregate("c", [], [pairing_fact(get_pairing(pairing.id))],
                             [response_record(r) for r in Response.query(pairing.id)])
    assert built["kickoffs"] == {"sent": 2, "answered": 2, "responses": 2}


def test_a_shared_kickoff_link_records_nothing_and_asks_for_a_reply_by_mail(client, fresh_clock):
    pairing, mentor_mail, _ = kickoff_mails(fresh_clock)
    link = respond_link(shared_kickoff(pairing, mentor_mail))
    page = client.http.get(link)
    assert page.status_code == 200 and b"reply to that mail" in page.body and b"<form" not in page.body
    refused = client.http.post(link, headers=FORM, body=b"who=mentee&connected=yes&agreed_how=yes&goals_set=yes"
                                                        b"&rating=3&rematch=yes")
    assert refused.status_code == 409 and b"reply to that mail" in refused.body
    assert list(Response.query(pairing.id)) == [] and get_pairing(pairing.id).state == "introduced"
    assert not help_alert_mails() and not [m for m in sent_mail() if "different partner" in m["subject"].lower()]


# --- Counted once --------------------------------------------------------------------------------

def test_the_same_mail_as_two_ses_messages_changes_nothing_the_second_time(aws, fresh_clock):
    pairing, _, mentee_mail = kickoff_mails(fresh_clock)
    raw = reply_to(mentee_mail, pairing.mentee_email, "3 - need help",
                   headers="Message-ID: <retried-1@Mail.Example.org>\r\n")
    resent = raw.replace(b"<retried-1@Mail.Example.org>", b" <retried-1@mail.example.org> (resent)")
    assert deliver(raw, message_id="ses-a")["outcome"] == "applied"
    before = get_pairing(pairing.id)
    again = deliver(resent, message_id="ses-b")
    assert again["outcome"] == "duplicate" and again["pairing_id"] == pairing.id

    after = get_pairing(pairing.id)
    assert (after.version, after.history) == (before.version, before.history)
    assert len(list(Response.query(pairing.id))) == 1 and len(help_alert_mails()) == 1
    assert InboundMessage.get("ses-b").outcome == "duplicate"  # the second delivery is kept, marked as such


def test_the_same_mail_to_two_of_our_addresses_is_one_answer(aws, fresh_clock):
    pairing, _, kickoff = kickoff_mails(fresh_clock)
    run_days(fresh_clock, 90 - 14)
    [checkin] = mails_to(pairing.mentee_email, "check-in")
    headers = "Message-ID: <to-both@example.org>\r\n"
    assert deliver(reply_to(kickoff, pairing.mentee_email, "1 - fine", headers=headers))["outcome"] == "applied"
    assert deliver(reply_to(checkin, pairing.mentee_email, "1 - fine", headers=headers))["outcome"] == "duplicate"
    assert len(list(Response.query(pairing.id))) == 1


def test_two_different_mails_with_the_same_words_are_two_answers(aws, fresh_clock):
    pairing, _, mentee_mail = kickoff_mails(fresh_clock)
    for _ in range(2):  # each with its own Message-ID
        assert deliver(reply_to(mentee_mail, pairing.mentee_email, "1 - going well"))["outcome"] == "applied"
    assert len(list(Response.query(pairing.id))) == 2


def test_a_mail_without_a_message_id_is_counted_by_its_ses_message_id(aws, fresh_clock):
    pairing, _, mentee_mail = kickoff_mails(fresh_clock)
    raw = re.sub(rb"Message-ID: [^\r]*\r\n", b"", reply_to(mentee_mail, pairing.mentee_email, "1 - going well"))
    assert b"Message-ID" not in raw
    assert [deliver(raw, message_id="ses-x")["outcome"] for _ in range(2)] == ["applied", "duplicate"]
    assert [e["trigger_id"] for e in get_pairing(pairing.id).history if e["event"] == "kickoff_confirmed"] == ["ses/ses-x"]
    assert len(list(Response.query(pairing.id))) == 1
