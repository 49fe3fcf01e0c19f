"""Lambda's asynchronous Invoke, in this process: how the sandbox, the tests and the
benchmarks run the app's job worker.

The app starts its worker as it does on AWS, with `lambda.invoke(InvocationType="Event")`
(chalicelib/adapters/job_worker.py). A botocore handler, added to every client made after
`install`, answers that call here instead of sending it: it hands the invocation to the
app's own handler (the `@app.lambda_function` the function name ends with), with a Lambda
context whose time limit is the function's configured timeout. Nothing in chalicelib knows.

When the work runs is the runner's choice:
- `run_now` (tests): before the call returns; an invocation made while one is running
  (the worker handing a job on) waits its turn, as a real asynchronous one would;
- `in_a_thread` (the sandbox): beside the request, which answers at once;
- `Deferred` (benchmarks): when asked, so the request's own time can be measured.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

PROJECT_DIR = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)

Work = Callable[[], None]


def configured_timeout_seconds(function: str) -> int:
    """The function's lambda_timeout in .chalice/config.json (its own, else the app's)."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    own = config.get("lambda_functions", {}).get(function, {})
    return int(own.get("lambda_timeout", config.get("lambda_timeout", 60)))


class RunNow:
    """Run each invocation before Invoke returns; one made meanwhile runs after it."""

    def __init__(self) -> None:
        self.waiting: list[Work] = []
        self.running = False

    def __call__(self, work: Work) -> None:
        self.waiting.append(work)
        if self.running:
            return
        self.running = True
        try:
            while self.waiting:
                self.waiting.pop(0)()
        finally:
            self.running = False
            self.waiting.clear()


def in_a_thread(work: Work) -> None:
    threading.Thread(target=work, name="job-worker", daemon=True).start()


class Deferred:
    """Keep invocations until `run_all`, which runs them (and any they make) in order."""

    def __init__(self) -> None:
        self.waiting: list[Work] = []

    def __call__(self, work: Work) -> None:
        self.waiting.append(work)

    def run_all(self) -> int:
        ran = 0
        while self.waiting:
            self.waiting.pop(0)()
            ran += 1
        return ran


class InProcessLambda:
    def __init__(self, app, runner: Callable[[Work], None], timeout_seconds: int | None = None):
        self.app = app
        self.runner = runner
        self.timeout_seconds = timeout_seconds  # None: each function's configured timeout
        self.invocations: list[dict] = []  # every event handed over, for tests to read

    def handle_invoke(self, params, context, **_) -> tuple[AWSResponse, dict] | None:
        """botocore's before-call.lambda.Invoke: run the function here, answer as Lambda does."""
        from chalice.local import LambdaContext

        invocation = context.get("in_process_invocation")
        if invocation is None:
            return None
        name = invocation["FunctionName"]
        handler = next((function.name for function in self.app.pure_lambda_functions
                        if name == function.name or name.endswith(f"-{function.name}")), None)
        if handler is None:
            raise LookupError(f"the app has no function for {name}")
        event = json.loads(invocation.get("Payload") or b"{}")
        self.invocations.append(event)
        timeout = self.timeout_seconds or configured_timeout_seconds(handler)

        def work() -> None:
            try:
                self.app.handler_map[handler](event, LambdaContext(handler, 512, max_runtime_ms=timeout * 1000))
            except Exception:  # noqa: BLE001 - as on AWS, a failed invocation is logged, not raised to the caller
                log.exception("in-process %s failed", handler)

        self.runner(work)
        return AWSResponse(params.get("url", ""), 202, {}, None), {"StatusCode": 202, "ResponseMetadata": {}}


_installed: list[InProcessLambda] = []


def _remember_invocation(params, context, **_) -> None:
    context["in_process_invocation"] = dict(params)


def _handle_invoke(**kwargs):
    return _installed[-1].handle_invoke(**kwargs) if _installed else None


def install(app, runner: Callable[[Work], None], timeout_seconds: int | None = None) -> InProcessLambda:
    """Answer Lambda invocations in this process from now on (clients made later; call it first)."""
    lambda_ = InProcessLambda(app, runner, timeout_seconds)
    if not _installed:
        BUILTIN_HANDLERS.append(("before-parameter-build.lambda.Invoke", _remember_invocation))
        BUILTIN_HANDLERS.append(("before-call.lambda.Invoke", _handle_invoke))
    _installed.append(lambda_)
    return lambda_


def uninstall(lambda_: InProcessLambda) -> None:
    """Stop using this one (an earlier one answers again)."""
    _installed.remove(lambda_)
