"""Reply extraction measured on the reply corpus (tests/fixtures/replies).

Run from the project root: `.venv/bin/python bench/reply_corpus.py [--show]`.

Each NAME.eml goes through parse_message; its reply_text is compared with
NAME.txt, the text the participant wrote. Two rates are printed:
- exact match: equal once whitespace is normalised;
- expected text fully kept: every line of NAME.txt appears in the reply, in
  order (extra lines such as a stray quote line are allowed: the committee can
  read past them, but not read words that were dropped).
tests/test_reply_corpus.py asserts the targets below.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from chalicelib.domain.replies import parse_message  # noqa: E402

CORPUS_DIR = PROJECT_DIR / "tests" / "fixtures" / "replies"
FULLY_KEPT_TARGET = 0.99
EXACT_TARGET = 0.90


@dataclass(frozen=True)
class Outcome:
    name: str
    expected: str
    extracted: str

    @property
    def exact(self) -> bool:
        return normalise(self.extracted) == normalise(self.expected)

    @property
    def fully_kept(self) -> bool:
        extracted = normalise(self.extracted)
        position = 0
        for line in filter(None, map(normalise, self.expected.splitlines())):
            found = extracted.find(line, position)
            if found == -1:
                return False
            position = found + len(line)
        return True


@dataclass(frozen=True)
class Score:
    outcomes: tuple[Outcome, ...]

    @property
    def exact_rate(self) -> float:
        return sum(outcome.exact for outcome in self.outcomes) / len(self.outcomes)

    @property
    def fully_kept_rate(self) -> float:
        return sum(outcome.fully_kept for outcome in self.outcomes) / len(self.outcomes)


def normalise(text: str) -> str:
    return " ".join(text.split())


def corpus() -> dict[str, tuple[bytes, str]]:
    """name -> (raw mail, expected reply text)."""
    return {
        path.stem: (path.read_bytes(), path.with_suffix(".txt").read_text(encoding="utf-8"))
        for path in sorted(CORPUS_DIR.glob("*.eml"))
    }


def measure() -> Score:
    return Score(tuple(
        Outcome(name, expected, parse_message(raw).reply_text) for name, (raw, expected) in corpus().items()
    ))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print a diff for each message that is not exact")
    arguments = parser.parse_args()
    score = measure()
    total = len(score.outcomes)
    exact = sum(outcome.exact for outcome in score.outcomes)
    kept = sum(outcome.fully_kept for outcome in score.outcomes)
    print(f"reply corpus: {total} messages")
    print(f"  expected text fully kept: {kept}/{total} = {score.fully_kept_rate:.1%} (target {FULLY_KEPT_TARGET:.0%})")
    print(f"  exact match:              {exact}/{total} = {score.exact_rate:.1%} (target {EXACT_TARGET:.0%})")
    for outcome in score.outcomes:
        if outcome.exact:
            continue
        verdict = "inexact" if outcome.fully_kept else "LOST TEXT"
        print(f"  {verdict:9}  {outcome.name}")
        if arguments.show:
            diff = difflib.unified_diff(
                outcome.expected.strip().splitlines(), outcome.extracted.splitlines(),
                "expected", "extracted", lineterm="", n=1,
            )
            print("\n".join(f"      {line}" for line in diff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
