"""PynamoDB models: the tables and indexes the system keeps.

Table names come from the stage's TABLE_PREFIX. The deployment template and
the sandbox create tables from these definitions, so they cannot drift.
Every read on a request path is a get or an index query, never a Scan.
"""
from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.adapters.config import table_name


class _Meta:
    billing_mode = "PAY_PER_REQUEST"


class CohortRoleIndex(GlobalSecondaryIndex["Application"]):
    class Meta:
        index_name = "cohort-role-index"
        projection = AllProjection()

    cohort_role = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class ApplicationEmailIndex(GlobalSecondaryIndex["Application"]):
    class Meta:
        index_name = "email-index"
        projection = KeysOnlyProjection()

    email = UnicodeAttribute(hash_key=True)


class Application(Model):
    """One person's application, for one role, in one cohort."""

    class Meta(_Meta):
        table_name = table_name("applications")

    id = UnicodeAttribute(hash_key=True)
    cohort = UnicodeAttribute()
    role = UnicodeAttribute()
    cohort_role = UnicodeAttribute()
    email = UnicodeAttribute()
    membership_id = UnicodeAttribute()
    status = UnicodeAttribute()
    answers = JSONAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    email_confirmed_at = UTCDateTimeAttribute(null=True)
    form_version = NumberAttribute(null=True)  # the program settings version whose form was answered (none: 0)
    expires_at = TTLAttribute(null=True)  # set when the cohort closes (retention)
    version = VersionAttribute()

    by_cohort_role = CohortRoleIndex()
    by_email = ApplicationEmailIndex()


class Claim(Model):
    """A unique key held by one record: a person's application in a cohort,
    a used sign-in link, a delivered message. Written in the same
    transaction as the record it guards, with attribute_not_exists."""

    class Meta(_Meta):
        table_name = table_name("claims")

    key = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


class PendingMailIndex(GlobalSecondaryIndex["OutboxMail"]):
    """Sparse: only mail not yet sent carries `queue`."""

    class Meta:
        index_name = "pending-index"
        projection = KeysOnlyProjection()

    queue = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class ParkedMailIndex(GlobalSecondaryIndex["OutboxMail"]):
    """Sparse: only mail given up on (SES refused it for good, or too many tries) carries `parked`."""

    class Meta:
        index_name = "parked-index"
        projection = AllProjection()

    parked = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class OutboxMail(Model):
    """A composed mail waiting to be sent, or the record that it was (or that it was given up on);
    or, in the `requested` queue, a mail asked for and not composed yet (a sign-in link: see
    services/committee.py)."""

    class Meta(_Meta):
        table_name = table_name("outbox")

    id = UnicodeAttribute(hash_key=True)
    template = UnicodeAttribute()
    sender = UnicodeAttribute()
    # The addresses and the message are needed only until the mail has left (or is dropped):
    # then they are removed, so no mail's content outlives its sending.
    recipients = ListAttribute(of=UnicodeAttribute, null=True)
    mime = UnicodeAttribute(null=True)
    queue = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    attempts = NumberAttribute(default=0)
    lease_until = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)
    parked = UnicodeAttribute(null=True)  # mail.PARKED while the committee is shown it; the content is gone
    request_detail = UnicodeAttribute(null=True)  # a request's one detail: the admin page a sign-in link returns to
    expires_at = TTLAttribute(null=True)

    pending = PendingMailIndex()
    parked_mail = ParkedMailIndex()


class MemberEmailIndex(GlobalSecondaryIndex["Member"]):
    class Meta:
        index_name = "email-index"
        projection = AllProjection()

    roster_email = UnicodeAttribute(hash_key=True)


class Member(Model):
    """One row of the association's member roster, loaded by the committee.

    Each upload is a new roster version; a pointer claim names the current
    one, so a replacement becomes visible all at once or not at all."""

    class Meta(_Meta):
        table_name = table_name("members")

    roster = UnicodeAttribute(hash_key=True)
    membership_id = UnicodeAttribute(range_key=True)
    roster_email = UnicodeAttribute()  # "<roster>#<email>", for lookups by email within one version
    email = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    expires = UnicodeAttribute(null=True)

    by_email = MemberEmailIndex()


