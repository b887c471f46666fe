"""The admin API, guarded by ``[server] admin_key`` (``Authorization: Bearer <admin key>``), and ``/metrics``.

::

    POST   /admin/keys            body: KeySpec → 201 {"key": "sk-hg-…" (shown this once), …the record}
    GET    /admin/keys            {"object": "list", "data": [record + current figures, …]}
    GET    /admin/keys/{id}       one record + current figures
    DELETE /admin/keys/{id}       revoke (the record and its usage stay) → the record
    POST   /admin/reload          reload the config file → 200 {"status": "reloaded", …} or 400 (old config kept)
    GET    /v1/usage              ?key=<id>&since=YYYY-MM-DD&until=YYYY-MM-DD → usage per key, provider, model
    GET    /metrics               Prometheus text (no key: serve it on a private network, see README)

Without an admin key configured the admin routes answer 403.
"""

from __future__ import annotations

import hmac
from datetime import date
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from hexgate.errors import AuthenticationFailed, HexgateError, InvalidRequest
from hexgate.ops.keys import KeySpec, VirtualKey
from hexgate.ops.limits import NANOS
from hexgate.ops.service import Ops
from hexgate.routes._common import decode_body, json_response
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


@get("/v1/usage", summary="Usage per key, provider and model (admin key)")
async def usage(
    request: Request[Any, Any, Any],
    ops: NamedDependency[Ops],
    key: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
) -> Response[Any]:
    _require_admin(request, ops)
    report = await ops.book.report(key_id=key, since=_day(since, "since"), until=_day(until, "until"))
    names = {k.id: k.name for k in await ops.keys.list()} if report.data else {}
    for row in report.data:
        row.key_name = names.get(row.key_id)
    return json_response(report)


@get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(ops: NamedDependency[Ops]) -> Response[Any]:
    if ops.metrics is None:
        raise NotFound(
            "metrics are off: [telemetry] metrics = false, or prometheus-client is missing (pip install 'hexgate[ops]')"
        )
    text, content_type = ops.metrics.render()
    return Response(content=text, media_type=content_type, status_code=200)


ADMIN_HANDLERS = [create_key, list_keys, get_key, revoke_key, reload_config, usage, metrics]
