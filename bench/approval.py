"""Benchmark of approving pairs: does the request's answer time stay flat as the pairs grow?

Run from the project root: `.venv/bin/python bench/approval.py [--sizes 20 200 1000]`.

For each size, a fresh in-process emulated AWS (moto's mock_aws, provisioned as the tests
do) gets a cohort of confirmed, eligible applicants (synthetic, from infra/local/demo.py,
mentors taking two mentees each), and the pure matching engine picks that many pairs the
hard rules allow. A signed-in committee member then POSTs them to /admin/api/pairings
through Chalice's test client: the route, the committee guard and the page code, as API
Gateway would call them. Up to pairings.INLINE_PAIRS pairs are approved within the request
(201); more start a job and are answered with 202 at once.

The job worker runs as in the tests and the sandbox: the app's lambda.invoke is answered in
this process (infra/local/worker.py), here deferred until the request has answered, so the
two times are apart:
- answer: from the POST until the app's answer. A job's answer takes tens of milliseconds,
  so it is the median of five POSTs (the first four only start jobs that are never run);
  an approval within the request is timed once, since a second one finds the pairs made;
- all queued: from the POST until every introduction is in the outbox (the worker's steps
  done; each introduction is also handed to moto's SES as it is queued, as on AWS).
For comparison, the smallest size is also approved as a job (the threshold set to 0).
Target: the answer at the largest size is at most 2x the answer at the smallest. Exits 1 if
it is missed. Times are wall clock in this process, moto included (it runs in it); the CPU
time spent inside moto, and the part of it that is moto's copies of every table a
transaction touches (which grow with the tables, as DynamoDB's costs do not), are shown
beside the total (bench/emulator_time.py).
"""
from __future__ import annotations

import argparse
import gc
import json
import re
import statistics
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from bench.emulator_time import EmulatorTime  # noqa: E402
from infra.local.sandbox import configure_for_in_process_moto  # noqa: E402

# The app reads its stage's environment when first used: set it before importing.
configure_for_in_process_moto()

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from app import app  # noqa: E402
from chalicelib.adapters import aws, store  # noqa: E402
from chalicelib.adapters.models import Application, OutboxMail  # noqa: E402
from chalicelib.domain import clock, matching  # noqa: E402
from chalicelib.services import pairings, settings_store  # noqa: E402
from chalicelib.services.applications import Status  # noqa: E402
from infra.local import worker  # noqa: E402
from infra.local.demo import synthetic_applications  # noqa: E402
from infra.local.provision import ensure_open_cohort, provision  # noqa: E402

TARGET_RATIO = 2.0
COMMITTEE = "committee@example.org"
JSON = {"Content-Type": "application/json"}
WORKER = worker.install(app, worker.Deferred())  # before any client exists
EMULATOR = EmulatorTime()
EMULATOR.install()


def seed(pair_count: int) -> list[dict]:
    """Write the applicants straight to the table; return `pair_count` pairs the engine chose."""
    cohort = store.open_cohort().id
    records = synthetic_applications(mentees=pair_count * 13 // 10 + 5, mentors=pair_count * 3 // 4 + 5,
                                     seed=pair_count, capacity=2)
    now = clock.now()
    with Application.batch_write() as batch:
        for record in records:
            answers = {key: value for key, value in record.items() if key != "id"}
            batch.save(Application(
                id=record["id"], cohort=cohort, role=record["role"], cohort_role=f"{cohort}#{record['role']}",
                email=record["email"], membership_id=record["membership_id"], status=Status.ELIGIBLE, answers=answers,
                form_version=0, created_at=now, updated_at=now, email_confirmed_at=now))
    people = [{**record, "past_partners": []} for record in records]
    proposal = matching.propose([p for p in people if p["role"] == "mentor"], [p for p in people if p["role"] == "mentee"],
                                criteria=pairings.cohort_criteria(cohort))
    pairs = [{"mentor_id": pair.mentor_id, "mentee_id": pair.mentee_id} for pair in proposal.pairs[:pair_count]]
    if len(pairs) < pair_count:
        raise SystemExit(f"the engine found only {len(pairs)} pairs for {pair_count}; seed more applicants")
    return pairs


