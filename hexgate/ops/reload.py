"""Registry generations: a reload swaps the registry for new requests while requests already
running keep the one they started with; a retired registry is closed once its last request is done.

The ops middleware pins the current registry in each request's scope (:data:`REGISTRY_KEY`,
read by the ``registry`` dependency) and counts the requests per registry; a stream keeps its
registry (and so its provider and HTTP client) until its last byte.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hexgate.registry import Registry

__all__ = ["REGISTRY_KEY", "Generations", "pinned_registry"]

log = logging.getLogger("hexgate.ops.reload")

REGISTRY_KEY = "hexgate_registry"
"""Where the registry a request was admitted with lives in ``scope["state"]``."""


def pinned_registry(scope: Any) -> Registry | None:
    """The registry pinned for this request, if the ops middleware ran."""
    state = scope.get("state")
    registry = state.get(REGISTRY_KEY) if isinstance(state, dict) else None
    return registry if isinstance(registry, Registry) else None


class Generations:
    """The current registry (``app.state.registry``) and the retired ones still serving requests."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self._busy: dict[Registry, int] = {}
        self._retired: set[Registry] = set()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def current(self) -> Registry:
        registry: Registry = self._state.registry
        return registry

    def acquire(self) -> Registry:
        """The registry a new request uses, counted until :meth:`release`."""
        registry = self.current
        self._busy[registry] = self._busy.get(registry, 0) + 1
        return registry

    def release(self, registry: Registry) -> None:
        left = self._busy.get(registry, 1) - 1
        if left > 0:
            self._busy[registry] = left
            return
        self._busy.pop(registry, None)
        if registry in self._retired:
            self._close_later(registry)

    def swap(self, registry: Registry) -> Registry:
        """Make ``registry`` current for new requests; the old one is closed when it is idle. Returns the old one."""
        old = self.current
        self._state.registry = registry
        if old is not registry:
            self._retired.add(old)
            if old not in self._busy:
                self._close_later(old)
        return old

    def in_flight(self, registry: Registry) -> int:
        return self._busy.get(registry, 0)

    def _close_later(self, registry: Registry) -> None:
        self._retired.discard(registry)
        task = asyncio.get_running_loop().create_task(self._close(registry))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(registry: Registry) -> None:
        try:
            await registry.aclose()
        except Exception as exc:  # pragma: no cover - closing must not fail a request
            log.warning("closing a retired registry failed: %s", exc)
        else:
            log.info("retired registry (%s) closed", registry.settings.source)

    async def aclose(self) -> None:
        """At shutdown: close every retired registry (the current one is the app's to close)."""
        for registry in list(self._retired):
            self._close_later(registry)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
