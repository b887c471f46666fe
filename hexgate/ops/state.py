"""The state several replicas share: records behind Litestar's :class:`~litestar.stores.base.Store`,
and a tiny counter interface with two backends.

``server.store`` picks the backend (:func:`open_backend`):

- ``memory`` (default): :class:`MemoryBackend`, a :class:`~litestar.stores.memory.MemoryStore` for
  records and plain dicts for counters. Each check runs without an ``await`` between reading and
  writing, so on one event loop it is atomic; it holds for one process only.
- ``redis://…`` / ``rediss://…`` / ``unix://…``: :class:`RedisBackend`, a
  :class:`~litestar.stores.redis.RedisStore` for records, and Lua scripts run through that store's
  Redis client for counters. A script runs atomically in Redis, so there is no read-modify-write
  race between replicas; one check is one round trip.

Counters are fixed windows that start with their first increment and expire with it (``INCR`` then
``PEXPIRE`` when the key had no expiry): a requests-per-minute window admits exactly ``rpm``
requests whatever the concurrency. Money is counted in integer nano-dollars (``INCRBY``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore

__all__ = [
    "MAX_USAGE_FIELDS",
    "USAGE_DAYS",
    "Admission",
    "Backend",
    "MemoryBackend",
    "RedisBackend",
    "open_backend",
    "redis_client",
]

REFUSED_REQUESTS = 1
REFUSED_TOKENS = 2
REFUSED_BUDGET = 3


class Admission(NamedTuple):
    """The outcome of one check. ``verdict``: 0 admitted, 1 requests per minute, 2 tokens per minute,
    3 budget. Counts are after this check; ``*_reset_ms`` is the time left in that window in
    milliseconds (-1: no expiry, -2: no window open)."""

    verdict: int
    requests: int
    requests_reset_ms: int
    tokens: int
    tokens_reset_ms: int
    spent: int
    """Nano-dollars spent in the budget period."""
    spent_reset_ms: int


class Backend(Protocol):
    """What :mod:`hexgate.ops` needs from the shared state."""

    records: Store
    """Key records and other small values, through Litestar's store interface."""

    async def admit(self, key_id: str, *, rpm: int, tpm: int, budget: int, window_ms: int) -> Admission:
        """Check the key's budget (``budget`` nano-dollars, < 0: none) and tokens in the current window
        (``tpm``, 0: none), then count the request (``rpm``, 0: none) unless one of those refused it."""
        ...

    async def charge(self, key_id: str, *, tokens: int, cost: int, window_ms: int, period_ms: int) -> None:
        """Add ``tokens`` to the key's token window (0: nothing) and ``cost`` nano-dollars to its budget
        period (``period_ms`` 0: a period that never ends)."""
        ...

    async def add_member(self, name: str, member: str) -> None: ...

    async def members(self, name: str) -> set[str]: ...

    async def add_usage(self, rows: Mapping[str, Mapping[str, int]]) -> None:
        """Add usage counters, ``{day: {field: n}}``, and each day to the set ``usage_days``."""
        ...

    async def read_usage(self, days: Iterable[str]) -> dict[str, dict[str, int]]: ...

    async def add_counters(self, rows: Mapping[str, Mapping[str, int]], *, ttl_s: int) -> None:
        """Add to named hashes of counters, ``{name: {field: n}}``; each hash expires ``ttl_s``
        seconds after its last write."""
        ...

    async def read_counters(self, names: Iterable[str]) -> dict[str, dict[str, int]]:
        """The hashes that exist among ``names``."""
        ...

    async def aclose(self) -> None: ...


USAGE_DAYS = 93
"""Days of usage kept (a quarter): Redis expires a day's counters this long after its last write; the
memory store drops older days."""
MAX_USAGE_FIELDS = 100_000
"""Most usage counters one day keeps in memory (:class:`MemoryBackend`); past it, new ones are folded
into ``<key id>|*|<figure>``."""
_USAGE_TTL_S = USAGE_DAYS * 86400
_SWEEP_EVERY = 4096


