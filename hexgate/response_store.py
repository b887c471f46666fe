"""Stored Responses: what ``store`` keeps, so ``previous_response_id`` and ``GET /v1/responses/{id}``
work on every provider, whatever the upstream keeps itself.

One record per response id, in a Litestar store (``server.response_store``): ``memory`` (the
default; a process-local :class:`~litestar.stores.memory.MemoryStore`, expired records swept as
new ones arrive) or a ``redis://`` URL (:class:`~litestar.stores.redis.RedisStore`, needs the
``redis`` package). Records expire ``server.response_ttl`` seconds after they were written.

A record holds the response object as the client received it (its JSON, byte for byte) and
the *context*: every input item the model saw for it (earlier turns' items, then this request's
input), so continuing a conversation costs one lookup however long it is.
"""

from __future__ import annotations

import msgspec
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from msgspec import Raw

__all__ = ["ResponseStore", "StoredResponse", "open_store"]

_SWEEP_EVERY = 256


class StoredResponse(msgspec.Struct, kw_only=True):
    response: Raw
    """The response object as sent to the client."""
    context: list[Raw]
    """Input items the model saw, oldest first (earlier turns' input and output, then this input)."""
    provider: str
    """Id of the provider that answered."""
    upstream_state: bool = False
    """True when a native Responses upstream answered with ``store`` on: it knows the id itself."""


class _Output(msgspec.Struct):
    output: list[Raw] = msgspec.field(default_factory=list)


_record_decoder = msgspec.json.Decoder(StoredResponse)
_output_decoder = msgspec.json.Decoder(_Output)
_encoder = msgspec.json.Encoder()


class ResponseStore:
    """Records by response id over any Litestar :class:`~litestar.stores.base.Store`."""

    def __init__(self, store: Store, *, ttl: int) -> None:
        self._store = store
        self._ttl = ttl
        self._writes = 0

    async def get(self, response_id: str) -> StoredResponse | None:
        """The record, or None when unknown or expired (an unreadable record counts as unknown)."""
        data = await self._store.get(self._key(response_id))
        if data is None:
            return None
        try:
            return _record_decoder.decode(data)
        except msgspec.DecodeError:
            return None

    async def put(self, response_id: str, record: StoredResponse) -> None:
        await self._store.set(self._key(response_id), _encoder.encode(record), expires_in=self._ttl)
        self._writes += 1
        if isinstance(self._store, MemoryStore) and self._writes % _SWEEP_EVERY == 0:
            await self._store.delete_expired()

    async def delete(self, response_id: str) -> bool:
        """Forget a response; False when there was none."""
        key = self._key(response_id)
        if await self._store.get(key) is None:
            return False
        await self._store.delete(key)
        return True

    async def aclose(self) -> None:
        await self._store.__aexit__(None, None, None)

    @staticmethod
    def output_items(record: StoredResponse) -> list[Raw]:
        """The ``output`` items of the stored response object."""
        return _output_decoder.decode(record.response).output

    @staticmethod
    def _key(response_id: str) -> str:
        return f"resp:{response_id}"


def open_store(url: str | None, *, ttl: float, timeout: float = 1.0) -> ResponseStore:
    """The store ``server.response_store`` names: ``memory`` (also for None) or ``redis://…`` / ``rediss://…``;
    ``timeout``: seconds to connect to Redis and for each command (``server.store_timeout``).

    Raises ValueError for another value, or for a Redis URL when the ``redis`` package is missing.
    """
    seconds = max(1, int(ttl))
    if url is None or url == "memory":
        return ResponseStore(MemoryStore(), ttl=seconds)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from litestar.stores.redis import RedisStore

            from hexgate.ops.state import redis_client

            client = redis_client(url, timeout=timeout)
        except ImportError:
            raise ValueError("a Redis response store needs the 'redis' package (pip install redis)") from None
        return ResponseStore(RedisStore(client, namespace="hexgate", handle_client_shutdown=True), ttl=seconds)
    raise ValueError(f"{url!r} is not a response store: use 'memory' or a redis:// URL")
