"""Benchmark of inbound replies: parsed, interpreted and applied per second, in-process.

Run from the project root: `.venv/bin/python bench/inbound.py [--pairings 100] [--profile]`.

In-process emulated AWS (moto's mock_aws, provisioned as the tests do). The
pairings are built as pairings._create builds them and walked through the pure
lifecycle core to "check-in sent, awaiting replies"; each participant's
check-in mail is composed by the workflow's own code (workflow._mails_for), so
the reply address carries a real signed token. Each participant replies once,
from a mail program: Gmail (multipart, "On ... wrote:" with "> " quotes and a
gmail_quote HTML part), Outlook (multipart, windows-1252, quoted-printable, a
"From:/Sent:" block, no "> ") or plain text (top-posted, signature, "> "
quotes). The answers are a realistic mix: mostly "going well", some concerns,
a call for help (mails the committee at once), a request for another partner,
free text without a rating (goes to the committee's digest), an out-of-office,
now and then a mail to a reply address with a mangled token (quarantined).

As SES would, each raw mail is put in the inbound bucket and its queue event
built beforehand (not timed: that is SES's, SNS's and SQS's work). Timed is the
app's own queue handler, `receive_inbound_mail` (inbound.receive: dedup check, S3 fetch,
parse, token, pairing, interpret, apply_event's transaction, mail, record).

Printed: replies per second end to end, and where the time goes: inside moto
(the emulator, including the whole-table copies its TransactWriteItems takes
for rollback), in the botocore client (serialising, signing, parsing answers),
in our code with PynamoDB and the standard library's mail parser, and in
garbage collection (which walks moto's tables too). Then the
pure part (replies.parse_message + replies.interpret) per second on the same
mails. Then the emulator's floor: only the three calls any implementation must
make for a reply (get the raw mail from S3, get the pairing, one transaction
that updates it and puts the answer), made with boto3 directly against the same
tables, with none of our code; and the same with the mail's record put in the same transaction,
as this design does (moto copies its table too), to show what of the rest is the record's and
what is our code's. Then the same replies once more through the same handler,
answered by a stub HTTP layer that replays moto's recorded answers, so only our
code and the SDK (serialising, signing, parsing) run; and the floor's three calls
answered the same way, so only boto3 runs: the SDK's own floor, the most any code
could reach on that figure; and those three calls made through PynamoDB, as the
app's stack makes them, answered the same way: the most any code on this stack could reach.

Each of these runs in a fresh process of its own (the app's replies and their replay; the
floor and the SDK's floor; the floor with the record; the stack's floor), so that none is
measured in a heap an earlier one left: the garbage collector's full collections walk all of
it, and moto's tables are most of it. They take turns for --rounds rounds (3 unless told),
and each figure is its median: one round's ratio to the floor moves by half on this machine.

Targets, each printed as met or MISSED; exits 1 when any is missed: AWS calls
per reply (counted per operation by a botocore event hook) <= 3.2; end to end
<= 1.3 x the emulator's floor measured in the same run, CPU time; our code and
the SDK without the emulator >= 400 replies/s on one core. The emulator's own
speed is no target: moto copies every table a transaction touches.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict, deque
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from functools import partial
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from bench.emulator_time import EmulatorTime  # noqa: E402
from infra.local.sandbox import configure_for_in_process_moto  # noqa: E402

# The app reads its stage's environment when first used: set it before importing.
configure_for_in_process_moto()

MOST_CALLS_PER_REPLY = 3.2
MOST_TIMES_THE_FLOOR = 1.3
LEAST_PER_SECOND_WITHOUT_EMULATOR = 400
SIGNING_KEY = "bench-signing-key-not-secret"
WARM_UP_PAIRINGS = 5  # their replies warm the container (clients, templates) and are not timed
PURE_ROUNDS = 5


class Instruments(EmulatorTime):
    """Besides the time inside moto: wall time in the botocore client's _make_api_call
    (which includes moto's), calls per service and operation, and clients created.
    Measured in CPU time of this process, by wrapping: nothing is changed."""

    def __init__(self) -> None:
        super().__init__()
        self.client = 0.0
        self.calls: Counter[str] = Counter()
        self.clients_created = 0
        self._depth = 0

    def install(self) -> None:
        import botocore.client
        import botocore.session

        super().install()
        instruments, call = self, botocore.client.BaseClient._make_api_call
        create_client = botocore.session.Session.create_client
        cpu = time.process_time

        def timed_call(client, operation_name, api_params):
            instruments._depth += 1
            started = cpu()
            try:
                return call(client, operation_name, api_params)
            finally:
                instruments._depth -= 1
                if not instruments._depth:
                    instruments.client += cpu() - started

        def count_call(model, **kwargs):
            instruments.calls[f"{model.service_model.service_name}.{model.name}"] += 1

        def counted_create_client(session, *args, **kwargs):
            instruments.clients_created += 1
            created = create_client(session, *args, **kwargs)
            created.meta.events.register("before-call", count_call)  # once per call, retries not counted
            return created

        botocore.client.BaseClient._make_api_call = timed_call
        botocore.session.Session.create_client = counted_create_client

    def place(self) -> str:
        return "moto" if self._in_moto else "client" if self._depth else "ours"

    def start(self) -> None:
        super().start()
        self.client = 0.0
        self.calls.clear()
        self.clients_created = 0


class CannedAnswers:
    """A stub HTTP layer in moto's place: records moto's answer to each request while
    recording, and while replaying answers the same requests, in the same order per
    endpoint and operation, with those answers without running moto at all."""

    def __init__(self) -> None:
        self.recorded: dict[tuple, deque] = defaultdict(deque)
        self.recording = self.replaying = False

    def install(self) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        canned, process_request = self, BotocoreStubber.process_request

        def answer(stubber, request):
            key = (urlsplit(request.url).netloc, request.headers.get("X-Amz-Target"), request.method)
            if canned.replaying:
                if not canned.recorded[key]:
                    raise LookupError(f"the replay asked what the recorded run did not: {key}")
                return canned.recorded[key].popleft()
            response = process_request(stubber, request)
            if canned.recording and response is not None:
                canned.recorded[key].append(response)
            return response

        BotocoreStubber.process_request = answer


INSTRUMENTS = Instruments()
INSTRUMENTS.install()
CANNED = CannedAnswers()
CANNED.install()

from chalice.local import LambdaContext  # noqa: E402
from moto import mock_aws  # noqa: E402

from app import app  # noqa: E402
from chalicelib.adapters import aws, store, warm_cache  # noqa: E402
from chalicelib.domain import clock, lifecycle, replies
from chalicelib.services import workflow
from chalicelib.adapters.config import settings  # noqa: E402
from chalicelib.adapters.models import InboundMessage, Pairing, Response  # noqa: E402
from chalicelib.services.pairings import cohort_schedule, mentor_slot_key  # noqa: E402
from infra.local.inbound import INBOUND_HANDLER, ses_notification  # noqa: E402
from infra.local.queues import sqs_event  # noqa: E402
from infra.local.provision import ensure_open_cohort, provision  # noqa: E402


# --- Pairings awaiting their check-in replies ----------------------------------------------

def awaiting_checkin(pairing_id: str, introduced_at, schedule: lifecycle.Schedule):
    """Introduced, kickoff check sent and answered the next day, first check-in sent on its day."""
    view = lifecycle.introduce(pairing_id, introduced_at, schedule)
    history = [{"at": clock.iso(introduced_at), "event": "introduced", "from": None, "to": view.state.value,
                "by": "committee:bench@example.org", "trigger_id": f"approve/{pairing_id}"}]

    def step(event: lifecycle.Event, at) -> None:
        nonlocal view
        decision = lifecycle.decide(view, event, at, schedule)
        view = lifecycle.apply(view, decision)
        history.append(dict(decision.history))

    kickoff = view.next_due_at
    step(lifecycle.timer_event(view), kickoff)
    step(lifecycle.Event(lifecycle.EventKind.KICKOFF_CONFIRMED, "participant:mentee", f"ses/{uuid.uuid4().hex}",
                         rating=lifecycle.Rating.GOING_WELL, text="going well"), kickoff + timedelta(days=1))
    step(lifecycle.timer_event(view), view.next_due_at)
    assert view.state == lifecycle.State.ACTIVE and view.next_due == lifecycle.EventKind.NO_REPLY
    return view, history


FIRST_NAMES = ("Jo", "Pat", "Sam", "Alex", "Robin", "Kim", "Lee", "Dana", "Chris", "Morgan", "Renée", "José")
LAST_NAMES = ("Reader", "Booker", "Page", "Stacks", "Shelver", "Dewey", "Archer", "Binder", "Müller", "O'Brien")


def fill(count: int) -> list[Pairing]:
    cohort = store.open_cohort().id
    schedule = cohort_schedule(cohort)
    now = clock.now()
    rng = random.Random(7)
    created = []
    with Pairing.batch_write() as batch:
        for number in range(count):
            pairing_id = uuid.uuid4().hex
            # The check-in went out one to five days ago.
            view, history = awaiting_checkin(pairing_id, now - timedelta(days=90 + rng.uniform(1, 5)), schedule)
            mentor_id, mentee_id = uuid.uuid4().hex, uuid.uuid4().hex
            names = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(2)]
            pairing = Pairing(
                id=pairing_id, cohort=cohort, mentor_id=mentor_id, mentee_id=mentee_id,
                mentor_email=f"mentor{number}@library{number % 37}.example.org",
                mentee_email=f"mentee{number}@library{number % 41}.example.org",
                mentor_name=names[0], mentee_name=names[1], mentor_slot=mentor_slot_key(mentor_id, 1),
                score=round(rng.uniform(0.4, 0.95), 3), reasons=["same region", "shared interest: technology"],
                state=view.state.value, version=view.version, introduced_at=view.introduced_at,
                next_due_at=view.next_due_at, next_due=view.next_due.value if view.next_due else None,
                awaiting_reply_since=view.awaiting_reply_since, unanswered_checkins=view.unanswered_checkins,
                flags=sorted(view.flags), evaluations_returned=sorted(view.evaluations_returned),
                extension_days=view.extension_days, last_contact_at=view.introduced_at + timedelta(days=15),
                history=history,
            )
            batch.save(pairing)
            created.append(pairing)
    return created


def checkin_mails(pairing: Pairing) -> dict:
    """The check-in each participant received, composed by the workflow's own code."""
    people = workflow._people(pairing)
    mails = {}
    for role in ("mentor", "mentee"):
        effect = lifecycle.SendMail(lifecycle.Template.CHECKIN, (role,), {"pairing_id": pairing.id, "role": role})
        [mail] = workflow._mails_for(effect, pairing, people)
        mails[role] = mail
    return mails


# --- Replies as mail programs write them ---------------------------------------------------

# (weight, body, expected outcome)
ANSWERS = (
    (30, "1 - going well. We met for coffee and set three goals for the spring.", "applied"),
    (15, "Going well, thanks! We meet every other week by video and I have learned a lot.", "applied"),
    (12, "Rating: 1\n\nOur last meeting was about the summer reading program; very useful.", "applied"),
    (8, "2\nSome concerns: we keep missing our calls because of my schedule.", "applied"),
    (6, "We have mixed feelings about it so far. The meetings are short and a bit rushed.", "applied"),
    (4, "3 - we need help. My partner has not answered my last three messages.", "applied"),
    (3, "I would like a different mentor, please. We do not seem to have much in common.", "applied"),
    (8, "Thanks for checking in. We met twice this quarter and talked about cataloguing.", "unrated"),
    (4, "OUT_OF_OFFICE", "auto_reply"),
    (2, "FORGED", "quarantined"),  # to a reply address whose token was mangled: kept for the committee only
)
SHAPES = ("gmail", "outlook", "plain")
ORIGINAL_SENT = "Mon, 5 Jan 2026 09:00:00 +0000"


def reply(shape: str, mail, sender_name: str, sender: str, body: str) -> bytes:
    message = EmailMessage(policy=SMTP)
    out_of_office, forged = body == "OUT_OF_OFFICE", body == "FORGED"
    if out_of_office:
        body = f"I am out of the office until Monday with limited access to email.\n\n{sender_name}"
    reply_address = mail.reply_to[0]
    if forged:
        body = "Dear friend, your mailbox is almost full. Click here to keep receiving mail."
        local, domain = reply_address.split("@", 1)
        reply_address = f"{local[:-6]}{'a' * 6}@{domain}"
    message["From"] = formataddr((sender_name, sender))
    message["To"] = reply_address
    message["Subject"] = (f"Automatic reply: {mail.subject}" if out_of_office and shape == "outlook"
                          else f"Re: {mail.subject}")
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = make_msgid(domain=sender.split("@", 1)[1])
    message["In-Reply-To"] = message["References"] = make_msgid(domain="example.org")
    message["MIME-Version"] = "1.0"
    if out_of_office and shape != "outlook":
        message["Auto-Submitted"] = "auto-replied"
    original = mail.text.strip()
    if shape == "gmail":
        quoted = "\n".join(f"> {line}" if line else ">" for line in original.splitlines())
        plain = (f"{body}\n\nOn {ORIGINAL_SENT}, Mentoring Committee <{settings().sender_address}> wrote:\n\n"
                 f"{quoted}\n")
        html = (f'<div dir="ltr">{escape(body).replace(chr(10), "<br>")}</div><br><div class="gmail_quote">'
                f'<div dir="ltr" class="gmail_attr">On {ORIGINAL_SENT}, Mentoring Committee &lt;'
                f'{settings().sender_address}&gt; wrote:<br></div><blockquote class="gmail_quote" '
                f'style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
                f'{mail.html}</blockquote></div>\n')
        message.set_content(plain, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    elif shape == "outlook":
        message["Thread-Topic"] = mail.subject
        message["Thread-Index"] = "AQHZ" + uuid.uuid4().hex[:20]
        message["X-MS-Has-Attach"] = ""
        message["Content-Language"] = "en-US"
        message["X-Auto-Response-Suppress"] = "All"
        header_block = (f"From: Mentoring Committee <{settings().sender_address}>\n"
                        f"Sent: Monday, January 5, 2026 9:00 AM\nTo: {sender_name} <{sender}>\n"
                        f"Subject: {mail.subject}")
        plain = (f"{body}\n\nBest regards,\n{sender_name}\n\n________________________________\n"
                 f"{header_block}\n\n{original}\n")
        html = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
                '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style></head>'
                f'<body dir="ltr"><div class="elementToProof" style="font-family: Aptos, sans-serif;">'
                f'{escape(body).replace(chr(10), "<br>")}</div><div>Best regards,<br>{escape(sender_name)}</div>'
                '<hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr">'
                f'<b>From:</b> Mentoring Committee &lt;{settings().sender_address}&gt;<br><b>Sent:</b> Monday, '
                f'January 5, 2026 9:00 AM<br><b>Subject:</b> {escape(mail.subject)}</div><div>{mail.html}</div>'
                '</body></html>')
        message.set_content(plain, charset="windows-1252", cte="quoted-printable")
        message.add_alternative(html, subtype="html", charset="windows-1252", cte="quoted-printable")
    else:
        quoted = "\n".join(f"> {line}" for line in original.splitlines())
        plain = f"{body}\n\n-- \n{sender_name}\nReference librarian\n\n{quoted}\n"
        message.set_content(plain)
    return message.as_bytes()


def replies_for(pairings: list[Pairing], rng: random.Random) -> list[tuple[bytes, str, str]]:
    """(raw mail, expected outcome, shape) for each participant of each pairing."""
    pool = [(body, expected) for weight, body, expected in ANSWERS for _ in range(weight)]
    rng.shuffle(pool)  # the mix in its proportions, in a random order
    made = []
    for number, pairing in enumerate(pairings):
        mails = checkin_mails(pairing)
        for role in ("mentor", "mentee"):
            body, expected = pool[(2 * number + (role == "mentee")) % len(pool)]
            shape = rng.choice(SHAPES)
            name, email = getattr(pairing, f"{role}_name"), getattr(pairing, f"{role}_email")
            made.append((reply(shape, mails[role], name, email, body), expected, shape))
    return made


def as_ses_delivers(raw: bytes) -> dict:
    """Store the raw mail in the inbound bucket and build the queue's event, as SES, SNS and Lambda do."""
    message_id = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    bucket, key = settings().inbound_bucket, f"inbound/{message_id}"
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=raw)
    return sqs_event(json.dumps(ses_notification(raw, message_id, bucket, key)), "mentoring-inbound-mail")


