"""ASGI-level guards for one HTTP request, used by the gateway middleware in :mod:`hexgate.app`.

- The client must send its whole body within ``server.client_timeout`` seconds: past it, reading
  the body raises a 408 :class:`~hexgate.errors.RequestTimeout` (code ``request_timeout``), which
  the app's exception handler (or the ops middleware, when it reads the body) renders.
- Once the body has arrived, a watcher task waits for ``http.disconnect``; when the client leaves
  before the answer is complete, the handler's task is cancelled, so an upstream call (streamed or
  not) stops and its connection is closed. The watcher starts :data:`WATCH_AFTER` seconds after the
  body arrived, or at once when the app itself waits for a disconnect (calls ``receive`` again): most
  answers are complete before then, and a task per request cost ~70 µs of CPU (benchmarks/README.md).
  The app sees ``http.disconnect`` through ``receive`` when the client leaves or the answer is
  complete.
- :func:`headers_too_large` tells when a request's headers add up to more than
  ``server.max_header_size`` bytes (the gateway middleware answers 431
  :class:`~hexgate.errors.HeadersTooLarge`).
"""

from __future__ import annotations

import asyncio

from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from hexgate.alarm import Alarm
from hexgate.errors import RequestTimeout

__all__ = ["WATCH_AFTER", "headers_too_large", "run_guarded"]

WATCH_AFTER = 0.25
"""Seconds after the body arrived before the disconnect watcher starts (when the answer is not complete
by then): how late at most a client that left is noticed."""


def headers_too_large(scope: Scope, limit: int) -> bool:
    """True when the request's header names and values add up to more than ``limit`` bytes."""
    size = 0
    for name, value in scope.get("headers", ()):
        size += len(name) + len(value) + 4
    return size > limit


class _Guard:
    __slots__ = (
        "alarm",
        "cancelled",
        "deadline",
        "disconnected",
        "done",
        "loop",
        "read",
        "receive_",
        "send_",
        "task",
        "timeout",
        "timer",
        "watcher",
    )

    def __init__(self, receive: Receive, send: Send, timeout: float) -> None:
        self.receive_ = receive
        self.send_ = send
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + timeout
        self.disconnected = asyncio.Event()  # the client left, or the answer is complete
        self.read = False  # the whole body (or a disconnect) came
        self.done = False  # the answer is complete
        self.cancelled = False
        self.task = asyncio.current_task()
        self.timer: asyncio.TimerHandle | None = None
        self.alarm: Alarm | None = None  # the body's deadline, made at the first read
        self.watcher: asyncio.Task[None] | None = None

    async def receive(self) -> ReceiveMessage:
        if self.read:  # the app waits for the client to leave (a streaming response listens)
            self.watch()
            await self.disconnected.wait()
            return {"type": "http.disconnect"}
        alarm = self.alarm
        if alarm is None:
            alarm = self.alarm = Alarm()
        alarm.arm(self.deadline - self.loop.time())
        try:
            message = await self.receive_()
        except asyncio.CancelledError:
            if alarm.expired():
                raise RequestTimeout(self.timeout) from None
            raise
        finally:
            alarm.disarm()
        if message["type"] == "http.disconnect":
            self.read = True
            alarm.close()
            self.disconnected.set()
        elif not message.get("more_body", False):
            self.read = True
            alarm.close()
            if not self.done:
                self.timer = self.loop.call_later(WATCH_AFTER, self.watch)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finish()
        await self.send_(message)

    def watch(self) -> None:
        """Start the watcher (once, and only while the answer is not complete)."""
        if self.watcher is None and not self.done:
            self.watcher = self.loop.create_task(self._watch())

    def finish(self) -> None:
        self.done = True
        if self.alarm is not None:
            self.alarm.close()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.disconnected.set()

    async def _watch(self) -> None:
        while True:
            message = await self.receive_()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                if not self.done and self.task is not None:
                    self.cancelled = True
                    self.task.cancel()
                return


async def run_guarded(app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, client_timeout: float) -> None:
    """Run ``app`` for one HTTP request with the body deadline and the disconnect watcher."""
    guard = _Guard(receive, send, client_timeout)
    task = guard.task
    try:
        await app(scope, guard.receive, guard.send)
    except asyncio.CancelledError:
        if guard.cancelled and task is not None and task.uncancel() == 0:
            return  # our own cancel: the client left, nothing to answer
        raise
    else:
        if guard.cancelled and task is not None:
            task.uncancel()  # the app absorbed our cancel itself
    finally:
        guard.finish()
        if guard.watcher is not None:
            guard.watcher.cancel()