class CohortStatusIndex(GlobalSecondaryIndex["Cohort"]):
    class Meta:
        index_name = "status-index"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


class Cohort(Model):
    """A program year. Applications join the one open cohort."""

    class Meta(_Meta):
        table_name = table_name("cohorts")

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    opened_at = UTCDateTimeAttribute()
    report = JSONAttribute(null=True)  # report.freeze(): the aggregate report, kept after retention
    closed_at = UTCDateTimeAttribute(null=True)
    # The committee's locks and forbids for the next approval (services/matching_draft.py); each change
    # bumps the revision, which guards every write and every approval.
    matching_draft = JSONAttribute(null=True)
    matching_draft_revision = NumberAttribute(null=True)
    carry_over = JSONAttribute(null=True)  # carry_over.py: the invitations' cursor, while they are being sent

    by_status = CohortStatusIndex()




class InboundOutcomeIndex(GlobalSecondaryIndex["InboundMessage"]):
    """The committee reads quarantined and uninterpreted replies by outcome."""

    class Meta:
        index_name = "outcome-index"
        projection = AllProjection()

    outcome = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class InboundPairingIndex(GlobalSecondaryIndex["InboundMessage"]):
    """The replies received for one pairing."""

    class Meta:
        index_name = "pairing-index"
        projection = AllProjection()

    pairing_id = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class InboundMessage(Model):
    """A mail received through SES, kept with what the system made of it."""

    class Meta(_Meta):
        table_name = table_name("inbound")

    id = UnicodeAttribute(hash_key=True)  # the SES message id
    received_at = UTCDateTimeAttribute()
    object_key = UnicodeAttribute()
    recipients = ListAttribute(of=UnicodeAttribute)
    outcome = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    pairing_id = UnicodeAttribute(null=True)
    participant = UnicodeAttribute(null=True)
    from_address = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    text = UnicodeAttribute(null=True)  # the reply as read, kept for the committee
    expires_at = TTLAttribute(null=True)

    by_outcome = InboundOutcomeIndex()
    by_pairing = InboundPairingIndex()


class CommitteeMember(Model):
    """A committee member added in the admin area (founding members come from configuration).
    All share one partition, so the list is a Query and membership a get."""

    class Meta(_Meta):
        table_name = table_name("committee")

    PARTITION = "committee"
    group = UnicodeAttribute(hash_key=True, default=PARTITION)
    email = UnicodeAttribute(range_key=True)
    added_by = UnicodeAttribute()
    added_at = UTCDateTimeAttribute()


class AuditEntry(Model):
    """One committee action: who did what to which record, and when."""

    class Meta(_Meta):
        table_name = table_name("audit")

    month = UnicodeAttribute(hash_key=True)  # "2026-11": the admin area reads a month at a time
    at_id = UnicodeAttribute(range_key=True)  # ISO time + a random suffix, so entries sort by time
    member = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute(null=True)
    details = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # kept longest of all records (audit.RETENTION_MONTHS)


class DueIndex(GlobalSecondaryIndex["Pairing"]):
    """Sparse: only pairings with a pending timer have next_due_at, so the
    daily tick reads the due pairings and nothing else."""

    class Meta:
        index_name = "due-index"
        projection = AllProjection()

    timer = UnicodeAttribute(hash_key=True)
    next_due_at = UTCDateTimeAttribute(range_key=True)


class PairingCohortIndex(GlobalSecondaryIndex["Pairing"]):
    class Meta:
        index_name = "cohort-index"
        projection = AllProjection()

    cohort = UnicodeAttribute(hash_key=True)
    introduced_at = UTCDateTimeAttribute(range_key=True)


class PairingMentorEmailIndex(GlobalSecondaryIndex["Pairing"]):
    """A person's pairings as a mentor, for exporting or erasing their data."""

    class Meta:
        index_name = "mentor-email-index"
        projection = KeysOnlyProjection()

    mentor_email = UnicodeAttribute(hash_key=True)


