"""Tests for chalicelib/domain/replies.py: the raw-mail fixture corpus, interpret()
both ways, reply tokens, SES verdicts, hostile input and fuzzing."""
from __future__ import annotations

import re
import time
from email import policy
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.replies import (
    OUT_OF_OFFICE_SUBJECTS,
    UNEXPECTED_FAILURE,
    ParsedMail,
    extract_reply,
    html_to_text,
    interpret,
    parse_message,
    reply_token,
    verdict_problem,
)
from tests.helpers import MAIL_FIXTURES

MAIL_DIR = MAIL_FIXTURES
REPLY_DOMAIN = "reply.example.org"
FIXTURES = {path.name: path.read_bytes() for path in sorted(MAIL_DIR.glob("*.eml"))}

# Fragments of the check-in mail (templates/mail/checkin.txt) that participants
# quote back. The check-in lists "1 - going well" ... "3 - need help" and says
# "If you would like a different mentor", so any leak into the reply would also
# skew the rating and rematch readings.
CHECKIN_FRAGMENTS = (
    "regular check-in", "starting with:", "tell us anything you like", "If you would like a different mentor",
    "never a failure", "The Mentoring Committee",
)


def words(text: str) -> str:
    """Text with quote markers and line wrapping removed, for comparing sentences."""
    return " ".join(re.sub(r"(?m)^[ \t>]+", "", text).split())


def parsed(name: str) -> ParsedMail:
    return parse_message(FIXTURES[name])


# name -> (exact reply_text, rating, rematch_requested)
EXPECTED_REPLIES = {
    "gmail_reply.eml": ("2 - some concerns\n\nWe have only met once since October; her schedule changed.", 2, False),
    "outlook_reply.eml": ("Going well, thank you! We meet every other Tuesday.\n\nMaria", 1, False),
    "outlook_original_message.eml": (
        "3 - need help. My mentee has not replied since November and I am not sure\nwhat to do next.", 3, False,
    ),
    "apple_mail_reply.eml": (
        "1 \u2013 going great. We finished our first goal (a conference proposal) and are now planning a second "
        "one about outreach to the county jail library.\n\nAnne", 1, False,
    ),
    "iphone_reply.eml": ("Going well! We met for coffee last week.", 1, False),
    "html_only.eml": ("3\nI need help finding time to meet; my mentor has cancelled twice.\n\nSam", 3, False),
    "thunderbird_bottom_post.eml": ("1 - going well, we meet monthly and have set two goals.", 1, False),
    "html_bottom_post.eml": (
        "2 \u2013 some concerns. We have not managed to agree on goals yet, but we are trying.\n\nNora", 2, False,
    ),
    "interleaved_reply.eml": (
        "2, we are still finding our rhythm.\n\nNo, she is great - we just need a fixed slot.", 2, False,
    ),
    "base64_body.eml": (
        "2\n\n\u00c7a avance, mais nous n\u2019avons pas encore fix\u00e9 d\u2019objectifs. Some concerns about time.",
        2, False,
    ),
    "quoted_printable.eml": (
        "Things are going really well \u2014 we\u2019ve met three times and my mentor reviewed my cover letter before "
        "the interview at the county library. The tip about the 30-60-90 day plan was gold!", 1, False,
    ),
    "windows_1252.eml": (
        "It\u2019s going well \u2013 my mentor, Ren\u00e9, suggested \u201cinformational interviews\u201d and I\u2019ve "
        "done two.\n\nRen\u00e9e", 1, False,
    ),
    "iso_8859_1.eml": (
        "1\n\nEs l\u00e4uft gut \u2013 wir haben uns zweimal getroffen und die Ziele f\u00fcr das Fr\u00fchjahr "
        "besprochen.", 1, False,
    ),
    "bogus_charset.eml": ("1 \u2013 going well, thanks! Caf\u00e9 meetings every month.", 1, False),
    "attachment_pdf.eml": ("Going well! Attached are the goals we agreed on.", 1, False),
    "forwarded_message.eml": (
        "Forwarding the committee's note to my mentee as well. All good on our side!", 1, False,
    ),
    "forwarded_as_attachment.eml": (
        "2, see the attached mail - we are still looking for a regular meeting time.", 2, False,
    ),
    "rematch_request.eml": (
        "2\n\nI would like a different mentor, please. Our schedules never line up and\nit is not a good fit. "
        "This is not a complaint about her.\n\nPriya", 2, True,
    ),
    "signature_dash.eml": ("1\n\nAll good here, we are planning a library visit in March.", 1, False),
    "nested_multipart.eml": ("Some concerns: we keep missing each other.", 2, False),
    "thank_you_sentence.eml": (
        "Hi team,\n\nThank you, things are going well with my mentor. We have met three times\nand she helped me "
        "prepare for an interview.", 1, False,
    ),
}