def sign_in(client) -> str:
    """As a member does: ask for a link, follow it from the mail moto's SES accepted."""
    from chalicelib.services import committee
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from infra.local.persistence import mailbox_entry

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    before = len(sent)
    client.http.post("/admin/login", headers=JSON, body=json.dumps({"email": COMMITTEE}).encode())
    committee.send_sign_in_links()  # the every-minute job that mails the link
    mail = mailbox_entry(sent[before].id, sent[before].raw_data)
    link = re.search(r"/admin/login/[a-z0-9]+", mail["text"]).group(0)
    answer = client.http.post(link, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"")
    return answer.headers["Set-Cookie"].split(";")[0]


def introductions() -> int:
    return sum(1 for mail in OutboxMail.scan() if mail.template == "introduction")


def measure(pair_count: int, inline_limit: int) -> dict:
    with mock_aws():
        aws.reset()
        store.reset()
        settings_store.forget()
        provision("bench-signing-key-not-secret")
        ensure_open_cohort()
        pairs = seed(pair_count)
        body = json.dumps({"pairs": pairs}).encode()
        saved, pairings.INLINE_PAIRS = pairings.INLINE_PAIRS, inline_limit
        try:
            with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as client:
                cookie = sign_in(client)
                settings_store.forget()
                answers = []
                for _ in range(4 if pair_count > inline_limit else 0):
                    gc.collect()  # each POST starts with the same heap, not with the last run's garbage
                    started = time.perf_counter()
                    client.http.post("/admin/api/pairings", headers={**JSON, "Cookie": cookie}, body=body)
                    answers.append(time.perf_counter() - started)
                WORKER.runner.waiting.clear()  # those jobs are never run
                gc.collect()
                EMULATOR.start()
                started = time.perf_counter()
                answer = client.http.post("/admin/api/pairings", headers={**JSON, "Cookie": cookie}, body=body)
                answered = time.perf_counter()
                WORKER.runner.run_all()
                finished = time.perf_counter()
                answers.append(answered - started)
        finally:
            pairings.INLINE_PAIRS = saved
        queued = introductions()
        if answer.status_code not in (201, 202) or queued != pair_count:
            raise SystemExit(f"{pair_count} pairs: answered {answer.status_code}, {queued} introductions queued")
        return {"pairs": pair_count, "path": "request" if answer.status_code == 201 else "job",
                "status": answer.status_code, "answer": statistics.median(answers), "total": finished - started,
                "moto": EMULATOR.inside, "copies": EMULATOR.snapshots}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 1000])
    options = parser.parse_args(argv)
    sizes = sorted(options.sizes)
    measure(5, pairings.INLINE_PAIRS)  # warm-up: imports, templates, clients, as a warm Lambda container has them
    rows = [measure(size, pairings.INLINE_PAIRS) for size in sizes]
    rows.append({**measure(sizes[0], 0), "pairs": f"{sizes[0]} (as a job)"})
    print(f"Approving pairs through POST /admin/api/pairings (up to {pairings.INLINE_PAIRS} within the request)")
    print(f"{'pairs':>16}  {'path':>7}  {'status':>6}  {'answer (s)':>10}  {'all introductions queued (s)':>28}"
          f"  {'in moto (s)':>11}  {'its table copies (s)':>20}")
    for row in rows:
        print(f"{row['pairs']:>16}  {row['path']:>7}  {row['status']:>6}  {row['answer']:>10.3f}  {row['total']:>28.2f}"
              f"  {row['moto']:>11.2f}  {row['copies']:>20.2f}")
    largest, smallest, smallest_as_job = rows[len(sizes) - 1], rows[0], rows[-1]
    ratio = largest["answer"] / smallest["answer"]
    met = ratio <= TARGET_RATIO
    print(f"answer at {sizes[-1]} / answer at {sizes[0]}: {ratio:.2f} (target <= {TARGET_RATIO:.0f}): "
          f"{'met' if met else 'MISSED'}")
    print(f"answer at {sizes[-1]} / answer at {sizes[0]} as a job: {largest['answer'] / smallest_as_job['answer']:.2f} "
          "(both start a job: what grows is the body read and the pairs kept in the job's record)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