class PairingMenteeEmailIndex(GlobalSecondaryIndex["Pairing"]):
    """A person's past pairings across cohorts (application ids change each year)."""

    class Meta:
        index_name = "mentee-email-index"
        projection = KeysOnlyProjection()

    mentee_email = UnicodeAttribute(hash_key=True)


class Pairing(Model):
    """A mentor and a mentee, introduced by the committee, through their program year.

    The fields from `state` to `recent_contacts` are lifecycle.PairingView's;
    every change is a conditional write on `version`, with its history entry."""

    class Meta(_Meta):
        table_name = table_name("pairings")

    TIMER = "pending"
    id = UnicodeAttribute(hash_key=True)
    cohort = UnicodeAttribute()
    mentor_id = UnicodeAttribute()
    mentee_id = UnicodeAttribute()
    mentor_email = UnicodeAttribute()
    mentee_email = UnicodeAttribute()
    mentor_name = UnicodeAttribute()  # names and emails are kept here so the daily tick reads one item
    mentee_name = UnicodeAttribute()
    mentor_slot = UnicodeAttribute()  # the claim that holds one unit of the mentor's capacity
    score = NumberAttribute(null=True)
    reasons = ListAttribute(of=UnicodeAttribute, null=True)
    state = UnicodeAttribute()
    version = NumberAttribute()
    introduced_at = UTCDateTimeAttribute()
    timer = UnicodeAttribute(default=TIMER)
    next_due_at = UTCDateTimeAttribute(null=True)
    next_due = UnicodeAttribute(null=True)
    extension_days = NumberAttribute(default=0)
    awaiting_reply_since = UTCDateTimeAttribute(null=True)
    unanswered_checkins = NumberAttribute(default=0)
    flags = ListAttribute(of=UnicodeAttribute, default=list)
    paused_from = UnicodeAttribute(null=True)
    evaluations_returned = ListAttribute(of=UnicodeAttribute, default=list)
    took_part = ListAttribute(of=UnicodeAttribute, default=list)
    agreement = JSONAttribute(null=True)  # domain/agreement.py: both partners' kickoff terms, goal progress
    meetings = JSONAttribute(null=True)  # [{"at", "count", "by"}]: a few a year, so the item stays small
    recent_contacts = JSONAttribute(null=True)  # lifecycle's, bounded: who answered the last contacts (stalling)
    last_contact_at = UTCDateTimeAttribute(null=True)
    history = JSONAttribute(default=list)
    liaison = UnicodeAttribute(null=True)  # the committee member who looks after this pairing first
    tick_failures = NumberAttribute(null=True)  # days in a row the daily tick failed on this pairing
    tick_failed_on = UnicodeAttribute(null=True)  # the last such day, "2026-11-28"
    expires_at = TTLAttribute(null=True)  # set when the cohort closes (retention)

    due = DueIndex()
    by_cohort = PairingCohortIndex()
    by_mentor_email = PairingMentorEmailIndex()
    by_mentee_email = PairingMenteeEmailIndex()


class Response(Model):
    """A participant's answer to a check-in, feedback or evaluation, by mail or web form."""

    class Meta(_Meta):
        table_name = table_name("responses")

    pairing_id = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)  # ISO time + a random suffix
    participant = UnicodeAttribute()  # "mentor" or "mentee"
    kind = UnicodeAttribute()  # lifecycle.ResponseKind
    rating = NumberAttribute(null=True)
    text = UnicodeAttribute(null=True)
    answers = JSONAttribute(null=True)  # a web form's answers to the feedback or evaluation questions
    source = UnicodeAttribute()  # "email" or "web"
    trigger_id = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


class PendingDigestIndex(GlobalSecondaryIndex["Alert"]):
    """Sparse: only alerts not yet in a digest carry `digest`."""

    class Meta:
        index_name = "digest-index"
        projection = AllProjection()

    digest = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)


