"""``/v1/responses``: create (JSON or SSE), retrieve, delete, list input items.

``POST`` first offers the request to the provider's own ``respond`` (a native Responses upstream:
its answer and events go out as the upstream sent them); a provider that raises
:class:`~hexgate.errors.Unsupported` is bridged over chat (:mod:`hexgate.bridge`), with the
fallbacks and retries of :mod:`hexgate.resilience`. Streams are ``event: <type>`` / ``data: <json>``
frames with ``sequence_number`` and no ``[DONE]``; an error before the first event is an ordinary
error answer with its status, after it ``error`` then ``response.failed`` end the stream.

``store`` (default true) keeps the response in the :class:`~hexgate.response_store.ResponseStore`;
``previous_response_id`` continues from a stored response on any provider: its context and output
are put before the new input (a native upstream that stored the response itself gets the id instead,
unless its provider class sets ``upstream_keeps_responses = False``:
:class:`hexgate.protocol.KeepsResponses`).

Stored responses belong to the key that created them (:func:`hexgate.response_store.owner_of`): a
retrieve, delete, input-item list or ``previous_response_id`` naming another key's response answers
404 as for an unknown id. An id hexgate holds no record of, any ``conversation`` and any
``item_reference`` input item are refused (404 / 400) rather than passed to a native upstream,
which would resolve them under the gateway's shared upstream key;
``server.forward_unknown_response_ids = true`` passes them on.

Every response is charged to the meter (:mod:`hexgate.ops.meter`): the upstream's usage, or, for a
stream the client left early, the usage so far or hexgate's estimate (input from the request,
one token per streamed delta).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
from litestar import Request, delete, get, post
from litestar import Response as HTTPResponse
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, Parameter
from msgspec import UNSET, Raw

from hexgate import bridge, resilience
from hexgate.errors import HexgateError, InvalidRequest, Unsupported, UpstreamError
from hexgate.ops.meter import Meter, meter_of
from hexgate.plugin_kit import completion_as_chunks
from hexgate.protocol import CallContext
from hexgate.registry import Registry, Route
from hexgate.response_store import ResponseStore, StoredResponse, owner_of
from hexgate.routes._common import (
    call_context,
    decode_body,
    json_response,
    registry_of,
    sse_response,
    trace_of,
    with_deadline,
)
from hexgate.schemas import responses as r
from hexgate.schemas.chat import ChatCompletionChunk, estimate_prompt_tokens
from hexgate.sse import event_frame
from hexgate.trace import traced_events

__all__ = ["create_response", "delete_response", "list_input_items", "retrieve_response"]

log = logging.getLogger("hexgate.responses")

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_encoder = msgspec.json.Encoder()


class _Input(msgspec.Struct):
    input: str | list[Raw] = msgspec.field(default_factory=list)
    conversation: Raw = Raw(b"null")


class _Lifecycle(msgspec.Struct):
    response: Raw = Raw(b"")
    """Empty when the event has none."""


_input_decoder = msgspec.json.Decoder(_Input)
_lifecycle_decoder = msgspec.json.Decoder(_Lifecycle)


def _decode(body: bytes) -> r.ResponseRequest:
    try:
        request = decode_body(body, r.ResponseRequest)
    except InvalidRequest as exc:
        if not (exc.param or "").startswith(("input[", "tools[")):
            raise
        try:
            request = r.decode_request(body)
        except r.ItemError as item_error:
            raise InvalidRequest(str(item_error), param=item_error.path) from None
        except (msgspec.ValidationError, msgspec.DecodeError):  # pragma: no cover - the strict pass caught these
            raise exc from None
    if request.background is True:
        raise InvalidRequest("background responses are not supported by this gateway", param="background")
    return request


def _not_found(response_id: str, *, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(
        f"Response with id '{response_id}' not found (unknown, expired, deleted, or created with store=false).",
        param=param,
        code="previous_response_not_found" if param else None,
        status=404,
    )


def _input_raw(body: bytes, *, forward_unknown: bool) -> list[Raw]:
    """This request's input items as their own JSON (a string input: one user message).

    Raises :class:`InvalidRequest` (400) for a ``conversation`` unless ``forward_unknown``."""
    decoded = _input_decoder.decode(body)
    if bytes(decoded.conversation) != b"null" and not forward_unknown:
        raise InvalidRequest(
            "'conversation' is not supported by this gateway: continue with previous_response_id "
            "(server.forward_unknown_response_ids passes conversations on to native upstreams)",
            param="conversation",
        )
    value = decoded.input
    if isinstance(value, str):
        return [Raw(_encoder.encode(r.Message(role="user", content=value)))]
    return value


def _refuse_references(req: r.ResponseRequest) -> None:
    """An ``item_reference`` names an item the upstream stored: under the shared upstream key it would reach
    any client's items, so it is refused as an unknown response id is (400)."""
    if isinstance(req.input, list):
        for index, item in enumerate(req.input):
            if isinstance(item, r.ItemReference):
                raise InvalidRequest(
                    "'item_reference' items are not supported by this gateway: send the item itself, or continue "
                    "with previous_response_id (server.forward_unknown_response_ids passes references on)",
                    param=f"input[{index}]",
                )


