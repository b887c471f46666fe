"""A model worker process owned by the gateway: started, watched, restarted, and asked for work.

A provider that runs a model on the gateway's machine builds one :class:`Supervisor` per worker
process (``target`` names the plugin's :class:`hexgate.inproc.child.ChildWorker` factory). The model
then runs in ``python -m hexgate.inproc``, so a segfault, an abort, an out-of-memory kill or a
hang there never takes the gateway, its other providers or its open streams down.

- **Calls** are multiplexed over the pipe by id (:mod:`hexgate.inproc._wire`). :meth:`Supervisor.stream`
  relays each piece of text as a chunk the moment it arrives; :meth:`Supervisor.complete` answers a
  ``chat.completion``; :meth:`Supervisor.call` any other op. A caller that goes away (client
  disconnect, the core's deadline) sends ``Cancel``: the worker ends that generation at its next token.
- **Death**: every call in flight fails with :class:`UpstreamError` (502) saying what happened
  (``local model worker exited (signal 11); restarting``); a stream ends with that error, never hangs.
  The worker restarts with exponential backoff (0.5 s doubling to 30 s; reset after a minute of
  service). One that dies before it is ready ``max_start_failures`` times in a row, or refuses its
  configuration, is ``failed`` with that reason; calls then fail at once.
- **Hangs**: a cancelled call the worker has not ended ``cancel_grace`` seconds later means the
  worker no longer answers: it is killed (SIGKILL) and restarted.
- **State** (:meth:`Supervisor.status`): ``stopped``, ``starting``, ``ready``, ``restarting`` or
  ``failed``, the pid, the restart count and the last exit reason (``exited (signal 11)``).

The pipe is read and written by two threads per worker, not by the event loop: a stuck worker can
never stall the loop, and one supervisor serves callers on any loop (the gateway's, a reload's, a
test's). Each message reaches its caller's loop through ``call_soon_threadsafe``. The worker exits
with the gateway (its stdin closes; on Linux ``PR_SET_PDEATHSIG`` too) and is always reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator
from typing import IO, Any, TypeVar

import msgspec

from hexgate.errors import UpstreamError
from hexgate.inproc import _wire as wire
from hexgate.inproc.child import WireOutcome
from hexgate.inproc.worker import Done, Event, Failed, Finish, Outcome, Start, Text, completion, relay
from hexgate.protocol import WorkerStatus
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk

__all__ = ["Supervisor", "exit_reason"]

log = logging.getLogger("hexgate.inproc")

T = TypeVar("T")

_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(wire.ChildMessage)
_outcome = msgspec.msgpack.Decoder(WireOutcome)
_STABLE = 60.0
"""Seconds of service after which the restart backoff starts again from its minimum."""


def exit_reason(returncode: int) -> str:
    """``exited (signal 11)`` for a process killed by a signal, ``exited (code 1)`` otherwise."""
    if returncode < 0:
        return f"exited (signal {-returncode})"
    return f"exited (code {returncode})"


class _Died(msgspec.Struct, frozen=True):
    message: str


class _Call:
    __slots__ = ("finished", "id", "loop", "queue")

    def __init__(self, call_id: int, loop: asyncio.AbstractEventLoop) -> None:
        self.id = call_id
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.finished = False

    def deliver(self, message: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody is listening
            self.loop.call_soon_threadsafe(self.queue.put_nowait, message)


class _Gone(Exception):
    """The worker's stdout ended (it exited) or carried something unreadable."""


