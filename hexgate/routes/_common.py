"""What every route shares: body decoding into Structs, the call context, JSON answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send

from hexgate.errors import InvalidRequest, UpstreamTimeout
from hexgate.ops.reload import REGISTRY_KEY
from hexgate.protocol import CallContext
from hexgate.registry import Registry, Route
from hexgate.trace import TRACE_KEY, Trace

__all__ = [
    "SSE_HEADERS",
    "TRACE_KEY",
    "call_context",
    "decode_body",
    "json_response",
    "registry_of",
    "sse_response",
    "trace_of",
    "with_deadline",
]

T = TypeVar("T")

_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()


def decode_body(body: bytes, type_: type[T]) -> T:
    """Decode a JSON body straight into ``type_``; any mistake is a 400 naming the field.

    Raises :class:`InvalidRequest` with ``param`` set to the offending field path
    (``messages[0].content``) for a wrong type or a missing field; also for a body that is not JSON
    or nests deeper than msgspec decodes (its recursion limit).
    """
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        message, sep, where = str(exc).rpartition(" - at `")
        if not sep:
            text = str(exc)
            if text.startswith("Expected `object`"):
                raise InvalidRequest("the request body must be a JSON object") from None
            field = text.rpartition("`")[0].rpartition("`")[2] if "missing required field" in text else None
            raise InvalidRequest(f"invalid request body: {text}", param=field) from None
        param = where.rstrip("`").removeprefix("$").lstrip(".")
        if "missing required field" in message:
            missing = message.rpartition("`")[0].rpartition("`")[2]
            param = f"{param}.{missing}" if param else missing
            raise InvalidRequest(f"missing required field '{param}'", param=param) from None
        raise InvalidRequest(f"invalid value for '{param}': {message}", param=param) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:  # msgspec's own depth limit on nested arrays and objects
        raise InvalidRequest("the request body nests arrays or objects too deeply") from None


def registry_of(request: Request[Any, Any, Any]) -> Registry:
    """The registry serving this request: the one the ops middleware pinned for it
    (:func:`hexgate.ops.reload.pinned_registry`; a config reload never swaps it mid-request), else the
    app's current one. The model routes call this instead of declaring a ``registry`` dependency:
    Litestar's dependency injection (a signature model per call) cost about a tenth of a proxied
    request's CPU (benchmarks/README.md, "Where the time goes")."""
    state = request.scope.get("state")
    registry = state.get(REGISTRY_KEY) if isinstance(state, dict) else None
    if isinstance(registry, Registry):
        return registry
    return request.app.state.registry  # type: ignore[no-any-return]


def call_context(request: Request[Any, Any, Any], route: Route, body: bytes, registry: Registry) -> CallContext:
    state = request.scope.get("state", {})
    return CallContext(
        request_id=state.get("request_id", ""),
        model=route.model,
        timeout=registry.settings.server.request_timeout,
        body=body,
        client_token=state.get("client_token"),
    )


def trace_of(request: Request[Any, Any, Any]) -> Trace:
    """The request's :class:`Trace`, created on first use and kept in the ASGI scope's state."""
    state = request.scope.setdefault("state", {})
    trace = state.get(TRACE_KEY)
    if not isinstance(trace, Trace):
        trace = state[TRACE_KEY] = Trace()
    return trace


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    """Encode once with msgspec and hand Litestar the bytes."""
    return Response(content=_encoder.encode(obj), status_code=status, media_type="application/json", headers=headers)


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
"""Headers of every SSE answer: no caching, and no buffering by a proxy in front (nginx reads the second)."""


class _RelayedBody(ASGIStreamingResponse):
    """Litestar's streaming response, sending the body in the request's own task: no task group and no
    listener for ``http.disconnect``, because :func:`hexgate.guard.run_guarded` already cancels the
    request's task when the client leaves (which closes the relay generator and the upstream call)."""

    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        await self._stream(send)


class _SSEStream(Stream):
    __slots__ = ()

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> ASGIResponse:
        response = super().to_asgi_response(app, request, **kwargs)
        assert isinstance(response, ASGIStreamingResponse)
        response.__class__ = _RelayedBody
        return response


def sse_response(relay: AsyncIterator[bytes], headers: Iterable[tuple[str, str]] | dict[str, str] = ()) -> Stream:
    """A ``text/event-stream`` answer of ``relay``'s bytes, one ``http.response.body`` message per item,
    with :data:`SSE_HEADERS` and ``headers``. Each item is sent as soon as the relay yields it, from the
    request's task (one write per item; the relay batches what arrived together)."""
    return _SSEStream(relay, media_type="text/event-stream", headers=SSE_HEADERS | dict(headers))


async def with_deadline(awaitable: Awaitable[T], seconds: float) -> T:
    """Await with a total deadline; past it, a 504 :class:`UpstreamTimeout`."""
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise UpstreamTimeout(f"the upstream did not answer within {seconds:g} s") from None
