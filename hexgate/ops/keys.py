"""Virtual keys: issued once, stored as their SHA-256, each with its own models, limits, budget and expiry.

A key is ``sk-hg-`` followed by 43 URL-safe characters (256 random bits). hexgate shows it once,
when it is created, and keeps only ``sha256(key)`` (hex): the record lives at ``vkey:<sha256>``
in the store, ``vkid:<id>`` points from the public id (``key_<16 hex>``) to that hash, and the set
``keys`` lists the ids. Lookups on the request path go through a cache of at most
:data:`CACHE_SECONDS`, so a revocation reaches every replica within that time.

Durations (``--period``, ``--expires``): ``<n><unit>`` with unit ``s``, ``m``, ``h``, ``d`` or
``w`` (``30d``); ``--expires`` also takes an ISO date or date-time (UTC when it has no zone).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated

import msgspec

from hexgate.ops.state import Backend
from hexgate.settings import ReasoningFormat

__all__ = [
    "CACHE_SECONDS",
    "PREFIX",
    "KeyRing",
    "KeySpec",
    "VirtualKey",
    "parse_duration",
    "parse_expiry",
]

PREFIX = "sk-hg-"
CACHE_SECONDS = 0.5
_CACHE_MAX = 10_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """``"30d"`` → seconds. Raises ValueError naming the accepted forms."""
    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration: write <number><s|m|h|d|w>, e.g. 30d")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_expiry(text: str, *, now: float | None = None) -> float:
    """A duration from ``now`` or an ISO date / date-time → epoch seconds. Raises ValueError."""
    try:
        return (time.time() if now is None else now) + parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (30d) nor an ISO date (2026-01-31)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


class KeySpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /admin/keys``: what a new key may do. Limits left out are unlimited."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    models: list[str] = msgspec.field(default_factory=list)
    """Model names or aliases the key may call, shell patterns allowed (``openai/*``); empty: any."""
    rpm: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Requests per minute."""
    tpm: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Tokens (prompt + completion) per minute."""
    budget: Annotated[float, msgspec.Meta(ge=0)] | None = None
    """US dollars per ``period`` (costs from the ``[prices]`` table)."""
    period: str | None = None
    """The budget's period, a duration (``1d``, ``30d``); None: the budget never renews."""
    expires: str | None = None
    """When the key stops working: a duration from now (``90d``) or an ISO date."""
    reasoning_format: ReasoningFormat | None = None
    """Where this key's chat answers carry reasoning (over the alias's and the server's; see
    :mod:`hexgate.reasoning_format`)."""


class VirtualKey(msgspec.Struct, kw_only=True):
    """A key's record as stored (never the key itself) and as the admin API lists it."""

    id: str
    name: str
    hint: str
    """The key's first and last characters, to recognise it: ``sk-hg-AbC…wxYz``."""
    models: list[str] = msgspec.field(default_factory=list)
    rpm: int | None = None
    tpm: int | None = None
    budget: float | None = None
    period_seconds: float | None = None
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None
    reasoning_format: ReasoningFormat | None = None

    def allows(self, model: str) -> bool:
        """True when the key may call ``model`` (the name the client sent)."""
        return not self.models or any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def problem(self, now: float) -> str | None:
        """Why the key cannot be used now (revoked, expired), or None."""
        if self.revoked_at is not None:
            return "this API key was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "this API key has expired"
        return None


_decoder = msgspec.json.Decoder(VirtualKey)
_encoder = msgspec.json.Encoder()


def _hash(token: str | bytes) -> str:
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).hexdigest()


class KeyRing:
    """Virtual keys over a :class:`~hexgate.ops.state.Backend`: create, list, revoke, authenticate."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._store = backend.records
        self._cache: dict[str, tuple[float, VirtualKey | None]] = {}

    async def create(self, spec: KeySpec, *, now: float | None = None) -> tuple[str, VirtualKey]:
        """A new key and its record; the key is returned here and never again. Raises ValueError for a
        bad ``period`` or ``expires``."""
        now = time.time() if now is None else now
        period = parse_duration(spec.period) if spec.period else None
        expires = parse_expiry(spec.expires, now=now) if spec.expires else None
        token = PREFIX + secrets.token_urlsafe(32)
        digest = _hash(token)
        record = VirtualKey(
            id=f"key_{secrets.token_hex(8)}",
            name=spec.name,
            hint=f"{token[:9]}…{token[-4:]}",
            models=list(spec.models),
            rpm=spec.rpm,
            tpm=spec.tpm,
            budget=spec.budget,
            period_seconds=period,
            created_at=now,
            expires_at=expires,
            reasoning_format=spec.reasoning_format,
        )
        await self._store.set(f"vkey:{digest}", _encoder.encode(record))
        await self._store.set(f"vkid:{record.id}", digest)
        await self._backend.add_member("keys", record.id)
        return token, record

    async def get(self, key_id: str) -> VirtualKey | None:
        digest = await self._store.get(f"vkid:{key_id}")
        if digest is None:
            return None
        return await self._load(digest.decode())

    async def list(self) -> list[VirtualKey]:
        """Every key ever issued, revoked ones included, oldest first."""
        found = [await self.get(key_id) for key_id in await self._backend.members("keys")]
        return sorted((k for k in found if k is not None), key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str, *, now: float | None = None) -> VirtualKey | None:
        """Mark the key revoked (its record and usage stay); None when there is no such key."""
        digest = await self._store.get(f"vkid:{key_id}")
        record = await self._load(digest.decode()) if digest is not None else None
        if digest is None or record is None:
            return None
        if record.revoked_at is None:
            record.revoked_at = time.time() if now is None else now
            await self._store.set(f"vkey:{digest.decode()}", _encoder.encode(record))
        self._cache.pop(digest.decode(), None)
        return record

    async def authenticate(self, token: bytes) -> VirtualKey | None:
        """The record of ``token`` (any state: check :meth:`VirtualKey.problem`), or None when unknown.
        One store read per key per :data:`CACHE_SECONDS` at most."""
        digest = _hash(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        record = await self._load(digest)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now + CACHE_SECONDS, record)
        return record

    async def _load(self, digest: str) -> VirtualKey | None:
        raw = await self._store.get(f"vkey:{digest}")
        if raw is None:
            return None
        try:
            return _decoder.decode(raw)
        except msgspec.DecodeError:
            return None
