"""``POST /v1/messages`` (JSON and SSE) and ``POST /v1/messages/count_tokens``: the Messages dialect.

The model's plan is walked by :func:`hexgate.resilience.start` (fallbacks and retries before the
first byte). A target whose provider speaks the dialect itself (:class:`~hexgate.protocol.MessagesProvider`)
gets the client's body and its version/beta headers as they came, and its answer goes back as sent:
a JSON body byte for byte, events as ``event: <type>`` / ``data: <json>`` frames with the upstream's
data. Every other target is bridged over ``stream_chat`` (:mod:`hexgate.messages_bridge`), with the
idle and total timeouts of chat streams.

Errors take the dialect's shape, ``{"type": "error", "error": {"type", "message"}}``
(:func:`hexgate.errors.messages_error`): before the first byte as an ordinary answer with its status,
after it as one ``event: error`` frame that ends the stream; refusals made outside the route (auth, key
limits, body size) get the same shape from :func:`hexgate.errors.render`. A client that goes away
cancels the upstream call; the usage (the upstream's, else hexgate's count) goes to the request's
meter for keys, budgets and metrics (:mod:`hexgate.ops`).
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, Response, post

from hexgate import messages_bridge, resilience
from hexgate.errors import HexgateError, InvalidRequest, Unsupported, UpstreamError, messages_error
from hexgate.ops.keys import VirtualKey
from hexgate.ops.meter import Meter, meter_of
from hexgate.ops.middleware import KEY_STATE
from hexgate.protocol import CallContext, MessagesProvider
from hexgate.registry import Registry, Route
from hexgate.routes._common import call_context, decode_body, registry_of, sse_response, trace_of, with_deadline
from hexgate.schemas import messages as m
from hexgate.schemas.chat import ChatCompletionChunk, ChatCompletionRequest, estimate_prompt_tokens
from hexgate.schemas.responses import RawEvent
from hexgate.trace import traced_chunks, traced_events

__all__ = ["PREFIX", "count_tokens", "create_message"]

log = logging.getLogger("hexgate.messages")

PREFIX = "/v1/messages"
_HIDDEN_HEADERS = frozenset(
    {"authorization", "x-api-key", "cookie", "host", "content-length", "content-type", "connection",
     "transfer-encoding", "accept-encoding", "keep-alive", "te", "upgrade", "proxy-authorization"}
)  # fmt: skip
_EVENT_NAMES: dict[type[Any], bytes] = {
    cls: str(cls.__struct_config__.tag).encode() for cls in typing.get_args(m.StreamEvent)
}
_MAX_STOPS = 256
"""Stop sequences hexgate watches for on a bridged call; each is searched in every text delta."""
_encoder = msgspec.json.Encoder()


class _Head(msgspec.Struct):
    model: str


class _Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _Usaged(msgspec.Struct):
    usage: _Usage | None = None


class _DeltaEvent(msgspec.Struct):
    usage: _Usage | None = None
    message: _Usaged | None = None


_usage_decoder = msgspec.json.Decoder(_Usaged)
_event_usage_decoder = msgspec.json.Decoder(_DeltaEvent)


def _headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in _HIDDEN_HEADERS}


def _total(route: Route, registry: Registry) -> float:
    return route.timeouts.total or registry.settings.server.request_timeout


def _validate(req: m.MessagesRequest, registry: Registry) -> None:
    if req.max_tokens < 1:
        raise InvalidRequest("max_tokens: must be at least 1", param="max_tokens")
    if isinstance(req.stop_sequences, list) and len(req.stop_sequences) > _MAX_STOPS:
        raise InvalidRequest(
            f"stop_sequences: at most {_MAX_STOPS} for a bridged model (the gateway watches for each)",
            param="stop_sequences",
        )
    if not req.messages:
        raise InvalidRequest("messages: at least one message is required", param="messages")
    limit = registry.settings.server.max_messages
    if len(req.messages) > limit:
        raise InvalidRequest(
            f"messages: {len(req.messages)} messages; this gateway accepts at most {limit} (server.max_messages)",
            param="messages",
        )


@post(
    PREFIX, status_code=200, summary="Create a message (Messages dialect, JSON or SSE)", opt={"body": m.MessagesRequest}
)
async def create_message(request: Request[Any, Any, Any]) -> Response[Any]:
    registry = registry_of(request)
    body = await request.body()
    head = decode_body(body, _Head)
    route = registry.resolve(head.model)  # 404 for an unknown name, before anything else
    ctx = call_context(request, route, body, registry)
    meter = meter_of(request, model=head.model)
    trace = trace_of(request)
    call = _Call(body, registry, _headers(request))
    started = await resilience.start(
        registry, head.model, ctx, call.attempt, trace=trace, prompt_estimate=call.prompt_estimate
    )
    if isinstance(started, bytes):
        _meter_native(meter, started)
        return Response(content=started, status_code=200, media_type="application/json")
    if isinstance(started, _Native):
        relay = _native_relay(started.first, started.events, meter)
        return sse_response(relay)
    assert call.req is not None and call.chat is not None
    translator = messages_bridge.MessageStream(call.req, prompt_tokens=call.prompt_estimate())
    if call.req.stream is True:
        relay = _bridge_relay(started, translator, meter, request_id=ctx.request_id, trace=trace)
        return sse_response(relay)
    try:
        await _drain(started, translator)
    except (GeneratorExit, asyncio.CancelledError):
        _cancelled(translator, request_id=ctx.request_id, trace=trace, streamed=False)
        raise
    finally:
        _meter_bridge(meter, translator)
        await started.aclose()
    answer = translator.message()
    return Response(content=_encoder.encode(answer), status_code=200, media_type="application/json")


class _Native:
    __slots__ = ("events", "first")

    def __init__(self, first: RawEvent | None, events: AsyncIterator[RawEvent]) -> None:
        self.first = first
        self.events = events


class _Call:
    """One ``/v1/messages`` call over its plan: each target natively when its provider speaks the
    dialect, else bridged over ``stream_chat`` (the body decoded and checked on first need)."""

    def __init__(self, body: bytes, registry: Registry, headers: dict[str, str]) -> None:
        self.body = body
        self.registry = registry
        self.headers = headers
        self.req: m.MessagesRequest | None = None
        self.chat: ChatCompletionRequest | None = None

    def bridged(self) -> ChatCompletionRequest:
        if self.chat is None:
            req = decode_body(self.body, m.MessagesRequest)
            _validate(req, self.registry)
            self.chat = messages_bridge.to_chat_request(req)
            self.req = req
        return self.chat

    def prompt_estimate(self) -> int:
        return estimate_prompt_tokens(self.chat) + _tools_estimate(self.chat) if self.chat is not None else 0

    async def attempt(
        self, route: Route, ctx: CallContext, deadline: float
    ) -> bytes | _Native | resilience.OpenedStream[ChatCompletionChunk]:
        spans = self.registry.spans
        native = route.provider
        if isinstance(native, MessagesProvider):
            try:
                result = await traced_events(
                    spans, route.provider_id, ctx, lambda: native.messages(self.body, self.headers, ctx)
                )
            except Unsupported:
                pass
            else:
                if isinstance(result, bytes):
                    return result
                try:
                    return _Native(await anext(result, None), result)
                except BaseException:
                    await resilience.close_quietly(result)
                    raise
        chat = self.bridged()
        chat_ctx = msgspec.structs.replace(ctx, body=None)
        upstream = traced_chunks(spans, route.provider_id, chat_ctx, lambda: route.provider.stream_chat(chat, chat_ctx))
        try:
            first = await anext(upstream, None)
        except BaseException:
            await resilience.close_quietly(upstream)
            raise
        return resilience.OpenedStream(
            registry=self.registry, route=route, first=first, upstream=upstream, deadline=deadline
        )


@post(
    f"{PREFIX}/count_tokens",
    status_code=200,
    summary="Count the input tokens of a Messages request",
    opt={"body": m.CountTokensRequest},
)
async def count_tokens(request: Request[Any, Any, Any]) -> Response[Any]:
    registry = registry_of(request)
    """The upstream's own count where it speaks the dialect, else hexgate's estimate (about four
    characters a token plus framing, as for chat usage, with the tool definitions counted). A virtual
    key with a model list may count only for its models (403), as it may only call them."""
    body = await request.body()
    model = decode_body(body, _Head).model
    key = request.scope.get("state", {}).get(KEY_STATE)
    if isinstance(key, VirtualKey) and not key.allows(model):
        raise InvalidRequest(
            f"this key may not use model {model!r}; it may use: {', '.join(key.models)}",
            param="model",
            code="model_not_allowed",
            status=403,
        )
    route = registry.resolve(model)
    if isinstance(route.provider, MessagesProvider):
        ctx = call_context(request, route, body, registry)
        try:
            counting = route.provider.count_tokens(body, _headers(request), ctx)
            raw = await with_deadline(counting, _total(route, registry))
        except Unsupported:
            pass
        else:
            trace_of(request).note(route)
            return Response(content=raw, status_code=200, media_type="application/json")
    req = decode_body(body, m.CountTokensRequest)
    chat = messages_bridge.to_chat_request(req, stream=False)
    count = m.TokenCount(input_tokens=estimate_prompt_tokens(chat) + _tools_estimate(chat))
    return Response(content=_encoder.encode(count), status_code=200, media_type="application/json")


def _tools_estimate(chat: Any) -> int:
    tools = chat.tools if isinstance(chat.tools, list) else []
    return (len(_encoder.encode(tools)) + 3) // 4 if tools else 0


# ---------------------------------------------------------------- frames


def _frame(event: m.StreamEvent) -> bytes:
    return b"event: " + _EVENT_NAMES[type(event)] + b"\ndata: " + _encoder.encode(event) + b"\n\n"


def _error_frame(exc: HexgateError) -> bytes:
    _, envelope = messages_error(exc.status, exc.message, type=exc.type, code=exc.code)
    return b"event: error\ndata: " + _encoder.encode(envelope) + b"\n\n"


def _raw_frame(event: RawEvent) -> bytes:
    data = bytes(event.data)
    if b"\n" in data or b"\r" in data:  # a multi-line upstream data field: one line on the way out
        data = msgspec.json.format(data, indent=0)
    return b"event: " + event.event.encode() + b"\ndata: " + data + b"\n\n"


# ---------------------------------------------------------------- native


def _meter_native(meter: Meter, raw: bytes) -> None:
    try:
        usage = _usage_decoder.decode(raw).usage
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    if usage is not None:
        meter.tokens(_input_total(usage), usage.output_tokens)


def _input_total(usage: _Usage) -> int:
    return usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)


async def _native_relay(first: Any, events: AsyncIterator[Any], meter: Meter) -> AsyncIterator[bytes]:
    """The upstream's events as they came; usage read from ``message_start`` / ``message_delta``."""
    prompt = completion = 0
    try:
        event = first
        while event is not None:
            if isinstance(event, RawEvent):
                yield _raw_frame(event)
                if event.event in ("message_start", "message_delta"):
                    prompt, completion = _event_usage(event, prompt, completion)
            event = await anext(events, None)
    except HexgateError as exc:
        meter.error = exc.type
        log.info("native message stream ended by upstream error: %s", exc.message)
        yield _error_frame(exc)
    except Exception:
        meter.error = "server_error"
        log.exception("native message stream failed")
        yield _error_frame(UpstreamError("the stream failed inside the gateway"))
    finally:
        meter.tokens(prompt, completion)
        await resilience.close_quietly(events)


