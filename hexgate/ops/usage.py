"""Prices and usage accounting per key, provider and model.

Costs come from the ``[prices]`` table, US dollars per million tokens::

    [prices."openai/gpt-4o-mini"]      # the target that answered: <provider id>/<upstream model>
    input = 0.15
    output = 0.60
    [prices."local/*"]                 # every model of a provider
    input = 0

A target without a price costs nothing. Money is counted in integer nano-dollars.

Usage is kept per UTC day, key (``-`` for requests without a virtual key), and target: requests,
errors, input and output tokens, cost. A request the upstream refused with a 4xx is booked under
``<provider id>/*`` unless the config names its target: its model name may be one the client made
up. The same figures are kept per UTC hour too, one hash per hour that expires after
:data:`HOURLY_RETENTION_DAYS` (days last :data:`~hexgate.ops.state.USAGE_DAYS`). Every write is an
``HINCRBY``, so the sums are right with any number of replicas. A report can add a time series
(:class:`UsageBucket`, per hour or per day) to its rows. Each replica adds its figures up in memory
and writes them to the store once a second in one pipelined round trip per kind
(:meth:`UsageBook.run`); a report reads the store after writing the local figures, so another
replica's last second may be missing from it.

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
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import msgspec

from hexgate.ops.state import MAX_USAGE_FIELDS, Backend
from hexgate.settings import Price

__all__ = ["HOURLY_RETENTION_DAYS", "MAX_HOURLY_DAYS", "Prices", "UsageBook", "UsageBucket", "UsageReport", "UsageRow"]

log = logging.getLogger("hexgate.ops.usage")

_FIELDS = ("requests", "errors", "input_tokens", "output_tokens", "cost_nanos")
_DAYS = "usage_days"
_HOUR = "usage_hour:"
"""Hourly hashes are named ``usage_hour:YYYY-MM-DDTHH`` (UTC)."""
MAX_HOURLY_DAYS = 31
"""The longest range a report gives per hour (31 days: 744 points)."""
HOURLY_RETENTION_DAYS = 35
_HOURLY_TTL_S = HOURLY_RETENTION_DAYS * 86400
_MAX_DAILY_POINTS = 400


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


class UsageBucket(msgspec.Struct, kw_only=True):
    """The figures of one hour or day of a report's series (its rows' filters applied)."""

    start: int
    """Start of the bucket, Unix seconds (UTC)."""
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    """US dollars."""


class UsageReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /v1/usage``: ``data`` the rows per key and target; ``series`` (with ``bucket``
    ``hour`` or ``day`` only) every bucket of the range in order, empty ones included."""

    object: str = "list"
    since: str | None = None
    until: str | None = None
    data: list[UsageRow]
    bucket: str | None = None
    series: list[UsageBucket] | None = None


