"""``gradio_client.Client`` objects, cached per app and token, one job at a time each.

A ``Client`` is one Gradio *session*: the app keeps ``gr.State`` (a ``ChatInterface``'s history)
per session, and the client reads every event of its session from one SSE stream. Two requests
sharing a client would see each other's history, and a session switch while a job runs would leave
the new job without a reader. So each (app, token) gets a small pool: a request takes an idle client
(building one, off the event loop and one at a time, when none is idle and the pool is not full),
starts a fresh session on it (``reset_session()``), and gives it back once its job has ended and the
client's stream has closed. A client that does not settle in time is closed instead of reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ClientPool"]

_SETTLE_TIMEOUT = 30.0
_SETTLE_POLL = 0.02


class ClientPool:
    """Clients for one app and one token. ``build`` constructs a client (blocking: it fetches the
    app's config); ``size`` caps how many jobs run at once through this pool."""

    def __init__(self, build: Callable[[], Any], *, size: int) -> None:
        self._build = build
        self._size = size
        self._created = 0
        self._idle: asyncio.Queue[Any] = asyncio.Queue()
        """Idle clients, and ``None`` for a slot whose client must be (re)built."""
        self._building = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._all: set[Any] = set()
        self._closed = False

    @property
    def clients(self) -> int:
        """How many clients this pool holds, at work or idle (for tests and diagnostics)."""
        return len(self._all)

    async def acquire(self) -> Any:
        """An idle client with a fresh session, built when needed. Waits while ``size`` jobs run.

        Exceptions from building the client (network, auth, a Space that is not running) propagate.
        """
        try:
            client = self._idle.get_nowait()
        except asyncio.QueueEmpty:
            if self._created < self._size:
                self._created += 1
                client = None
            else:
                client = await self._idle.get()
        if client is None:
            client = await self._construct()
        else:
            client.reset_session()  # a new session hash: no gr.State from the last request
        return client

    async def _construct(self) -> Any:
        future: asyncio.Future[Any] | None = None
        try:
            async with self._building:  # one build at a time: the app's config is fetched once per client
                future = asyncio.get_running_loop().run_in_executor(None, self._build)
                client = await asyncio.shield(future)
        except BaseException:
            if future is not None and not future.done():
                future.add_done_callback(self._adopt)  # cancelled mid-build: keep what the thread makes
            else:
                self._idle.put_nowait(None)  # the slot is free again
            raise
        self._all.add(client)
        return client

    def _adopt(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._idle.put_nowait(None)
            return
        client = future.result()
        self._all.add(client)
        self._idle.put_nowait(client)

    def release(self, client: Any, *, job: Any | None = None, broken: bool = False) -> None:
        """Give ``client`` back once ``job`` (if any) has ended and its stream has closed; a ``broken``
        client, or one that does not settle within 30 s, is closed and its slot rebuilt on demand."""
        task = asyncio.get_running_loop().create_task(self._settle(client, job, broken))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, client: Any, job: Any | None, broken: bool) -> None:
        try:
            if not broken:
                broken = not await self._wait_settled(client, job)
        except asyncio.CancelledError:
            broken = True
        if broken or self._closed:
            self._all.discard(client)
            await asyncio.to_thread(_close, client)
            self._idle.put_nowait(None)
        else:
            self._idle.put_nowait(client)

    async def _wait_settled(self, client: Any, job: Any | None) -> bool:
        deadline = time.monotonic() + _SETTLE_TIMEOUT
        future = getattr(job, "future", None)
        if future is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.wrap_future(future), _SETTLE_TIMEOUT)
            if not future.done():
                return False
        while getattr(client, "stream_open", False):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(_SETTLE_POLL)
        return True

    async def aclose(self) -> None:
        """Close every client this pool built; clients still at work are closed when they come back."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        clients, self._all = list(self._all), set()
        for client in clients:
            await asyncio.to_thread(_close, client)


def _close(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.close()
    for name in ("executor", "helper_executor", "stream_executor"):
        executor = getattr(client, name, None)
        if executor is not None:
            with contextlib.suppress(Exception):
                executor.shutdown(wait=False, cancel_futures=True)
