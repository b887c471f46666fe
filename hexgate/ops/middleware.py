"""The ops middleware: per request, the registry pin, the virtual key, its limits, and the accounting.

It runs inside the gateway middleware of :mod:`hexgate.app` (which sets the request id, checks
static keys and hands over any ``sk-hg-`` bearer token in ``scope["state"]``), once per HTTP
request::

    pin the current registry (hexgate.ops.reload) and set the request id for log lines
    a virtual key?            look it up (cache ≤ 0.5 s): unknown, revoked, expired → 401; else it owns the
                              request's stored Responses (``vk:<key id>``, :mod:`hexgate.response_store`)
    a JSON body?              (the model operations below and POST /admin/keys) not application/json → 415
    a model operation?        (POST /v1/chat/completions, /v1/embeddings, /v1/responses, /v1/messages, /v1/images/…)
      key with a model list   read the body's "model" (the body is then replayed to the route) → 403 if not allowed
      key with limits         one store round trip → 429 with retry-after and x-ratelimit-* headers
      run the route; once the answer's last body message has left: charge the key's tokens and cost
      (in the background), add the usage, record the metrics (a cancelled request is accounted in the
      background too)

Every other request goes straight through. A key store that cannot be reached refuses keyed requests
with a 503 (fail closed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from hexgate.errors import (
    HexgateError,
    PermissionDenied,
    StoreUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    send_error,
)
from hexgate.ops.keys import KeyRing, VirtualKey
from hexgate.ops.limits import Limiter
from hexgate.ops.logs import REQUEST_ID
from hexgate.ops.meter import METER_KEY, Meter
from hexgate.ops.reload import REGISTRY_KEY, Generations
from hexgate.response_store import OWNER_STATE
from hexgate.schemas.models import MAX_MODEL_NAME

__all__ = [
    "ERROR_STATE",
    "KEY_STATE",
    "OPERATIONS",
    "PROMPT_STATE",
    "VIRTUAL_KEY_STATE",
    "OpsHooks",
    "ops_middleware",
]

log = logging.getLogger("hexgate.ops")
prompt_log = logging.getLogger("hexgate.prompts")

VIRTUAL_KEY_STATE = "hexgate_virtual_key"
"""``scope["state"]`` entry the gateway middleware sets to a bearer token that may be a virtual key."""
KEY_STATE = "hexgate_key"
"""``scope["state"]`` entry holding the request's :class:`~hexgate.ops.keys.VirtualKey` once checked."""
ERROR_STATE = "hexgate_error_body"
"""``scope["state"]`` entry with the start of a failed answer's body (its error envelope)."""
PROMPT_STATE = "hexgate_prompt"
"""``scope["state"]`` entry with the start of the request body, only with ``[telemetry] log_prompts``
(the console's Live tab shows it)."""

OPERATIONS = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "chat",
    "/v1/messages": "chat",
    "/v1/embeddings": "embeddings",
    "/v1/images/generations": "generate_content",
}
"""``POST`` paths that call a model, and their ``gen_ai.operation.name``."""

JSON_BODIES = frozenset({*OPERATIONS, "/admin/keys"})
"""``POST`` paths whose body is JSON: any other ``content-type`` is a 415 before anything reads it."""

_PROMPT_LOG_MAX = 64 * 1024
_PROMPT_LIVE_MAX = 2048
_ERROR_KEEP = 4096