class UsageBook:
    """Local sums written to the store in batches (see the module doc)."""

    def __init__(self, backend: Backend, *, flush_every: float = 1.0) -> None:
        self._backend = backend
        self._flush_every = flush_every
        self._pending: dict[str, dict[str, int]] = {}
        self._pending_hours: dict[str, dict[str, int]] = {}
        self._lock = asyncio.Lock()
        self._failing = False
        self._hour_of: tuple[int, str, str] = (-1, "", "")  # (hours since the epoch, its day, its hour key)

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
        seconds = time.time() if now is None else now
        hours = int(seconds // 3600)
        if hours != self._hour_of[0]:  # the day's and the hour's names, made once an hour (UTC)
            moment = datetime.fromtimestamp(seconds, UTC)
            day = moment.date().isoformat()
            self._hour_of = (hours, day, f"{_HOUR}{day}T{moment.hour:02d}")
        _, day, hour_key = self._hour_of
        book = self._pending.setdefault(day, {})
        hour = self._pending_hours.setdefault(hour_key, {})
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
                hour[prefix + name] = hour.get(prefix + name, 0) + amount

    async def flush(self) -> None:
        """Write the local sums in one round trip per kind; on failure they are kept for the next try."""
        async with self._lock:
            days, self._pending = self._pending, {}
            hours, self._pending_hours = self._pending_hours, {}
            failed: Exception | None = None
            if days:
                try:
                    await self._backend.add_usage(days)
                except Exception as exc:
                    failed = exc
                    _merge(self._pending, days)
            if hours:
                try:
                    await self._backend.add_counters(hours, ttl_s=_HOURLY_TTL_S)
                except Exception as exc:
                    failed = exc
                    _merge(self._pending_hours, hours)
            if failed is not None:
                if not self._failing:  # once per outage, not once a second
                    log.warning("usage cannot be written to the store (kept, retried every second): %s", failed)
                self._failing = True
            elif days or hours:
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
        self,
        *,
        key_id: str | None = None,
        since: date | None = None,
        until: date | None = None,
        provider: str | None = None,
        model: str | None = None,
        bucket: Literal["hour", "day"] | None = None,
        now: float | None = None,
    ) -> UsageReport:
        """Usage rows summed over ``since``..``until`` (inclusive, UTC days; None: unbounded), only
        those of ``key_id``, ``provider`` and ``model`` (``<provider id>/<upstream model>``) when
        given; with ``bucket``, also their series per hour or per day. Raises ValueError when an
        hourly series would span more than :data:`MAX_HOURLY_DAYS` days."""
        await self.flush()
        today = datetime.fromtimestamp(time.time() if now is None else now, UTC).date()
        if bucket == "hour":
            until = until or today
            since = since or until
            if (until - since).days + 1 > MAX_HOURLY_DAYS:
                raise ValueError(f"an hourly series spans {MAX_HOURLY_DAYS} days at most; pick bucket=day")
        days = sorted(
            d
            for d in await self._backend.members(_DAYS)
            if (since is None or d >= since.isoformat()) and (until is None or d <= until.isoformat())
        )

        def wanted(kid: str, target: str) -> bool:
            return (
                (key_id is None or kid == key_id)
                and (model is None or target == model)
                and (provider is None or target.partition("/")[0] == provider)
            )

        def add_up(book: dict[tuple[str, str], dict[str, int]], fields: Mapping[str, int]) -> None:
            for field, amount in fields.items():
                kid, _, rest = field.partition("|")
                target, _, name = rest.rpartition("|")
                if name in _FIELDS and wanted(kid, target):
                    row = book.setdefault((kid, target), {})
                    row[name] = row.get(name, 0) + amount

        sums: dict[tuple[str, str], dict[str, int]] = {}
        points: dict[int, dict[str, int]] = {}
        for day, fields in (await self._backend.read_usage(days)).items():
            book: dict[tuple[str, str], dict[str, int]] = {}
            add_up(book, fields)
            for key, figures in book.items():
                _merge(sums, {key: figures})
                if bucket == "day":
                    _merge(points, {_start(day): figures})
        starts: list[int] = []
        if bucket is not None:
            starts = _buckets(bucket, since=since, until=until, days=days, today=today, now=now)
        if bucket == "hour":
            names = {f"{_HOUR}{datetime.fromtimestamp(start, UTC).strftime('%Y-%m-%dT%H')}": start for start in starts}
            for name, fields in (await self._backend.read_counters(names)).items():
                book = {}
                add_up(book, fields)
                for figures in book.values():
                    _merge(points, {names[name]: figures})
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
        series = [_point(start, points.get(start, {})) for start in starts] if bucket is not None else None
        return UsageReport(
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            data=data,
            bucket=bucket,
            series=series,
        )


def _merge(into: dict[Any, dict[str, int]], more: Mapping[Any, Mapping[str, int]]) -> None:
    for key, fields in more.items():
        book = into.setdefault(key, {})
        for name, amount in fields.items():
            book[name] = book.get(name, 0) + amount


def _start(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def _point(start: int, f: Mapping[str, int]) -> UsageBucket:
    return UsageBucket(
        start=start,
        requests=f.get("requests", 0),
        errors=f.get("errors", 0),
        input_tokens=f.get("input_tokens", 0),
        output_tokens=f.get("output_tokens", 0),
        cost=f.get("cost_nanos", 0) / 1e9,
    )


def _buckets(
    bucket: str, *, since: date | None, until: date | None, days: list[str], today: date, now: float | None
) -> list[int]:
    """Every bucket start (Unix seconds) of the range, up to the current hour or day."""
    last = min(until or today, today)
    first = since or (date.fromisoformat(days[0]) if days else last)
    if bucket == "day":
        first = max(first, last - timedelta(days=_MAX_DAILY_POINTS - 1))
    start = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
    end = int(datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp()) + 86400
    if bucket == "hour":
        end = min(end, int(time.time() if now is None else now) // 3600 * 3600 + 3600)
    step = 3600 if bucket == "hour" else 86400
    return list(range(start, end, step))