# name -> the header or subject that gave the auto-reply away
EXPECTED_AUTO_REPLIES = {
    "out_of_office_auto_submitted.eml": "Auto-Submitted: auto-replied",
    "outlook_automatic_reply.eml": "out-of-office subject: Automatic reply:",
    "autoreply_x_header.eml": "X-Autoreply: yes",
    "delivery_status_notification.eml": "multipart/report",
}


def test_every_fixture_has_an_expectation():
    expected = set(EXPECTED_REPLIES) | set(EXPECTED_AUTO_REPLIES) | {"attachment_only.eml"}
    assert expected == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(EXPECTED_REPLIES))
def test_fixture_reply_text_is_the_latest_reply_only(name):
    message = parsed(name)
    expected_text, _, _ = EXPECTED_REPLIES[name]
    assert message.problem is None
    assert message.reply_text == expected_text
    for fragment in CHECKIN_FRAGMENTS:
        assert fragment not in words(message.reply_text)


@pytest.mark.parametrize("name", sorted(set(EXPECTED_REPLIES) - {"forwarded_as_attachment.eml"}))
def test_quoted_history_was_there_before_stripping(name):
    # Guards the test above: the quote must exist in the body for its absence to
    # mean anything. (An attached message is not body: see the attachment test.)
    message = parsed(name)
    for fragment in CHECKIN_FRAGMENTS:
        assert fragment in words(message.full_text)


@pytest.mark.parametrize("name", sorted(EXPECTED_REPLIES))
def test_fixture_interpretation(name):
    _, rating, rematch = EXPECTED_REPLIES[name]
    interpretation = interpret(parsed(name).reply_text)
    assert (interpretation.rating, interpretation.rematch_requested) == (rating, rematch)
    assert interpretation.understood


@pytest.mark.parametrize("name", sorted(EXPECTED_REPLIES))
def test_participant_replies_are_not_auto_replies(name):
    assert parsed(name).auto_reply_reason is None


@pytest.mark.parametrize("name", sorted(EXPECTED_AUTO_REPLIES))
def test_fixture_auto_reply_detection(name):
    reason = parsed(name).auto_reply_reason
    assert reason is not None and EXPECTED_AUTO_REPLIES[name] in reason


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_fixture_is_addressed_to_a_reply_address(name):
    message = parsed(name)
    assert reply_token(list(message.to_addresses), REPLY_DOMAIN)
    assert re.fullmatch(r"[a-z0-9._-]+@example\.(?:com|org)", message.from_address)


def test_html_alternatives_give_the_same_reply_as_the_plain_parts():
    compared = 0
    for name, raw in FIXTURES.items():
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
        if message.get_content_type() == "text/html" or name not in EXPECTED_REPLIES:
            continue
        for part in message.walk():
            if part.get_content_type() == "text/html":
                html = part.get_payload(decode=True).decode(part.get_content_charset())
                plain_reply = EXPECTED_REPLIES[name][0]
                assert extract_reply(html_to_text(html)).split() == plain_reply.split(), name
                compared += 1
    assert compared >= 5


def test_headers_are_decoded_and_addresses_lowercased():
    message = parsed("forwarded_message.eml")
    assert message.from_address == "alex.kim@example.com"
    assert message.to_addresses == ("reply+mfwgk6bnnfxgk3tb@reply.example.org",)
    assert message.cc_addresses == ("robin.park@example.com",)
    assert message.message_id == "<CAH1z2X3c4V5b6N7m8Q9w0Fwd0001@mail.example.com>"
    assert parsed("gmail_reply.eml").from_address == "jane.doe@example.com"
    assert parsed("base64_body.eml").subject == "Re: Mentoring check-in: how is it going?"