def emulator_floor(events: list[dict], pairings: list[Pairing], with_record: bool = False) -> float:
    """CPU seconds moto and boto3 take for the three calls every reply needs, and nothing else;
    with_record, the transaction also puts the mail's record, as this design does."""
    s3, dynamodb = aws.client("s3"), aws.client("dynamodb")
    started = time.process_time()
    for event, pairing in zip(events, (pairing for pairing in pairings for _ in range(2))):
        notification = json.loads(event["Records"][0]["body"])
        location = notification["receipt"]["action"]
        s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read()
        key = {"id": {"S": pairing.id}}
        item = dynamodb.get_item(TableName=Pairing.Meta.table_name, Key=key, ConsistentRead=True)["Item"]
        history = [*json.loads(item["history"]["S"]), {"at": clock.iso(clock.now()), "event": "checkin_reply",
                                                       "trigger_id": f"ses/{uuid.uuid4().hex}"}]
        writes = [
            {"Update": {"TableName": Pairing.Meta.table_name, "Key": key,
                        "UpdateExpression": "SET version = version + :one, history = :history",
                        "ConditionExpression": "version = :version",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":version": item["version"],
                                                      ":history": {"S": json.dumps(history)}}}},
            {"Put": {"TableName": Response.Meta.table_name,
                     "Item": {"pairing_id": {"S": pairing.id}, "at_id": {"S": f"{clock.iso(clock.now())}#floor"},
                              "kind": {"S": "checkin"}, "rating": {"N": "1"}, "text": {"S": "going well"}}}},
        ]
        if with_record:
            writes.append({"Put": {"TableName": InboundMessage.Meta.table_name,
                                   "ConditionExpression": "attribute_not_exists(id)", "Item": mail_record(notification)}})
        dynamodb.transact_write_items(TransactItems=writes)
    return time.process_time() - started


