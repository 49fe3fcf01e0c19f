"""Starting the job worker: an asynchronous invocation of its Lambda function.

The invocation carries only the job's id. The job's record holds everything else, so an
invocation that is lost, retried or doubled loses or repeats no work (services/jobs.py).
"""
from __future__ import annotations

import json

from chalicelib.adapters.aws import client
from chalicelib.adapters.config import settings


def start(job_id: str) -> None:
    client("lambda").invoke(FunctionName=settings().job_worker_function, InvocationType="Event",
                            Payload=json.dumps({"job_id": job_id}).encode())