def test_attachments_are_named_and_ignored():
    assert parsed("attachment_pdf.eml").attachment_names == ("Mentoring goals 2026.pdf",)
    assert parsed("nested_multipart.eml").attachment_names == (
        "image001.png", "Zielvereinbarung_\u00dcbersicht.docx",
    )
    forwarded = parsed("forwarded_as_attachment.eml")
    assert forwarded.attachment_names == ("Mentoring check-in.eml",)
    assert "going well" not in forwarded.full_text


def test_attachment_without_text_is_a_problem():
    message = parsed("attachment_only.eml")
    assert message.problem == "no text body (attachments: goals.pdf)"
    assert message.reply_text == ""
    assert message.from_address == "alex.kim@example.com"


# --- synthetic mails ---------------------------------------------------------

def mail(headers: str = "", body: str = "1", content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (
        "From: Jane Doe <jane.doe@example.com>\r\n"
        "To: reply+abc234@reply.example.org\r\n"
        "Subject: Re: Mentoring check-in\r\n"
        f"{headers}"
        f"Content-Type: {content_type}\r\n\r\n{body}"
    ).encode("utf-8")


@pytest.mark.parametrize("header, reason", [
    ("Auto-Submitted: auto-generated\r\n", "Auto-Submitted: auto-generated"),
    ("Auto-Submitted: auto-replied; owner-email=jane.doe@example.com\r\n", "Auto-Submitted: auto-replied"),
    ("X-Autorespond: 1\r\n", "X-Autorespond: 1"),
    ("Precedence: bulk\r\n", "Precedence: bulk"),
    ("Precedence: Junk\r\n", "Precedence: junk"),
    ("Precedence: list\r\n", "Precedence: list"),
    ("Precedence: auto_reply\r\n", "Precedence: auto_reply"),
])
def test_auto_reply_headers(header, reason):
    assert reason in parse_message(mail(header)).auto_reply_reason


@pytest.mark.parametrize("header", [
    "",
    "Auto-Submitted: no\r\n",
    "X-Autoreply: no\r\n",
    "Precedence: normal\r\n",
    "X-Auto-Response-Suppress: All\r\n",  # Outlook sets it on ordinary mail too
    "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\r\n",
])
def test_ordinary_mail_is_not_an_auto_reply(header):
    assert parse_message(mail(header)).auto_reply_reason is None


@pytest.mark.parametrize("subject", [phrase.title() + ": Mentoring check-in" for phrase in OUT_OF_OFFICE_SUBJECTS]
                         + ["[EXTERNAL] Out of Office: back on 12 January", "AUTOREPLY"])
def test_out_of_office_subjects(subject):
    raw = mail().replace(b"Subject: Re: Mentoring check-in", f"Subject: {subject}".encode("utf-8"))
    assert parse_message(raw).auto_reply_reason == f"out-of-office subject: {subject}"


@pytest.mark.parametrize("subject", [
    "Re: Mentoring check-in", "Re: Office hours next week", "Vacation plans and our next meeting",
    "Re: Out of office again? No, I'm back", "Automatically generated goals list",
])
def test_ordinary_subjects_are_not_out_of_office(subject):
    raw = mail().replace(b"Subject: Re: Mentoring check-in", f"Subject: {subject}".encode("utf-8"))
    assert parse_message(raw).auto_reply_reason is None


@pytest.mark.parametrize("content_type, body_bytes, expected", [
    ("text/plain; charset=iso-8859-1", "Tr\u00e8s bien \u2013 merci".encode("cp1252"), "Tr\u00e8s bien \u2013 merci"),
    ("text/plain; charset=windows-1252", "\u201cgreat\u201d".encode("cp1252"), "\u201cgreat\u201d"),
    ("text/plain; charset=no-such-charset", "caf\u00e9".encode("cp1252"), "caf\u00e9"),
    ("text/plain; charset=base64", "caf\u00e9".encode("utf-8"), "caf\u00e9"),  # a codec that is not a text encoding
    ("text/plain", "caf\u00e9".encode("utf-8"), "caf\u00e9"),
])
def test_charsets_fall_back_gracefully(content_type, body_bytes, expected):
    raw = mail(content_type=content_type, body="").rstrip(b"\r\n") + b"\r\n\r\n" + body_bytes
    assert parse_message(raw).full_text == expected


def test_html_to_text_keeps_breaks_and_drops_scripts_and_cited_quotes():
    html = (
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<p>First&nbsp;paragraph</p><div>Line one<br/>Line two</div><script>alert('x')</script>"
        "<ul><li>goal one</li><li>goal two</li></ul>"
        "<blockquote>A citation the participant wrote</blockquote>"
        "<blockquote type=\"cite\">Quoted history</blockquote></body></html>"
    )
    assert html_to_text(html) == (
        "First paragraph\n\nLine one\nLine two\ngoal one\ngoal two\nA citation the participant wrote\n> Quoted history"
    )


def test_reply_extraction_keeps_hyphen_lists_and_long_lines():
    long_line = "We talked about " + "collection development and outreach, " * 20
    text = f"2\n- we met once\n- she cancelled twice\n{long_line}\n\nOn Mon, Jan 5, 2026 at 9:00 AM A <a@example.org> wrote:\n> x"
    assert extract_reply(text) == f"2\n- we met once\n- she cancelled twice\n{long_line.strip()}"


OUTLOOK_BLOCK = (
    "From: Mentoring Committee <mentoring@example.org>\nSent: Monday, January 5, 2026 9:00 AM\n"
    "To: Ana Lima <ana.lima@example.com>\nSubject: Mentoring check-in\n\nDear Ana,\n\n  3 - need help\n"
)
GMAIL_QUOTE = "On Mon, Jan 5, 2026 at 9:00 AM Mentoring Committee <mentoring@example.org> wrote:\n> 3 - need help\n"


@pytest.mark.parametrize("reply", [
    "My mentor cancelled again.\nOn 12 March she wrote:\n\"Sorry, not this month.\"\n\n3 - I need help.",
    "2 - some concerns\nFrom: the committee's last mail\nSent: 3 weeks ago, still no reply from my mentor.",
    "To: the committee\nFrom: Ana (mentee)\n\n1 - all good.",
    "On Monday she wrote:\nthat she is moving to Ohio.",
    "Our 3 goals:\n- finish the portfolio\n- Monthly",
])
def test_prose_like_a_header_is_kept(reply):
    assert extract_reply(f"{reply}\n\n{OUTLOOK_BLOCK}") == reply
    assert extract_reply(reply) == reply


@pytest.mark.parametrize("body, reply", [
    (f"{GMAIL_QUOTE}\nWe met twice.", "We met twice."),
    (f"Answers below.\n\n{GMAIL_QUOTE}\nWe met twice.\n\n> Anything else?\n\nNo.", "Answers below.\n\nWe met twice.\n\nNo."),
    (f"Sent from my iPhone\n\n{GMAIL_QUOTE}\n1, all good.", "1, all good."),
    (f"1, all good.\n\n{OUTLOOK_BLOCK}\nP.S. below the quoted mail is the quoted mail.", "1, all good."),
])
def test_text_below_and_between_quotes_is_kept_quotes_removed(body, reply):
    assert extract_reply(body) == reply


@pytest.mark.parametrize("reply, kept", [
    ("1\n\nKhalid, my mentor, agreed.", "1\n\nKhalid, my mentor, agreed."),  # "Kh" is a Danish sign-off
    ("1\n\nTak for hjælpen\nVi ses", "1\n\nTak for hjælpen\nVi ses"),
    ("1\n\nThanks,\nAna\n\nP.S. Could we meet on Thursdays instead of Mondays?",
     "1\n\nThanks,\nAna\n\nP.S. Could we meet on Thursdays instead of Mondays?"),
    ("1\n\nThanks,\nAna", "1"),
    ("1\n\nViele Grüße\nJonas\nBibliothekar\n+49 30 0000 0000", "1"),
    ("Going well.\n\n-Ana", "Going well."),
    ("Plan:\n- video\n- Monthly", "Plan:\n- video\n- Monthly"),
    ("Going well.\nSent from my iPhone", "Going well."),
    ("Sent from the library between two meetings, so briefly: 1", "Sent from the library between two meetings, so briefly: 1"),
])
def test_sign_offs_are_cut_only_when_nothing_written_follows(reply, kept):
    assert extract_reply(reply) == kept


@given(st.text(alphabet="abcdefgijklm \n", max_size=400))
@settings(max_examples=100, deadline=None)
def test_reply_above_or_below_a_quote_is_kept_exactly(reply):
    # Letters a-m without h cannot spell a sign-off (Danish "Kh" and "Dbh" need
    # the h), "On ... wrote:" or "Sent from".
    expected = re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in reply.split("\n"))).strip()
    quote = "On Mon, Jan 5, 2026 at 9:00 AM Mentoring Committee <mentoring@example.org> wrote:\n\n> How is it going?\n> -- \n> Mentoring Committee"
    assert extract_reply(f"{reply}\n\n{quote}\n") == expected
    assert extract_reply(f"{quote}\n\n{reply}\n") == expected