def mail_record(notification: dict) -> dict:
    """A mail's record with the attributes inbound._records gives an applied reply's."""
    mail, location = notification["mail"], notification["receipt"]["action"]
    return {"id": {"S": mail["messageId"]}, "received_at": {"S": clock.iso(clock.now())},
            "object_key": {"S": location["objectKey"]},
            "recipients": {"L": [{"S": address} for address in notification["receipt"]["recipients"]]},
            "outcome": {"S": "applied"}, "pairing_id": {"S": uuid.uuid4().hex}, "participant": {"S": "mentor"},
            "from_address": {"S": mail["source"]}, "subject": {"S": mail["commonHeaders"]["subject"]},
            "text": {"S": "going well"}, "expires_at": {"N": str(int(time.time()) + 400 * 86400)}}


# --- The run -----------------------------------------------------------------------------------

def prepared(pairing_count: int) -> tuple[list[Pairing], list[tuple[bytes, str, str]], list[dict]]:
    """Inside an active mock: the stack, the pairings awaiting replies, and each reply delivered by SES."""
    aws.reset()
    store.reset()
    provision(SIGNING_KEY)
    ensure_open_cohort()
    pairings = fill(pairing_count + WARM_UP_PAIRINGS)
    mails = replies_for(pairings, random.Random(2026))
    return pairings, mails, [as_ses_delivers(raw) for raw, _, _ in mails]


