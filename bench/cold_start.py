"""Cold start: how long `import app` takes in a fresh process, against the
bare framework imports every Chalice + PynamoDB Lambda pays anyway.

Prints the medians and their ratio; the target is a ratio of at most 1.5. Our
modules are byte-compiled first, as the deployment package ships them.
Run: .venv/bin/python bench/cold_start.py [runs]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
TARGET_RATIO = 1.5
TIMED_IMPORT = (
    "import time, sys; start = time.perf_counter(); {statement}; "
    "print(time.perf_counter() - start); "
    "print(' '.join(m for m in ('scipy', 'numpy', 'jinja2', 'boto3', 'moto') if m in sys.modules))"
)


def time_import(statement: str) -> tuple[float, str]:
    environment = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    output = subprocess.run(
        [sys.executable, "-c", TIMED_IMPORT.format(statement=statement)],
        cwd=PROJECT_DIR, env=environment, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    return float(output[0]), output[1] if len(output) > 1 else ""


def median_of(statement: str, runs: int) -> tuple[float, str]:
    time_import(statement)  # warm the file-system cache and .pyc files
    timings, loaded = [], ""
    for _ in range(runs):
        seconds, loaded = time_import(statement)
        timings.append(seconds)
    return statistics.median(timings), loaded


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    from infra.build_template import compile_bytecode

    compile_bytecode()  # as `make package` ships it; the framework side has pip's bytecode too
    app_median, app_loaded = median_of("import app", runs)
    base_median, _ = median_of("import chalice, boto3, pynamodb.models", runs)
    ratio = app_median / base_median
    print(f"runs per side:                               {runs}")
    print(f"import app                   median:        {app_median * 1000:7.1f} ms")
    print(f"import chalice, boto3, pynamodb.models median: {base_median * 1000:7.1f} ms")
    print(f"ratio (app / framework):                     {ratio:.2f}  (target <= {TARGET_RATIO})")
    print(f"heavy modules loaded by import app:          {app_loaded or 'none'}")
    if ratio > TARGET_RATIO:
        sys.exit(1)


if __name__ == "__main__":
    main()