def _check_count(count: int, limit: int) -> None:
    if count > limit:
        raise InvalidRequest(
            f"'input' and the stored conversation before it hold {count} items; this gateway accepts at most "
            f"{limit} (server.max_messages)",
            param="input",
        )


def _history(record: StoredResponse) -> list[Raw]:
    return [*record.context, *ResponseStore.output_items(record)]


def _with_history(body: bytes, history: list[Raw], items: list[Raw]) -> bytes:
    """The client's body with ``input`` = history + its own items, and no ``previous_response_id``."""
    fields = msgspec.json.decode(body, type=dict[str, Raw])
    fields.pop("previous_response_id", None)
    fields["input"] = Raw(_encoder.encode([*history, *items]))
    return _encoder.encode(fields)


@post(
    "/v1/responses",
    status_code=200,
    summary="Create a model response (JSON or SSE)",
    opt={"body": r.ResponseRequest},
)
async def create_response(
    request: Request[Any, Any, Any],
    response_store: NamedDependency[ResponseStore],
) -> HTTPResponse[Any]:
    registry = registry_of(request)
    body = await request.body()
    req = _decode(body)
    server = registry.settings.server
    own_input = _input_raw(body, forward_unknown=server.forward_unknown_response_ids)
    _check_count(len(own_input), server.max_messages)
    if not server.forward_unknown_response_ids:
        _refuse_references(req)
    route = registry.resolve(req.model)
    ctx = call_context(request, route, body, registry)
    owner = owner_of(request.scope)
    record: StoredResponse | None = None
    if isinstance(req.previous_response_id, str):
        record = await response_store.get(req.previous_response_id, owner=owner)
        if record is None and not server.forward_unknown_response_ids:
            raise _not_found(req.previous_response_id, param="previous_response_id")
    call = _Call(req=req, route=route, store=response_store, own_input=own_input, owner=owner)
    call.meter = meter_of(request, model=req.model)

    native_req, native_ctx = req, ctx
    if record is not None:
        call.context = _history(record)
        _check_count(len(call.context) + len(own_input), server.max_messages)
    if record is not None and not (record.upstream_state and record.provider == route.provider_id):
        # A native upstream cannot read reasoning state hexgate made for chat upstreams: leave it out.
        pairs = zip(call.context, _items(call.context), strict=True)
        history = [raw for raw, item in pairs if not bridge.is_own_reasoning(item)]
        call.context = history
        native_ctx = msgspec.structs.replace(ctx, body=_with_history(body, history, own_input))
        native_req = msgspec.structs.replace(
            req, input=[*r.decode_items(history, output=True), *req.items()], previous_response_id=UNSET
        )
    try:
        respond = traced_events(
            registry.spans, route.provider_id, native_ctx, lambda: route.provider.respond(native_req, native_ctx)
        )
        result = await with_deadline(respond, _total(route, registry))
    except Unsupported:
        return await _bridged(request, registry, req, ctx, record, call)
    trace_of(request).note(route, answered=True)
    call.upstream_state = req.stores() and getattr(route.provider, "upstream_keeps_responses", True) is not False
    if isinstance(result, r.Response):
        await call.keep(_response_bytes(result), upstream_state=call.upstream_state)
        return _response_answer(result)
    try:
        first = await with_deadline(anext(result, None), _total(route, registry))
    except BaseException:
        await _close(result)
        raise
    return sse_response(_native_relay(first, result, call))


