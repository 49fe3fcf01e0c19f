"""The reply corpus (tests/fixtures/replies): extraction meets its targets, and
ratings and rematch requests come from the participant's own words only."""
from __future__ import annotations

import pytest

from bench.reply_corpus import EXACT_TARGET, FULLY_KEPT_TARGET, Outcome, corpus, measure
from chalicelib.domain.replies import interpret, parse_message

CORPUS = corpus()
MINIMUM_MESSAGES = 150


def test_corpus_is_large_enough_and_every_message_has_its_expected_text():
    assert len(CORPUS) >= MINIMUM_MESSAGES
    for name, (raw, expected) in CORPUS.items():
        assert raw.startswith(b"From: ") or b"\nFrom: " in raw[:2000], name
        assert expected.strip(), name


def test_extraction_meets_the_corpus_targets():
    score = measure()
    lost = [outcome.name for outcome in score.outcomes if not outcome.fully_kept]
    assert score.fully_kept_rate >= FULLY_KEPT_TARGET, f"text lost in {lost}"
    assert score.exact_rate >= EXACT_TARGET


@pytest.mark.parametrize("expected, extracted, exact, fully_kept", [
    ("Going well.\n\nAna", "Going well.\nAna", True, True),        # whitespace is normalised
    ("Going well.", "Going well.\n\nOn Mon, Jan 5 wrote:", False, True),  # a stray header: kept, not exact
    ("1\n\nWe met twice.", "1\nx\nWe met twice.", False, True),    # a stray line between answers
    ("1\n\nWe met twice.", "1", False, False),                    # an answer dropped
    ("1\n\nWe met twice.", "We met twice.\n1", False, False),     # order matters
    ("We met twice.", "We met", False, False),                    # part of a line dropped
])
def test_the_scoring_can_fail(expected, extracted, exact, fully_kept):
    outcome = Outcome("case", expected, extracted)
    assert (outcome.exact, outcome.fully_kept) == (exact, fully_kept)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_rating_and_rematch_come_from_the_participants_own_text(name):
    raw, expected = CORPUS[name]
    read = interpret(parse_message(raw).reply_text)
    wanted = interpret(expected)
    assert (read.rating, read.rematch_requested) == (wanted.rating, wanted.rematch_requested)


def test_quoted_mail_would_have_given_ratings_and_rematch_requests():
    # Guards the test above: the committee's quoted mail lists "3 - need help"
    # and "If you would like a different mentor", so reading it would change the
    # answer in many messages.
    changed = 0
    for raw, expected in CORPUS.values():
        own = interpret(expected)
        everything = interpret(parse_message(raw).full_text)
        changed += (everything.rating, everything.rematch_requested) != (own.rating, own.rematch_requested)
    assert changed >= len(CORPUS) // 4


@pytest.mark.parametrize("name", [
    "gmail_top_no_rating",     # no rating below "1 - going well / 3 - need help" in the quote
    "gmail_bottom_kickoff",    # bottom-posted under the quoted rating scale
    "gmail_deep_thread",       # quotes the participant's earlier "2 - some concerns"
])
def test_a_reply_without_a_rating_gets_none_although_the_quote_has_one(name):
    raw, _ = CORPUS[name]
    message = parse_message(raw)
    assert interpret(message.full_text).rating is not None
    assert interpret(message.reply_text).rating is None


def test_a_rematch_request_is_read_only_when_the_participant_wrote_it():
    quoted_only = parse_message(CORPUS["gmail_top_short"][0])
    assert interpret(quoted_only.full_text).rematch_requested  # "If you would like a different mentor"
    assert not interpret(quoted_only.reply_text).rematch_requested
    asked = parse_message(CORPUS["ios_rematch"][0])
    assert interpret(asked.reply_text).rematch_requested


def test_a_forwarded_mail_is_not_read_as_the_participants_answer():
    # The mentor's forwarded mail says "I need help myself"; the participant asks for a rematch.
    message = parse_message(CORPUS["forward_gmail_mentor_mail"][0])
    assert "need help" in message.full_text and "need help" not in message.reply_text
    assert interpret(message.reply_text).rematch_requested
    assert interpret(message.reply_text).rating is None
