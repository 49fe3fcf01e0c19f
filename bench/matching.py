"""Benchmark of the whole-cohort matching engine against its targets.

Run from the project root: `.venv/bin/python bench/matching.py [--sizes 200 2000 10000]`.

For each size, a fresh subprocess builds a synthetic cohort (infra/local/demo.py:
that many mentees, half as many mentors, each taking 2) and measures:
- the engine, `propose(...).as_dict()`: wall time (best of a few runs) and the
  process's peak resident memory (ru_maxrss, which unlike tracemalloc sees
  numpy's and scipy's own allocations; it includes the generated applications
  and the loaded libraries, reported as the baseline);
- the bare `linear_sum_assignment` on the engine's own cost matrix, prebuilt;
- the greedy baseline on the same cohort.
Targets: 2,000 mentees in at most 1 s and at most 1.5 times the bare solver;
10,000 mentees under 1.5 GB; never fewer mentees matched than greedy.
Exits 1 if a target is missed.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

SIZES = (200, 2000, 10000)
RUNS = {200: 5, 2000: 3}  # best of these; larger cohorts run once
TIME_TARGET = {2000: 1.0}  # seconds
RATIO_TARGET = {2000: 1.5}  # engine time / bare solver time
MEMORY_TARGET = {10000: 1.5 * 1024}  # MB of peak resident memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of mentees")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # one size, in this process
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure)))
        return 0
    all_met = True
    for size in arguments.sizes:
        # A fresh process per size, so each peak memory figure is that size's own.
        run = subprocess.run([sys.executable, __file__, "--measure", str(size)],
                             capture_output=True, text=True, check=True, cwd=PROJECT_DIR)
        all_met &= report(json.loads(run.stdout.splitlines()[-1]))
    return 0 if all_met else 1


def measure(mentee_count: int) -> dict:
    from scipy.optimize import linear_sum_assignment

    from chalicelib.domain.matching import assignment_matrix, greedy_baseline, propose
    from infra.local.demo import synthetic_applications

    applications = synthetic_applications(mentees=mentee_count, mentors=mentee_count // 2, capacity=2)
    mentors = [record for record in applications if record["role"] == "mentor"]
    mentees = [record for record in applications if record["role"] == "mentee"]
    propose(mentors[:3], mentees[:3])  # load numpy and scipy before the clock starts
    baseline_mb = peak_rss_mb()
    runs = RUNS.get(mentee_count, 1)

    engine_seconds, proposal = best_time(lambda: propose(mentors, mentees), runs, then=lambda p: p.as_dict())
    engine_peak_mb = peak_rss_mb()
    cost = assignment_matrix(mentors, mentees)
    bare_seconds, _ = best_time(lambda: linear_sum_assignment(cost), runs)
    del cost
    greedy_seconds, greedy = best_time(lambda: greedy_baseline(mentors, mentees), runs)
    return {
        "mentees": mentee_count, "mentors": len(mentors), "slots": sum(record["capacity"] for record in mentors),
        "engine_seconds": engine_seconds, "bare_seconds": bare_seconds, "greedy_seconds": greedy_seconds,
        "baseline_mb": baseline_mb, "engine_peak_mb": engine_peak_mb,
        "matched": len(proposal.pairs), "total_score": proposal.total_score,
        "greedy_matched": len(greedy.pairs), "greedy_total_score": greedy.total_score,
    }


def best_time(work, runs: int, then=lambda result: None):
    """Best wall time of `runs` runs of work() followed by then(result), and the last result."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        then(result)
        best = min(best, time.perf_counter() - started)
    return best, result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def report(figures: dict) -> bool:
    size = figures["mentees"]
    ratio = figures["engine_seconds"] / figures["bare_seconds"]
    print(f"{size} mentees, {figures['mentors']} mentors with {figures['slots']} slots")
    print(f"  engine  {figures['engine_seconds']:8.3f} s   peak RSS {figures['engine_peak_mb']:7.0f} MB "
          f"(before matching {figures['baseline_mb']:.0f} MB)   "
          f"matched {figures['matched']}/{size}, total score {figures['total_score']}")
    print(f"  greedy  {figures['greedy_seconds']:8.3f} s   "
          f"matched {figures['greedy_matched']}/{size}, total score {figures['greedy_total_score']}")
    print(f"  bare linear_sum_assignment {figures['bare_seconds']:.3f} s on the same matrix: "
          f"engine takes {ratio:.2f}x")
    checks = [("matched at least as many as greedy", figures["matched"] >= figures["greedy_matched"])]
    if size in TIME_TARGET:
        checks.append((f"at most {TIME_TARGET[size]:g} s", figures["engine_seconds"] <= TIME_TARGET[size]))
    if size in RATIO_TARGET:
        checks.append((f"at most {RATIO_TARGET[size]:g}x the bare solver", ratio <= RATIO_TARGET[size]))
    if size in MEMORY_TARGET:
        checks.append((f"peak under {MEMORY_TARGET[size]:.0f} MB", figures["engine_peak_mb"] < MEMORY_TARGET[size]))
    for label, met in checks:
        print(f"  target {label}: {'met' if met else 'MISSED'}")
    return all(met for _, met in checks)


if __name__ == "__main__":
    sys.exit(main())
