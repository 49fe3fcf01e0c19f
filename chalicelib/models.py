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

from chalicelib.config import table_name


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


class OutboxMail(Model):
    """A composed mail waiting to be sent, or the record that it was."""

    class Meta(_Meta):
        table_name = table_name("outbox")

    id = UnicodeAttribute(hash_key=True)
    template = UnicodeAttribute()
    sender = UnicodeAttribute()
    recipients = ListAttribute(of=UnicodeAttribute)
    mime = UnicodeAttribute()
    queue = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    attempts = NumberAttribute(default=0)
    lease_until = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    pending = PendingMailIndex()


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

    by_status = CohortStatusIndex()




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
    expires_at = TTLAttribute(null=True)


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


ALL_MODELS = (Application, Claim, OutboxMail, Member, Cohort, InboundMessage, CommitteeMember, AuditEntry)
