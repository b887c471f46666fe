"""Slow clients: bounds on how long a connection may hold hexgate without sending a request.

``hexgate serve`` runs uvicorn with :class:`GuardedHttpToolsProtocol`, uvicorn's httptools protocol
plus one timer, so that every connection is in one of these states, each bounded::

    waiting for a request head   (connection opened, or its previous answer sent)
                                 the head (request line and headers) must be complete within
                                 ``[server] header_timeout`` seconds (default 10), else the
                                 connection is closed; this timer runs from the connection's
                                 start or its previous answer, however slowly bytes trickle in
    idle between requests        also closed after ``[server] keepalive_timeout`` seconds with no
                                 byte at all (uvicorn's own keep-alive timer, default 5)
    reading the body             the route's ``[server] client_timeout`` (a 408, see hexgate.guard)
    answering                    the upstream's timeouts

Uvicorn alone bounds none of the first state: its keep-alive timer is reset by every byte and not
armed on a new connection, so a client sending one header line every 2 s held its connection for as
long as it liked (issue 12).

The timeout reaches each worker process as ``HEXGATE_HEADER_TIMEOUT`` (set by ``hexgate serve``;
uvicorn pickles the protocol class by name for its worker processes, so it cannot carry a value).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HEADER_TIMEOUT_ENV", "GuardedHttpToolsProtocol"]

log = logging.getLogger("hexgate.ops.connections")

HEADER_TIMEOUT_ENV = "HEXGATE_HEADER_TIMEOUT"
"""Seconds, as text; read once per process. Unset: :data:`_DEFAULT_HEADER_TIMEOUT`."""
_DEFAULT_HEADER_TIMEOUT = 10.0


@functools.cache
def _header_timeout() -> float:
    raw = os.environ.get(HEADER_TIMEOUT_ENV)
    try:
        value = float(raw) if raw else _DEFAULT_HEADER_TIMEOUT
    except ValueError:
        return _DEFAULT_HEADER_TIMEOUT
    return value if value > 0 else _DEFAULT_HEADER_TIMEOUT


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools) that closes a connection whose next request head is not
    complete within the header timeout (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(_header_timeout(), self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            log.debug("closing a connection that sent no complete request head in %g s", _header_timeout())
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        waiting = self.cycle is None or self.cycle.response_complete  # not a pipelined request started
        if waiting and not self.transport.is_closing():
            self._arm_head_timer()