class OpsHooks(Protocol):
    """What the middleware uses of :class:`hexgate.ops.service.Ops` (which satisfies this; the
    middleware never imports it): the parts that exist while the app runs, two settings, and the
    per-request hooks for metrics and accounting."""

    @property
    def generations(self) -> Generations:
        """The registries in use (:mod:`hexgate.ops.reload`)."""
        ...

    @property
    def keys(self) -> KeyRing:
        """The virtual keys (:mod:`hexgate.ops.keys`)."""
        ...

    @property
    def limiter(self) -> Limiter:
        """The keys' limits (:mod:`hexgate.ops.limits`)."""
        ...

    @property
    def max_body_size(self) -> int:
        """``server.max_body_size``, bytes: the most of a body read to find its model."""
        ...

    @property
    def log_prompts(self) -> bool:
        """``[telemetry] log_prompts``."""
        ...

    def refused(self, reason: str) -> None:
        """Count a refusal by ``reason`` (``key``, ``model``, ``requests``, ``tokens``, ``budget``)."""

    def stream(self, operation: str, provider: str, delta: int) -> None:
        """Count a stream of ``provider`` opening (``delta`` 1) or closing (-1)."""

    def provider_of(self, state: dict[str, Any]) -> str:
        """The provider that answered the request (``""`` before routing)."""
        ...

    async def finish(
        self,
        *,
        state: dict[str, Any],
        meter: Meter,
        key: VirtualKey | None,
        status: int,
        seconds: float,
        ttft: float | None,
    ) -> None:
        """Account one request whose answer has been sent (status, seconds, time to first token)."""

    def finish_later(self, **kwargs: Any) -> None:
        """:meth:`finish` in a background task (for a request being cancelled)."""


class _Model(msgspec.Struct):
    model: Any = None


_model_decoder = msgspec.json.Decoder(_Model)


def _model_of(body: bytes) -> str | None:
    try:
        model = _model_decoder.decode(body).model
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return model if isinstance(model, str) else None


def _json_content(scope: Scope) -> bool:
    """True when the request says its body is ``application/json`` (any parameters, e.g. a charset)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            return value.partition(b";")[0].strip().lower() == b"application/json"
    return False


async def _unavailable(send: Send, exc: BaseException, path: str) -> None:
    log.error("the key store cannot be reached: %s: %s", type(exc).__name__, exc)
    await send_error(send, StoreUnavailable(), path)


async def _peek(receive: Receive, limit: int) -> tuple[Receive, bytes | None]:
    """Read the whole body (None when it exceeds ``limit`` or the client left) and a ``receive``
    that hands the same messages to the route before reading on."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    body: bytes | None = None
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            break
        if not message.get("more_body", False):
            body = b"".join(chunks)
            break

    async def replay() -> ReceiveMessage:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay, body


def ops_middleware(ops: OpsHooks) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware factory for Litestar's ``middleware`` list (after the gateway middleware)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            state: dict[str, Any] = scope.setdefault("state", {})
            registry = ops.generations.acquire()
            state[REGISTRY_KEY] = registry
            rid = REQUEST_ID.set(state.get("request_id", ""))
            try:
                await _serve(ops, app, scope, receive, send, state)
            finally:
                REQUEST_ID.reset(rid)
                ops.generations.release(registry)

        return middleware

    return factory


