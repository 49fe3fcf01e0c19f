"""Micro-benchmark of the pure inbound-reply path: parse_message + interpret.

Run from the project root: `.venv/bin/python bench/inbound_parse.py [--seconds 3]`.

Loops over the raw-mail fixture corpus (tests/fixtures/mail) and prints
messages per second overall and the slowest fixtures. No S3, SNS or storage:
the full inbound benchmark measures those.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from chalicelib.domain.replies import interpret, parse_message  # noqa: E402

CORPUS_DIR = PROJECT_DIR / "tests" / "fixtures" / "mail"


def handle(raw: bytes) -> None:
    interpret(parse_message(raw).reply_text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to loop over the corpus")
    arguments = parser.parse_args()
    corpus = {path.name: path.read_bytes() for path in sorted(CORPUS_DIR.glob("*.eml"))}

    handled = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < arguments.seconds:
        for raw in corpus.values():
            handle(raw)
        handled += len(corpus)
    average_kib = sum(map(len, corpus.values())) / len(corpus) / 1024
    print(f"{handled:,} messages in {elapsed:.2f} s: {handled / elapsed:,.0f} messages/second "
          f"({len(corpus)} fixtures, {average_kib:.1f} KiB on average)")

    per_fixture = {}
    for name, raw in corpus.items():
        runs = 20
        fixture_started = time.perf_counter()
        for _ in range(runs):
            handle(raw)
        per_fixture[name] = (time.perf_counter() - fixture_started) / runs
    print("slowest fixtures:")
    for name, seconds in sorted(per_fixture.items(), key=lambda item: -item[1])[:5]:
        print(f"  {seconds * 1000:6.2f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
