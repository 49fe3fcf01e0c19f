"""Log lines as JSON, one object a line, each with the invocation's correlation id.

CloudWatch Logs Insights reads the fields without a parse step:
`fields correlation_id, level, message | filter level = "ERROR"`.

No personal data reaches a log line. The code logs ids and outcomes only,
and an exception is logged by its type, its AWS error code and where it was
raised, never by its message: a message can quote a value (an address, a
name) that the code did not choose to log.
"""
from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from datetime import datetime, timezone

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def begin_invocation(correlation_id: str | None) -> None:
    """Every line logged until the next invocation carries this id (Lambda's request id)."""
    _correlation_id.set(correlation_id)


def correlation_id() -> str | None:
    return _correlation_id.get()


def _error(exc_info) -> dict:
    kind, error, trace = exc_info
    described = {"type": kind.__name__}
    code = getattr(error, "response", {}).get("Error", {}).get("Code") if isinstance(
        getattr(error, "response", None), dict) else None
    if code:  # botocore's ClientError: the code says what AWS refused, the message may quote our data
        described["code"] = code
    frames = []
    while trace is not None:
        frame = trace.tb_frame.f_code
        frames.append(f"{os.path.basename(frame.co_filename)}:{trace.tb_lineno} in {frame.co_name}")
        trace = trace.tb_next
    described["where"] = frames[-8:]
    return described


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": _correlation_id.get(),
        }
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if function:
            line["function"] = function
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = _error(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(*loggers: logging.Logger) -> None:
    """Format the root logger's lines (and those of loggers that do not propagate, such as
    Chalice's own) as JSON, at INFO. The Lambda runtime has put a handler on the root logger;
    outside Lambda there is none, and one writing to stdout is added."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stdout))
    root.setLevel(logging.INFO)
    formatter = JsonFormatter()
    for logger in (root, *loggers):
        for handler in logger.handlers:
            handler.setFormatter(formatter)
