"""The model worker process: ``python -m hexgate.inproc <gateway pid>``.

Started by :class:`hexgate.inproc.supervisor.Supervisor`. It reads :class:`~hexgate.inproc._wire.Init`
from its stdin, builds the plugin's :class:`ChildWorker` (``factory(config)``), answers ``Ready``,
then runs each ``Call`` on the worker's lane for it (one thread per lane, so one lane's calls run
one after another, in arrival order) and sends its events and its answer as they come.

It exits when the gateway does: at end of file on its stdin (the gateway closed the pipe or died),
and on Linux also by ``PR_SET_PDEATHSIG`` (SIGKILL when the gateway process goes, even while a
native call holds this process). Its real stdout is kept for frames; anything a library prints goes
to stderr. SIGINT is ignored (a Ctrl-C on the gateway's terminal is the gateway's to handle).

Test hook, never active unless ``HEXGATE_TEST_FAULTS=1`` is in the worker's environment: a call whose
arguments contain ``hexgate-test-fault:segv`` (``:abort``, ``:hang``, ``:exit``) makes the worker
fault that way after its first streamed piece of text, once another call is in the worker too (at
once for a call that does not stream).
``HEXGATE_TEST_FAULTS=start-abort`` makes every worker abort before it is ready.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import msgspec

from hexgate.errors import HexgateError, UpstreamError
from hexgate.inproc import _wire as wire
from hexgate.inproc.worker import Event, Finish, Outcome, Sink, Start, Text, as_hexgate

__all__ = ["ChildWorker", "WireGeneration", "WireOutcome", "main"]

_PR_SET_PDEATHSIG = 1
_FAULT = b"hexgate-test-fault:"
_MAX_LANES = 64


class ChildWorker(Protocol):
    """What a plugin runs in the worker process; built by ``factory(config: bytes)`` (its ``Init.target``).

    The gateway names the thread (lane) each call runs on; calls on one lane run one at a time, in
    order, and the worker keeps at most 64 lanes (the least recently used idle one goes first).
    ``run(op, args, cancel, sink)`` does the work: ``args`` is the msgpack the gateway sent; ``cancel``
    is set when the caller goes away (check it before each token); ``sink`` (streaming calls only)
    takes :class:`~hexgate.inproc.worker.Start` / ``Text`` / ``Finish`` events. It returns an
    :class:`~hexgate.inproc.worker.Outcome` (chat) or any msgspec-encodable value, and raises
    :class:`HexgateError` (anything else becomes a 502 naming it). ``info()`` is one line on the
    native build, logged by the gateway when the worker is ready.
    """

    def run(self, op: str, args: bytes, cancel: threading.Event, sink: Sink | None) -> Any: ...

    def info(self) -> str: ...


class WireGeneration(msgspec.Struct, array_like=True, frozen=True):
    """One choice of an :class:`Outcome` as it crosses the pipe."""

    text: str
    finish_reason: str | None
    completion_tokens: int


class WireOutcome(msgspec.Struct, array_like=True, frozen=True):
    """An :class:`Outcome` as it crosses the pipe."""

    prompt_tokens: int
    generations: list[WireGeneration]


def _guard_parent(parent: int) -> None:
    """Die with the gateway: PR_SET_PDEATHSIG on Linux, then make sure it has not already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def _fault(kind: bytes) -> None:
    if kind.startswith(b"segv"):
        os.kill(os.getpid(), signal.SIGSEGV)
    elif kind.startswith(b"abort"):
        os.abort()
    elif kind.startswith(b"exit"):
        os._exit(3)
    elif kind.startswith(b"hang"):
        while True:
            time.sleep(3600)


