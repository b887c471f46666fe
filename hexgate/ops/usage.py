"""Prices and usage accounting per key, provider and model.

Costs come from the ``[prices]`` table, US dollars per million tokens::

    [prices."openai/gpt-4o-mini"]      # the target that answered: <provider id>/<upstream model>
    input = 0.15
    output = 0.60
    [prices."local/*"]                 # every model of a provider
    input = 0

A target without a price costs nothing. Money is counted in integer nano-dollars.

Usage is kept per UTC day, key (``-`` for requests without a virtual key), and target: requests,
errors, input and output tokens, cost. Each replica adds its figures up in memory and writes them
to the store once a second in one pipelined round trip (:meth:`UsageBook.run`); a report reads the
store after writing the local figures, so another replica's last second may be missing from it.

Everything is bounded: a target is a name the config gives or one an upstream answered on (see
:meth:`hexgate.ops.service.Ops.finish`); the store keeps :data:`~hexgate.ops.state.USAGE_DAYS` days;
the local sums kept while the store is unreachable, like the memory store's days, hold at most
:data:`~hexgate.ops.state.MAX_USAGE_FIELDS` counters a day (more fold into target ``*``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime

import msgspec

from hexgate.ops.state import MAX_USAGE_FIELDS, Backend
from hexgate.settings import Price

__all__ = ["Prices", "UsageBook", "UsageReport", "UsageRow"]

log = logging.getLogger("hexgate.ops.usage")

_FIELDS = ("requests", "errors", "input_tokens", "output_tokens", "cost_nanos")
_DAYS = "usage_days"


class Prices:
    """The ``[prices]`` table, looked up by target."""

    def __init__(self, table: Mapping[str, Price]) -> None:
        self._table = dict(table)

    def cost_nanos(self, target: str | None, input_tokens: int, output_tokens: int) -> int:
        """Nano-dollars for the tokens on ``target`` (``<provider id>/<model>``); 0 when unpriced."""
        if not target or (not input_tokens and not output_tokens):
            return 0
        price = self._table.get(target) or self._table.get(f"{target.partition('/')[0]}/*")
        if price is None:
            return 0
        # USD per million tokens x tokens = micro-dollars; x 1000 = nano-dollars.
        return round((input_tokens * price.input + output_tokens * price.output) * 1000)


class UsageRow(msgspec.Struct, kw_only=True):
    """Usage of one key on one target over the report's days."""

    key_id: str
    key_name: str | None = None
    provider: str
    model: str
    """``<provider id>/<upstream model>``."""
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    """US dollars."""


class UsageReport(msgspec.Struct, kw_only=True):
    """``GET /v1/usage``."""

    object: str = "list"
    since: str | None = None
    until: str | None = None
    data: list[UsageRow]


def _day(now: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).date().isoformat()


class UsageBook:
    """Local sums written to the store in batches (see the module doc)."""

    def __init__(self, backend: Backend, *, flush_every: float = 1.0) -> None:
        self._backend = backend
        self._flush_every = flush_every
        self._pending: dict[str, dict[str, int]] = {}
        self._lock = asyncio.Lock()
        self._failing = False

    def add(
        self,
        *,
        key_id: str,
        target: str,
        errors: int,
        input_tokens: int,
        output_tokens: int,
        cost_nanos: int,
        now: float | None = None,
    ) -> None:
        """Count one request (no I/O)."""
        book = self._pending.setdefault(_day(now), {})
        if len(book) >= MAX_USAGE_FIELDS and f"{key_id}|{target}|requests" not in book:
            target = "*"  # a store that has been unreachable for long: keep the sums, not the names
        prefix = f"{key_id}|{target}|"
        for name, amount in (
            ("requests", 1),
            ("errors", errors),
            ("input_tokens", input_tokens),
            ("output_tokens", output_tokens),
            ("cost_nanos", cost_nanos),
        ):
            if amount:
                book[prefix + name] = book.get(prefix + name, 0) + amount

    async def flush(self) -> None:
        """Write the local sums in one round trip; on failure they are kept for the next try."""
        async with self._lock:
            rows, self._pending = self._pending, {}
            if not rows:
                return
            try:
                await self._backend.add_usage(rows)
            except Exception as exc:
                if not self._failing:  # once per outage, not once a second
                    log.warning("usage cannot be written to the store (kept, retried every second): %s", exc)
                self._failing = True
                for day, fields in rows.items():
                    book = self._pending.setdefault(day, {})
                    for name, amount in fields.items():
                        book[name] = book.get(name, 0) + amount
            else:
                if self._failing:
                    log.warning("usage is written to the store again")
                self._failing = False

    async def run(self) -> None:
        """Flush every ``flush_every`` seconds until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(self._flush_every)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())

    async def report(
        self, *, key_id: str | None = None, since: date | None = None, until: date | None = None
    ) -> UsageReport:
        """Usage rows summed over ``since``..``until`` (inclusive, UTC days; None: unbounded)."""
        await self.flush()
        days = sorted(
            d
            for d in await self._backend.members(_DAYS)
            if (since is None or d >= since.isoformat()) and (until is None or d <= until.isoformat())
        )
        sums: dict[tuple[str, str], dict[str, int]] = {}
        for fields in (await self._backend.read_usage(days)).values():
            for field, amount in fields.items():
                kid, _, rest = field.partition("|")
                target, _, name = rest.rpartition("|")
                if name not in _FIELDS or (key_id is not None and kid != key_id):
                    continue
                row = sums.setdefault((kid, target), {})
                row[name] = row.get(name, 0) + amount
        data = [
            UsageRow(
                key_id=kid,
                provider=target.partition("/")[0],
                model=target,
                requests=f.get("requests", 0),
                errors=f.get("errors", 0),
                input_tokens=f.get("input_tokens", 0),
                output_tokens=f.get("output_tokens", 0),
                cost=f.get("cost_nanos", 0) / 1e9,
            )
            for (kid, target), f in sorted(sums.items())
        ]
        return UsageReport(
            since=since.isoformat() if since else None, until=until.isoformat() if until else None, data=data
        )
