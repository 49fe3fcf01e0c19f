"""Every page the committee opens, on a cohort whose year holds every kind of answer.

Templates refuse to guess (a missing value is an error, by design), so a page can
fail on a shape of data its tests never had. Here the pages open on one year with
mailed and web answers of every kind, a reply also addressed to the partner,
an unrated reply, an automatic reply, a quarantined one, a confidential rematch and its dissolving, an extension, and a
person erased.
"""
import re
from urllib.parse import urlencode

import pytest

from chalicelib.pages import respond
from chalicelib.pages.admin_settings import EDITORS
from chalicelib.domain.lifecycle import ResponseKind
from chalicelib.adapters.models import Application
from tests.helpers import post_json, sign_in
from tests.helpers.forms import every_answer
from tests.helpers.workflow import approved_pairs, deliver, mails_to, receive_with, reply_to, respond_link, run_days

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def answer_on_the_web(client, mail: dict, kind: ResponseKind, role: str, cohort: str, **extra) -> None:
    link = respond_link(mail)
    body = every_answer(respond.questions_for(kind, role, cohort))
    if extra:
        body += b"&" + urlencode(extra).encode()
    assert client.http.post(link, headers=FORM, body=body).status_code == 200


def committee(client, method: str, path: str, document: dict | None = None):
    cookie = sign_in(client)  # sessions last hours, the year a year: sign in for each call
    if method == "GET":
        return client.http.get(path, headers={"Cookie": cookie})
    return post_json(client, cookie, path, document)


@pytest.fixture
def full_year(aws, fresh_clock, client):
    kept, mailed, web_form, rematch = approved_pairs(4)
    cohort = kept.cohort
    run_days(fresh_clock, 15)
    deliver(reply_to(mails_to(kept.mentee_email, "starting")[0], kept.mentee_email, "1 - we met and set goals",
                     cc=(kept.mentor_email,)))  # the partner added by hand: the pairing's page says so
    answer_on_the_web(client, mails_to(web_form.mentor_email, "starting")[0], ResponseKind.KICKOFF, "mentor", cohort)

    run_days(fresh_clock, 76)
    deliver(reply_to(mails_to(kept.mentee_email, "check-in")[0], kept.mentee_email, "2 - we keep missing calls"))
    answer_on_the_web(client, mails_to(kept.mentor_email, "check-in")[0], ResponseKind.CHECKIN, "mentor", cohort)
    deliver(reply_to(mails_to(mailed.mentee_email, "check-in")[0], mailed.mentee_email, "Can we talk at the conference?"))
    deliver(reply_to(mails_to(mailed.mentor_email, "check-in")[0], mailed.mentor_email, "Out of the office.",
                     headers="Auto-Submitted: auto-replied\r\n"))
    receive_with(reply_to(mails_to(rematch.mentee_email, "check-in")[0], rematch.mentee_email, "1 - fine"),
                 spamVerdict="FAIL")
    deliver(reply_to(mails_to(rematch.mentee_email, "check-in")[0], rematch.mentee_email,
                     "I would like a different mentor, please."))
    assert committee(client, "POST", f"/admin/api/pairings/{rematch.id}/actions",
                     {"action": "dissolve", "closure_reason": "rematch_request", "reason": "Asked for a different mentor"}).status_code == 200
    assert committee(client, "POST", f"/admin/api/pairings/{mailed.id}/actions",
                     {"action": "extend", "days": 30}).status_code == 200

    run_days(fresh_clock, 90)
    for role in ("mentor", "mentee"):
        mail = mails_to(getattr(kept, f"{role}_email"), "halfway")[0]
        answer_on_the_web(client, mail, ResponseKind.FEEDBACK, role, cohort)

    run_days(fresh_clock, 185)
    for role in ("mentor", "mentee"):
        mail = mails_to(getattr(kept, f"{role}_email"), "evaluation")[0]
        answer_on_the_web(client, mail, ResponseKind.EVALUATION, role, cohort)
    run_days(fresh_clock, 35)  # the extended pairing's evaluation comes 30 days later
    deliver(reply_to(mails_to(mailed.mentor_email, "evaluation")[0], mailed.mentor_email, "1 - a good year"))
    assert committee(client, "POST", "/admin/api/people/erase", {"email": web_form.mentee_email}).status_code == 200
    run_days(fresh_clock, 60)
    return {"pairings": [kept, mailed, web_form, rematch], "people": [kept.mentee_email, web_form.mentee_email]}


def test_every_committee_page_opens_on_a_full_year(full_year, client):
    pages = ["/admin", "/admin/applications", "/admin/matching", "/admin/pairings", "/admin/pairings?state=completed",
             "/admin/report", "/admin/settings", "/admin/roster", "/admin/committee", "/admin/cohorts", "/admin/people",
             "/admin/api/applications", "/admin/api/pairings", "/admin/api/report", "/admin/api/settings",
             "/admin/api/export/applications.csv", "/admin/api/export/pairings.csv",
             "/admin/api/export/responses.csv"]
    pages += [f"/admin/settings/{editor}" for editor in EDITORS]
    pages += [f"/admin/pairings/{pairing.id}" for pairing in full_year["pairings"]]
    pages += [f"/admin/api/pairings/{pairing.id}" for pairing in full_year["pairings"]]
    pages += [f"/admin/applications/{application.id}" for application in Application.scan()]
    pages += [f"/admin/people?email={email}" for email in full_year["people"]]
    pages += [f"/admin/api/people/export?email={email}" for email in full_year["people"]]
    cookie = sign_in(client)  # time stands still while the pages are read
    failed = {}
    for path in pages:
        answer = client.http.get(path, headers={"Cookie": cookie})
        if answer.status_code != 200:
            failed[path] = answer.status_code
    assert failed == {}
    states = {pairing["state"] for pairing in committee(client, "GET", "/admin/api/pairings").json_body["pairings"]}
    assert {"completed", "dissolved"} <= states  # the year did run its course
    assert all(client.http.get(path).status_code == 200 for path in ("/apply", "/program"))


def test_every_link_ever_mailed_answers_calmly_after_the_year(full_year, client):
    from chalicelib.adapters.config import settings
    from tests.helpers import sent_mail

    base = re.escape(settings().base_url)
    links = {link for mail in sent_mail() for link in re.findall(base + r"(/[^\s\"<>)]*)", mail["text"])}
    links = {link for link in links if not link.startswith("/admin/login/")}  # used once, by whoever signed in
    assert any(link.startswith("/respond/") for link in links) and any(link.startswith("/admin") for link in links)
    answers = {link: client.http.get(link).status_code for link in links}
    assert {link: status for link, status in answers.items() if status >= 500} == {}
    assert all(status in (200, 303, 400, 401, 404, 409, 410) for status in answers.values()), answers

