"""``POST /v1/chat/completions``: JSON and SSE.

Streams follow ARCHITECTURE.md "Streaming rules": the first chunk carries
``delta.role``; usage never rides on content chunks unless the client asked
(``stream_options.include_usage``), and then a final ``choices: []`` chunk carries
it, counted locally when the upstream sent none; an upstream error before the
first chunk is an ordinary error answer with its status, after it one
``data: {"error": ...}`` frame ends the stream; ``data: [DONE]`` ends a good one.
Until that first chunk, :mod:`hexgate.resilience` may fall back to other targets and
retry; the ``idle`` and ``total`` timeouts end a started stream with a 504 error frame.
A client that disconnects cancels the generator, which closes the upstream call, and
the usage streamed so far is logged (``hexgate.usage``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, post
from msgspec import UNSET

from hexgate import params, resilience
from hexgate.errors import HexgateError, InvalidRequest, envelope
from hexgate.ops.meter import Meter, meter_of
from hexgate.ops.middleware import KEY_STATE
from hexgate.reasoning_format import HEADER as REASONING_HEADER
from hexgate.reasoning_format import StreamRenderer, choose, render_completion
from hexgate.registry import Registry
from hexgate.routes._common import call_context, decode_body, json_response, registry_of, sse_response, trace_of
from hexgate.schemas.chat import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkFrames,
    Usage,
    estimate_prompt_tokens,
)
from hexgate.sse import DONE, data_frame
from hexgate.trace import Trace

__all__ = ["chat_completions"]

log = logging.getLogger("hexgate.chat")

_MAX_N = 128
"""OpenAI's own bound on ``n``; a larger one would let one request make a provider build unbounded answers."""


@post(
    "/v1/chat/completions",
    status_code=200,
    summary="Create a chat completion (JSON or SSE)",
    opt={"body": ChatCompletionRequest},
)
async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
    registry = registry_of(request)
    body = await request.body()
    chat = decode_body(body, ChatCompletionRequest)
    if not chat.messages:
        raise InvalidRequest("'messages' must contain at least one message", param="messages")
    if isinstance(chat.n, int) and not 1 <= chat.n <= _MAX_N:
        raise InvalidRequest(f"'n' must be between 1 and {_MAX_N}", param="n")
    limit = registry.settings.server.max_messages
    if len(chat.messages) > limit:
        raise InvalidRequest(
            f"'messages' has {len(chat.messages)} messages; this gateway accepts at most {limit} (server.max_messages)",
            param="messages",
        )
    route = registry.resolve(chat.model)
    server = registry.settings.server
    alias = registry.settings.models.get(chat.model)
    key = request.scope.get("state", {}).get(KEY_STATE)
    fmt = choose(
        request.headers.get(REASONING_HEADER),
        key=getattr(key, "reasoning_format", None),
        alias=alias.reasoning_format if alias is not None else None,
        server=server.reasoning_format,
    )
    reachable = [(route.provider_id, route.provider)]
    if alias is not None:
        pids = dict.fromkeys(t.target.partition("/")[0] for t in alias.entries())
        reachable = [(pid, registry.providers[pid]) for pid in pids if pid in registry.providers]
    params.check(chat, reachable, strict=server.strict_params)
    ctx = call_context(request, route, body, registry)
    trace = trace_of(request)
    meter = meter_of(request, model=chat.model)
    if not chat.stream:
        completion = await resilience.chat(registry, chat, ctx, trace=trace)
        meter.usage(completion.usage)
        render_completion(completion, fmt)
        return json_response(completion, headers=_param_headers(chat, registry, trace) or None)
    renderer = StreamRenderer(fmt)
    opened: resilience.OpenedStream[ChatCompletionChunk] | resilience.OpenedStream[ChatCompletionChunk | ChunkFrames]
    if renderer.active:  # the reasoning is re-rendered chunk by chunk
        opened = await resilience.open_stream(registry, chat, ctx, trace=trace)
    else:  # chunks needing no change may come as bytes (ChunkFrames)
        opened = await resilience.open_frames(registry, chat, ctx, want_usage=chat.wants_usage(), trace=trace)
    relay = _relay(
        opened.first,
        opened.chunks,
        chat,
        request_id=ctx.request_id,
        trace=trace,
        meter=meter,
        renderer=renderer,
        batched=opened.batched,
    )
    return sse_response(relay, _param_headers(chat, registry, trace))


def _param_headers(chat: ChatCompletionRequest, registry: Registry, trace: Trace) -> dict[str, str]:
    provider = registry.providers.get(trace.provider or "")
    return params.headers_for(chat, provider) if provider is not None else {}