class MemoryBackend:
    """One process's state (see the module doc)."""

    def __init__(self) -> None:
        self.records: Store = MemoryStore()
        self._counters: dict[str, tuple[int, float | None]] = {}
        self._sets: dict[str, set[str]] = {}
        self._usage: dict[str, dict[str, int]] = {}
        self._hashes: dict[str, tuple[float, dict[str, int]]] = {}
        self._ops = 0

    def _read(self, key: str, now: float) -> tuple[int, int]:
        entry = self._counters.get(key)
        if entry is None:
            return 0, -2
        value, expires = entry
        if expires is None:
            return value, -1
        if expires <= now:
            del self._counters[key]
            return 0, -2
        return value, int((expires - now) * 1000)

    def _add(self, key: str, amount: int, now: float, expire_ms: int) -> tuple[int, int]:
        value, ttl = self._read(key, now)
        expires = None if expire_ms <= 0 else (now + expire_ms / 1000 if ttl < 0 else now + ttl / 1000)
        self._counters[key] = (value + amount, expires)
        return value + amount, -1 if expires is None else int((expires - now) * 1000)

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % _SWEEP_EVERY == 0:
            self._counters = {k: v for k, v in self._counters.items() if v[1] is None or v[1] > now}

    async def admit(self, key_id: str, *, rpm: int, tpm: int, budget: int, window_ms: int) -> Admission:
        now = time.monotonic()
        self._sweep(now)
        tokens, tokens_ttl = self._read(f"{key_id}:tpm", now)
        spent, spent_ttl = self._read(f"{key_id}:spend", now)
        count, count_ttl = self._read(f"{key_id}:rpm", now)
        verdict = 0
        if budget >= 0 and spent >= budget:
            verdict = REFUSED_BUDGET
        elif tpm > 0 and tokens >= tpm:
            verdict = REFUSED_TOKENS
        elif rpm > 0:
            count, count_ttl = self._add(f"{key_id}:rpm", 1, now, window_ms)
            if count > rpm:
                verdict = REFUSED_REQUESTS
        return Admission(verdict, count, count_ttl, tokens, tokens_ttl, spent, spent_ttl)

    async def charge(self, key_id: str, *, tokens: int, cost: int, window_ms: int, period_ms: int) -> None:
        now = time.monotonic()
        if tokens > 0:
            self._add(f"{key_id}:tpm", tokens, now, window_ms)
        if cost > 0:
            self._add(f"{key_id}:spend", cost, now, period_ms)

    async def add_member(self, name: str, member: str) -> None:
        self._sets.setdefault(name, set()).add(member)

    async def members(self, name: str) -> set[str]:
        return set(self._sets.get(name, ()))

    async def add_usage(self, rows: Mapping[str, Mapping[str, int]]) -> None:
        days = self._sets.setdefault("usage_days", set())
        for day, fields in rows.items():
            days.add(day)
            book = self._usage.setdefault(day, {})
            for field, amount in fields.items():
                if field not in book and len(book) >= MAX_USAGE_FIELDS:
                    kid, _, rest = field.partition("|")
                    field = f"{kid}|*|{rest.rpartition('|')[2]}"
                book[field] = book.get(field, 0) + amount
        for day in sorted(days)[:-USAGE_DAYS]:  # ISO dates sort by time
            days.discard(day)
            self._usage.pop(day, None)

    async def read_usage(self, days: Iterable[str]) -> dict[str, dict[str, int]]:
        return {day: dict(self._usage[day]) for day in days if day in self._usage}

    async def add_counters(self, rows: Mapping[str, Mapping[str, int]], *, ttl_s: int) -> None:
        now = time.time()
        if any(name not in self._hashes for name in rows):  # a new hash: drop the expired ones
            self._hashes = {k: v for k, v in self._hashes.items() if v[0] > now}
        for name, fields in rows.items():
            book = self._hashes[name][1] if name in self._hashes else {}
            for field, amount in fields.items():
                book[field] = book.get(field, 0) + amount
            self._hashes[name] = (now + ttl_s, book)

    async def read_counters(self, names: Iterable[str]) -> dict[str, dict[str, int]]:
        now = time.time()
        return {n: dict(self._hashes[n][1]) for n in names if n in self._hashes and self._hashes[n][0] > now}

    async def aclose(self) -> None:
        return None


# KEYS: rpm, tpm, spend. ARGV: rpm limit (0 none), tpm limit (0 none), budget (< 0 none), window ms.
_ADMIT = """
local rpm_limit = tonumber(ARGV[1])
local tpm_limit = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local tokens_ttl = redis.call('PTTL', KEYS[2])
local spent = tonumber(redis.call('GET', KEYS[3]) or '0')
local spent_ttl = redis.call('PTTL', KEYS[3])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local count_ttl = redis.call('PTTL', KEYS[1])
local verdict = 0
if budget >= 0 and spent >= budget then
  verdict = 3
elseif tpm_limit > 0 and tokens >= tpm_limit then
  verdict = 2
elseif rpm_limit > 0 then
  count = redis.call('INCR', KEYS[1])
  count_ttl = redis.call('PTTL', KEYS[1])
  if count_ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], window)
    count_ttl = window
  end
  if count > rpm_limit then
    verdict = 1
  end
end
return {verdict, count, count_ttl, tokens, tokens_ttl, spent, spent_ttl}
"""

