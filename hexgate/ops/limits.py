"""Requests and tokens per minute and budgets per key, checked before the upstream call and charged after.

Before the call, :meth:`Limiter.admit` makes one store round trip that refuses the request when the
key's budget for the period is spent, or its tokens for the current minute are used up, and else
counts it against its requests per minute (refused above ``rpm``). After the answer,
:meth:`Limiter.charge` adds the tokens (as the upstream reported them or as hexgate counted them)
and their cost. Windows are fixed, one minute from the first request (tokens: the first charge) in
them; budget periods start with their first charge.

Answers carry the headers OpenAI's API sends (``x-ratelimit-limit-requests``,
``x-ratelimit-remaining-requests``, ``x-ratelimit-reset-requests`` and the ``-tokens`` trio; resets
as durations like ``1m3s`` or ``250ms``); a refusal is a 429 with ``retry-after`` (seconds) and
``retry-after-ms``. A spent budget is OpenAI's ``insufficient_quota`` 429 with
``x-should-retry: false``, which the official SDKs honour by not retrying.
"""

from __future__ import annotations

import math

from hexgate.errors import ErrorEnvelope, envelope
from hexgate.ops.keys import VirtualKey
from hexgate.ops.state import REFUSED_BUDGET, REFUSED_REQUESTS, REFUSED_TOKENS, Admission, Backend

__all__ = ["WINDOW_MS", "Decision", "Limiter", "format_reset"]

WINDOW_MS = 60_000
NANOS = 1_000_000_000
"""Nano-dollars in a dollar: the unit of budgets and costs in the store."""


def format_reset(ms: int) -> str:
    """Milliseconds → OpenAI's reset notation: ``250ms``, ``12s``, ``1m3s``, ``2h0m0s``."""
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    seconds = math.ceil(ms / 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


class Decision:
    """What :meth:`Limiter.admit` found: ``admitted``; the response ``headers``; for a refusal the
    ``status``, error ``body``, ``reason`` (``requests``, ``tokens``, ``budget``)."""

    __slots__ = ("admitted", "body", "headers", "reason", "status")

    def __init__(self, key: VirtualKey, admission: Admission) -> None:
        headers: list[tuple[bytes, bytes]] = []
        if key.rpm:
            remaining = max(0, key.rpm - admission.requests)
            reset = admission.requests_reset_ms if admission.requests_reset_ms >= 0 else 0
            headers += [
                (b"x-ratelimit-limit-requests", str(key.rpm).encode()),
                (b"x-ratelimit-remaining-requests", str(remaining).encode()),
                (b"x-ratelimit-reset-requests", format_reset(reset).encode()),
            ]
        if key.tpm:
            remaining = max(0, key.tpm - admission.tokens)
            reset = admission.tokens_reset_ms if admission.tokens_reset_ms >= 0 else 0
            headers += [
                (b"x-ratelimit-limit-tokens", str(key.tpm).encode()),
                (b"x-ratelimit-remaining-tokens", str(remaining).encode()),
                (b"x-ratelimit-reset-tokens", format_reset(reset).encode()),
            ]
        self.admitted = admission.verdict == 0
        self.status = 200 if self.admitted else 429
        self.reason = ""
        self.body: ErrorEnvelope | None = None
        wait_ms: int | None = None
        if admission.verdict == REFUSED_REQUESTS:
            self.reason = "requests"
            wait_ms = max(admission.requests_reset_ms, 1)
            self.body = envelope(
                f"rate limit reached for this key: {key.rpm} requests per minute; retry in {format_reset(wait_ms)}",
                type="rate_limit_error",
                code="rate_limit_exceeded",
            )
        elif admission.verdict == REFUSED_TOKENS:
            self.reason = "tokens"
            wait_ms = max(admission.tokens_reset_ms, 1)
            self.body = envelope(
                f"rate limit reached for this key: {key.tpm} tokens per minute; retry in {format_reset(wait_ms)}",
                type="rate_limit_error",
                code="rate_limit_exceeded",
            )
        elif admission.verdict == REFUSED_BUDGET:
            self.reason = "budget"
            renews = admission.spent_reset_ms > 0
            when = f"; it renews in {format_reset(admission.spent_reset_ms)}" if renews else ""
            self.body = envelope(
                f"this key's budget of ${key.budget:g} is spent{when}",
                type="insufficient_quota",
                code="insufficient_quota",
            )
            headers.append((b"x-should-retry", b"false"))
            if renews:
                wait_ms = admission.spent_reset_ms
        if wait_ms is not None:
            headers += [
                (b"retry-after", str(math.ceil(wait_ms / 1000)).encode()),
                (b"retry-after-ms", str(wait_ms).encode()),
            ]
        self.headers = headers


class Limiter:
    """Admission and charging over a :class:`~hexgate.ops.state.Backend`."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @staticmethod
    def limited(key: VirtualKey) -> bool:
        """True when the key has any limit to check."""
        return bool(key.rpm or key.tpm or key.budget is not None)

    async def admit(self, key: VirtualKey) -> Decision:
        """One round trip: see the module doc."""
        budget = -1 if key.budget is None else round(key.budget * NANOS)
        admission = await self._backend.admit(
            key.id, rpm=key.rpm or 0, tpm=key.tpm or 0, budget=budget, window_ms=WINDOW_MS
        )
        return Decision(key, admission)

    async def charge(self, key: VirtualKey, *, tokens: int, cost_nanos: int) -> None:
        """Add what the request used to the key's token window and budget period (only those it has)."""
        tokens = tokens if key.tpm else 0
        cost = cost_nanos if key.budget is not None else 0
        if tokens <= 0 and cost <= 0:
            return
        period_ms = round(key.period_seconds * 1000) if key.period_seconds else 0
        await self._backend.charge(key.id, tokens=tokens, cost=cost, window_ms=WINDOW_MS, period_ms=period_ms)

    async def status(self, key: VirtualKey) -> Admission:
        """The key's current counters, counting nothing."""
        return await self._backend.admit(key.id, rpm=0, tpm=0, budget=-1, window_ms=WINDOW_MS)