@pytest.mark.parametrize("raw, problem", [
    (b"", "not an email: no From, To or Subject header"),
    (b"just some words, no headers at all", "not an email: no From, To or Subject header"),
    (b"\x00\xff\xfe\x89PNG\r\n\x1a\n", "not an email: no From, To or Subject header"),
    (
        b"From: a@example.com\r\n" + b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level) for level in range(3000)
        ),
        "not readable: MIME parts are nested too deeply",
    ),
])
def test_unreadable_input_is_a_problem_not_an_exception(raw, problem):
    message = parse_message(raw)
    assert message.problem == problem
    assert (message.reply_text, message.full_text) == ("", "")


HEADERS = b"From: a@example.com\r\nTo: reply+abc@reply.example.org\r\nSubject: x\r\n"


@pytest.mark.parametrize("raw", [
    # Each took 5 s to several minutes before the guards in replies.py.
    HEADERS + b"Content-Type: text/html\r\n\r\n" + b"<a " * 50_000,
    HEADERS + b"Content-Type: text/html\r\n\r\n" + b"<!--" * 50_000,
    HEADERS + b"Content-Type: text/plain\r\n\r\nOn " + b"x " * 100_000,
    HEADERS + b"Content-Type: text/plain\r\n\r\n" + (b"On " + b"x " * 140 + b"\n") * 3_500,
    # Lines the header search tests one by one: candidates ending in ":", separators, header + quote pairs.
    HEADERS + b"Content-Type: text/plain\r\n\r\n" + (b"On 1 " + b"x " * 140 + b"wrote:\n") * 3_000,
    HEADERS + b"Content-Type: text/plain\r\n\r\n" + (b"On 1 x x x\n" * 2 + b"x 1 wrote:\n") * 5_000,
    HEADERS + b"Content-Type: text/plain\r\n\r\n" + b"-----\n" * 50_000,
    HEADERS + b"Content-Type: text/plain\r\n\r\n" + b"a 1:\n" * 200_000,
    HEADERS + b"Content-Type: text/plain\r\n\r\n" + b"On 5/1/26 9:00, A <a@example.org> wrote:\n> x\n" * 30_000,  # > MAX_BODY_SCAN_CHARS
    b'From: a@example.com\r\nTo: ' + b'"a' * 30_000 + b"\r\nSubject: x\r\n\r\nhi",
    b'From: a@example.com\r\nTo: ' + b'(' * 30_000 + b"\r\nSubject: x\r\n\r\nhi",  # RecursionError in getaddresses
    HEADERS + b'Content-Type: multipart/mixed; ' + b'"a' * 30_000 + b"\r\n\r\nhi",
])
def test_hostile_mail_is_parsed_quickly(raw):
    started = time.perf_counter()
    message = parse_message(raw)
    assert time.perf_counter() - started < 3
    assert message.problem is None or UNEXPECTED_FAILURE not in message.problem