async def _serve(
    ops: OpsHooks, app: ASGIApp, scope: Scope, receive: Receive, send: Send, state: dict[str, Any]
) -> None:
    path = scope["path"]
    operation = OPERATIONS.get(path) if scope.get("method") == "POST" else None
    token = state.pop(VIRTUAL_KEY_STATE, None)
    key: VirtualKey | None = None
    if token is not None:
        try:
            key = await ops.keys.authenticate(token)
        except Exception as exc:
            await _unavailable(send, exc, path)
            return
        problem = "unknown API key" if key is None else key.problem(time.time())
        if key is None or problem is not None:
            ops.refused("key")
            await send_error(
                send, Unauthorized(f"{problem}: send 'Authorization: Bearer <key>' with a valid key"), path
            )
            return
        state[KEY_STATE] = key
        state[OWNER_STATE] = f"vk:{key.id}"
    if scope.get("method") == "POST" and path in JSON_BODIES and not _json_content(scope):
        # Also what keeps a cross-site HTML form (text/plain, no preflight) off a gateway without keys.
        refusal = UnsupportedMediaType("the request body must be JSON: send 'content-type: application/json'")
        await send_error(send, refusal, path)
        return
    if operation is None:
        await app(scope, receive, send)
        return
    meter = Meter(operation)
    state[METER_KEY] = meter
    check_model = key is not None and bool(key.models)
    if check_model or ops.log_prompts:
        try:
            receive, body = await _peek(receive, ops.max_body_size)
        except HexgateError as exc:  # the client was too slow to send its body (408)
            await send_error(send, exc, path)
            return
        if ops.log_prompts and body is not None:
            prompt_log.info("%s body: %s", path, body[:_PROMPT_LOG_MAX].decode("utf-8", "replace"))
            state[PROMPT_STATE] = body[:_PROMPT_LIVE_MAX].decode("utf-8", "replace")
        if check_model and key is not None and body is not None:
            model = _model_of(body)
            if model is None or not key.allows(model):
                ops.refused("model")
                named = f"model {model[:MAX_MODEL_NAME]!r}" if model is not None else "a request without a model"
                message = f"this key may not use {named}; it may use: {', '.join(key.models)}"
                await send_error(send, PermissionDenied(message, param="model", code="model_not_allowed"), path)
                return
    extra: list[tuple[bytes, bytes]] = []
    if key is not None and Limiter.limited(key):
        try:
            decision = await ops.limiter.admit(key)
        except Exception as exc:
            await _unavailable(send, exc, path)
            return
        if not decision.admitted:
            ops.refused(decision.reason)
            assert decision.refusal is not None
            await send_error(send, decision.refusal, path)
            return
        extra = decision.headers
    await _run(ops, app, scope, receive, send, state=state, meter=meter, key=key, extra=extra)


async def _run(
    ops: OpsHooks,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    state: dict[str, Any],
    meter: Meter,
    key: VirtualKey | None,
    extra: list[tuple[bytes, bytes]],
) -> None:
    started = time.perf_counter()
    status = 0
    first: float | None = None
    stream_provider: str | None = None
    finished = False

    def figures() -> tuple[int, float, float | None]:
        now = time.perf_counter()
        ttft = first - started if first is not None and stream_provider is not None else None
        return status, now - started, ttft

    async def send_wrapper(message: Message) -> None:
        nonlocal status, first, stream_provider, finished
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", ()))
            if extra:
                message["headers"] = [*headers, *extra]
            if any(n.lower() == b"content-type" and v.startswith(b"text/event-stream") for n, v in headers):
                stream_provider = ops.provider_of(state)
                ops.stream(meter.operation, stream_provider, 1)
        elif message["type"] == "http.response.body":
            if first is None and message.get("body"):
                first = time.perf_counter()
                if status >= 400 and stream_provider is None:  # the error envelope, for the Live tab
                    state[ERROR_STATE] = message["body"][:_ERROR_KEEP]
            if not finished and not message.get("more_body", False):
                finished = True
                try:
                    await send(message)  # the answer leaves first: accounting never delays it
                except BaseException:  # the client left just now: still account, in the background
                    code, seconds, ttft = figures()
                    ops.finish_later(state=state, meter=meter, key=key, status=code, seconds=seconds, ttft=ttft)
                    raise
                code, seconds, ttft = figures()
                await ops.finish(state=state, meter=meter, key=key, status=code, seconds=seconds, ttft=ttft)
                return
        await send(message)

    try:
        await app(scope, receive, send_wrapper)
    finally:
        if stream_provider is not None:
            ops.stream(meter.operation, stream_provider, -1)
        if not finished:  # the client left (or the app failed): account without holding anything up
            finished = True
            code, seconds, ttft = figures()
            code = code or 499  # nothing was sent: "client closed request"
            if meter.error is None:
                meter.error = "cancelled" if code < 400 or code == 499 else str(code)
            ops.finish_later(state=state, meter=meter, key=key, status=code, seconds=seconds, ttft=ttft)