async def _relay(
    first: ChatCompletionChunk | ChunkFrames | None,
    upstream: AsyncIterator[ChatCompletionChunk] | AsyncIterator[ChatCompletionChunk | ChunkFrames],
    chat: ChatCompletionRequest,
    *,
    request_id: str = "",
    trace: Trace | None = None,
    meter: Meter | None = None,
    renderer: StreamRenderer | None = None,
    batched: bool = False,
) -> AsyncIterator[bytes]:
    """The client's SSE body (the module docstring's rules). :class:`ChunkFrames` are forwarded as they
    are. A choices-less usage chunk after a ``finish_reason`` is the answer's last: ``[DONE]`` leaves
    then and the answer ends, so the client's last gap is the upstream's (benchmarks/README.md, gaps);
    the rest of the upstream stream (its own ``[DONE]``) is read in the background
    (:func:`hexgate.resilience.drain_later`), which keeps its connection for the next request.
    ``batched``: the upstream marks the end of each of its reads (:data:`~hexgate.schemas.chat.READ_END`);
    what one read brought leaves in one write there, else each chunk leaves as soon as it is rendered."""
    want_usage = chat.wants_usage()
    usage: Usage | None = None
    pieces = 0
    meta: ChatCompletionChunk | None = None
    role_sent = False
    finished = False
    ended = False
    out: list[bytes] = []  # rendered, not yet written
    handed = False  # the upstream's tail went to resilience.drain_later
    try:
        chunk = first
        while chunk is not None:
            if isinstance(chunk, ChunkFrames):
                pieces += chunk.pieces
                if chunk.data:
                    out.append(chunk.data)
                elif out:  # READ_END
                    yield b"".join(out)
                    out.clear()
            elif chunk.choices:
                if chunk.usage:
                    usage = chunk.usage
                meta = chunk
                if not role_sent:
                    role_sent = True
                    delta = chunk.choices[0].delta
                    if not delta.role:
                        delta.role = "assistant"
                for choice in chunk.choices:
                    d = choice.delta
                    if d.content or d.reasoning_content or d.tool_calls or d.refusal:
                        pieces += 1
                    if choice.finish_reason:
                        finished = True
                chunk.usage = None if want_usage else UNSET
                if renderer is not None and renderer.active:
                    renderer.chunk(chunk)
                out.append(data_frame(chunk))
            else:
                if chunk.usage:
                    usage = chunk.usage
                    if finished:  # the upstream's last word: nothing can follow but its [DONE]
                        break
                if meta is None:
                    meta = chunk
            if out and not batched:
                yield b"".join(out) if len(out) > 1 else out[0]
                out.clear()
            chunk = await anext(upstream, None)
        closing = renderer.close(meta) if renderer is not None and meta is not None else None
        if closing is not None:
            closing.usage = None if want_usage else UNSET
            out.append(data_frame(closing))
        if want_usage:
            if usage is None:
                prompt = estimate_prompt_tokens(chat)
                usage = Usage(prompt_tokens=prompt, completion_tokens=pieces, total_tokens=prompt + pieces)
            out.append(
                data_frame(
                    ChatCompletionChunk(
                        id=meta.id if meta else "chatcmpl-hexgate",
                        created=meta.created if meta else int(time.time()),
                        model=meta.model if meta else chat.model,
                        choices=[],
                        usage=usage,
                        system_fingerprint=meta.system_fingerprint if meta else UNSET,
                    )
                )
            )
        ended = True
        out.append(DONE)
        yield b"".join(out)
        out.clear()
        if chunk is not None:  # DONE left early (above): the upstream's tail is read in the background
            handed = resilience.drain_later(upstream)
    except HexgateError as exc:
        ended = True
        if meter is not None:
            meter.error = exc.type
        log.info("stream ended by upstream error: %s", exc.message)
        out.append(data_frame(exc.body()))
        yield b"".join(out)
    except Exception:
        ended = True
        if meter is not None:
            meter.error = "server_error"
        log.exception("stream failed")
        out.append(data_frame(envelope("the stream failed inside the gateway", type="server_error")))
        yield b"".join(out)
    except (GeneratorExit, asyncio.CancelledError):
        if not ended:
            completion = usage.completion_tokens if usage is not None else pieces
            prompt = usage.prompt_tokens if usage is not None else estimate_prompt_tokens(chat)
            resilience.log_cancelled(
                request_id, trace, prompt_tokens=prompt, completion_tokens=completion, streamed=True
            )
        raise
    finally:
        if meter is not None:  # the usage the upstream reported, else what hexgate counted (hexgate.ops)
            if usage is not None:
                meter.usage(usage)
            else:
                meter.tokens(estimate_prompt_tokens(chat), pieces)
        if not handed:
            await resilience.close_quietly(upstream)