# KEYS: tpm, spend. ARGV: tokens, cost, window ms, period ms (0: no expiry).
_CHARGE = """
local tokens = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
if tokens > 0 then
  redis.call('INCRBY', KEYS[1], tokens)
  if redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  end
end
if cost > 0 then
  redis.call('INCRBY', KEYS[2], cost)
  local period = tonumber(ARGV[4])
  if period > 0 and redis.call('PTTL', KEYS[2]) < 0 then
    redis.call('PEXPIRE', KEYS[2], period)
  end
end
return 1
"""


class RedisBackend:
    """State in Redis, shared by every replica pointed at it (see the module doc). Keys live under
    ``hexgate_ops:``; a key's counters share a hash tag (``{<key id>}``) so that the scripts also run
    on a Redis Cluster."""

    def __init__(self, url: str, *, namespace: str = "hexgate_ops", timeout: float = 1.0) -> None:
        try:
            from litestar.stores.redis import RedisStore
        except ImportError:
            raise ValueError(f"server.store {url!r} needs the 'redis' package (hexgate's 'ops' extra)") from None
        self._redis: Any = redis_client(url, timeout=timeout)
        self._ns = namespace
        self.records: Store = RedisStore(self._redis, namespace=namespace, handle_client_shutdown=False)
        self._admit = self._redis.register_script(_ADMIT)
        self._charge = self._redis.register_script(_CHARGE)

    def _keys(self, key_id: str, *names: str) -> list[str]:
        return [f"{self._ns}:{{{key_id}}}:{name}" for name in names]

    async def admit(self, key_id: str, *, rpm: int, tpm: int, budget: int, window_ms: int) -> Admission:
        raw = await self._admit(keys=self._keys(key_id, "rpm", "tpm", "spend"), args=[rpm, tpm, budget, window_ms])
        return Admission(*(int(v) for v in raw))

    async def charge(self, key_id: str, *, tokens: int, cost: int, window_ms: int, period_ms: int) -> None:
        await self._charge(keys=self._keys(key_id, "tpm", "spend"), args=[tokens, cost, window_ms, period_ms])

    async def add_member(self, name: str, member: str) -> None:
        await self._redis.sadd(f"{self._ns}:set:{name}", member)

    async def members(self, name: str) -> set[str]:
        raw = await self._redis.smembers(f"{self._ns}:set:{name}")
        return {m.decode() if isinstance(m, bytes) else str(m) for m in raw}

    async def add_usage(self, rows: Mapping[str, Mapping[str, int]]) -> None:
        if not rows:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for day, fields in rows.items():
                key = f"{self._ns}:usage:{day}"
                for field, amount in fields.items():
                    pipe.hincrby(key, field, amount)
                pipe.expire(key, _USAGE_TTL_S)
                pipe.sadd(f"{self._ns}:set:usage_days", day)
            await pipe.execute()

    async def read_usage(self, days: Iterable[str]) -> dict[str, dict[str, int]]:
        wanted = list(days)
        async with self._redis.pipeline(transaction=False) as pipe:
            for day in wanted:
                pipe.hgetall(f"{self._ns}:usage:{day}")
            results = await pipe.execute()
        out: dict[str, dict[str, int]] = {}
        for day, fields in zip(wanted, results, strict=True):
            if fields:
                out[day] = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in fields.items()}
        return out

    async def add_counters(self, rows: Mapping[str, Mapping[str, int]], *, ttl_s: int) -> None:
        if not rows:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, fields in rows.items():
                key = f"{self._ns}:counters:{name}"
                for field, amount in fields.items():
                    pipe.hincrby(key, field, amount)
                pipe.expire(key, ttl_s)
            await pipe.execute()

    async def read_counters(self, names: Iterable[str]) -> dict[str, dict[str, int]]:
        wanted = list(names)
        if not wanted:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in wanted:
                pipe.hgetall(f"{self._ns}:counters:{name}")
            results = await pipe.execute()
        return {
            name: {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in fields.items()}
            for name, fields in zip(wanted, results, strict=True)
            if fields
        }

    async def aclose(self) -> None:
        await self._redis.aclose()


def redis_client(url: str, *, timeout: float) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` whose connect and every command give up after ``timeout``
    seconds (``redis.exceptions.TimeoutError``), with no retry after a timeout: a stalled Redis costs a
    request one ``timeout``, not the OS's TCP timeouts or redis-py's default retries with backoff. A
    broken connection (``ConnectionError``, e.g. after a Redis restart) is retried once at once.
    Raises ImportError without the ``redis`` package."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=retry)


def open_backend(url: str, *, timeout: float = 1.0) -> Backend:
    """The backend ``server.store`` names; ``timeout``: seconds to connect to Redis and for each command
    (``server.store_timeout``). Raises ValueError for an unknown value or a missing ``redis``."""
    if url == "memory":
        return MemoryBackend()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBackend(url, timeout=timeout)
    raise ValueError(f"server.store {url!r}: use 'memory' or a redis:// URL")
