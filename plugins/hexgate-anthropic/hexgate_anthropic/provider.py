"""The Anthropic provider: I/O only, through the official SDK on the HTTP client the core hands in.

``AsyncAnthropic(api_key, base_url, http_client=<core's client>, max_retries=0, timeout)``
builds and sends each request (auth and version headers, error statuses → SDK exceptions);
bodies are read raw (``with_streaming_response``) and decoded with msgspec (:mod:`.wire`),
then translated by the pure :mod:`.translate` and :mod:`.stream`. Retries are the client's
business (``max_retries=0``), so a 429's ``retry-after`` reaches it unchanged.

It also speaks the Messages dialect natively (:class:`hexgate.protocol.MessagesProvider`):
``/v1/messages`` bodies pass through byte for byte (:mod:`hexgate_anthropic.messages`).

Errors (ARCHITECTURE.md "Errors", via :func:`hexgate.errors.from_upstream_status`):
400/404/413 → the same status (``invalid_request_error``), 401/403 → 502, 429 → 429 with
``retry-after``, 529 → 503, 500 → 502, transport failures (the SDK's or httpx's) as
:func:`hexgate.plugin_kit.from_transport_error` maps them; an ``event: error`` after the 200 is
raised from the stream, so the core ends it with an error frame; a 200 whose JSON body is an error
object fails with its type's status (:func:`hexgate_anthropic.translate.message_error`). The
upstream's own message is kept; keys never (the key the request carried is scrubbed, whatever its
shape, and hexgate's messages are redacted).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import anthropic
import httpx
import msgspec

from hexgate.errors import (
    Unsupported,
    UpstreamError,
)
from hexgate.plugin_kit import iter_sse
from hexgate.protocol import PROTOCOL_VERSION, CallContext, ParamPolicy
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Usage
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from hexgate.schemas.models import Model
from hexgate.schemas.responses import RawEvent, Response, ResponseRequest, ResponseStreamEvent
from hexgate_anthropic import messages as native
from hexgate_anthropic import wire
from hexgate_anthropic.errors import upstream_error
from hexgate_anthropic.settings import AnthropicSettings
from hexgate_anthropic.stream import StreamTranslator
from hexgate_anthropic.translate import add_usage, build_params, combine, model_entry

__all__ = ["AnthropicProvider", "upstream_error"]


class AnthropicProvider:
    """A :class:`hexgate.protocol.Provider` for Anthropic's Messages API."""

    protocol_version = PROTOCOL_VERSION
    param_policy: ClassVar[Mapping[str, ParamPolicy]] = {
        "n": "emulate",  # one upstream call per choice
        "seed": "drop",
        "presence_penalty": "drop",
        "frequency_penalty": "drop",
        "logit_bias": "drop",
        "metadata": "drop",
        "logprobs": "reject",
        "top_logprobs": "reject",
    }
    """What this provider does with chat parameters Anthropic lacks (translate.py's docstring)."""

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), AnthropicSettings)
        headers: dict[str, str] = {}
        if self.settings.anthropic_version:
            headers["anthropic-version"] = self.settings.anthropic_version
        if self.settings.anthropic_beta:
            headers["anthropic-beta"] = ",".join(self.settings.anthropic_beta)
        self.http = http
        self._client = anthropic.AsyncAnthropic(
            api_key=self.settings.api_key,
            base_url=self.settings.base_url,
            http_client=http,
            max_retries=0,
            timeout=self.settings.timeout,
            default_headers=headers or None,
        )

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The SDK client (its base URL and auth headers serve the native pass-through)."""
        return self._client

    def _timeout(self, ctx: CallContext) -> float:
        return min(self.settings.timeout, ctx.timeout)

    # ------------------------------------------------------------ chat

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        params = build_params(request, model=ctx.model, settings=self.settings)
        n = request.n if isinstance(request.n, int) and request.n > 1 else 1
        if n == 1:
            messages = [await self._create(params, ctx)]
        else:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._create(params, ctx)) for _ in range(n)]
            messages = [t.result() for t in tasks]
        return combine(messages, created=int(time.time()), model=ctx.model)

    async def _create(self, params: dict[str, Any], ctx: CallContext) -> wire.Message:
        try:
            async with self._client.messages.with_streaming_response.create(
                **params, timeout=self._timeout(ctx)
            ) as raw:
                body = await raw.read()
        except (anthropic.APIError, httpx.HTTPError) as exc:
            raise upstream_error(exc) from None
        try:
            return wire.decode_message(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UpstreamError("Anthropic answered with a body that is not a Message") from None

    def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        params = build_params(request, model=ctx.model, settings=self.settings)
        n = request.n if isinstance(request.n, int) and request.n > 1 else 1
        created = int(time.time())
        if n == 1:
            return self._stream_one(params, ctx, created=created)
        return self._fan_out(params, ctx, n=n, created=created)

    async def _stream_one(
        self,
        params: dict[str, Any],
        ctx: CallContext,
        *,
        created: int,
        chunk_id: str | None = None,
        choice_index: int = 0,
    ) -> AsyncIterator[ChatCompletionChunk]:
        translator = StreamTranslator(model=ctx.model, created=created, chunk_id=chunk_id, choice_index=choice_index)
        try:
            async with self._client.messages.with_streaming_response.create(
                **params, stream=True, timeout=self._timeout(ctx)
            ) as raw:
                async for sse in iter_sse(raw.iter_bytes()):
                    try:
                        event = wire.decode_event(sse.data)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        raise UpstreamError(f"Anthropic sent an unreadable {sse.event!r} stream event") from None
                    if translator.finished:
                        continue  # read the body to its end so the connection goes back to the pool
                    for chunk in translator.feed(event):
                        yield chunk
            for chunk in translator.end():
                yield chunk
        except (anthropic.APIError, httpx.HTTPError) as exc:
            raise upstream_error(exc) from None

    async def _fan_out(
        self, params: dict[str, Any], ctx: CallContext, *, n: int, created: int
    ) -> AsyncIterator[ChatCompletionChunk]:
        """``n`` concurrent streams, interleaved as one with choice indexes 0…n-1; their usage
        summed on a trailing ``choices: []`` chunk (the core keeps the last usage it sees)."""
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
        queue: asyncio.Queue[tuple[int, ChatCompletionChunk | BaseException | None]] = asyncio.Queue()

        async def pump(i: int) -> None:
            try:
                async for chunk in self._stream_one(params, ctx, created=created, chunk_id=chunk_id, choice_index=i):
                    await queue.put((i, chunk))
                await queue.put((i, None))
            except Exception as exc:
                await queue.put((i, exc))

        tasks = [asyncio.create_task(pump(i)) for i in range(n)]
        usage: Usage | None = None
        last: ChatCompletionChunk | None = None
        try:
            running = n
            while running:
                _, item = await queue.get()
                if item is None:
                    running -= 1
                    continue
                if isinstance(item, BaseException):
                    raise item
                if item.usage:
                    usage = item.usage if usage is None else add_usage(usage, item.usage)
                    item.usage = msgspec.UNSET
                last = item
                yield item
            if usage is not None and last is not None:
                yield ChatCompletionChunk(id=last.id, created=created, model=last.model, choices=[], usage=usage)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------ native Messages

    async def messages(
        self, body: bytes, headers: Mapping[str, str], ctx: CallContext
    ) -> bytes | AsyncIterator[RawEvent]:
        """:class:`hexgate.protocol.MessagesProvider`: the client's body passed through
        (:mod:`hexgate_anthropic.messages`)."""
        return await native.create_message(self, body, headers, ctx)

    async def count_tokens(self, body: bytes, headers: Mapping[str, str], ctx: CallContext) -> bytes:
        """The upstream's own token count for the client's ``count_tokens`` body."""
        return await native.count_tokens(self, body, headers, ctx)

    # ------------------------------------------------------------ the rest

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        raise Unsupported(
            "Anthropic has no embeddings API; route embeddings to another provider (e.g. an OpenAI-compatible one)",
            param="model",
        )

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("Anthropic has no native Responses API here; the core bridges it over chat")

    async def list_models(self) -> list[Model]:
        """``GET /v1/models`` (all pages) with capability metadata: the API's own ``max_input_tokens``,
        ``max_tokens`` and ``capabilities`` where it sends them, else the known-family table."""
        try:
            infos = [m async for m in self._client.models.list(limit=1000, timeout=self.settings.timeout)]
        except (anthropic.APIError, httpx.HTTPError) as exc:
            raise upstream_error(exc) from None
        models = []
        for info in infos:
            caps = getattr(info, "capabilities", None)
            models.append(
                model_entry(
                    id=info.id,
                    display_name=info.display_name,
                    created=int(info.created_at.timestamp()) if info.created_at else 0,
                    context_window=getattr(info, "max_input_tokens", None),
                    max_output_tokens=getattr(info, "max_tokens", None),
                    vision=_supported(caps, "image_input"),
                    reasoning=_supported(caps, "thinking"),
                    json_output=_supported(caps, "structured_outputs"),
                )
            )
        return models


def _supported(caps: Any, name: str) -> bool | None:
    value = getattr(getattr(caps, name, None), "supported", None)
    return value if isinstance(value, bool) else None


# ---------------------------------------------------------------- errors
