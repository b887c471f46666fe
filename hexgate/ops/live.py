"""The live feed: the last requests of this process, for the console's Live tab (``GET /admin/live``).

:class:`LiveFeed` keeps a ring of the last :data:`RING_SIZE` finished model requests
(:class:`LiveEntry`: time, key, model, provider, status, attempts, latency, time to first token,
tokens; the prompt only with ``[telemetry] log_prompts``) and hands each new one to the open
subscriptions. Everything is bounded: the ring, the number of subscriptions
(:data:`MAX_SUBSCRIBERS`), each subscription's queue (:data:`QUEUE_SIZE`; a reader that falls
behind loses entries, counted in ``dropped``), the prompt text (:data:`PROMPT_MAX` characters) and
the last error kept per provider (:data:`MAX_PROVIDERS`). It is per process: with several workers
or replicas each shows its own requests.
"""

from __future__ import annotations

import asyncio
import collections

import msgspec

__all__ = [
    "MAX_PROVIDERS",
    "MAX_SUBSCRIBERS",
    "PROMPT_MAX",
    "QUEUE_SIZE",
    "RING_SIZE",
    "LastError",
    "LiveEntry",
    "LiveFeed",
    "TooManySubscribers",
]

RING_SIZE = 200
MAX_SUBSCRIBERS = 16
QUEUE_SIZE = 256
PROMPT_MAX = 2000
MAX_PROVIDERS = 1000
_MODEL_MAX = 256


class LiveEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One finished model request as the Live tab shows it."""

    time: float
    """When it finished, Unix seconds."""
    request_id: str
    operation: str
    """``chat``, ``embeddings``, ``generate_content``."""
    key_id: str | None = None
    key_name: str | None = None
    """The virtual key's name; None for a static key or no key."""
    model: str | None = None
    """The model name the client sent (cut at 256 characters)."""
    provider: str | None = None
    """The provider id that answered last; None when no upstream was tried."""
    target: str | None = None
    status: int
    attempts: int = 0
    latency_ms: float
    ttft_ms: float | None = None
    """Time to the first body byte of a stream, milliseconds."""
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    prompt: str | None = None
    """The start of the request body, only with ``[telemetry] log_prompts``."""


class LastError(msgspec.Struct, kw_only=True):
    """The last failed request of one provider, as this process saw it."""

    time: float
    status: int
    error: str
    target: str | None = None


class TooManySubscribers(Exception):
    """:data:`MAX_SUBSCRIBERS` feeds are open already."""


class LiveFeed:
    """The ring and its subscriptions (see the module doc). Not thread-safe: one event loop."""

    def __init__(self, *, size: int = RING_SIZE, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self._ring: collections.deque[LiveEntry] = collections.deque(maxlen=size)
        self._subscribers: set[asyncio.Queue[LiveEntry | None]] = set()
        self._max_subscribers = max_subscribers
        self.dropped = 0
        self.last_errors: dict[str, LastError] = {}

    def record(self, entry: LiveEntry) -> None:
        """Add a finished request (no I/O, no await)."""
        if entry.model is not None and len(entry.model) > _MODEL_MAX:
            entry.model = entry.model[:_MODEL_MAX] + "…"
        if entry.prompt is not None and len(entry.prompt) > PROMPT_MAX:
            entry.prompt = entry.prompt[:PROMPT_MAX] + "…"
        self._ring.append(entry)
        if (
            entry.provider
            and entry.status >= 400
            and (entry.provider in self.last_errors or len(self.last_errors) < MAX_PROVIDERS)
        ):
            self.last_errors[entry.provider] = LastError(
                time=entry.time, status=entry.status, error=entry.error or str(entry.status), target=entry.target
            )
        for queue in self._subscribers:
            try:
                queue.put_nowait(entry)
            except asyncio.QueueFull:
                self.dropped += 1

    def recent(self) -> list[LiveEntry]:
        """The ring, oldest first."""
        return list(self._ring)

    def open(self) -> asyncio.Queue[LiveEntry | None]:
        """A queue that gets every new entry (None: the feed closes) until :meth:`release`. Raises
        :class:`TooManySubscribers` when :data:`MAX_SUBSCRIBERS` are open."""
        if len(self._subscribers) >= self._max_subscribers:
            raise TooManySubscribers(f"{self._max_subscribers} live feeds are open already")
        queue: asyncio.Queue[LiveEntry | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def release(self, queue: asyncio.Queue[LiveEntry | None]) -> None:
        self._subscribers.discard(queue)

    def close(self) -> None:
        """Tell every subscription to end (at shutdown)."""
        for queue in self._subscribers:
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)
