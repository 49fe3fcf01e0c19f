"""Sign-in timing: does POST /admin/login take as long for a stranger as for a member?

It should: the answer records the request alike for both, and the job that runs each
minute decides (and mails the member's link). Sends requests for a member's address and
a stranger's, alternating, through the app as API Gateway calls it (Chalice's test
client, AWS emulated by moto in this process), and prints both medians and their ratio;
the target is a ratio from 0.8 to 1.25. Each request uses a fresh address of its kind's
(members added to the committee beforehand), so the per-address limit never applies.
Run: .venv/bin/python bench/sign_in_timing.py [requests per side, default 30]
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
TARGET = (0.8, 1.25)
WARM_UP = 5


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    from infra.local.sandbox import configure_for_in_process_moto

    configure_for_in_process_moto()
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib.adapters import aws, store
    from chalicelib.adapters.models import CommitteeMember
    from chalicelib.domain import clock
    from chalicelib.services import committee, settings_store
    from infra.local.provision import ensure_open_cohort, provision

    with mock_aws():
        aws.reset()
        store.reset()
        settings_store.forget()
        provision("bench-signing-key")
        ensure_open_cohort()
        total = runs + WARM_UP
        for index in range(total):
            CommitteeMember(CommitteeMember.PARTITION, f"member{index}@example.org", added_by="bench",
                            added_at=clock.now()).save()
        timings: dict[str, list[float]] = {"member": [], "stranger": []}
        answers = set()
        with Client(app, stage_name="local", project_dir=str(PROJECT_DIR)) as client:
            for index in range(total):
                for kind in ("member", "stranger"):  # alternating, so drift in the machine hits both alike
                    body = json.dumps({"email": f"{kind}{index}@example.org"}).encode()
                    started = time.perf_counter()
                    answer = client.http.post("/admin/login", headers={"Content-Type": "application/json"}, body=body)
                    elapsed = time.perf_counter() - started
                    answers.add((answer.status_code, answer.body))
                    if index >= WARM_UP:
                        timings[kind].append(elapsed)
        links = committee.send_sign_in_links()
    member, stranger = (statistics.median(timings[kind]) for kind in ("member", "stranger"))
    ratio = member / stranger
    print(f"requests per side:          {runs} (after {WARM_UP} to warm up), alternating")
    print(f"member   median:            {member * 1000:7.2f} ms")
    print(f"stranger median:            {stranger * 1000:7.2f} ms")
    print(f"ratio (member / stranger):  {ratio:.2f}  (target {TARGET[0]} to {TARGET[1]})")
    print(f"answers that differ:        {len(answers) - 1}")
    print(f"links mailed by the job:    {links} (one per member request)")
    if not TARGET[0] <= ratio <= TARGET[1] or len(answers) != 1 or links != total:
        sys.exit(1)


if __name__ == "__main__":
    main()