class Alert(Model):
    """Something the committee should know about a pairing: shown on the
    dashboard, mailed at once when urgent, else in the daily digest."""

    class Meta(_Meta):
        table_name = table_name("alerts")

    PENDING = "pending"
    cohort = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)
    pairing_id = UnicodeAttribute(null=True)
    kind = UnicodeAttribute()
    severity = UnicodeAttribute()
    text = UnicodeAttribute()
    digest = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # alerts.RETENTION_MONTHS after it was raised

    pending_digest = PendingDigestIndex()


class OpenConcernIndex(GlobalSecondaryIndex["Concern"]):
    """Sparse: only concerns not yet handled carry `open`, oldest first."""

    class Meta:
        index_name = "open-index"
        projection = AllProjection()

    open = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


class Concern(Model):
    """Something about a pairing a committee member must own until they mark it handled
    (domain/concerns.py). Kept beside the pairing, not in it, so concerns do not grow its item."""

    class Meta(_Meta):
        table_name = table_name("concerns")

    OPEN = "open"
    pairing_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    cohort = UnicodeAttribute()
    kind = UnicodeAttribute()  # domain.concerns.ConcernKind
    summary = UnicodeAttribute()  # names roles, never people
    opened_at = UTCDateTimeAttribute()
    open = UnicodeAttribute(null=True)  # Concern.OPEN until handled
    handled_at = UTCDateTimeAttribute(null=True)
    handled_by = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    open_concerns = OpenConcernIndex()


class UndeliverableAddress(Model):
    """An address SES reported as bouncing permanently, or whose owner marked
    our mail as spam: the outbox stops mailing it (see deliverability.py)."""

    class Meta(_Meta):
        table_name = table_name("undeliverable")

    email = UnicodeAttribute(hash_key=True)  # lower case
    reason = UnicodeAttribute()  # "bounce" or "complaint"
    detail = UnicodeAttribute(null=True)  # SES's bounce subtype or complaint feedback type
    recorded_at = UTCDateTimeAttribute()
    ses_message_id = UnicodeAttribute(null=True)  # the mail that bounced or was complained about
    expires_at = TTLAttribute(null=True)  # deliverability.KEEP_FOR after it was recorded


class SettingsVersion(Model):
    """One saved version of a cohort's program settings (see domain/settings_document.py).

    Versions are never changed or deleted: the current one is the highest, and
    an application names the version whose form it answered."""

    class Meta(_Meta):
        table_name = table_name("settings")

    cohort = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)  # 1, 2, ...; 0 stands for the defaults and is never stored
    document = JSONAttribute()
    saved_by = UnicodeAttribute()
    saved_at = UTCDateTimeAttribute()


class Job(Model):
    """A committee action too large for one request (approving many pairs, closing a cohort,
    importing a roster), done by the job worker in resumable steps: see services/jobs.py.

    `cursor` is where the kind's step function goes on from; a worker holds the job through
    `lease_owner` and `lease_until`, so two invocations never step the same job at once."""

    class Meta(_Meta):
        table_name = table_name("jobs")

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    state = UnicodeAttribute()  # jobs.QUEUED, RUNNING, DONE or FAILED
    requested_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    params = JSONAttribute(default=dict)  # small; a large input (a roster file) is in S3, named here
    cursor = JSONAttribute(null=True)
    done = NumberAttribute(default=0)
    total = NumberAttribute(default=0)
    errors = ListAttribute(of=UnicodeAttribute, default=list)  # the first jobs.MAX_ERRORS problems
    error_count = NumberAttribute(default=0)
    result = JSONAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)  # set once the job is done, or refused for good
    expires_at = TTLAttribute(null=True)


class MailQuota(Model):
    """How many mails of one kind went to one address in one hour (see services/quota.py). Keyed by
    an HMAC of the address, so the table holds no address; it expires after its hour."""

    class Meta(_Meta):
        table_name = table_name("quotas")

    key = UnicodeAttribute(hash_key=True)  # "<kind>#<hour>#<hmac of the address>"
    count = NumberAttribute(default=0)
    expires_at = TTLAttribute()


ALL_MODELS = (Application, Claim, OutboxMail, Member, Cohort, InboundMessage, CommitteeMember, AuditEntry, Pairing,
              UndeliverableAddress, Response, Alert, SettingsVersion, MailQuota, Job, Concern)
