"""ASGI-level guards for one HTTP request, used by the gateway middleware in :mod:`hexgate.app`.

- The client must send its whole body within ``server.client_timeout`` seconds: past it, reading
  the body raises a 408 :class:`~hexgate.errors.RequestTimeout` (code ``request_timeout``), which
  the app's exception handler (or the ops middleware, when it reads the body) renders.
- Once the body has arrived, one watcher task waits for ``http.disconnect``; when the client leaves
  before the answer is complete, the handler's task is cancelled, so a non-streamed upstream call
  stops as a stream does (httpx closes the upstream connection). The handler still sees
  ``http.disconnect`` through ``receive`` (Litestar's streaming responses listen for it).
- :func:`headers_too_large` tells when a request's headers add up to more than
  ``server.max_header_size`` bytes (the gateway middleware answers 431
  :class:`~hexgate.errors.HeadersTooLarge`).
"""

from __future__ import annotations

import asyncio

from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from hexgate.errors import RequestTimeout

__all__ = ["headers_too_large", "run_guarded"]


def headers_too_large(scope: Scope, limit: int) -> bool:
    """True when the request's header names and values add up to more than ``limit`` bytes."""
    size = 0
    for name, value in scope.get("headers", ()):
        size += len(name) + len(value) + 4
    return size > limit


class _Guard:
    __slots__ = ("cancelled", "deadline", "disconnected", "done", "receive_", "send_", "task", "timeout", "watcher")

    def __init__(self, receive: Receive, send: Send, timeout: float) -> None:
        self.receive_ = receive
        self.send_ = send
        self.timeout = timeout
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.disconnected = asyncio.Event()
        self.done = False
        self.cancelled = False
        self.task = asyncio.current_task()
        self.watcher: asyncio.Task[None] | None = None

    async def receive(self) -> ReceiveMessage:
        if self.watcher is not None or self.disconnected.is_set():
            await self.disconnected.wait()
            return {"type": "http.disconnect"}
        left = self.deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(left, 0.0)):
                message = await self.receive_()
        except TimeoutError:
            raise RequestTimeout(self.timeout) from None
        if message["type"] == "http.disconnect":
            self.disconnected.set()
        elif not message.get("more_body", False):
            self.watcher = asyncio.create_task(self._watch())
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.done = True
        await self.send_(message)

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
        if guard.watcher is not None:
            guard.watcher.cancel()