# --- interpret() ----------------------------------------------------------------

@pytest.mark.parametrize("text, rating", [
    ("1", 1), ("2.", 2), ("3 -", 3), ("3 - need help", 3), ("(1)", 1), ("(1) We met twice", 1),
    ("2) some worries", 2), ("#3", 3), ("1\n\nWe met twice.", 1), ("Hi team,\n\n2\n\nWe met once.", 2),
    ("2 some concerns", 2), ("1 \u2013 going great", 1), ("Rating: 2", 2), ("My rating is 3", 3),
    ("I'd rate it a 1", 1), ("Answer: 2", 2), ("going well", 1), ("Great!", 1), ("All fine here", 1),
    ("some concerns about scheduling", 2), ("I'm a bit concerned", 2), ("so-so", 2), ("Not sure yet", 2),
    ("We need help", 3), ("The match is not working", 3), ("struggling to find time", 3), ("Help!", 3),
    ("help", 3), ("No concerns, going well", 1), ("not going well", 2), ("It's not that great", 2),
    ("Going well, but I need help with scheduling", 3), ("2 times we met, going well", 1),
    ("My mentor has been a great help", 1), ("We have no major concerns", 1),
])
def test_interpret_reads_ratings(text, rating):
    assert interpret(text).rating == rating


@pytest.mark.parametrize("text", [
    "we met 2 times", "1.5 hours per meeting", "3-4 meetings so far", "2 - 3 meetings a month", "We met on the 2nd",
    "", "   ", "See you at 3 pm", "I don't need help", "Nothing to be concerned about", "10 minutes late",
    "2020 was a busy year", "Between 1 and 2 meetings", "12", "We met; nothing else to report",
])
def test_interpret_ignores_digits_and_words_that_are_not_ratings(text):
    assert interpret(text).rating is None