@contextmanager
def answered_from_recording():
    """No emulated account: every request is answered from the recording, in order. What this
    process holds already (moto's accounts, the recorded answers) is no Lambda's: frozen, so
    that the garbage collector walks only what the timed code makes."""
    gc.collect()
    gc.freeze()
    with mock_aws():
        warm_cache.forget()
        CANNED.replaying = True
        try:
            yield
        finally:
            CANNED.replaying = False
            gc.unfreeze()


def replayed(handler, context, events: list[dict], expected: list[str], warm: int) -> tuple[float, int]:
    """The recorded run's replies once more, from the same warm start, answered with moto's
    recorded answers: CPU seconds of the timed ones (our code and the SDK), and how many
    came out other than expected."""
    differs = 0
    with answered_from_recording():
        for event in events[:warm]:
            handler(event, context)
        INSTRUMENTS.start()
        started = time.process_time()
        for event, outcome in zip(events[warm:], expected[warm:]):
            [answer] = handler(event, context)
            differs += answer["outcome"] != outcome
        cpu = time.process_time() - started - INSTRUMENTS.inside
    return cpu, differs


def stack_floor(events: list[dict], pairings: list[Pairing]) -> float:
    """CPU seconds the floor's three calls take made as the app's stack makes them: the
    pairing read into PynamoDB's model, the update and the answer through its transaction."""
    s3 = aws.client("s3")
    started = time.process_time()
    for event, pairing in zip(events, (pairing for pairing in pairings for _ in range(2))):
        location = json.loads(event["Records"][0]["body"])["receipt"]["action"]
        s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read()
        read = Pairing.get(pairing.id, consistent_read=True)
        history = [*read.history, {"at": clock.iso(clock.now()), "event": "checkin_reply",
                                   "trigger_id": f"ses/{uuid.uuid4().hex}"}]
        with store.transaction() as write:
            write.update(read, actions=[Pairing.version.add(1), Pairing.history.set(history)],
                         condition=Pairing.version == read.version, add_version_condition=False)
            write.save(Response(pairing_id=read.id, at_id=f"{clock.iso(clock.now())}#floor", participant="mentor",
                                kind="checkin", rating=1, text="going well", source="email", trigger_id="floor"))
    return time.process_time() - started


