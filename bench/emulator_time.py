"""Where an in-process benchmark's time goes when moto emulates AWS.

Shared by bench/tick.py and bench/inbound.py. It wraps, and changes nothing.
"""
from __future__ import annotations

import gc
import time
from collections import Counter


class EmulatorTime:
    """Wall time spent inside moto (routing, parsing the request, the emulated service,
    serialising the answer), and within it the table snapshots moto's TransactWriteItems
    takes: it deep-copies every table a transaction touches, so its cost grows with the
    table, which real DynamoDB's does not. Also the garbage collector's time, by where it
    struck: a full collection walks every object in memory, moto's tables and their copies
    included, so even the part that strikes outside moto grows with the emulated tables.
    Measured in CPU time of this process (moto runs in it, so other work on the machine
    does not inflate it), by wrapping: nothing is changed."""

    def __init__(self) -> None:
        self.inside = self.snapshots = 0.0
        self.collecting: Counter[str] = Counter()  # GC seconds by place() when it began
        self._in_moto = 0
        self._collection_started = 0.0

    def place(self) -> str:
        return "moto" if self._in_moto else "outside"

    def install(self) -> None:
        import copy
        import types

        import moto.dynamodb.models as dynamodb_models
        from moto.core.botocore_stubber import BotocoreStubber
        from moto.dynamodb.models.table import Table

        timings, answer, cpu = self, BotocoreStubber.__call__, time.process_time

        def timed_answer(stubber, *args, **kwargs):
            timings._in_moto += 1
            started = cpu()
            try:
                return answer(stubber, *args, **kwargs)
            finally:
                timings._in_moto -= 1
                timings.inside += cpu() - started

        def timed_deepcopy(value, *args, **kwargs):
            if not isinstance(value, Table):
                return copy.deepcopy(value, *args, **kwargs)
            started = cpu()
            try:
                return copy.deepcopy(value, *args, **kwargs)
            finally:
                timings.snapshots += cpu() - started

        def timed_collection(phase: str, info: dict) -> None:
            if phase == "start":
                timings._collection_started = cpu()
            else:
                timings.collecting[timings.place()] += cpu() - timings._collection_started

        BotocoreStubber.__call__ = timed_answer
        dynamodb_models.copy = types.SimpleNamespace(deepcopy=timed_deepcopy, copy=copy.copy)
        gc.callbacks.append(timed_collection)

    def start(self) -> None:
        self.inside = self.snapshots = 0.0
        self.collecting.clear()