@pytest.mark.parametrize("text", [
    "I would like a different mentor", "Can I be matched with someone else?", "New mentor please",
    "I'd like to request a rematch", "Could we switch partners?", "Please change my mentee",
    "I want a new partner", "Rematch please", "I'd like to be rematched", "I am looking for another mentor",
    "Could I have a different mentee?", "2\n\nCan we be paired with somebody else?",
    "Could I please be matched with a different mentor? We don't get along.",
])
def test_interpret_reads_rematch_requests(text):
    interpretation = interpret(text)
    assert interpretation.rematch_requested and interpretation.understood


@pytest.mark.parametrize("text", [
    "My mentor is different from what I expected, in a good way", "Another mentor in my library gave me advice",
    "I don't want a different mentor", "We don't need a rematch", "No need for a rematch",
    "I would like another meeting with my mentor", "My new mentor is great",
    "She helped me change my mentee's resume", "I switched careers last year",
    "Thanks for the rematch, the new mentor is great", "I'd like a new mentor-mentee agreement template",
    "I was matched with a new mentor last year and it went well", "I don't want to be matched with another mentor",
])
def test_interpret_does_not_see_rematch_requests_that_are_not_there(text):
    assert not interpret(text).rematch_requested


@pytest.mark.parametrize("reply, kept", [
    ("2 - some concerns", "some concerns"),
    ("1", ""),
    ("(3) We need help", "We need help"),
    ("Hi team,\n\n2\n\nWe met once.", "Hi team,\n\nWe met once."),
    ("Rating: 2", "Rating: 2"),
    ("  going well  ", "going well"),
])
def test_interpret_keeps_free_text_without_a_leading_rating(reply, kept):
    assert interpret(reply).text == kept


def test_free_text_without_rating_is_kept_but_not_understood():
    interpretation = interpret("We met twice and talked about CVs.")
    assert interpretation.rating is None and not interpretation.rematch_requested
    assert not interpretation.understood
    assert interpretation.text == "We met twice and talked about CVs."


# --- reply_token() ---------------------------------------------------------------

@pytest.mark.parametrize("recipients, token", [
    (["reply+abc234@reply.example.org"], "abc234"),
    (["REPLY+ABC234@Reply.Example.ORG"], "abc234"),
    (["<reply+abc234@reply.example.org>"], "abc234"),
    (["committee@example.org", "reply+xyz567@reply.example.org"], "xyz567"),
    (["reply+first@reply.example.org", "reply+second@reply.example.org"], "first"),
])
def test_reply_token_found(recipients, token):
    assert reply_token(recipients, REPLY_DOMAIN) == token


def test_reply_token_domain_argument_is_case_insensitive():
    assert reply_token(["reply+abc@reply.example.org"], "Reply.Example.Org.") == "abc"


@pytest.mark.parametrize("recipients", [
    [], ["reply@reply.example.org"], ["reply+@reply.example.org"], ["reply+ab-c@reply.example.org"],
    ["noreply+abc@reply.example.org"], ["reply+abc@example.org"], ["reply+abc@sub.reply.example.org"],
    ["reply+abc@reply.example.org.attacker.example.com"], ["jane.doe@example.com"],
])
def test_reply_token_absent(recipients):
    assert reply_token(recipients, REPLY_DOMAIN) is None


# --- verdict_problem() -----------------------------------------------------------