def recorded_floor(floor, pairing_count: int, record: bool = True) -> tuple[float, list[dict], list[Pairing]]:
    """A floor's run from the same start as the app's, in an emulator of its own, its answers
    recorded: its CPU seconds, and the timed replies' events and pairings."""
    warm = WARM_UP_PAIRINGS * 2
    with mock_aws():
        pairings, _, events = prepared(pairing_count)
        floor(events[:warm], pairings[:WARM_UP_PAIRINGS])
        CANNED.recording = record
        cpu = floor(events[warm:], pairings[WARM_UP_PAIRINGS:])
        CANNED.recording = False
    return cpu, events[warm:], pairings[WARM_UP_PAIRINGS:]


def floor_without_emulator(floor, events: list[dict], pairings: list[Pairing]) -> float:
    """CPU seconds a floor's calls take answered from the recording of its own run: what the
    SDK (and the stack's layers, if it uses them) cost, without the emulator."""
    with answered_from_recording():
        INSTRUMENTS.start()
        cpu = floor(events, pairings) - INSTRUMENTS.inside
    if any(CANNED.recorded.values()):
        raise AssertionError("a floor made fewer calls than its recorded run")
    return cpu


def floor_figures(pairing_count: int, profile: bool) -> dict:
    cpu, *floor_run = recorded_floor(emulator_floor, pairing_count)
    return {"floor_cpu": cpu, "sdk_floor_cpu": floor_without_emulator(emulator_floor, *floor_run)}