def _items(raws: list[Raw]) -> list[r.InputItem]:
    return r.decode_items(raws, output=True)


def _total(route: Route, registry: Registry) -> float:
    return route.timeouts.total or registry.settings.server.request_timeout


class _Call:
    """One create call's bookkeeping for the store."""

    def __init__(
        self, *, req: r.ResponseRequest, route: Route, store: ResponseStore, own_input: list[Raw], owner: str
    ) -> None:
        self.req = req
        self.route = route
        self.store = store
        self.own_input = own_input
        self.owner = owner
        self.context: list[Raw] = []
        self.upstream_state = False
        """A native upstream that keeps the response itself answered (its id works there)."""
        self.meter: Meter | None = None
        """Where the response's usage goes for keys, limits and metrics (:mod:`hexgate.ops`)."""

    def charge_stream(self, final: bytes | None, deltas: int) -> None:
        """Charge a stream that ended, however it ended: the usage of its final response object, else
        hexgate's estimate (the input, then one token per delta event the client received)."""
        if self.meter is None:
            return
        usage = _usage_of(final) if final is not None else None
        if usage is not None:
            self.meter.tokens(usage.input_tokens, usage.output_tokens)
        else:
            self.meter.tokens(self.estimate_input(), deltas)

    def estimate_input(self) -> int:
        """Input tokens as :func:`~hexgate.schemas.chat.estimate_prompt_tokens` counts them for chat."""
        try:
            chat = bridge.to_chat_request(self.req, history=_items(self.context), stream=False)
        except (HexgateError, msgspec.ValidationError, msgspec.DecodeError):  # items chat cannot say
            return (sum(len(raw) for raw in (*self.context, *self.own_input)) + 3) // 4
        return estimate_prompt_tokens(chat)

    async def keep(self, response: bytes, *, upstream_state: bool) -> None:
        """Note the finished response's usage; store it when the client asked for ``store`` (the default)."""
        head = msgspec.json.decode(response, type=_Id)
        if self.meter is not None and head.usage is not None:
            self.meter.tokens(head.usage.input_tokens, head.usage.output_tokens)
        if not self.req.stores():
            return
        record = StoredResponse(
            response=Raw(response),
            context=[*self.context, *self.own_input],
            provider=self.route.provider_id,
            upstream_state=upstream_state,
            owner=self.owner,
        )
        try:
            await self.store.put(head.id, record)
        except ValueError as exc:  # larger than the whole memory store
            log.warning("response %s not stored: %s", head.id, exc)
        except Exception:  # the answer went out; a store failure must not turn it into an error
            log.exception("could not store response %s", head.id)


class _Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0


class _Id(msgspec.Struct):
    id: str
    usage: _Usage | None = None


class _UsageOnly(msgspec.Struct):
    usage: _Usage | None = None


_usage_decoder = msgspec.json.Decoder(_UsageOnly)


def _usage_of(response: bytes) -> _Usage | None:
    try:
        return _usage_decoder.decode(response).usage
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _response_bytes(response: r.Response) -> bytes:
    if isinstance(response, r.NativeResponse):
        return bytes(response.raw)
    return _encoder.encode(response)


def _response_answer(response: r.Response) -> HTTPResponse[bytes]:
    if isinstance(response, r.NativeResponse):
        return HTTPResponse(content=bytes(response.raw), status_code=200, media_type="application/json")
    return json_response(response)


async def _close(iterator: Any) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        await closer()


def _frame(event: r.ResponseStreamEvent) -> bytes:
    if isinstance(event, r.RawEvent):
        data = bytes(event.data)
        if b"\n" in data or b"\r" in data:  # a multi-line upstream data field: one line on the way out
            data = msgspec.json.format(data, indent=0)
        return b"event: " + event.event.encode() + b"\ndata: " + data + b"\n\n"
    return event_frame(r.event_type(event), event)


