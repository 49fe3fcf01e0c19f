"""Benchmark of the whole-cohort matching engine against its targets.

Run from the project root: `.venv/bin/python bench/matching.py [--sizes 2000 10000 50000] [--seeds 5]`.

Each size is a synthetic cohort (infra/local/demo.py: that many mentees, half
as many mentors, each taking 2). Every solver runs in a fresh subprocess, so
that its peak resident memory (ru_maxrss, which unlike tracemalloc sees numpy's
and scipy's own allocations) is its own; the figure includes the generated
applications and the loaded libraries, reported as the baseline.
- engine: `propose(...).as_dict()`, which picks the dense or the sparse solver by size
  (it says which);
- dense: the same with the dense solver forced (only where its matrix fits in
  memory: the reason is printed otherwise);
- bare: scipy's linear_sum_assignment on the dense solver's own cost matrix, prebuilt;
- greedy: the greedy baseline.
Then `--seeds` random cohorts of 2,000 (mixed capacities, locks, forbids) are
solved both ways, and the sparse solver must reach the dense optimum on each.
Targets (issue 16): 2,000 mentees in at most 0.25 s and half the bare solver's
time; 10,000 in at most 5 s, at least 5 times faster than the bare solver, peak
at most 500 MB; 50,000 (25,000 mentors) in at most 90 s, peak at most 3 GB. The
engine never matches fewer than greedy, nor scores below the dense optimum.
Exits 1 if a target is missed.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

SIZES = (2000, 10000, 50000)
RUNS = {2000: 3}  # best of these; larger cohorts run once
TIME_TARGET = {2000: 0.25, 10000: 5.0, 50000: 90.0}  # seconds
BARE_RATIO_TARGET = {2000: 0.5, 10000: 0.2}  # engine time / bare solver time
MEMORY_TARGET = {10000: 500, 50000: 3 * 1024}  # MB of peak resident memory
DENSE_MEMORY_LIMIT_MB = 3 * 1024  # the dense solvers are not started beyond this
EXACTNESS_SIZE = 2000
SOLVERS = ("engine", "dense", "bare", "greedy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="numbers of mentees")
    parser.add_argument("--seeds", type=int, default=5, help="random cohorts checked for exactness")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)  # solver and size, in this process
    parser.add_argument("--exactness", type=int, help=argparse.SUPPRESS)  # one seed, in this process
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure[0], int(arguments.measure[1]))))
        return 0
    if arguments.exactness is not None:
        print(json.dumps(exactness(arguments.exactness)))
        return 0
    all_met = True
    for size in arguments.sizes:
        all_met &= report(size, {solver: run_solver(solver, size) for solver in SOLVERS})
    if arguments.seeds:
        all_met &= report_exactness([run("--exactness", str(seed)) for seed in range(arguments.seeds)])
    return 0 if all_met else 1


def run_solver(solver: str, size: int) -> dict:
    needed_mb = matrix_mb(solver, size)
    if needed_mb > DENSE_MEMORY_LIMIT_MB:
        return {"skipped": f"its matrix alone (mentees x {MATRIX[solver][0]}, {MATRIX[solver][1]}) would take "
                           f"{needed_mb:,.0f} MB, over {DENSE_MEMORY_LIMIT_MB:,} MB"}
    return run("--measure", solver, str(size))


# The matrix each dense method holds: (what its columns are, their type): mentor slots or mentors.
MATRIX = {"dense": ("slots", "float64"), "bare": ("slots", "float64"), "greedy": ("mentors", "int16")}


def matrix_mb(solver: str, size: int) -> float:
    if solver not in MATRIX:
        return 0.0
    columns, dtype = MATRIX[solver]
    return size * (size if columns == "slots" else size // 2) * (8 if dtype == "float64" else 2) / 2**20


def run(*arguments: str) -> dict:
    # A fresh process each, so each peak memory figure is that run's own.
    done = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, check=True,
                          cwd=PROJECT_DIR)
    return json.loads(done.stdout.splitlines()[-1])


def cohort(mentee_count: int):
    from infra.local.demo import synthetic_applications

    applications = synthetic_applications(mentees=mentee_count, mentors=mentee_count // 2, capacity=2)
    return ([record for record in applications if record["role"] == "mentor"],
            [record for record in applications if record["role"] == "mentee"])


def measure(solver: str, mentee_count: int) -> dict:
    from chalicelib.domain import matching

    mentors, mentees = cohort(mentee_count)
    matching.propose(mentors[:3], mentees[:3])  # load numpy and scipy before the clock starts
    matching._sparse_assignment(matching._Cohort.build(mentors[:3], mentees[:3], None, (), ()))
    baseline_mb = peak_rss_mb()
    runs = RUNS.get(mentee_count, 1)
    if solver == "bare":
        from scipy.optimize import linear_sum_assignment

        cost = matching.assignment_matrix(mentors, mentees)
        seconds, _ = best_time(lambda: linear_sum_assignment(cost), runs)
        return {"seconds": seconds, "peak_mb": peak_rss_mb(), "baseline_mb": baseline_mb}
    work = {
        "engine": lambda: matching.propose(mentors, mentees),
        "dense": lambda: solved(matching._dense_assignment, mentors, mentees),
        "greedy": lambda: matching.greedy_baseline(mentors, mentees),
    }[solver]
    seconds, proposal = best_time(work, runs, then=lambda result: result.as_dict())
    slots = sum(record["capacity"] for record in mentors)
    return {"seconds": seconds, "peak_mb": peak_rss_mb(), "baseline_mb": baseline_mb,
            "matched": len(proposal.pairs), "total_score": proposal.total_score,
            "path": "sparse" if matching._sparse_is_faster(len(mentees), slots) else "dense"}


def solved(solver, mentors, mentees, **options):
    from chalicelib.domain import matching

    built = matching._Cohort.build(mentors, mentees, options.get("weights"), options.get("locks", ()),
                                   options.get("forbids", ()))
    return built.proposal(solver(built))


def exactness(seed: int) -> dict:
    """A random cohort of EXACTNESS_SIZE mentees: mixed capacities, some locks and forbids; both solvers' optima."""
    from chalicelib.domain import matching
    from infra.local.demo import synthetic_applications

    chance = random.Random(seed)
    applications = synthetic_applications(mentees=EXACTNESS_SIZE, mentors=chance.randint(600, 1400), seed=seed)
    mentors = [record for record in applications if record["role"] == "mentor"]
    mentees = [record for record in applications if record["role"] == "mentee"]
    forbids = [(chance.choice(mentors)["id"], chance.choice(mentees)["id"]) for _ in range(200)]
    locks, room = [], {record["id"]: record["capacity"] for record in mentors}
    for mentee in chance.sample(mentees, 100):
        mentor = chance.choice(mentors)
        if (room[mentor["id"]] and (mentor["id"], mentee["id"]) not in forbids
                and matching.score_pair(mentor, mentee)[0] is not None):
            room[mentor["id"]] -= 1
            locks.append((mentor["id"], mentee["id"]))
    options = {"locks": locks, "forbids": forbids}
    for solver in (matching._sparse_assignment, matching._dense_assignment):  # imports before the clock starts
        solved(solver, mentors[:3], mentees[:3])
    started = time.perf_counter()
    sparse = solved(matching._sparse_assignment, mentors, mentees, **options)
    sparse_seconds = time.perf_counter() - started
    started = time.perf_counter()
    dense = solved(matching._dense_assignment, mentors, mentees, **options)
    dense_seconds = time.perf_counter() - started
    return {"seed": seed, "mentors": len(mentors), "locks": len(locks),
            "sparse": [len(sparse.pairs), sparse.total_score], "dense": [len(dense.pairs), dense.total_score],
            "sparse_seconds": sparse_seconds, "dense_seconds": dense_seconds}


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