def record_floor_figures(pairing_count: int, profile: bool) -> dict:
    cpu, *_ = recorded_floor(partial(emulator_floor, with_record=True), pairing_count, record=False)
    return {"record_floor_cpu": cpu}


def stack_floor_figures(pairing_count: int, profile: bool) -> dict:
    _, *stack_run = recorded_floor(stack_floor, pairing_count)
    return {"stack_floor_cpu": floor_without_emulator(stack_floor, *stack_run)}


def app_figures(pairing_count: int, profile: bool) -> dict:
    """The app's own replies end to end, then again answered from their recording, then the pure part."""
    handler = app.handler_map[INBOUND_HANDLER]
    warm = WARM_UP_PAIRINGS * 2
    with mock_aws():
        pairings, mails, events = prepared(pairing_count)
        context = LambdaContext(INBOUND_HANDLER, 512)

        CANNED.recording = True
        started = time.perf_counter()
        handler(events[0], context)
        first = time.perf_counter() - started
        for event in events[1:warm]:
            handler(event, context)

        INSTRUMENTS.start()
        profiler = cProfile.Profile() if profile else None
        outcomes: Counter[str] = Counter()
        wrong: Counter[str] = Counter()
        each = []
        if profiler:
            profiler.enable()
        started, started_cpu = time.perf_counter(), time.process_time()
        for event, (_, expected, shape) in zip(events[warm:], mails[warm:]):
            began = time.perf_counter()
            [answer] = handler(event, context)
            outcome = answer["outcome"]
            each.append(time.perf_counter() - began)
            outcomes[outcome] += 1
            if outcome != expected:
                wrong[f"{shape}: expected {expected}, got {outcome}"] += 1
        seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        CANNED.recording = False
        if profiler:
            profiler.disable()
            print("\n--- cProfile of the timed replies (cumulative, top 40) ---", file=sys.stderr)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        figures = {"first": first, "seconds": seconds, "cpu": cpu, "each": each, "outcomes": outcomes,
                   "wrong": wrong, "moto": INSTRUMENTS.inside, "snapshots": INSTRUMENTS.snapshots,
                   "client": INSTRUMENTS.client, "collecting": dict(INSTRUMENTS.collecting),
                   "calls": dict(INSTRUMENTS.calls), "clients_created": INSTRUMENTS.clients_created,
                   "responses": sum(1 for pairing in pairings[WARM_UP_PAIRINGS:] for _ in Response.query(pairing.id)),
                   "shapes": Counter(shape for _, _, shape in mails[warm:]), "timed": len(mails) - warm}

    figures["canned_cpu"], figures["replay_differs"] = replayed(handler, context, events,
                                                                [expected for _, expected, _ in mails], warm)
    raws = [raw for raw, _, _ in mails[warm:]]
    started, started_cpu = time.perf_counter(), time.process_time()
    for _ in range(PURE_ROUNDS):
        for raw in raws:
            replies.interpret(replies.parse_message(raw).reply_text)
    figures["pure"] = (time.perf_counter() - started) / PURE_ROUNDS
    figures["pure_cpu"] = (time.process_time() - started_cpu) / PURE_ROUNDS
    return figures


