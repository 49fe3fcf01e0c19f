"""The pairing page in plain words: sentences for the history, the state explained, both
partners' contact details and applications, and what each action does and who is told."""
import html
import re

from tests.helpers import csrf_of, form_body, sign_in
from tests.helpers.workflow import approved_pairs, deliver, mails_to, reply_to, run_days

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _text(answer) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", answer.body.decode()))


def test_the_pairing_page_speaks_plainly_and_shows_both_partners(aws, fresh_clock, client):
    [pairing] = approved_pairs(1)
    run_days(fresh_clock, 15)
    deliver(reply_to(mails_to(pairing.mentee_email, "starting")[0], pairing.mentee_email, "1 - we met"))
    committee_cookie = sign_in(client)  # the session of day 0 has ended
    page = client.http.get(f"/admin/pairings/{pairing.id}", headers={"Cookie": committee_cookie})
    assert page.status_code == 200
    text = " ".join(_text(page).split())
    assert "The committee (committee@example.org) introduced the pair." in text
    assert "Kickoff check sent." in text
    assert "The mentee answered the kickoff check; the pairing is now under way." in text
    assert "Under way The partners have started their year" in text
    assert re.search(r"Next: The next check-in goes to both partners on \d{1,2} \w+ 20\d\d\.", text)
    history = text[text.index("History"):]
    for internal in ("participant:mentee", "committee:committee", "schedule", "checkin_due", "no reply on"):
        assert internal not in history and internal not in text.replace("Schedule", ""), internal
    body = page.body.decode()
    for role_id, email in ((pairing.mentee_id, pairing.mentee_email), (pairing.mentor_id, pairing.mentor_email)):
        assert f'href="/admin/applications/{role_id}"' in body
        assert f'href="mailto:{email}"' in body
    assert "Each partner gets a short mail saying the committee has closed the partnership" in text
    assert "Stops the mails: no check-ins or reminders go out until you resume it." in text


def test_a_committee_action_shows_as_a_sentence_with_its_reason(aws, fresh_clock, client, committee_cookie):
    [pairing] = approved_pairs(1)
    token = csrf_of(client, committee_cookie)
    answer = client.http.post(f"/admin/pairings/{pairing.id}", headers={**FORM, "Cookie": committee_cookie},
                              body=form_body({"csrf_token": token, "action": "pause"}))
    assert answer.status_code == 303
    text = " ".join(_text(client.http.get(f"/admin/pairings/{pairing.id}", headers={"Cookie": committee_cookie})).split())
    assert "The committee (committee@example.org) paused the pairing; the pairing is now paused." in text
    assert "Paused The committee paused the pairing; no mail goes out until it is resumed." in text
    assert "Starts the mails again where they stopped" in text  # resume is offered, and explained