async def _native_relay(
    first: r.ResponseStreamEvent | None, events: AsyncIterator[r.ResponseStreamEvent], call: _Call
) -> AsyncIterator[bytes]:
    """Relay a native upstream's events as they came; keep the final response. A failure after
    the start ends the stream with ``error`` and ``response.failed`` (numbered after the last event)."""
    last_seq = -1
    started: bytes | None = None
    final: bytes | None = None
    deltas = 0
    try:
        event = first
        while event is not None:
            yield _frame(event)
            kind = r.event_type(event)
            last_seq = max(last_seq, event.sequence_number)
            if kind.endswith(".delta"):
                deltas += 1
            if kind in ("response.created", "response.in_progress") or kind in _TERMINAL:
                snapshot = _snapshot(event)
                if kind in _TERMINAL:
                    final = snapshot
                elif snapshot is not None:
                    started = snapshot
            event = await anext(events, None)
    except HexgateError as exc:
        if call.meter is not None:
            call.meter.error = exc.type
        log.info("native response stream ended by upstream error: %s", exc.message)
        for frame in _failure_frames(exc, started, last_seq, call.req):
            yield frame
        return
    except Exception:
        if call.meter is not None:
            call.meter.error = "server_error"
        log.exception("native response stream failed")
        error = UpstreamError("the stream failed inside the gateway")
        for frame in _failure_frames(error, started, last_seq, call.req):
            yield frame
        return
    finally:
        call.charge_stream(final, deltas)
        await _close(events)
    if final is not None:
        await call.keep(final, upstream_state=call.upstream_state)


def _snapshot(event: r.ResponseStreamEvent) -> bytes | None:
    if isinstance(event, r.RawEvent):
        try:
            raw = bytes(_lifecycle_decoder.decode(event.data).response)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        return raw or None
    response = getattr(event, "response", None)
    return _encoder.encode(response) if isinstance(response, r.Response) else None


def _failure_frames(error: HexgateError, started: bytes | None, last_seq: int, req: r.ResponseRequest) -> list[bytes]:
    builder = bridge.EventBuilder(
        _started_response(started, req),
    )
    builder.sequence = last_seq + 1
    return [_frame(e) for e in builder.fail(error)]


def _started_response(started: bytes | None, req: r.ResponseRequest) -> r.Response:
    if started is not None:
        try:
            return r.NativeResponse.from_json(started)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    return bridge.response_template(req, response_id=bridge.new_id("resp"), model=req.model)


# ---------------------------------------------------------------- bridged


async def _bridged(
    request: Request[Any, Any, Any],
    registry: Registry,
    req: r.ResponseRequest,
    ctx: CallContext,
    record: StoredResponse | None,
    call: _Call,
) -> HTTPResponse[Any]:
    history: list[r.InputItem] = []
    if isinstance(req.previous_response_id, str):
        if record is None:
            raise _not_found(req.previous_response_id, param="previous_response_id")
        call.context = _history(record)
        history = _items(call.context)
    stream = req.stream is True
    chat = bridge.to_chat_request(req, history=history, stream=stream)
    chat_ctx = msgspec.structs.replace(ctx, body=None)
    template = bridge.response_template(req, response_id=bridge.new_id("resp"), model=req.model)
    builder = bridge.EventBuilder(template, prompt_tokens=estimate_prompt_tokens(chat))
    trace = trace_of(request)
    if not stream:
        completion = await resilience.chat(registry, chat, chat_ctx, trace=trace)
        builder.start()
        for chunk in completion_as_chunks(completion):
            builder.feed(chunk)
        builder.finish()
        await call.keep(_encoder.encode(builder.response), upstream_state=False)
        return json_response(builder.response)
    opened = await resilience.open_stream(registry, chat, chat_ctx, trace=trace)
    relay = _bridge_relay(opened, builder, call, request_id=ctx.request_id, trace=trace)
    return sse_response(relay)


