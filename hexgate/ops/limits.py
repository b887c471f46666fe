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
from collections.abc import Callable

from hexgate.errors import HexgateError, QuotaExceeded, RateLimited
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


def _rate_headers(key: VirtualKey, admission: Admission) -> list[tuple[bytes, bytes]]:
    """OpenAI's ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` for the limits the key has."""
    headers: list[tuple[bytes, bytes]] = []
    for unit, limit, used, reset_ms in (
        ("requests", key.rpm, admission.requests, admission.requests_reset_ms),
        ("tokens", key.tpm, admission.tokens, admission.tokens_reset_ms),
    ):
        if limit:
            headers += [
                (f"x-ratelimit-limit-{unit}".encode(), str(limit).encode()),
                (f"x-ratelimit-remaining-{unit}".encode(), str(max(0, limit - used)).encode()),
                (f"x-ratelimit-reset-{unit}".encode(), format_reset(max(reset_ms, 0)).encode()),
            ]
    return headers


def _too_many_requests(key: VirtualKey, admission: Admission) -> tuple[HexgateError, int | None]:
    wait_ms = max(admission.requests_reset_ms, 1)
    message = f"rate limit reached for this key: {key.rpm} requests per minute; retry in {format_reset(wait_ms)}"
    return RateLimited(message, code="rate_limit_exceeded"), wait_ms


def _too_many_tokens(key: VirtualKey, admission: Admission) -> tuple[HexgateError, int | None]:
    wait_ms = max(admission.tokens_reset_ms, 1)
    message = f"rate limit reached for this key: {key.tpm} tokens per minute; retry in {format_reset(wait_ms)}"
    return RateLimited(message, code="rate_limit_exceeded"), wait_ms


def _budget_spent(key: VirtualKey, admission: Admission) -> tuple[HexgateError, int | None]:
    renews = admission.spent_reset_ms > 0
    when = f"; it renews in {format_reset(admission.spent_reset_ms)}" if renews else ""
    return QuotaExceeded(f"this key's budget of ${key.budget:g} is spent{when}"), (
        admission.spent_reset_ms if renews else None
    )


_REFUSALS: dict[int, tuple[str, Callable[[VirtualKey, Admission], tuple[HexgateError, int | None]]]] = {
    REFUSED_REQUESTS: ("requests", _too_many_requests),
    REFUSED_TOKENS: ("tokens", _too_many_tokens),
    REFUSED_BUDGET: ("budget", _budget_spent),
}
"""Verdict of :meth:`Backend.admit` → the refusal's reason (a metric label) and its constructor,
which gives the error and how long to wait (ms; None: no point retrying)."""


class Decision:
    """What :meth:`Limiter.admit` found: ``admitted``; the response ``headers`` (the ``x-ratelimit-*``
    set); for a refusal the ``reason`` (``requests``, ``tokens``, ``budget``) and the ``refusal``: a
    429 :class:`~hexgate.errors.RateLimited` or :class:`~hexgate.errors.QuotaExceeded` whose headers
    are ``headers`` plus ``retry-after`` / ``retry-after-ms`` when a wait would help."""

    __slots__ = ("admitted", "headers", "reason", "refusal")

    def __init__(self, key: VirtualKey, admission: Admission) -> None:
        self.headers = _rate_headers(key, admission)
        self.admitted = admission.verdict == 0
        self.reason = ""
        self.refusal: HexgateError | None = None
        refused = _REFUSALS.get(admission.verdict)
        if refused is None:
            return
        self.reason, build = refused
        error, wait_ms = build(key, admission)
        headers = {k.decode(): v.decode() for k, v in self.headers}
        if wait_ms is not None:
            headers["retry-after"] = str(math.ceil(wait_ms / 1000))
            headers["retry-after-ms"] = str(wait_ms)
        error.headers = {**headers, **error.headers}
        self.refusal = error


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