def receipt(**statuses: str) -> dict:
    verdicts = {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"} | statuses
    return {
        "timestamp": "2026-01-05T14:12:09.000Z",
        "processingTimeMillis": 512,
        "recipients": ["reply+k5uw4ylpmfxgs3tf@reply.example.org"],
        **{f"{name}Verdict": {"status": status} for name, status in verdicts.items() if status != "absent"},
        "action": {"type": "SNS", "topicArn": "arn:aws:sns:us-east-1:123456789012:inbound", "encoding": "UTF8"},
    }


@pytest.mark.parametrize("statuses, problem", [
    ({}, None),
    ({"spf": "FAIL"}, None),
    ({"dkim": "FAIL"}, None),
    ({"dmarc": "FAIL"}, None),
    ({"spf": "GRAY", "dkim": "FAIL"}, None),
    ({"spam": "pass"}, None),
    ({"spam": "FAIL"}, "spam check FAIL"),
    ({"virus": "FAIL"}, "virus check FAIL"),
    ({"virus": "GRAY"}, "virus check GRAY"),
    ({"spam": "PROCESSING_FAILED"}, "spam check PROCESSING_FAILED"),
    ({"virus": "absent"}, "virus check missing"),
    ({"spf": "FAIL", "dkim": "FAIL"}, "SPF and DKIM both FAIL"),
    ({"spam": "FAIL", "spf": "FAIL", "dkim": "FAIL"}, "spam check FAIL; SPF and DKIM both FAIL"),
])
def test_verdict_problem(statuses, problem):
    assert verdict_problem(receipt(**statuses)) == problem


def test_receipt_without_any_verdicts_has_nothing_to_judge():
    assert verdict_problem({"recipients": ["reply+abc@reply.example.org"]}) is None


def test_malformed_receipts_are_quarantined():
    assert verdict_problem({"spamVerdict": "PASS", "virusVerdict": {"status": "PASS"}}) == "spam check missing"
    assert verdict_problem(None) == "SES receipt is missing"


# --- fuzzing -------------------------------------------------------------------------

def assert_well_formed(message: ParsedMail) -> None:
    assert isinstance(message, ParsedMail)
    if message.problem is not None:
        assert message.problem and UNEXPECTED_FAILURE not in message.problem
        assert (message.reply_text, message.full_text) == ("", "")
    for address in (message.from_address, *message.to_addresses, *message.cc_addresses):
        assert isinstance(address, str) and address == address.lower()
    for text in (message.subject, message.message_id, message.reply_text, message.full_text, *message.attachment_names):
        assert isinstance(text, str)
    assert interpret(message.reply_text).rating in (None, 1, 2, 3)


@given(st.binary(max_size=2_000))
@settings(max_examples=200, deadline=None)
def test_parse_message_survives_arbitrary_bytes(raw):
    assert_well_formed(parse_message(raw))


@st.composite
def mutated_fixtures(draw) -> bytes:
    raw = bytearray(draw(st.sampled_from(sorted(FIXTURES.values()))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        mutation = draw(st.sampled_from(["flip", "truncate", "delete_line", "insert"]))
        position = draw(st.integers(min_value=0, max_value=max(len(raw) - 1, 0)))
        if mutation == "flip" and raw:
            raw[position] = draw(st.integers(min_value=0, max_value=255))
        elif mutation == "truncate":
            del raw[position:]
        elif mutation == "delete_line":  # mostly removes header lines, as they come first
            lines = bytes(raw).split(b"\n")
            del lines[draw(st.integers(min_value=0, max_value=min(len(lines) - 1, 30)))]
            raw = bytearray(b"\n".join(lines))
        elif mutation == "insert":
            raw[position:position] = draw(st.sampled_from([
                b"--", b"\r\n\r\n", b"=?utf-8?b?", b"<blockquote type=cite>", b"Content-Type: multipart/mixed\r\n",
                b"> ", b"\xff\xfe", b"boundary=", b"=\r\n", b"charset=utf-7",
            ]))
    return bytes(raw)


@given(mutated_fixtures())
@settings(max_examples=200, deadline=None)
def test_parse_message_survives_mutated_fixtures(raw):
    assert_well_formed(parse_message(raw))


@given(st.text(max_size=500))
@settings(max_examples=200, deadline=None)
def test_interpret_and_html_to_text_accept_any_text(text):
    interpretation = interpret(text)
    assert interpretation.understood == (interpretation.rating is not None or interpretation.rematch_requested)
    assert isinstance(html_to_text(text), str)