class Supervisor:
    """One worker process for the provider ``provider``; ``label`` names it in errors and logs
    (``local model worker``). ``target`` (``module:callable``) and ``config`` (msgpack bytes) build
    the worker in the child. See the module docstring for the timing parameters."""

    def __init__(
        self,
        *,
        provider: str,
        label: str,
        target: str,
        config: bytes,
        cancel_grace: float = 5.0,
        start_timeout: float = 300.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_start_failures: int = 3,
    ) -> None:
        self.provider = provider
        self.label = label
        self._target = target
        self._config = config
        self._grace = cancel_grace
        self._start_timeout = start_timeout
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_start_failures = max_start_failures
        self._lock = threading.Lock()
        self._state = "stopped"
        self._pid: int | None = None
        self._restarts = 0
        self._last_exit: str | None = None
        self._generation = 0
        self._calls: dict[int, _Call] = {}
        self._ids = itertools.count(1)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._proc: subprocess.Popen[bytes] | None = None
        self._kill_reason: str | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wake = threading.Event()
        self._refused: str | None = None

    # ------------------------------------------------------------------ state

    def status(self) -> WorkerStatus:
        """The worker's state now (see the module docstring)."""
        with self._lock:
            return WorkerStatus(
                name=self.label,
                state=self._state,
                pid=self._pid,
                restarts=self._restarts,
                last_exit=self._last_exit,
            )

    async def stats(self) -> wire.Stats:
        """How many calls the worker process has run, and how many it skipped (cancelled while queued)."""
        return await self.call(wire.STATS, b"", type=wire.Stats)

    @property
    def active(self) -> int:
        """Calls sent to the worker and not yet answered."""
        return len(self._calls)

    def _set_state(self, state: str, *, pid: int | None = None) -> None:
        with self._lock:
            self._state = state
            self._pid = pid
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the worker and wait until it is ready. Raises ValueError when it refused its
        configuration (a model file it cannot load); a worker that keeps crashing is left ``failed``
        (logged, reported by :meth:`status`) so the rest of the gateway still starts."""
        self._ensure_thread()
        with contextlib.suppress(UpstreamError):
            await self._until_ready()
        if self._refused is not None:
            raise ValueError(self._refused)

    async def aclose(self) -> None:
        """Stop the worker (its stdin closes, it exits; killed after 5 s) and fail every call in flight."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._outbox.put(None)
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, 5.0)
            if thread.is_alive():
                self._kill("killed: did not exit within 5 s of shutdown")
                await asyncio.to_thread(thread.join, 5.0)
        self._set_state("stopped")

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._supervise, name=f"hexgate-{self.provider}-worker", daemon=True)
            self._thread.start()

    def _kill(self, reason: str) -> None:
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return
            self._kill_reason = reason
        log.error("%s (pid %d) %s", self.label, proc.pid, reason)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)

    # ------------------------------------------------------------------ the supervisor thread

    def _supervise(self) -> None:
        failures, delay, first = 0, self._backoff, True
        while not self._closed:
            self._set_state("starting" if first else "restarting")
            began = time.monotonic()
            ready, reason = self._run_once()
            with self._lock:
                # not ready from here on, in the same step as the sweep: no call can slip in between
                self._state = "stopped" if self._closed else "restarting"
                self._generation += 1
                self._proc, self._pid, self._kill_reason = None, None, None
                self._last_exit = reason
                calls, self._calls = self._calls, {}
            message = f"the {self.provider} provider shut down while generating; retry the request"
            if not self._closed:
                message = f"{self.label} {reason}; restarting"
            for call in calls.values():
                call.finished = True
                call.deliver(_Died(message))
            if self._closed:
                return
            failures = 0 if ready else failures + 1
            if self._refused is not None or failures >= self._max_start_failures:
                log.error("%s failed: %s", self.label, reason)
                self._set_state("failed")
                return
            if ready and time.monotonic() - began > _STABLE:
                delay = self._backoff
            log.warning("%s %s; restarting in %.1f s", self.label, reason, delay)
            self._set_state("restarting")
            self._wake.wait(delay)
            delay = min(delay * 2, self._max_backoff)
            with self._lock:
                self._restarts += 1
            first = False

    def _run_once(self) -> tuple[bool, str]:
        """Start one worker, serve it until it ends; (whether it got ready, why it ended)."""
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hexgate.inproc", str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError as exc:
            return False, f"could not start: {exc}"
        assert proc.stdin is not None and proc.stdout is not None
        with self._lock:
            self._proc = proc
            if self._closed:
                proc.kill()
        out = self._outbox = queue.SimpleQueue()
        out.put(wire.frame(wire.Init(target=self._target, config=self._config, sys_path=list(sys.path))))
        writer = threading.Thread(target=_write, args=(proc.stdin, out), daemon=True)
        writer.start()
        timer = threading.Timer(self._start_timeout, self._kill, (f"killed: not ready in {self._start_timeout:g} s",))
        timer.start()
        ready = False
        try:
            fd = proc.stdout.fileno()
            first = _read(fd)
            timer.cancel()
            if isinstance(first, wire.Ready):
                ready = True
                self._set_state("ready", pid=first.pid)
                log.info("%s ready (pid %d): %s", self.label, first.pid, first.info or "no system info")
                self._serve(fd)
            elif isinstance(first, wire.StartFailed):
                self._refused = first.message
        except _Gone:
            pass
        finally:
            timer.cancel()
            out.put(None)
            returncode = proc.wait()
            writer.join()
            proc.stdout.close()
        reason = self._kill_reason or exit_reason(returncode)
        if self._refused is not None:
            reason = f"could not start: {self._refused}"
        return ready, reason

    def _serve(self, fd: int) -> None:
        while True:
            message = _read(fd)
            call_id = message.id
            with self._lock:
                if isinstance(message, wire.Result | wire.Error):
                    call = self._calls.pop(call_id, None)
                    if call is not None:
                        call.finished = True
                else:
                    call = self._calls.get(call_id)
            if call is not None:
                call.deliver(message)

    # ------------------------------------------------------------------ calls

    async def _until_ready(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._closed:
                    raise UpstreamError(f"the {self.provider} provider is shutting down")
                if self._state == "ready":
                    return
                if self._state == "failed":
                    raise UpstreamError(f"{self.label} failed: {self._last_exit}")
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            await future

    async def _open(self, op: str, args: bytes, *, lane: str | None, stream: bool) -> _Call:
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        while True:
            await self._until_ready()
            with self._lock:
                if self._state != "ready" or self._closed:
                    continue
                call = _Call(next(self._ids), loop)
                self._calls[call.id] = call
                self._outbox.put(wire.frame(wire.Call(id=call.id, op=op, lane=lane or op, args=args, stream=stream)))
                return call

    def _cancel(self, call: _Call) -> None:
        """The caller left before the answer: tell the worker, and replace it if it does not answer."""
        with self._lock:
            if call.finished:
                return
            generation = self._generation
            self._outbox.put(wire.frame(wire.Cancel(call.id)))

        def overdue() -> None:
            with self._lock:
                stuck = not call.finished and generation == self._generation
            if stuck:
                self._kill(f"killed: no answer {self._grace:g} s after a request was cancelled (hung)")

        with contextlib.suppress(RuntimeError):
            call.loop.call_later(self._grace, overdue)

    async def _events(self, call: _Call) -> AsyncGenerator[Event, None]:
        while True:
            message = await call.queue.get()
            if isinstance(message, wire.Piece):
                yield Text(message.index, message.text)
            elif isinstance(message, wire.Started):
                yield Start(message.index)
            elif isinstance(message, wire.Ended):
                yield Finish(message.index, message.reason)
            elif isinstance(message, wire.Result):
                wired = _outcome.decode(message.value)
                yield Done(Outcome(prompt_tokens=wired.prompt_tokens, generations=wired.generations))
                return
            elif isinstance(message, wire.Error):
                yield Failed(wire.error_from(message))
                return
            else:
                yield Failed(UpstreamError(message.message))
                return

    async def stream(
        self, op: str, args: bytes, *, model: str, lane: str | None = None
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        """Run chat op ``op`` on the worker's thread ``lane`` (default: named as the op) and yield its
        chunks as the worker sends them (see :func:`hexgate.inproc.worker.relay`). Raises the op's own
        error, or :class:`UpstreamError` when the worker died, failed or is shutting down. Closing the
        iterator cancels the op."""
        call = await self._open(op, args, lane=lane, stream=True)
        try:
            async with contextlib.aclosing(relay(self._events(call), model=model)) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            self._cancel(call)

    async def complete(self, op: str, args: bytes, *, model: str, lane: str | None = None) -> ChatCompletion:
        """Run chat op ``op`` and answer a ``chat.completion``; errors as :meth:`stream`. A cancelled
        await (the core's deadline) cancels the op."""
        call = await self._open(op, args, lane=lane, stream=False)
        try:
            async for event in self._events(call):
                if isinstance(event, Done):
                    return completion(event.outcome, model=model)
                if isinstance(event, Failed):
                    raise event.error
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._cancel(call)

    async def call(self, op: str, args: bytes, *, type: type[T], lane: str | None = None) -> T:
        """Run op ``op`` and decode its answer as ``type``; errors as :meth:`stream`."""
        call = await self._open(op, args, lane=lane, stream=False)
        try:
            message = await call.queue.get()
            if isinstance(message, wire.Result):
                return msgspec.msgpack.decode(message.value, type=type)
            if isinstance(message, wire.Error):
                raise wire.error_from(message)
            raise UpstreamError(message.message)
        finally:
            self._cancel(call)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _read_exactly(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise _Gone  # end of file: the worker is gone
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _read(fd: int) -> Any:
    (size,) = wire.HEADER.unpack(_read_exactly(fd, wire.HEADER.size))
    if size > wire.MAX_FRAME:
        raise _Gone
    try:
        return _decoder.decode(_read_exactly(fd, size))
    except msgspec.DecodeError:
        raise _Gone from None


def _write(pipe: IO[bytes], outbox: queue.SimpleQueue[bytes | None]) -> None:
    """The writer thread: frames from ``outbox`` to the worker's stdin until None or a broken pipe."""
    fd = pipe.fileno()
    try:
        while (data := outbox.get()) is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            pipe.close()