# Each in a fresh process, so that none is measured in a heap that an earlier one left
# (moto's tables, recordings): a full collection walks all of it.
PARTS = {"floor": floor_figures, "record_floor": record_floor_figures, "stack_floor": stack_floor_figures,
         "app": app_figures}


def in_fresh_process(part: str, pairing_count: int, profile: bool) -> dict:
    command = [sys.executable, __file__, "--part", part, "--pairings", str(pairing_count), *(["--profile"] * profile)]
    finished = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, cwd=PROJECT_DIR)
    return json.loads(finished.stdout.splitlines()[-1])


def run(pairing_count: int, profile: bool, rounds: int) -> int:
    measured = []  # one dict a round, each part in a fresh process, the parts taking turns
    for number in range(rounds):
        figures = {}
        for part in PARTS:
            figures.update(in_fresh_process(part, pairing_count, profile and part == "app" and number == 0))
        measured.append(figures)
    # Every figure that is a number is its median over the rounds; the rest (the outcomes, the
    # calls, the latencies) are the round's whose end to end is the median.
    middle = sorted(measured, key=lambda one: one["cpu"])[len(measured) // 2]
    figures = {name: statistics.median(one[name] for one in measured) if isinstance(value, float) else value
               for name, value in middle.items()}
    figures["wrong"] = sum((Counter(one["wrong"]) for one in measured), Counter())  # any round's counts
    figures["replay_differs"] = sum(one["replay_differs"] for one in measured)
    (first, seconds, cpu, each, outcomes, wrong, moto, snapshots, client, collecting, calls, clients_created,
     responses, shapes, timed, canned_cpu, replay_differs, pure, pure_cpu, floor_cpu, sdk_floor_cpu,
     record_floor_cpu, stack_floor_cpu) = (figures[name] for name in (
        "first", "seconds", "cpu", "each", "outcomes", "wrong", "moto", "snapshots", "client", "collecting", "calls",
        "clients_created", "responses", "shapes", "timed", "canned_cpu", "replay_differs", "pure", "pure_cpu",
        "floor_cpu", "sdk_floor_cpu", "record_floor_cpu", "stack_floor_cpu"))
    per_second, per_cpu_second = timed / seconds, timed / cpu
    ours = cpu - client
    ms = 1000 / timed
    print(f"rounds: {rounds}, each part in a fresh process; figures are medians. End to end against the floor, "
          "round by round: " + ", ".join(f"{one['cpu'] / one['floor_cpu']:.2f} x" for one in measured))
    print(f"pairings: {pairing_count} awaiting check-in replies (+{WARM_UP_PAIRINGS} for warm-up); "
          f"replies timed: {timed} ({', '.join(f'{shape} {n}' for shape, n in sorted(shapes.items()))})")
    print(f"outcomes:                    {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}; "
          f"Response items written: {responses}")
    if wrong:
        print("UNEXPECTED OUTCOMES:         " + "; ".join(f"{k} x{v}" for k, v in wrong.items()))
    print(f"first reply (cold):          {first * 1000:.0f} ms wall")
    print(f"end to end:                  {per_second:.1f} replies/s wall clock ({seconds * ms:.1f} ms per reply; "
          f"median {statistics.median(each) * 1000:.1f} ms, p95 {sorted(each)[int(len(each) * 0.95)] * 1000:.1f} ms)")
    print(f"end to end, CPU time:        {per_cpu_second:.1f} replies/s  ({cpu * ms:.1f} ms CPU per reply; "
          f"what one idle core would do)")
    gc_moto, gc_client, gc_ours = (collecting.get(place, 0.0) for place in ("moto", "client", "ours"))
    print(f"  inside moto (emulator):    {moto * ms:5.1f} ms/reply  ({moto / cpu:4.0%}), of which "
          f"{snapshots * ms:.1f} ms copying whole tables for TransactWriteItems rollback, "
          f"{gc_moto * ms:.1f} ms garbage collection (much of it during those copies)")
    print(f"  botocore client:           {(client - moto - gc_client) * ms:5.1f} ms/reply  "
          f"({(client - moto - gc_client) / cpu:4.0%})  serialising, signing, event hooks, parsing answers")
    print(f"  ours + PynamoDB + stdlib:  {(ours - gc_ours) * ms:5.1f} ms/reply  ({(ours - gc_ours) / cpu:4.0%})  "
          f"of which parse + interpret about {pure_cpu * ms:.1f} ms")
    print(f"  garbage collection outside moto: {(gc_client + gc_ours) * ms:.1f} ms/reply  "
          f"({(gc_client + gc_ours) / cpu:4.0%})  full collections walk moto's tables and their copies too")
    print(f"  without the emulator:      {timed / (cpu - moto):.0f} replies/s  (our code and the AWS SDK, "
          f"one core; AWS's network round trips not included); "
          f"{timed / (cpu - moto - gc_client - gc_ours):.0f}/s without garbage collection either")
    print(f"AWS calls per reply:         {sum(calls.values()) / timed:.2f}  ("
          + ", ".join(f"{op} {n / timed:.2f}" for op, n in sorted(calls.items())) + f"); "
          f"clients created: {clients_created}")
    print(f"pure parse + interpret:      {timed / pure_cpu:.0f} replies/s CPU time, {timed / pure:.0f}/s wall "
          f"({pure_cpu * ms:.2f} ms CPU per reply)")
    print(f"emulator's floor:            {timed / floor_cpu:.0f} replies/s CPU time ({floor_cpu * ms:.1f} ms per reply) "
          f"for only S3 GetObject + GetItem + one TransactWriteItems, boto3 on moto, none of our code")
    print(f"floor with the mail's record: {timed / record_floor_cpu:.0f} replies/s CPU time ({record_floor_cpu * ms:.1f} ms "
          f"per reply) for the same calls, the transaction also putting the mail's record in its own table as this "
          f"design does (moto copies that table too); end to end is {cpu / record_floor_cpu:.2f} x that")
    calls_per_reply = sum(calls.values()) / timed
    times_the_floor = cpu / floor_cpu
    without_emulator = timed / canned_cpu
    print(f"SDK's floor, canned answers: {timed / sdk_floor_cpu:.0f} replies/s CPU time ({sdk_floor_cpu * ms:.2f} ms per "
          f"reply, {sdk_floor_cpu * ms / 3:.2f} ms per call) for the floor's three calls, boto3 alone answered from a "
          "recording of moto's answers; with parse + interpret, no more than "
          f"{timed / (sdk_floor_cpu + pure_cpu):.0f}/s for any code on the figure below")
    print(f"stack's floor, canned answers: {timed / stack_floor_cpu:.0f} replies/s CPU time ({stack_floor_cpu * ms:.2f} ms "
          "per reply) for the same three calls made as this stack makes them (the pairing read into PynamoDB's model, "
          "the update and the answer through its transaction); with parse + interpret, no more than "
          f"{timed / (stack_floor_cpu + pure_cpu):.0f}/s for any code on PynamoDB")
    print(f"our code + SDK, canned answers: {without_emulator:.0f} replies/s CPU time ({canned_cpu * ms:.2f} ms per "
          "reply): the same replies through the same handler, answered from a recording of moto's answers"
          + (f"; {replay_differs} came out otherwise" if replay_differs else ""))
    verdicts = {
        f"AWS calls per reply <= {MOST_CALLS_PER_REPLY}": (f"{calls_per_reply:.2f}",
                                                           calls_per_reply <= MOST_CALLS_PER_REPLY),
        f"end to end <= {MOST_TIMES_THE_FLOOR} x the emulator's floor": (
            f"{times_the_floor:.2f} x ({cpu * ms:.1f} ms against {floor_cpu * ms:.1f} ms CPU per reply)",
            times_the_floor <= MOST_TIMES_THE_FLOOR),
        f"our code + SDK without the emulator >= {LEAST_PER_SECOND_WITHOUT_EMULATOR}/s": (
            f"{without_emulator:.0f}/s", without_emulator >= LEAST_PER_SECOND_WITHOUT_EMULATOR and not replay_differs),
    }
    for target, (figure, met) in verdicts.items():
        print(f"target {target}: {figure}: {'met' if met else 'MISSED'}")
    return 0 if all(met for _, met in verdicts.values()) and not wrong else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairings", type=int, default=100, help="pairings; each participant replies once")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the timed replies")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every part; figures are their medians")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # one part, in this process
    options = parser.parse_args()
    if options.part:
        print(json.dumps(PARTS[options.part](options.pairings, options.profile)))
        return 0
    return run(options.pairings, options.profile, options.rounds)


if __name__ == "__main__":
    sys.exit(main())
