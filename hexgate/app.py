"""``create_app(settings) -> Litestar``: routes, dependency injection, error envelopes, lifespan.

The registry (providers and their HTTP clients) is built in the lifespan and injected
with ``Provide``; nothing happens at import time. Every failure, Litestar's own 404,
405, 413 and validation errors included, is a :mod:`hexgate.errors` exception rendered in the
client's dialect (:func:`hexgate.errors.render`: the Messages dialect's shape under ``/v1/messages``,
OpenAI's envelope elsewhere).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPIMediaType, Reference, RequestBody
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hexgate import __version__, resilience
from hexgate.errors import (
    AuthenticationFailed,
    ErrorEnvelope,
    HeadersTooLarge,
    HexgateError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    Unauthorized,
    render,
    send_error,
)
from hexgate.guard import headers_too_large, run_guarded
from hexgate.ops.admin import ADMIN_HANDLERS
from hexgate.ops.admin import OPEN_PATHS as _OPS_OPEN_PATHS
from hexgate.ops.keys import PREFIX as _VIRTUAL_KEY_PREFIX
from hexgate.ops.middleware import VIRTUAL_KEY_STATE
from hexgate.ops.reload import pinned_registry
from hexgate.ops.service import Ops
from hexgate.registry import Registry, build_registry
from hexgate.resilience import Trace
from hexgate.response_store import OWNER_STATE, PUBLIC_OWNER, ResponseStore, open_store
from hexgate.routes import ROUTE_HANDLERS
from hexgate.routes._common import TRACE_KEY
from hexgate.routes.images import FILES_PATH
from hexgate.routes.playground import PLAYGROUND_PATH
from hexgate.settings import ServerSettings, Settings, load_settings

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("hexgate")

_OPEN_PATHS = ("/health", "/schema", FILES_PATH, f"{PLAYGROUND_PATH}/")
_HTTP_ERRORS: dict[int, type[HexgateError]] = {
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    429: RateLimited,
}
"""Litestar's own HTTP exceptions (no route, wrong method, body too large, validation) → the tree."""
_DENIED = "missing or wrong API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>')"


def _error_response(exc: HexgateError, path: str) -> Response[bytes]:
    status, body = render(exc, path)
    return Response(content=body, status_code=status, media_type="application/json", headers=exc.headers or None)


def _on_hexgate_error(request: Request[Any, Any, Any], exc: HexgateError) -> Response[bytes]:
    return _error_response(exc, request.url.path)


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == 404:
        message = f"no route for {request.method} {request.url.path}; the OpenAI API lives under /v1"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    elif status == 413:
        message = "the request body is larger than this gateway accepts (server.max_body_size)"
    else:
        message = exc.detail
    kind = _HTTP_ERRORS.get(status, InvalidRequest if status < 500 else HexgateError)
    error = kind(message, status=status, headers=dict(exc.headers or {}))
    return _error_response(error, request.url.path)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(HexgateError("internal error in the gateway; see its log"), request.url.path)


def _key_checker(keys: list[str]) -> Callable[[bytes | None], bool]:
    """A constant-time check of a bearer token against ``keys``: plain entries, or ``sha256:<hex>``
    entries holding the SHA-256 of a key (``hexgate hash-key`` prints one) so that a config file
    need not hold the key itself. Every entry is compared, whatever matches first."""
    plain = [k.encode() for k in keys if not k.startswith("sha256:")]
    hashed = [k.removeprefix("sha256:").strip().lower().encode() for k in keys if k.startswith("sha256:")]

    def check(token: bytes | None) -> bool:
        if token is None:
            return False
        ok = False
        for k in plain:
            ok |= hmac.compare_digest(token, k)
        if hashed:
            digest = hashlib.sha256(token).hexdigest().encode()
            for k in hashed:
                ok |= hmac.compare_digest(digest, k)
        return ok

    return check


def _request_headers(scope: Scope) -> tuple[str, bytes | None]:
    """The request id (the client's ``x-request-id``, at most 128 characters, or a new ``req_<hex>``)
    and the client's token (``Authorization: Bearer <token>``, else ``x-api-key``, what the Messages
    dialect's SDKs send), or None."""
    request_id = ""
    token = api_key = None
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            request_id = value.decode("latin-1")[:128]
        elif name == b"authorization" and value[:7].lower() == b"bearer ":
            token = value[7:].strip()
        elif name == b"x-api-key":
            api_key = value.strip()
    return request_id or f"req_{uuid.uuid4().hex}", token or api_key


