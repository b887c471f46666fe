"""The admin API, guarded by ``[server] admin_key`` (``Authorization: Bearer <admin key>``), and ``/metrics``.

::

    POST   /admin/keys            body: KeySpec → 201 {"key": "sk-hg-…" (shown this once), …the record}
    GET    /admin/keys            {"object": "list", "data": [record + current figures, …]}
    GET    /admin/keys/{id}       one record + current figures
    DELETE /admin/keys/{id}       revoke (the record and its usage stay) → the record
    POST   /admin/reload          reload the config file → 200 {"status": "reloaded", …} or 400 (old config kept)
    GET    /v1/usage              ?key=<id>&provider=<id>&model=<provider/model>&since=YYYY-MM-DD&until=YYYY-MM-DD
                                  &bucket=hour|day → usage per key, provider, model (+ a time series with bucket)
    GET    /admin/live            SSE: the last requests of this process, then each new one (hexgate.ops.live)
    GET    /admin/providers       circuit state per target and the last error per provider (this process)
    GET    /metrics               Prometheus text (no key: serve it on a private network, see README)

Without an admin key configured the admin routes answer 403.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from hexgate.errors import AuthenticationFailed, HexgateError, InvalidRequest
from hexgate.ops.keys import KeySpec, VirtualKey
from hexgate.ops.limits import NANOS
from hexgate.ops.live import LastError, LiveEntry, LiveFeed, TooManySubscribers
from hexgate.ops.service import Ops
from hexgate.registry import Registry
from hexgate.routes._common import decode_body, json_response
from hexgate.routes.playground import ProvidersReport, providers_report
from hexgate.settings import ConfigError

__all__ = ["ADMIN_HANDLERS", "OPEN_PATHS"]

OPEN_PATHS = ("/admin/", "/v1/usage", "/metrics")
"""Paths the gateway's own key check leaves alone: these check the admin key themselves (or none)."""


class CreatedKey(VirtualKey, kw_only=True):
    key: str
    """The key itself: shown in this answer only."""


class KeyStatus(VirtualKey, kw_only=True):
    requests_this_minute: int = 0
    tokens_this_minute: int = 0
    spent: float = 0.0
    """US dollars spent in the current budget period."""


class KeyList(msgspec.Struct):
    data: list[KeyStatus]
    object: str = "list"


class Reloaded(msgspec.Struct, kw_only=True):
    status: str = "reloaded"
    config: str
    providers: list[str]
    models: list[str]


class Circuit(msgspec.Struct, kw_only=True):
    """One target's circuit breaker (``[routing] failure_threshold`` / ``cooldown``)."""

    target: str
    """``<provider id>/<upstream model>``."""
    state: Literal["closed", "open", "half-open"]
    """``open``: the target goes last until the cooldown ends; ``half-open``: the next request may
    probe it, one more failure reopens it."""
    failures: int
    """Consecutive failures."""
    cooldown_remaining: float
    """Seconds until an open circuit turns half-open (0 otherwise)."""


class ProviderHealth(msgspec.Struct, kw_only=True):
    id: str
    circuits: list[Circuit]
    last_error: LastError | None = None


class ProvidersHealth(ProvidersReport, kw_only=True):
    """``GET /admin/providers``: ``GET /providers`` plus ``health``, what this process knows of
    each provider (each replica has its own circuits)."""

    health: list[ProviderHealth]


class Busy(HexgateError):
    status = 429
    type = "rate_limit_error"


class AdminOff(HexgateError):
    status = 403
    type = "permission_error"


class NotFound(InvalidRequest):
    status = 404


def _require_admin(request: Request[Any, Any, Any], ops: Ops) -> None:
    expected = ops.settings.server.admin_key
    if not expected:
        raise AdminOff("the admin API is off: set [server] admin_key", code="admin_disabled")
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise AuthenticationFailed(
            "missing or wrong admin key: send 'Authorization: Bearer <server.admin_key>'", code="invalid_admin_key"
        )


async def _status(ops: Ops, key: VirtualKey) -> KeyStatus:
    figures = await ops.limiter.status(key)
    return KeyStatus(
        **msgspec.structs.asdict(key),
        requests_this_minute=figures.requests,
        tokens_this_minute=figures.tokens,
        spent=figures.spent / NANOS,
    )


@post("/admin/keys", status_code=201, summary="Create a virtual key (shown once)", opt={"body": KeySpec})
async def create_key(request: Request[Any, Any, Any], ops: NamedDependency[Ops]) -> Response[Any]:
    _require_admin(request, ops)
    spec = decode_body(await request.body(), KeySpec)
    try:
        token, record = await ops.keys.create(spec)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="expires" if "ISO" in str(exc) else "period") from None
    return json_response(CreatedKey(**msgspec.structs.asdict(record), key=token), status=201)


@get("/admin/keys", summary="List virtual keys")
async def list_keys(request: Request[Any, Any, Any], ops: NamedDependency[Ops]) -> Response[Any]:
    _require_admin(request, ops)
    return json_response(KeyList(data=[await _status(ops, k) for k in await ops.keys.list()]))


@get("/admin/keys/{key_id:str}", summary="One virtual key")
async def get_key(request: Request[Any, Any, Any], key_id: FromPath[str], ops: NamedDependency[Ops]) -> Response[Any]:
    _require_admin(request, ops)
    record = await ops.keys.get(key_id)
    if record is None:
        raise NotFound(f"no key {key_id!r}", param="key_id", code="key_not_found")
    return json_response(await _status(ops, record))


