"""The reply path's warm-container cache, and the mail it folds into the reply's transaction."""
from datetime import timedelta
from unittest import mock

import pytest

from chalicelib.adapters import warm_cache
from chalicelib.adapters.models import OutboxMail, Response, SettingsVersion, UndeliverableAddress
from chalicelib.adapters.store import open_cohort
from chalicelib.domain import clock, settings_document
from chalicelib.services import mail, settings_store, workflow
from chalicelib.services.pairings import get_pairing
from tests.helpers import sent_mail
from tests.helpers.workflow import at_first_checkin, deliver, mails_to, reply_to

COMMITTEE = "committee@example.org"


@pytest.fixture
def checked_in(aws, fresh_clock):
    return at_first_checkin(fresh_clock)


def saved_by_another_container(cohort_id: str, version: int) -> None:
    """A save in another Lambda container: this process's caches know nothing of it."""
    SettingsVersion(cohort=cohort_id, version=version, document=settings_document.defaults(),
                    saved_by="committee@example.org", saved_at=clock.now()).save()


def test_a_settings_change_reaches_the_reply_path_after_the_lifetime_and_not_before(aws, fresh_clock):
    cohort = open_cohort().id
    assert settings_store.use_recent(cohort).version == 0
    saved_by_another_container(cohort, 1)
    fresh_clock.shift_by(warm_cache.LIFETIME - timedelta(seconds=1))
    settings_store.forget()  # the next invocation
    with mock.patch.object(SettingsVersion, "query", side_effect=AssertionError("settings read again")):
        assert settings_store.use_recent(cohort).version == 0
        assert settings_store.current(cohort).version == 0  # the rest of the invocation agrees
    fresh_clock.shift_by(timedelta(seconds=1))
    settings_store.forget()
    assert settings_store.use_recent(cohort).version == 1


def test_a_save_in_this_container_is_seen_at_once(aws):
    cohort = open_cohort().id
    settings_store.use_recent(cohort)
    saved = settings_store.save(cohort, settings_document.defaults(), "committee@example.org")
    settings_store.forget()
    assert settings_store.use_recent(cohort).version == saved.version == 1


def test_the_kept_settings_serve_neither_another_cohort_nor_another_stages_table(aws, monkeypatch):
    cohort = open_cohort().id
    saved_by_another_container("another-cohort", 3)
    assert settings_store.use_recent(cohort).version == 0
    assert (settings_store.use_recent("another-cohort").cohort, settings_store.use_recent("another-cohort").version) \
        == ("another-cohort", 3)
    production = settings_store.Saved(cohort, 7, settings_document.defaults())
    monkeypatch.setattr(SettingsVersion.Meta, "table_name", "mentoring-prod-settings")
    monkeypatch.setattr(settings_store, "current", lambda cohort_id: production)
    settings_store.forget()
    assert settings_store.use_recent(cohort) is production


def test_stale_settings_cannot_let_a_reply_into_a_pairing_that_has_ended(checked_in):
    """The cache keeps settings only: whether a reply may change a pairing is decided on the
    pairing, read consistently, and written on the condition that its version is unchanged."""
    pairing, mentee_mail, mentor_mail = checked_in
    assert deliver(reply_to(mentee_mail, pairing.mentee_email, "1 - going well"))["outcome"] == "applied"
    workflow.committee_action("committee@example.org", pairing.id, "dissolve", reason="the mentor moved away",
                               closure_reason="schedule_change")
    ended = get_pairing(pairing.id)
    settings_store.forget()  # a later invocation in the same warm container: the settings are still kept
    with mock.patch.object(SettingsVersion, "query", side_effect=AssertionError("settings read again")):
        outcome = deliver(reply_to(mentor_mail, pairing.mentor_email, "1 - going well"))
    assert outcome["outcome"] == "kept"
    after = get_pairing(pairing.id)
    assert (after.state, after.version, len(after.history)) == (ended.state, ended.version, len(ended.history))
    assert [answer.participant for answer in Response.query(pairing.id) if answer.kind == "checkin"] == ["mentee"]


def test_a_call_for_help_is_applied_when_the_committee_address_bounces_and_its_mail_is_dropped(checked_in):
    pairing, mentee_mail, _ = checked_in
    UndeliverableAddress(email=COMMITTEE, reason="bounce", recorded_at=clock.now()).save()
    before = len(sent_mail())
    outcome = deliver(reply_to(mentee_mail, pairing.mentee_email, "3 - we need help, no answer for weeks"))
    assert outcome["outcome"] == "applied"
    assert [answer.rating for answer in Response.query(pairing.id)] == [3]
    assert len(sent_mail()) == before
    [dropped] = [item for item in OutboxMail.scan() if item.template == "help_alert"]
    assert (dropped.queue, dropped.last_error, dropped.sent_at) == (None, mail.UNDELIVERABLE, None)


def test_a_mail_left_unsent_by_its_sender_is_swept_once_its_lease_runs_out(checked_in, fresh_clock):
    pairing, mentee_mail, _ = checked_in
    with mock.patch.object(mail, "deliver_all"):  # the container stops right after the transaction
        assert deliver(reply_to(mentee_mail, pairing.mentee_email, "3 - we need help"))["outcome"] == "applied"
    fresh_clock.shift_by(mail.SWEEP_GRACE + timedelta(seconds=1))
    assert mail.sweep() == 0 and not mails_to(COMMITTEE, "needs help")  # its sender's lease still holds
    fresh_clock.shift_by(mail.LEASE)
    assert mail.sweep() == 1
    assert len(mails_to(COMMITTEE, "needs help")) == 1
    fresh_clock.shift_by(mail.LEASE * 2)
    assert mail.sweep() == 0 and len(mails_to(COMMITTEE, "needs help")) == 1
