"""CloudWatch metrics written as embedded-metric-format (EMF) log lines.

In Lambda, whatever a function prints reaches CloudWatch Logs, which turns a
line in this JSON shape into metric data points. That needs no PutMetricData
call and no extra IAM permission. Outside Lambda nobody collects the line, so
it is not printed: the sandbox's terminal (or a pipe nobody reads) stays
quiet. The deploy template's alarms read these names from here.
"""
from __future__ import annotations

import json
import os
import sys

from chalicelib.domain import clock
from chalicelib.adapters.config import settings

NAMESPACE = "Mentoring"


def namespace(stage: str) -> str:
    """Each stage has its own namespace, so dev and prod in one account never mix."""
    return f"{NAMESPACE}/{stage}"


def emit(values: dict[str, float], unit: str = "Count", dimensions: dict[str, str] | None = None) -> None:
    """One EMF line holding each value, in the stage's namespace, with the given dimensions
    (none by default: the alarms read dimensionless metrics). Dimension values must say
    nothing of a person: an outcome, never an address."""
    if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:  # set by the Lambda runtime
        return
    dimensions = dimensions or {}
    document = {
        "_aws": {
            "Timestamp": int(clock.now().timestamp() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": namespace(settings().stage),
                "Dimensions": [sorted(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit} for name in values],
            }],
        },
        **dimensions,
        **values,
    }
    # print(), not logging: the Lambda runtime prefixes log records with level
    # and request id, and CloudWatch only extracts lines that are pure JSON.
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()
