"""The pairing's history, state and next step in words, with no internal codes."""
from chalicelib.domain import plain_words
from chalicelib.domain.lifecycle import EventKind, State


def test_the_history_reads_as_sentences_naming_who_did_what():
    said = [plain_words.history_sentence(entry) for entry in (
        {"event": "introduced", "by": "committee:committee@example.org", "from": None, "to": "introduced"},
        {"event": "kickoff_due", "by": "schedule", "from": "introduced", "to": "introduced"},
        {"event": "kickoff_confirmed", "by": "participant:mentee", "from": "introduced", "to": "active"},
        {"event": "checkin_due", "by": "schedule", "from": "active", "to": "active"},
        {"event": "committee_extend", "by": "committee:a@example.org", "from": "active", "to": "active", "days": 30},
        {"event": "committee_dissolve", "by": "committee:a@example.org", "from": "active", "to": "dissolved",
         "reason": "Moved away"},
    )]
    assert said == [
        "The committee (committee@example.org) introduced the pair.",
        "Kickoff check sent.",
        "The mentee answered the kickoff check; the pairing is now under way.",
        "Check-in sent.",
        "The committee (a@example.org) extended the year by 30 days.",
        "The committee (a@example.org) dissolved the pairing; the pairing is now dissolved. Reason: Moved away",
    ]


def test_every_event_and_state_has_its_own_words():
    for kind in EventKind:
        sentence = plain_words.history_sentence({"event": kind.value, "by": "participant:mentor"})
        assert "_" not in sentence and "participant:" not in sentence and "schedule" not in sentence, sentence
    for state in State:
        assert plain_words.state_explanation(state.value), state
        assert "_" not in plain_words.state_name(state.value)


def test_an_event_added_later_is_shown_in_words_not_refused():
    assert plain_words.history_sentence({"event": "goal_set", "by": "participant:mentee"}) == "Goal set (the mentee)."


def test_the_next_step_is_a_sentence_with_a_date_in_words():
    assert plain_words.next_step("no_reply", "2027-03-31T12:00:00+00:00") == \
        "The time to answer the last mail ends on 31 March 2027"
    assert plain_words.next_step("checkin_due", "2027-01-05T00:00:00+00:00") == \
        "The next check-in goes to both partners on 5 January 2027"
    assert plain_words.next_step(None, None) == ""
