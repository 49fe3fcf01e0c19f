"""The keys a mailed answer is counted once by (pure)."""
import pytest

from chalicelib.domain.reply_keys import MAX_MESSAGE_ID_CHARS, mail_trigger_id, normalise_message_id


@pytest.mark.parametrize("header", [
    "<CAF=x9+Ab.Cd@mail.gmail.com>",
    "  <CAF=x9+Ab.Cd@mail.gmail.com>  ",
    "<CAF=x9+Ab.Cd@MAIL.Gmail.COM>",  # a domain is the same in any case
    "<CAF=x9+Ab.Cd@mail.gmail.com> (sent twice)",
    "(a comment (nested)) <CAF=x9+Ab.Cd@mail.gmail.com>",
    "<CAF=x9+Ab.Cd@\r\n mail.gmail.com>",  # folded by a relay
    "CAF=x9+Ab.Cd@mail.gmail.com",  # no angle brackets, as some old programs write it
])
def test_one_message_id_written_many_ways_normalises_to_one(header):
    assert normalise_message_id(header) == "CAF=x9+Ab.Cd@mail.gmail.com"


def test_the_left_part_keeps_its_case():
    assert normalise_message_id("<Abc@example.org>") != normalise_message_id("<abc@example.org>")


@pytest.mark.parametrize("header", ["", "   ", "<>", "<@example.org>", "<abc@>", "no at sign",
                                    "<" + "a" * MAX_MESSAGE_ID_CHARS + "@example.org>"])
def test_what_is_not_a_message_id_gives_none(header):
    assert normalise_message_id(header) is None


def test_the_trigger_is_the_message_id_for_its_pairing_and_participant_or_else_the_ses_id():
    key = mail_trigger_id("p1", "mentee", "abc@example.org", "ses-1")
    assert key == mail_trigger_id("p1", "mentee", "abc@example.org", "ses-2")  # the same mail, delivered again
    assert key.startswith("mail/") and "example.org" not in key  # the history keeps no host or address
    others = {mail_trigger_id("p1", "mentee", "abd@example.org", "ses-1"),
              mail_trigger_id("p1", "mentor", "abc@example.org", "ses-1"),
              mail_trigger_id("p2", "mentee", "abc@example.org", "ses-1")}
    assert key not in others and len(others) == 3
    assert mail_trigger_id("p1", "mentee", None, "ses-1") == "ses/ses-1"