class _Server:
    def __init__(self, worker: ChildWorker, out: int, *, faults: bool) -> None:
        self.worker = worker
        self._out = out
        self._faults = faults
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._lanes: OrderedDict[str, ThreadPoolExecutor] = OrderedDict()
        self._queued: dict[int, threading.Event] = {}
        self._running: dict[int, threading.Event] = {}
        self._load: dict[str, int] = {}
        self._started = 0
        self._skipped = 0

    def send(self, message: msgspec.Struct) -> None:
        data = memoryview(wire.frame(message))
        with self._write_lock:
            while data:
                data = data[os.write(self._out, data) :]

    def call(self, call: wire.Call) -> None:
        if call.op == wire.STATS:
            with self._lock:
                stats = wire.Stats(started=self._started, skipped=self._skipped)
            self.send(wire.Result(id=call.id, value=msgspec.msgpack.encode(stats)))
            return
        cancel = threading.Event()
        with self._lock:
            self._queued[call.id] = cancel
            lane = self._lanes.get(call.lane)
            if lane is None:
                lane = self._lanes[call.lane] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hexgate-lane")
            self._lanes.move_to_end(call.lane)
            self._load[call.lane] = self._load.get(call.lane, 0) + 1
            self._drop_idle_lanes()
        lane.submit(self._run, call, cancel)

    def _drop_idle_lanes(self) -> None:
        """Beyond :data:`_MAX_LANES`, end the least recently used lanes that have nothing to do (a busy
        one is kept: a lane is one thread, so a model never runs on two at once)."""
        for name in [n for n in self._lanes if not self._load.get(n)][: max(0, len(self._lanes) - _MAX_LANES)]:
            self._lanes.pop(name).shutdown(wait=False)

    def cancel(self, call_id: int) -> None:
        with self._lock:
            queued = self._queued.pop(call_id, None)
            running = self._running.get(call_id)
            self._skipped += queued is not None
        if queued is not None:  # never started: answer now, so the gateway knows the lane is not stuck
            self.send(wire.error_to(call_id, UpstreamError("the request was cancelled before it ran")))
        elif running is not None:
            running.set()

    def _run(self, call: wire.Call, cancel: threading.Event) -> None:
        try:
            self._run_call(call, cancel)
        finally:
            with self._lock:
                self._load[call.lane] -= 1
                if not self._load[call.lane]:
                    del self._load[call.lane]

    def _run_call(self, call: wire.Call, cancel: threading.Event) -> None:
        with self._lock:
            if self._queued.pop(call.id, None) is None:
                return  # cancelled while queued, already answered
            self._running[call.id] = cancel
            self._started += 1
        try:
            sink = self._sink(call) if call.stream else None
            if self._faults and not call.stream and _FAULT in call.args:
                _fault(call.args.split(_FAULT, 1)[1])
            value = self.worker.run(call.op, call.args, cancel, sink)
            if isinstance(value, Outcome):
                value = WireOutcome(
                    prompt_tokens=value.prompt_tokens,
                    generations=[
                        WireGeneration(g.text, g.finish_reason, g.completion_tokens) for g in value.generations
                    ],
                )
            reply: msgspec.Struct = wire.Result(id=call.id, value=msgspec.msgpack.encode(value))
        except HexgateError as exc:
            reply = wire.error_to(call.id, exc)
        except Exception as exc:
            reply = wire.error_to(call.id, as_hexgate(exc))
        finally:
            with self._lock:
                self._running.pop(call.id, None)
        self.send(reply)

    def _await_company(self) -> None:
        """Test hook only: wait (10 s at most) until another call is in the worker, so that a fault
        mid-stream also hits a request in flight."""
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._queued) + len(self._running) > 1:
                    return
            time.sleep(0.01)

    def _sink(self, call: wire.Call) -> Sink:
        call_id, send = call.id, self.send
        fault = call.args.split(_FAULT, 1)[1] if self._faults and _FAULT in call.args else None

        def sink(event: Event) -> None:
            if isinstance(event, Text):
                send(wire.Piece(call_id, event.index, event.text))
                if fault is not None:
                    self._await_company()
                    _fault(fault)
            elif isinstance(event, Start):
                send(wire.Started(call_id, event.index))
            elif isinstance(event, Finish):
                send(wire.Ended(call_id, event.index, event.reason))

        return sink


def _read_exactly(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            os._exit(0)  # the gateway closed the pipe or died: nobody is listening
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _read(fd: int, decoder: msgspec.msgpack.Decoder[Any]) -> Any:
    (size,) = wire.HEADER.unpack(_read_exactly(fd, wire.HEADER.size))
    if size > wire.MAX_FRAME:
        os._exit(2)
    return decoder.decode(_read_exactly(fd, size))


def main() -> None:
    """Run a worker until the gateway closes the pipe (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _guard_parent(int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid())
    # frames use private copies of fds 0 and 1; stray prints from native libraries go to stderr
    fd_in, fd_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    faults = os.environ.get("HEXGATE_TEST_FAULTS", "")
    decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(wire.ParentMessage)
    init = _read(fd_in, decoder)
    if not isinstance(init, wire.Init):
        os._exit(2)
    for entry in reversed(init.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if faults == "start-abort":
        os.abort()
    server: _Server | None = None
    try:
        module, _, name = init.target.partition(":")
        factory: Callable[[bytes], ChildWorker] = getattr(importlib.import_module(module), name)
        worker = factory(init.config)
        server = _Server(worker, fd_out, faults=faults == "1")
        server.send(wire.Ready(pid=os.getpid(), info=worker.info()))
    except Exception as exc:
        message = exc.message if isinstance(exc, HexgateError) else str(exc) or type(exc).__name__
        data = wire.frame(wire.StartFailed(message=message))
        os.write(fd_out, data)
        os._exit(1)
    while True:
        message = _read(fd_in, decoder)
        if isinstance(message, wire.Call):
            server.call(message)
        elif isinstance(message, wire.Cancel):
            server.cancel(message.id)
