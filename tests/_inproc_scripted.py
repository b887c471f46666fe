"""A scripted :class:`hexgate.inproc.child.ChildWorker` for tests/test_inproc_process.py (no model).

Ops: ``echo`` (streams each word of ``args``, then waits for its cancel when ``args`` ends in ``…``),
``fail`` (raises InvalidRequest with param ``messages``), ``exit`` (the process exits with code 3),
``pid`` (answers its pid).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import msgspec

from hexgate.errors import InvalidRequest
from hexgate.inproc import Outcome, Sink
from hexgate.inproc.worker import Finish, Start, Text


class _Gen(msgspec.Struct, frozen=True):
    text: str
    finish_reason: str | None
    completion_tokens: int


class Scripted:
    def __init__(self, config: bytes) -> None:
        self.config = config

    def info(self) -> str:
        return f"scripted ({self.config.decode()})"

    def run(self, op: str, args: bytes, cancel: threading.Event, sink: Sink | None) -> Any:
        if op == "pid":
            return os.getpid()
        if op == "fail":
            raise InvalidRequest("the template refused these messages", param="messages")
        if op == "exit":
            os._exit(3)
        words = args.decode().split()
        if sink is not None:
            sink(Start(0))
        for word in words:
            if sink is not None:
                sink(Text(0, word))
        if args.endswith("…".encode()):
            cancel.wait(30)
            return Outcome(prompt_tokens=1, generations=[_Gen(" ".join(words), None, len(words))])
        if sink is not None:
            sink(Finish(0, "stop"))
        return Outcome(prompt_tokens=1, generations=[_Gen(" ".join(words), "stop", len(words))])