async def _bridge_relay(
    opened: resilience.OpenedStream[ChatCompletionChunk],
    builder: bridge.EventBuilder,
    call: _Call,
    *,
    request_id: str,
    trace: Any,
) -> AsyncIterator[bytes]:
    ended = False
    try:
        for event in builder.start():
            yield _frame(event)
        chunk = opened.first
        while chunk is not None:
            for event in builder.feed(chunk):
                yield _frame(event)
            chunk = await anext(opened.chunks, None)
        ended = True
        for event in builder.finish():
            yield _frame(event)
    except HexgateError as exc:
        ended = True
        if call.meter is not None:
            call.meter.error = exc.type
        log.info("bridged response stream ended by upstream error: %s", exc.message)
        for event in builder.fail(exc):
            yield _frame(event)
    except Exception:
        ended = True
        if call.meter is not None:
            call.meter.error = "server_error"
        log.exception("bridged response stream failed")
        for event in builder.fail(UpstreamError("the stream failed inside the gateway")):
            yield _frame(event)
    except (GeneratorExit, asyncio.CancelledError):
        if not ended:
            usage = builder.usage()
            resilience.log_cancelled(
                request_id,
                trace,
                prompt_tokens=usage.input_tokens,
                completion_tokens=usage.output_tokens,
                streamed=True,
            )
        raise
    finally:
        if call.meter is not None:  # the chat stream's usage, else hexgate's count so far
            usage = builder.usage()
            call.meter.tokens(usage.input_tokens, usage.output_tokens)
        await opened.aclose()
    await call.keep(_encoder.encode(builder.response), upstream_state=False)


# ---------------------------------------------------------------- stored responses


@get("/v1/responses/{response_id:str}", summary="Retrieve a stored response")
async def retrieve_response(
    request: Request[Any, Any, Any], response_id: FromPath[str], response_store: NamedDependency[ResponseStore]
) -> HTTPResponse[bytes]:
    record = await response_store.get(response_id, owner=owner_of(request.scope))
    if record is None:
        raise _not_found(response_id)
    return HTTPResponse(content=bytes(record.response), status_code=200, media_type="application/json")


@delete("/v1/responses/{response_id:str}", status_code=200, summary="Delete a stored response")
async def delete_response(
    request: Request[Any, Any, Any], response_id: FromPath[str], response_store: NamedDependency[ResponseStore]
) -> HTTPResponse[bytes]:
    if not await response_store.delete(response_id, owner=owner_of(request.scope)):
        raise _not_found(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


class _ItemHead(msgspec.Struct):
    id: str | None = None
    type: str | None = None
    role: str | None = None


_item_head_decoder = msgspec.json.Decoder(_ItemHead)
_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


def _listed(raw: Raw, response_id: str, index: int) -> Raw:
    """An input item as the list shows it: with an ``id`` (stable, derived when the client sent none),
    a ``type``, and a message's string content as one ``input_text`` part."""
    head = _item_head_decoder.decode(raw)
    if head.id and head.type:
        return raw
    item: dict[str, Any] = msgspec.json.decode(raw)
    kind = head.type or "message"
    item["type"] = kind
    if not head.id:
        digest = hashlib.sha256(f"{response_id}:{index}".encode()).hexdigest()[:48]
        item["id"] = f"{_PREFIXES.get(kind, 'item')}_{digest}"
    if kind == "message":
        if isinstance(item.get("content"), str):
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            item["content"] = [{"type": part, "text": item["content"]}]
        item.setdefault("status", "completed")
    return Raw(_encoder.encode(item))


@get("/v1/responses/{response_id:str}/input_items", summary="List a stored response's input items")
async def list_input_items(
    request: Request[Any, Any, Any],
    response_id: FromPath[str],
    response_store: NamedDependency[ResponseStore],
    limit: int = Parameter(default=20, ge=1, le=100),
    order: FromQuery[Literal["asc", "desc"]] = "desc",
    after: FromQuery[str | None] = None,
) -> HTTPResponse[bytes]:
    record = await response_store.get(response_id, owner=owner_of(request.scope))
    if record is None:
        raise _not_found(response_id)
    items = [_listed(raw, response_id, i) for i, raw in enumerate(record.context)]
    ids = [_item_head_decoder.decode(raw).id or "" for raw in items]
    pairs = list(zip(ids, items, strict=True))
    if order == "desc":
        pairs.reverse()
    if after is not None:
        position = next((i for i, (item_id, _) in enumerate(pairs) if item_id == after), None)
        if position is None:
            raise InvalidRequest(f"no input item with id {after!r} in response {response_id!r}", param="after")
        pairs = pairs[position + 1 :]
    page = pairs[:limit]
    body = {
        "object": "list",
        "data": [item for _, item in page],
        "first_id": page[0][0] if page else None,
        "last_id": page[-1][0] if page else None,
        "has_more": len(pairs) > limit,
    }
    return json_response(body)