def _tagged(send: Send, state: dict[str, Any], request_id: str) -> Send:
    """``send`` adding ``x-request-id`` to the answer, and ``x-hexgate-provider`` and
    ``x-hexgate-attempts`` once a model was routed (the :class:`~hexgate.resilience.Trace` in ``state``)."""
    rid = request_id.encode("latin-1")

    async def send_tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"x-request-id", rid)]
            trace = state.get(TRACE_KEY)
            if isinstance(trace, Trace) and trace.attempts:
                headers.append((b"x-hexgate-provider", (trace.provider or "").encode("latin-1")))
                headers.append((b"x-hexgate-attempts", str(trace.attempts).encode("latin-1")))
            message["headers"] = headers
        await send(message)

    return send_tagged


def _open_path(scope: Scope) -> bool:
    """Paths that need no key: ``/``, health, schema, files, the playground, the ops open paths, and
    CORS preflights."""
    path = scope["path"]
    return (
        path == "/"
        or path.startswith(_OPEN_PATHS)
        or path.startswith(_OPS_OPEN_PATHS)
        or scope.get("method") == "OPTIONS"
    )


def _authorizer(server: ServerSettings) -> Callable[[Scope, dict[str, Any], bytes | None], bool]:
    """``authorize(scope, state, token) -> bool``: False when the request must be refused (401).

    Without gateway keys the request is ``public`` and its token is kept as ``client_token`` (a
    provider may pass it on). With static keys a matching token makes the owner
    ``key:<sha256 of the key>`` (:data:`~hexgate.response_store.OWNER_STATE`). With virtual keys
    (``server.admin_key``) an ``sk-hg-`` token is handed to :mod:`hexgate.ops`, which checks it
    against the key store and sets the owner. Open paths pass without a key."""
    check = _key_checker(server.api_keys) if server.api_keys else None
    virtual = bool(server.admin_key)
    prefix = _VIRTUAL_KEY_PREFIX.encode()

    def authorize(scope: Scope, state: dict[str, Any], token: bytes | None) -> bool:
        if check is None and not virtual:
            state[OWNER_STATE] = PUBLIC_OWNER
            if token is not None:
                state["client_token"] = token.decode("latin-1")
            return True
        if _open_path(scope):
            return True
        if check is not None and token is not None and check(token):
            state[OWNER_STATE] = "key:" + hashlib.sha256(token).hexdigest()
            return True
        if virtual and token is not None and token.startswith(prefix):
            state[VIRTUAL_KEY_STATE] = token  # hexgate.ops sets the owner once the key checks out
            return True
        return False

    return authorize


def _gateway_middleware(server: ServerSettings) -> Callable[[ASGIApp], ASGIApp]:
    """Per request, in this order: the request id (:func:`_request_headers`) on every answer, with the
    routing headers (:func:`_tagged`); the header-size limit (431 :class:`~hexgate.errors.HeadersTooLarge`);
    the key check and the owner of the request's stored Responses (:func:`_authorizer`; 401
    :class:`~hexgate.errors.Unauthorized`); then the body deadline and the disconnect watcher of
    :mod:`hexgate.guard`. Refusals leave through :func:`hexgate.errors.send_error`, in the client's
    dialect. With ``server.admin_key`` set, the client's token is never passed on to providers."""
    authorize = _authorizer(server)
    limit = server.max_header_size

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            request_id, token = _request_headers(scope)
            state = scope.setdefault("state", {})
            state["request_id"] = request_id
            reply = _tagged(send, state, request_id)
            if headers_too_large(scope, limit):
                await send_error(reply, HeadersTooLarge(limit), scope["path"])
            elif not authorize(scope, state, token):
                await send_error(reply, Unauthorized(_DENIED), scope["path"])
            else:
                await run_guarded(app, scope, receive, reply, client_timeout=server.client_timeout)

        return middleware

    return factory


def _document(app: Litestar) -> None:
    """Give Litestar's OpenAPI document the request bodies, from msgspec's JSON Schema: handlers
    decode their bodies themselves (strictly, in one pass), so Litestar cannot see them. Each such
    handler names its body Struct in ``opt={"body": ...}``."""
    bodies: dict[str, type[Any]] = {}
    for handler in ROUTE_HANDLERS:
        body = handler.opt.get("body")
        if body is not None:
            for path in handler.paths:
                bodies[path] = body
    _, components = msgspec.json.schema_components(
        [*bodies.values(), ErrorEnvelope], ref_template="#/components/schemas/{name}"
    )
    schema = app.openapi_schema
    if schema.components.schemas is None:  # pragma: no cover
        schema.components.schemas = {}
    schema.components.schemas.update(components)
    for path, body in bodies.items():
        item = (schema.paths or {}).get(path)
        for operation in (item.post, item.put) if item is not None else ():
            if operation is not None:
                ref = Reference(ref=f"#/components/schemas/{body.__name__}")
                operation.request_body = RequestBody(
                    content={"application/json": OpenAPIMediaType(schema=ref)}, required=True
                )