def report(size: int, figures: dict[str, dict]) -> bool:
    print(f"{size} mentees, {size // 2} mentors with {size} slots")
    for solver, result in figures.items():
        if "skipped" in result:
            print(f"  {solver:7} not run: {result['skipped']}")
            continue
        matched = (f"   matched {result['matched']}/{size}, total score {result['total_score']}"
                   if "matched" in result else "")
        path = f" ({result['path']} path)" if solver == "engine" else ""
        print(f"  {solver:7} {result['seconds']:8.3f} s   peak RSS {result['peak_mb']:7.0f} MB "
              f"(before {result['baseline_mb']:.0f} MB){matched}{path}")
    engine, bare, dense, greedy = (figures.get(name, {}) for name in ("engine", "bare", "dense", "greedy"))
    for name in ("bare", "dense", "greedy"):
        if "seconds" in figures.get(name, {}):
            print(f"  engine takes {engine['seconds'] / figures[name]['seconds']:.3f}x the {name} solver's time, "
                  f"{engine['peak_mb'] / figures[name]['peak_mb']:.2f}x its peak")
    checks = []
    if "matched" in greedy:
        checks.append(("matched at least as many as greedy", engine["matched"] >= greedy["matched"]))
    if "matched" in dense:
        checks.append(("the dense optimum, matched and score",
                       (engine["matched"], engine["total_score"]) >= (dense["matched"], dense["total_score"])))
    if size in TIME_TARGET:
        checks.append((f"at most {TIME_TARGET[size]:g} s", engine["seconds"] <= TIME_TARGET[size]))
    if size in BARE_RATIO_TARGET and "seconds" in bare:
        checks.append((f"at most {BARE_RATIO_TARGET[size]:g}x the bare solver",
                       engine["seconds"] <= BARE_RATIO_TARGET[size] * bare["seconds"]))
    if size in MEMORY_TARGET:
        checks.append((f"peak at most {MEMORY_TARGET[size]} MB", engine["peak_mb"] <= MEMORY_TARGET[size]))
    for label, met in checks:
        print(f"  target {label}: {'met' if met else 'MISSED'}")
    return all(met for _, met in checks)


def report_exactness(results: list[dict]) -> bool:
    print(f"exactness on {len(results)} random cohorts of {EXACTNESS_SIZE} mentees (mixed capacities, locks, forbids)")
    for result in results:
        same = result["sparse"] == result["dense"]
        print(f"  seed {result['seed']}: {result['mentors']} mentors, {result['locks']} locks; "
              f"sparse {result['sparse'][0]} matched, score {result['sparse'][1]} in {result['sparse_seconds']:.2f} s; "
              f"dense {result['dense'][0]}, {result['dense'][1]} in {result['dense_seconds']:.2f} s: "
              f"{'same optimum' if same else 'DIFFERENT'}")
    return all(result["sparse"] == result["dense"] for result in results)


if __name__ == "__main__":
    sys.exit(main())
