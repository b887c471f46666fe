"""``POST /v1/chat/completions``: JSON and SSE.

Streams follow ARCHITECTURE.md "Streaming rules": the first chunk carries
``delta.role``; usage never rides on content chunks unless the client asked
(``stream_options.include_usage``), and then a final ``choices: []`` chunk carries
it, counted locally when the upstream sent none; an upstream error before the
first chunk is an ordinary error answer with its status, after it one
``data: {"error": ...}`` frame ends the stream; ``data: [DONE]`` ends a good one.
A client that disconnects cancels the generator, which closes the upstream call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, post
from litestar.response import Stream
from msgspec import UNSET

from hexgate.errors import HexgateError, InvalidRequest, envelope
from hexgate.registry import Registry
from hexgate.routes._common import call_context, decode_body, json_response, with_deadline
from hexgate.schemas.chat import ChatCompletionChunk, ChatCompletionRequest, Usage
from hexgate.sse import DONE, data_frame

__all__ = ["chat_completions", "estimate_prompt_tokens"]

log = logging.getLogger("hexgate.chat")

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@post(
    "/v1/chat/completions",
    status_code=200,
    summary="Create a chat completion (JSON or SSE)",
    opt={"body": ChatCompletionRequest},
)
async def chat_completions(request: Request[Any, Any, Any], registry: Registry) -> Response[Any]:
    body = await request.body()
    chat = decode_body(body, ChatCompletionRequest)
    if not chat.messages:
        raise InvalidRequest("'messages' must contain at least one message", param="messages")
    if isinstance(chat.n, int) and chat.n < 1:
        raise InvalidRequest("'n' must be at least 1", param="n")
    route = registry.resolve(chat.model)
    ctx = call_context(request, route, body, registry)
    if not chat.stream:
        completion = await with_deadline(route.provider.chat(chat, ctx), ctx.timeout)
        return json_response(completion)
    upstream = route.provider.stream_chat(chat, ctx)
    try:
        first = await with_deadline(anext(upstream, None), ctx.timeout)
    except BaseException:
        await _close(upstream)
        raise
    return Stream(_relay(first, upstream, chat), media_type="text/event-stream", headers=_SSE_HEADERS)


async def _close(iterator: AsyncIterator[Any]) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        await closer()


async def _relay(
    first: ChatCompletionChunk | None,
    upstream: AsyncIterator[ChatCompletionChunk],
    chat: ChatCompletionRequest,
) -> AsyncIterator[bytes]:
    want_usage = chat.wants_usage()
    usage: Usage | None = None
    pieces = 0
    meta: ChatCompletionChunk | None = None
    role_sent = False
    try:
        chunk = first
        while chunk is not None:
            if chunk.usage:
                usage = chunk.usage
            if chunk.choices:
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
                chunk.usage = None if want_usage else UNSET
                yield data_frame(chunk)
            elif meta is None:
                meta = chunk
            chunk = await anext(upstream, None)
        if want_usage:
            if usage is None:
                prompt = estimate_prompt_tokens(chat)
                usage = Usage(prompt_tokens=prompt, completion_tokens=pieces, total_tokens=prompt + pieces)
            yield data_frame(
                ChatCompletionChunk(
                    id=meta.id if meta else "chatcmpl-hexgate",
                    created=meta.created if meta else int(time.time()),
                    model=meta.model if meta else chat.model,
                    choices=[],
                    usage=usage,
                    system_fingerprint=meta.system_fingerprint if meta else UNSET,
                )
            )
        yield DONE
    except HexgateError as exc:
        log.info("stream ended by upstream error: %s", exc.message)
        yield data_frame(exc.body())
    except Exception:
        log.exception("stream failed")
        yield data_frame(envelope("the stream failed inside the gateway", type="server_error"))
    finally:
        await _close(upstream)


def estimate_prompt_tokens(chat: ChatCompletionRequest) -> int:
    """A local estimate for upstreams that report no usage: about four characters a token,
    plus four tokens of framing per message (OpenAI's cookbook rule of thumb)."""
    chars = sum(len(m.text()) for m in chat.messages)
    return (chars + 3) // 4 + 4 * len(chat.messages)
