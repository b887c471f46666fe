"""``create_app(settings) -> Litestar``: routes, dependency injection, error envelopes, lifespan.

The registry (providers and their HTTP clients) is built in the lifespan and injected
with ``Provide``; nothing happens at import time. Every failure, Litestar's own 404,
405, 413 and validation errors included, leaves as OpenAI's error envelope.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPIMediaType, Reference, RequestBody
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from hexgate import __version__
from hexgate.errors import ErrorEnvelope, HexgateError, envelope
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
from hexgate.routes.messages import PREFIX as _MESSAGES_PREFIX
from hexgate.routes.messages import dialect_errors
from hexgate.routes.playground import PLAYGROUND_PATH
from hexgate.settings import ServerSettings, Settings, load_settings

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("hexgate")

_encoder = msgspec.json.Encoder()
_OPEN_PATHS = ("/health", "/schema", FILES_PATH, f"{PLAYGROUND_PATH}/")
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def _error_response(status: int, body: ErrorEnvelope, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(content=_encoder.encode(body), status_code=status, media_type="application/json", headers=headers)


def _on_hexgate_error(_: Request[Any, Any, Any], exc: HexgateError) -> Response[bytes]:
    return _error_response(exc.status, exc.body(), exc.headers or None)


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
    kind = _STATUS_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return _error_response(status, envelope(message, type=kind), dict(exc.headers or {}) or None)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(500, envelope("internal error in the gateway; see its log", type="server_error"))


def _key_checker(keys: list[str]) -> Any:
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


def _refusal(status: int, body: ErrorEnvelope, extra: list[tuple[bytes, bytes]] | None = None) -> list[Message]:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), *(extra or [])],
    }
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": _encoder.encode(body), "more_body": False}
    return [start, end]


def _gateway_middleware(server: ServerSettings) -> Any:
    """Per request: an ``x-request-id`` (the client's, or a new one) on every answer, with
    ``x-hexgate-provider`` and ``x-hexgate-attempts`` once a model was routed (the
    :class:`~hexgate.resilience.Trace` in the scope state); the header-size limit (431); the
    bearer-key check when keys are configured (constant-time compare, 401 envelope); the owner of the
    request's stored Responses (``key:<sha256 of a static key>``, or ``public`` without gateway keys;
    :data:`~hexgate.response_store.OWNER_STATE`); the body deadline and the disconnect watcher of
    :mod:`hexgate.guard`.

    With ``server.admin_key`` set, virtual keys are on and every request outside the open paths needs
    a key: a static one, or an ``sk-hg-`` token handed to :mod:`hexgate.ops` (which checks it against
    the key store); the client's token is then never passed on to providers."""
    check = _key_checker(server.api_keys) if server.api_keys else None
    virtual = bool(server.admin_key)
    prefix = _VIRTUAL_KEY_PREFIX.encode()
    denied = _refusal(
        401,
        envelope(
            "missing or wrong API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>')",
            type="authentication_error",
            code="invalid_api_key",
        ),
        [(b"www-authenticate", b"Bearer")],
    )
    too_large = _refusal(
        431,
        envelope(
            f"the request headers exceed {server.max_header_size} bytes (server.max_header_size)",
            type="invalid_request_error",
            code="request_header_fields_too_large",
        ),
    )

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            request_id = ""
            token = api_key = None
            for name, value in scope["headers"]:
                if name == b"x-request-id":
                    request_id = value.decode("latin-1")[:128]
                elif name == b"authorization" and value[:7].lower() == b"bearer ":
                    token = value[7:].strip()
                elif name == b"x-api-key":  # what the Messages dialect's SDKs send
                    api_key = value.strip()
            token = token or api_key
            request_id = request_id or f"req_{uuid.uuid4().hex}"
            rid = request_id.encode("latin-1")
            state = scope.setdefault("state", {})
            state["request_id"] = request_id

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = [*message.get("headers", []), (b"x-request-id", rid)]
                    trace = state.get(TRACE_KEY)
                    if isinstance(trace, Trace) and trace.attempts:
                        headers.append((b"x-hexgate-provider", (trace.provider or "").encode("latin-1")))
                        headers.append((b"x-hexgate-attempts", str(trace.attempts).encode("latin-1")))
                    message["headers"] = headers
                await send(message)

            reply: Send = send_with_id
            if scope["path"].startswith(_MESSAGES_PREFIX):  # refusals in the Messages dialect's shape
                reply = dialect_errors(send_with_id)
            if headers_too_large(scope, server.max_header_size):
                for message in too_large:
                    await reply(message)
                return
            if check is not None or virtual:
                path = scope["path"]
                open_path = (
                    path == "/"
                    or path.startswith(_OPEN_PATHS)
                    or path.startswith(_OPS_OPEN_PATHS)
                    or scope.get("method") == "OPTIONS"
                )
                if open_path:
                    pass
                elif check is not None and check(token):
                    assert token is not None
                    state[OWNER_STATE] = "key:" + hashlib.sha256(token).hexdigest()
                elif virtual and token is not None and token.startswith(prefix):
                    state[VIRTUAL_KEY_STATE] = token  # hexgate.ops sets the owner once the key checks out
                else:
                    for message in denied:
                        await reply(message)
                    return
            else:
                state[OWNER_STATE] = PUBLIC_OWNER
                if token is not None:
                    state["client_token"] = token.decode("latin-1")
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


def create_app(settings: Settings, *, tracer_provider: Any = None, reload_on_sighup: bool = False) -> Litestar:
    """The gateway for ``settings``; providers are built when the app starts. ``tracer_provider``: an
    OpenTelemetry SDK tracer provider to use when ``[telemetry] traces`` is on (default: one exporting
    as the ``OTEL_*`` variables say; see :mod:`hexgate.ops.tracing`). ``reload_on_sighup``: reload the
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
            await app.state.response_store.aclose()
            await app.state.registry.aclose()  # the current one: a reload may have swapped it (hexgate.ops.reload)

    def provide_registry(state: State, scope: Scope) -> Registry:
        return pinned_registry(scope) or state.registry  # a request keeps the registry it started with

    def provide_response_store(state: State) -> ResponseStore:
        return state.response_store  # type: ignore[no-any-return]

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
        lifespan=[lifespan, ops.lifespan],
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
    return create_app(load_settings(os.environ.get("HEXGATE_CONFIG") or None), reload_on_sighup=True)
