"""Stored Responses: what ``store`` keeps, so ``previous_response_id`` and ``GET /v1/responses/{id}``
work on every provider, whatever the upstream keeps itself.

One record per owner and response id, in a Litestar store (``server.response_store``): ``memory``
(the default; a process-local store bounded to ``server.response_store_max_bytes``, least recently
used records dropped first) or a ``redis://`` URL (:class:`~litestar.stores.redis.RedisStore`, needs
the ``redis`` package). Records expire ``server.response_ttl`` seconds after they were written.

Every record belongs to the key that created it (:data:`OWNER_STATE`, set where the request was
authenticated: ``vk:<virtual key id>``, ``key:<sha256 of the static key>``, or ``public`` when the
gateway checks no keys). The owner is part of the store key, so another key's lookup misses as if
the id did not exist, and cannot overwrite the record either.

A record holds the response object as the client received it (its JSON, byte for byte) and
the *context*: every input item the model saw for it (earlier turns' items, then this request's
input), so continuing a conversation costs one lookup however long it is.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import msgspec
from litestar.stores.base import Store
from msgspec import Raw

__all__ = ["OWNER_STATE", "PUBLIC_OWNER", "ResponseStore", "StoredResponse", "open_store", "owner_of"]

OWNER_STATE = "hexgate_owner"
"""``scope["state"]`` entry naming who the request acts for; stored responses are kept per owner."""
PUBLIC_OWNER = "public"
"""The one owner of every request when the gateway checks no keys."""
_ENTRY_OVERHEAD = 256
"""Bytes counted per memory record on top of its key and value (dict slot, tuple, bytes headers)."""


class StoredResponse(msgspec.Struct, kw_only=True):
    response: Raw
    """The response object as sent to the client."""
    context: list[Raw]
    """Input items the model saw, oldest first (earlier turns' input and output, then this input)."""
    provider: str
    """Id of the provider that answered."""
    upstream_state: bool = False
    """True when a native Responses upstream answered with ``store`` on: it knows the id itself."""
    owner: str = ""
    """Who created it (:data:`OWNER_STATE`)."""


class _Output(msgspec.Struct):
    output: list[Raw] = msgspec.field(default_factory=list)


_record_decoder = msgspec.json.Decoder(StoredResponse)
_output_decoder = msgspec.json.Decoder(_Output)
_encoder = msgspec.json.Encoder()


def owner_of(scope: Any) -> str:
    """The owner the gateway's middleware put in an ASGI scope's state; :data:`PUBLIC_OWNER` when none
    did (an app assembled without it)."""
    state = scope.get("state")
    owner = state.get(OWNER_STATE) if isinstance(state, dict) else None
    return owner if isinstance(owner, str) and owner else PUBLIC_OWNER


class ResponseStore:
    """Records by owner and response id over any Litestar :class:`~litestar.stores.base.Store`."""

    def __init__(self, store: Store, *, ttl: int) -> None:
        self._store = store
        self._ttl = ttl

    async def get(self, response_id: str, *, owner: str) -> StoredResponse | None:
        """``owner``'s record, or None when unknown, expired or another owner's (an unreadable record
        counts as unknown)."""
        data = await self._store.get(self._key(owner, response_id))
        if data is None:
            return None
        try:
            record = _record_decoder.decode(data)
        except msgspec.DecodeError:
            return None
        return record if record.owner == owner else None

    async def put(self, response_id: str, record: StoredResponse) -> None:
        """Store ``record`` under its owner. Raises ValueError when it is larger than the whole memory store,
        and the store's own errors (Redis unreachable)."""
        await self._store.set(self._key(record.owner, response_id), _encoder.encode(record), expires_in=self._ttl)

    async def delete(self, response_id: str, *, owner: str) -> bool:
        """Forget ``owner``'s response; False when there was none."""
        if await self.get(response_id, owner=owner) is None:
            return False
        await self._store.delete(self._key(owner, response_id))
        return True

    async def aclose(self) -> None:
        await self._store.__aexit__(None, None, None)

    @staticmethod
    def output_items(record: StoredResponse) -> list[Raw]:
        """The ``output`` items of the stored response object."""
        return _output_decoder.decode(record.response).output

    @staticmethod
    def _key(owner: str, response_id: str) -> str:
        return f"resp:{owner}:{response_id}"


class _BoundedMemory(Store):
    """A process-local store holding at most ``max_bytes`` (keys, values and a per-record overhead):
    least recently used records go first, expired ones as they are met. One event loop; no awaits inside."""

    __slots__ = ("_bytes", "_items", "_max_bytes")

    def __init__(self, *, max_bytes: int) -> None:
        self._items: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes

    @staticmethod
    def _size(key: str, data: bytes) -> int:
        return len(key) + len(data) + _ENTRY_OVERHEAD

    def _drop(self, key: str) -> None:
        entry = self._items.pop(key, None)
        if entry is not None:
            self._bytes -= self._size(key, entry[0])

    def _live(self, key: str) -> bytes | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= time.monotonic():
            self._drop(key)
            return None
        return entry[0]

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        size = self._size(key, data)
        if size > self._max_bytes:
            raise ValueError(f"a record of {size} bytes exceeds server.response_store_max_bytes ({self._max_bytes})")
        self._drop(key)
        seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
        self._items[key] = (data, time.monotonic() + seconds if seconds else None)
        self._bytes += size
        while self._bytes > self._max_bytes:
            oldest = next(iter(self._items))
            self._drop(oldest)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        data = self._live(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    async def delete(self, key: str) -> None:
        self._drop(key)

    async def delete_all(self) -> None:
        self._items.clear()
        self._bytes = 0

    async def exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def expires_in(self, key: str) -> int | None:
        entry = self._items.get(key) if self._live(key) is not None else None
        if entry is None or entry[1] is None:
            return None
        return int(entry[1] - time.monotonic())


def open_store(
    url: str | None, *, ttl: float, max_bytes: int = 256 * 1024 * 1024, timeout: float = 1.0
) -> ResponseStore:
    """The store ``server.response_store`` names: ``memory`` (also for None; at most ``max_bytes``) or
    ``redis://…`` / ``rediss://…``; ``timeout``: seconds to connect to Redis and for each command
    (``server.store_timeout``).

    Raises ValueError for another value, or for a Redis URL when the ``redis`` package is missing.
    """
    seconds = max(1, int(ttl))
    if url is None or url == "memory":
        return ResponseStore(_BoundedMemory(max_bytes=max_bytes), ttl=seconds)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from litestar.stores.redis import RedisStore

            from hexgate.ops.state import redis_client

            client = redis_client(url, timeout=timeout)
        except ImportError:
            raise ValueError("a Redis response store needs the 'redis' package (pip install redis)") from None
        return ResponseStore(RedisStore(client, namespace="hexgate", handle_client_shutdown=True), ttl=seconds)
    raise ValueError(f"{url!r} is not a response store: use 'memory' or a redis:// URL")