def _event_usage(event: RawEvent, prompt: int, completion: int) -> tuple[int, int]:
    try:
        head = _event_usage_decoder.decode(event.data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return prompt, completion
    usage = head.usage or (head.message.usage if head.message is not None else None)
    if usage is None:
        return prompt, completion
    total = _input_total(usage)
    return (total or prompt), (usage.output_tokens or completion)


# ---------------------------------------------------------------- bridged


async def _drain(
    opened: resilience.OpenedStream[ChatCompletionChunk], translator: messages_bridge.MessageStream
) -> None:
    translator.start()
    chunk = opened.first
    while chunk is not None and not translator.stopped:
        translator.feed(chunk)
        if translator.stopped:
            break
        chunk = await anext(opened.chunks, None)
    translator.finish()


def _meter_bridge(meter: Meter, translator: messages_bridge.MessageStream) -> None:
    usage = translator.usage()
    meter.tokens(usage.input_tokens + (usage.cache_read_input_tokens or 0), usage.output_tokens)


def _cancelled(translator: messages_bridge.MessageStream, *, request_id: str, trace: Any, streamed: bool) -> None:
    usage = translator.usage()
    resilience.log_cancelled(
        request_id, trace, prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens, streamed=streamed
    )


async def _bridge_relay(
    opened: resilience.OpenedStream[ChatCompletionChunk],
    translator: messages_bridge.MessageStream,
    meter: Meter,
    *,
    request_id: str,
    trace: Any,
) -> AsyncIterator[bytes]:
    ended = False
    try:
        for event in translator.start():
            yield _frame(event)
        chunk = opened.first
        while chunk is not None:
            for event in translator.feed(chunk):
                yield _frame(event)
            if translator.stopped:
                break
            chunk = await anext(opened.chunks, None)
        ended = True
        await opened.aclose()  # a matched stop sequence: the upstream need not go on
        for event in translator.finish():
            yield _frame(event)
    except HexgateError as exc:
        ended = True
        meter.error = exc.type
        log.info("message stream ended by upstream error: %s", exc.message)
        yield _error_frame(exc)
    except Exception:
        ended = True
        meter.error = "server_error"
        log.exception("message stream failed")
        yield _error_frame(UpstreamError("the stream failed inside the gateway"))
    except (GeneratorExit, asyncio.CancelledError):
        if not ended:
            _cancelled(translator, request_id=request_id, trace=trace, streamed=True)
        raise
    finally:
        _meter_bridge(meter, translator)
        await opened.aclose()