@delete("/admin/keys/{key_id:str}", status_code=200, summary="Revoke a virtual key")
async def revoke_key(
    request: Request[Any, Any, Any], key_id: FromPath[str], ops: NamedDependency[Ops]
) -> Response[Any]:
    _require_admin(request, ops)
    record = await ops.keys.revoke(key_id)
    if record is None:
        raise NotFound(f"no key {key_id!r}", param="key_id", code="key_not_found")
    return json_response(record)


@post("/admin/reload", status_code=200, summary="Reload the config file without a restart")
async def reload_config(request: Request[Any, Any, Any], ops: NamedDependency[Ops]) -> Response[Any]:
    _require_admin(request, ops)
    try:
        settings = await ops.reload()
    except ConfigError as exc:
        raise InvalidRequest(f"config refused, the running one is kept: {exc}", code="invalid_config") from None
    return json_response(
        Reloaded(config=settings.source, providers=sorted(settings.providers), models=sorted(settings.models))
    )


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be a date like 2025-06-01", param=name) from None


@get("/v1/usage", summary="Usage per key, provider and model, and over time (admin key)")
async def usage(
    request: Request[Any, Any, Any],
    ops: NamedDependency[Ops],
    key: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    provider: FromQuery[str | None] = None,
    model: FromQuery[str | None] = None,
    bucket: FromQuery[str | None] = None,
) -> Response[Any]:
    _require_admin(request, ops)
    if bucket not in (None, "", "hour", "day"):
        raise InvalidRequest("'bucket' must be 'hour' or 'day'", param="bucket")
    try:
        report = await ops.book.report(
            key_id=key or None,
            since=_day(since, "since"),
            until=_day(until, "until"),
            provider=provider or None,
            model=model or None,
            bucket="hour" if bucket == "hour" else "day" if bucket == "day" else None,
        )
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="bucket") from None
    names = {k.id: k.name for k in await ops.keys.list()} if report.data else {}
    for row in report.data:
        row.key_name = names.get(row.key_id)
    return json_response(report)


_HEARTBEAT_S = 15.0
_LIVE_MAX_S = 300.0
_live_encoder = msgspec.json.Encoder()


def _frame(entry: LiveEntry) -> bytes:
    return b"event: request\ndata: " + _live_encoder.encode(entry) + b"\n\n"


async def _live_stream(feed: LiveFeed, queue: asyncio.Queue[LiveEntry | None]) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 2000\n\n"
        for entry in feed.recent():
            yield _frame(entry)
        deadline = time.monotonic() + _LIVE_MAX_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                new = await asyncio.wait_for(queue.get(), min(_HEARTBEAT_S, left))
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if new is None:
                return
            yield _frame(new)
    finally:
        feed.release(queue)


@get("/admin/live", summary="The last requests of this process, then each new one (SSE, admin key)")
async def live(request: Request[Any, Any, Any], ops: NamedDependency[Ops]) -> Stream:
    """``text/event-stream``: ``event: request`` frames whose data is a :class:`LiveEntry`, the
    ring first (oldest first), then each request as it finishes; a comment every 15 s. The stream
    ends after 5 minutes (clients reconnect; ``retry: 2000``). 429 when 16 feeds are open."""
    _require_admin(request, ops)
    try:
        queue = ops.live.open()
    except TooManySubscribers as exc:
        raise Busy(str(exc), code="too_many_live_feeds") from None
    return Stream(
        _live_stream(ops.live, queue),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


def _circuit(target: str, failures: int, open_until: float, *, now: float, threshold: int) -> Circuit:
    if now < open_until:
        return Circuit(target=target, state="open", failures=failures, cooldown_remaining=round(open_until - now, 1))
    state: Literal["closed", "half-open"] = "half-open" if failures >= threshold else "closed"
    return Circuit(target=target, state=state, failures=failures, cooldown_remaining=0.0)


@get("/admin/providers", summary="Providers, plugins, model lists, circuits and last errors (admin key)")
async def providers_health(
    request: Request[Any, Any, Any], ops: NamedDependency[Ops], registry: NamedDependency[Registry]
) -> Response[Any]:
    """``GET /providers``'s report, plus per configured provider its targets' circuits (only targets
    that ever failed have one) and its last failed request, as this process saw them."""
    _require_admin(request, ops)
    now = time.monotonic()
    threshold = registry.settings.routing.failure_threshold
    by_provider: dict[str, list[Circuit]] = {pid: [] for pid in registry.providers}
    for target, breaker in sorted(registry.breakers.items()):
        circuits = by_provider.get(target.partition("/")[0])
        if circuits is not None:
            circuits.append(_circuit(target, breaker.failures, breaker.open_until, now=now, threshold=threshold))
    health = [
        ProviderHealth(id=pid, circuits=circuits, last_error=ops.live.last_errors.get(pid))
        for pid, circuits in sorted(by_provider.items())
    ]
    report = await providers_report(registry)
    return json_response(
        ProvidersHealth(
            gateway_version=report.gateway_version, providers=report.providers, plugins=report.plugins, health=health
        )
    )


@get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(ops: NamedDependency[Ops]) -> Response[Any]:
    if ops.metrics is None:
        raise NotFound(
            "metrics are off: [telemetry] metrics = false, or prometheus-client is missing (hexgate's 'ops' extra)"
        )
    text, content_type = ops.metrics.render()
    return Response(content=text, media_type=content_type, status_code=200)


ADMIN_HANDLERS = [create_key, list_keys, get_key, revoke_key, reload_config, usage, live, providers_health, metrics]
