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
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from hexgate.errors import ErrorEnvelope, HexgateError, envelope
from hexgate.ops.keys import VirtualKey
from hexgate.ops.limits import Limiter
from hexgate.ops.logs import REQUEST_ID
from hexgate.ops.meter import METER_KEY, Meter
from hexgate.ops.reload import REGISTRY_KEY
from hexgate.response_store import OWNER_STATE
from hexgate.schemas.models import MAX_MODEL_NAME

if TYPE_CHECKING:
    from hexgate.ops.service import Ops

__all__ = ["ERROR_STATE", "KEY_STATE", "OPERATIONS", "PROMPT_STATE", "VIRTUAL_KEY_STATE", "ops_middleware"]

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
_encoder = msgspec.json.Encoder()


class _Model(msgspec.Struct):
    model: Any = None


_model_decoder = msgspec.json.Decoder(_Model)


def _model_of(body: bytes) -> str | None:
    try:
        model = _model_decoder.decode(body).model
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return model if isinstance(model, str) else None


async def _answer(send: Send, status: int, body: ErrorEnvelope, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": _encoder.encode(body), "more_body": False})


def _json_content(scope: Scope) -> bool:
    """True when the request says its body is ``application/json`` (any parameters, e.g. a charset)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            return value.partition(b";")[0].strip().lower() == b"application/json"
    return False


async def _unavailable(send: Send, exc: BaseException) -> None:
    log.error("the key store cannot be reached: %s: %s", type(exc).__name__, exc)
    await _answer(
        send,
        503,
        envelope(
            "the gateway's key store cannot be reached; try again shortly",
            type="server_error",
            code="store_unavailable",
        ),
        [(b"retry-after", b"1")],
    )


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


def ops_middleware(ops: Ops) -> Callable[[ASGIApp], ASGIApp]:
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


async def _serve(ops: Ops, app: ASGIApp, scope: Scope, receive: Receive, send: Send, state: dict[str, Any]) -> None:
    operation = OPERATIONS.get(scope["path"]) if scope.get("method") == "POST" else None
    token = state.pop(VIRTUAL_KEY_STATE, None)
    key: VirtualKey | None = None
    if token is not None:
        try:
            key = await ops.keys.authenticate(token)
        except Exception as exc:
            await _unavailable(send, exc)
            return
        problem = "unknown API key" if key is None else key.problem(time.time())
        if key is None or problem is not None:
            ops.refused("key")
            refusal = envelope(
                f"{problem}: send 'Authorization: Bearer <key>' with a valid key",
                type="authentication_error",
                code="invalid_api_key",
            )
            await _answer(send, 401, refusal, [(b"www-authenticate", b"Bearer")])
            return
        state[KEY_STATE] = key
        state[OWNER_STATE] = f"vk:{key.id}"
    if scope.get("method") == "POST" and scope["path"] in JSON_BODIES and not _json_content(scope):
        # Also what keeps a cross-site HTML form (text/plain, no preflight) off a gateway without keys.
        refusal = envelope(
            "the request body must be JSON: send 'content-type: application/json'",
            type="invalid_request_error",
            code="unsupported_media_type",
        )
        await _answer(send, 415, refusal, [])
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
            await _answer(send, exc.status, exc.body(), [(k.encode(), v.encode()) for k, v in exc.headers.items()])
            return
        if ops.log_prompts and body is not None:
            prompt_log.info("%s body: %s", scope["path"], body[:_PROMPT_LOG_MAX].decode("utf-8", "replace"))
            state[PROMPT_STATE] = body[:_PROMPT_LIVE_MAX].decode("utf-8", "replace")
        if check_model and key is not None and body is not None:
            model = _model_of(body)
            if model is None or not key.allows(model):
                ops.refused("model")
                named = f"model {model[:MAX_MODEL_NAME]!r}" if model is not None else "a request without a model"
                message = f"this key may not use {named}; it may use: {', '.join(key.models)}"
                refusal = envelope(message, type="permission_error", param="model", code="model_not_allowed")
                await _answer(send, 403, refusal, [])
                return
    extra: list[tuple[bytes, bytes]] = []
    if key is not None and Limiter.limited(key):
        try:
            decision = await ops.limiter.admit(key)
        except Exception as exc:
            await _unavailable(send, exc)
            return
        if not decision.admitted:
            ops.refused(decision.reason)
            assert decision.body is not None
            await _answer(send, decision.status, decision.body, decision.headers)
            return
        extra = decision.headers
    await _run(ops, app, scope, receive, send, state=state, meter=meter, key=key, extra=extra)


async def _run(
    ops: Ops,
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