@asynccontextmanager
async def _settle_gc(app: Litestar) -> AsyncIterator[None]:
    """Once the app has started (every plugin imported, providers built), move what exists to the
    collector's permanent generation (``gc.freeze``, as the Python docs advise for servers): the
    collector then never rescans the ~10⁵ long-lived objects of the imports, which cost ~30 µs of a
    proxied request in full collections (benchmarks/README.md). Cyclic garbage that is frozen is never
    collected, so only a serving process does this (:func:`app_from_env`), not apps made in tests."""
    gc.collect()
    gc.freeze()
    yield


def create_app(
    settings: Settings, *, tracer_provider: Any = None, reload_on_sighup: bool = False, settle_gc: bool = False
) -> Litestar:
    """The gateway for ``settings``; providers are built when the app starts. ``tracer_provider``: an
    OpenTelemetry SDK tracer provider to use when ``[telemetry] traces`` is on (default: one exporting
    as the ``OTEL_*`` variables say; see :mod:`hexgate.ops.tracing`). ``settle_gc``: freeze the collector's
    view of what exists once the app has started (:func:`_settle_gc`). ``reload_on_sighup``: reload the
    config file on SIGHUP (``hexgate serve`` does; see :meth:`hexgate.ops.service.Ops.reload`)."""
    ops = Ops(settings, tracer_provider=tracer_provider)
    ops.handle_sighup = reload_on_sighup

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        registry = await build_registry(settings)
        app.state.registry = registry
        store_url = settings.server.response_store or settings.server.store
        server = settings.server
        app.state.response_store = open_store(
            store_url, ttl=server.response_ttl, max_bytes=server.response_store_max_bytes, timeout=server.store_timeout
        )
        try:
            yield
        finally:
            await resilience.settle_drains()
            await app.state.response_store.aclose()
            await app.state.registry.aclose()  # the current one: a reload may have swapped it (hexgate.ops.reload)

    # Providers that read the app's state through the scope: a ``state: State`` parameter would make
    # Litestar build a State object per request.
    def provide_registry(scope: Scope) -> Registry:
        # a request keeps the registry it started with
        return pinned_registry(scope) or scope["litestar_app"].state.registry

    def provide_response_store(scope: Scope) -> ResponseStore:
        return scope["litestar_app"].state.response_store  # type: ignore[no-any-return]

    cors = None
    if settings.server.cors_origins:
        cors = CORSConfig(
            allow_origins=settings.server.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "x-request-id",
                "retry-after",
                "x-hexgate-provider",
                "x-hexgate-attempts",
                "x-hexgate-dropped-params",
                "x-hexgate-emulated-params",
                *(f"x-ratelimit-{w}-{u}" for w in ("limit", "remaining", "reset") for u in ("requests", "tokens")),
            ],
            max_age=600,
        )
    app = Litestar(
        route_handlers=[*ROUTE_HANDLERS, *ADMIN_HANDLERS],
        dependencies={
            "ops": Provide(ops.provide, sync_to_thread=False),
            "registry": Provide(provide_registry, sync_to_thread=False),
            "response_store": Provide(provide_response_store, sync_to_thread=False),
        },
        exception_handlers={
            HexgateError: _on_hexgate_error,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
        middleware=[_gateway_middleware(settings.server), ops.middleware()],
        plugins=ops.plugins(),
        cors_config=cors,
        lifespan=[lifespan, ops.lifespan, *([_settle_gc] if settle_gc else [])],
        openapi_config=OpenAPIConfig(title="hexgate", version=__version__, path="/schema"),
        request_max_body_size=settings.server.max_body_size,
        logging_config=None,
        debug=False,
    )
    _document(app)
    return app


def app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory``: the config path comes from ``HEXGATE_CONFIG`` (none: defaults).
    This app reloads its config on SIGHUP (:meth:`hexgate.ops.service.Ops.reload`)."""
    return create_app(load_settings(os.environ.get("HEXGATE_CONFIG") or None), reload_on_sighup=True, settle_gc=True)
