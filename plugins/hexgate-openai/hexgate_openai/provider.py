"""Any OpenAI-compatible upstream: OpenAI, the Hugging Face router, DeepSeek, MiniMax, Ollama ``/v1``,
vLLM, llama.cpp servers. I/O only, through the ``httpx.AsyncClient`` the core hands in; the mapping
lives in :mod:`hexgate_openai.translate`, the upstream's shapes in :mod:`hexgate_openai.wire`.

Settings (``[providers.<id>]``, ``plugin = "openai"``):

| key | type | default | meaning |
|---|---|---|---|
| ``base_url`` | str | required | the upstream's OpenAI base, e.g. ``https://api.openai.com/v1`` |
| ``api_key`` | str | none | sent as ``Authorization: Bearer <key>``; empty means none |
| ``headers`` | table of str | ``{}`` | extra headers (``X-HF-Bill-To``…); they override the defaults |
| ``timeout`` | float, s | gateway's | longest wait for the upstream's next bytes (connect: the gateway's) |
| ``models`` | list of str | none | a static model list, for upstreams without ``GET /models`` |
| ``stream_usage`` | bool | true | ask for ``stream_options.include_usage`` when streaming |
| ``embeddings_base64`` | bool | true | pass ``encoding_format`` on; false: ask floats, the core encodes |
| ``think_tags`` | bool | false | move inline ``<think>…</think>`` to ``reasoning_content`` |

Failures (ARCHITECTURE.md "Errors"): a non-2xx answer goes through
:func:`hexgate.errors.from_upstream_status` with the upstream's message and ``retry-after``; an error
sent with status 200 (JSON error body, ``data: {"error": ...}`` frame, MiniMax ``base_resp``) maps
the same way; transport failures map through :func:`hexgate.plugin_kit.from_transport_error`
(refused connections :class:`UpstreamConnectError`, timeouts :class:`UpstreamTimeout`, a connection
lost once a request went out :class:`UpstreamError`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar, cast

import httpx
import msgspec

from hexgate.errors import UpstreamError
from hexgate.plugin_kit import (
    UpstreamResponse,
    completion_as_chunks,
    from_transport_error,
    iter_sse_batches,
    retry_after,
    send,
)
from hexgate.protocol import PROTOCOL_VERSION, CallContext
from hexgate.schemas.chat import READ_END, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChunkFrames
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from hexgate.schemas.models import Model
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent
from hexgate_openai.responses import NativeResponses
from hexgate_openai.translate import (
    StreamNormaliser,
    chat_payload,
    completion_from_wire,
    embeddings_from_wire,
    embeddings_payload,
    models_from_ids,
    models_from_wire,
    status_error,
)
from hexgate_openai.wire import WireChunk, WireCompletion, WireEmbeddingResponse, WireModelList

__all__ = ["OpenAIProvider", "OpenAISettings"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t) for t in (WireChunk, WireCompletion, WireEmbeddingResponse, WireModelList)
}


class OpenAISettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One ``[providers.<id>]`` table for ``plugin = "openai"`` (the table in the module docstring)."""

    base_url: str
    api_key: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    timeout: float | None = None
    models: list[str] | None = None
    stream_usage: bool = True
    embeddings_base64: bool = True
    think_tags: bool = False


class OpenAIProvider:
    """A :class:`hexgate.protocol.Provider` for one OpenAI-compatible base URL.

    Raises ``msgspec.ValidationError`` for a bad settings table and ``ValueError`` for a
    ``base_url`` that is not http(s) or a timeout that is not positive.
    """

    protocol_version = PROTOCOL_VERSION

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), OpenAISettings)
        base = self.settings.base_url.strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, not {self.settings.base_url!r}")
        if self.settings.timeout is not None and self.settings.timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.http = http
        self.base_url = base
        url = httpx.URL(base)
        self._where = f"the upstream at {url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        self._secret = self.settings.api_key or None
        headers = {"accept": "application/json"}
        if self._secret:
            headers["authorization"] = f"Bearer {self._secret}"
        headers.update({k.lower(): v for k, v in self.settings.headers.items()})
        self._headers = headers
        self._responses = NativeResponses(self.open)
        t, base_timeout = self.settings.timeout, http.timeout
        self._timeout: httpx.Timeout | None = (  # None: the client's own
            httpx.Timeout(connect=base_timeout.connect, read=t, write=t, pool=base_timeout.pool)
            if t is not None
            else None
        )

    # ------------------------------------------------------------ transport

    def url(self, path: str) -> str:
        """``base_url`` joined with ``path`` (``/chat/completions``)."""
        return self.base_url + "/" + path.lstrip("/")

    @contextlib.asynccontextmanager
    async def open(
        self, method: str, path: str, *, payload: Any = None, stream: bool = False
    ) -> AsyncIterator[UpstreamResponse]:
        """Send one request (:func:`hexgate.plugin_kit.send`: the core's direct lane when it applies,
        else httpx) and yield the (unread) 2xx response; always closes it on exit, so leaving the
        block early (a client disconnect closing a stream) cancels the upstream request.

        Raises the mapped hexgate error for a non-2xx status (the upstream's message,
        ``retry-after`` passed on) and for transport failures before or during the answer.
        For the Responses module as well as for chat, embeddings and models.
        """
        headers = dict(self._headers)
        if stream:
            headers["accept"] = "text/event-stream"
        content = None
        if payload is not None:
            content = _encoder.encode(payload)
            headers["content-type"] = "application/json"
        try:
            response = await send(
                self.http, method, self.url(path), headers=headers, content=content, timeouts=self._timeout
            )
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, upstream=self._where) from None
        try:
            if not response.is_success:
                body = await response.aread()
                retry = retry_after(response.headers)
                raise status_error(response.status_code, body, retry_after=retry, secret=self._secret)
            yield response
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, upstream=self._where, mid_answer=True) from None
        finally:
            await response.aclose()

    def decode(self, raw: bytes | str, type_: type[T], what: str) -> T:
        """``raw`` as ``type_``; an unreadable answer is a 502 :class:`UpstreamError` naming ``what``."""
        decoder = _decoders.get(type_) or msgspec.json.Decoder(type_)
        try:
            return decoder.decode(raw)  # type: ignore[no-any-return]
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"the upstream sent an unreadable {what}: {exc}") from None

    # ------------------------------------------------------------ operations

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        payload = chat_payload(request, body=ctx.body, model=ctx.model, stream=False, stream_usage=False)
        async with self.open("POST", "/chat/completions", payload=payload) as response:
            raw = await response.aread()
        wire = self.decode(raw, WireCompletion, "chat completion")
        return completion_from_wire(wire, model=ctx.model, think_tags=self.settings.think_tags, secret=self._secret)

    def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        # without frames, _stream yields ChatCompletionChunk s only
        return cast(AsyncIterator[ChatCompletionChunk], self._stream(request, ctx, frames=False, want_usage=False))

    def stream_chat_frames(
        self, request: ChatCompletionRequest, ctx: CallContext, *, want_usage: bool
    ) -> AsyncIterator[ChatCompletionChunk | ChunkFrames]:
        """:meth:`stream_chat` with the events that need no change forwarded as bytes
        (:meth:`hexgate_openai.translate.StreamNormaliser.passable` decides), a run of them per upstream
        read as one :class:`~hexgate.schemas.chat.ChunkFrames`, and
        :data:`~hexgate.schemas.chat.READ_END` after what each read brought
        (:class:`hexgate.protocol.RelaysFrames`)."""
        return self._stream(request, ctx, frames=True, want_usage=want_usage)

    async def _stream(
        self, request: ChatCompletionRequest, ctx: CallContext, *, frames: bool, want_usage: bool
    ) -> AsyncIterator[ChatCompletionChunk | ChunkFrames]:
        payload = chat_payload(
            request, body=ctx.body, model=ctx.model, stream=True, stream_usage=self.settings.stream_usage
        )
        normaliser = StreamNormaliser(model=ctx.model, think_tags=self.settings.think_tags, secret=self._secret)
        async with self.open("POST", "/chat/completions", payload=payload, stream=True) as response:
            body = response.aiter_bytes()
            kind = response.headers.get("content-type", "")
            head = b""
            if "event-stream" not in kind:
                # an error body sent with 200, or an upstream that ignored stream: true; without a
                # content type the first bytes tell JSON from SSE
                async for head in body:
                    if head.strip():
                        break
                if "json" in kind or head.lstrip().startswith(b"{"):
                    raw = head + b"".join([piece async for piece in body])
                    wire = self.decode(raw, WireCompletion, "chat completion")
                    completion = completion_from_wire(
                        wire, model=ctx.model, think_tags=self.settings.think_tags, secret=self._secret
                    )
                    for chunk in completion_as_chunks(completion):
                        yield chunk
                    return
            async for batch in iter_sse_batches(_prepend(head, body)):
                run: list[bytes] = []  # payloads to forward as they are, in order
                pieces = 0
                done = False
                yielded = False
                for name, raw_data in batch:
                    data = raw_data.strip()
                    if not data:
                        continue
                    if data == b"[DONE]":
                        done = True
                        break
                    if frames and name == "message":
                        passed = normaliser.passable(data, want_usage=want_usage)
                        if passed is not None:
                            run.append(passed[0])
                            pieces += passed[1]
                            continue
                    if run:
                        yield _frames(run, pieces)
                        run, pieces, yielded = [], 0, True
                    wire_chunk = self.decode(data, WireChunk, "stream chunk")
                    if name == "error" and wire_chunk.error is None:
                        text = data[:300].decode("utf-8", "replace")
                        raise UpstreamError(f"the upstream sent an error event: {text}")
                    out = normaliser.feed(wire_chunk)
                    if out is not None:
                        yield out
                        yielded = True
                if run:
                    yield _frames(run, pieces)
                    yielded = True
                if frames and yielded:
                    yield READ_END  # what this read brought can leave in one write
                if done:
                    await _read_to_end(body)
                    break
            tail = normaliser.finish()
            if tail is not None:
                yield tail

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        payload = embeddings_payload(
            request, body=ctx.body, model=ctx.model, floats_only=not self.settings.embeddings_base64
        )
        async with self.open("POST", "/embeddings", payload=payload) as response:
            raw = await response.aread()
        wire = self.decode(raw, WireEmbeddingResponse, "embeddings answer")
        return embeddings_from_wire(wire, model=ctx.model, secret=self._secret)

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        return await self._responses.respond(request, ctx)

    async def list_models(self) -> list[Model]:
        if self.settings.models is not None:
            return models_from_ids(self.settings.models)
        async with self.open("GET", "/models") as response:
            raw = await response.aread()
        return models_from_wire(self.decode(raw, WireModelList, "model list"), secret=self._secret)


def _frames(payloads: list[bytes], pieces: int) -> ChunkFrames:
    """``data: <payload>\n\n`` for each payload, as one :class:`ChunkFrames`."""
    return ChunkFrames(data=b"data: " + b"\n\ndata: ".join(payloads) + b"\n\n", pieces=pieces)


_TAIL_SECONDS = 1.0
"""How long the end of the body may take to follow the upstream's ``[DONE]`` (:func:`_read_to_end`)."""


async def _read_to_end(body: AsyncIterator[bytes]) -> None:
    """Read what follows ``[DONE]`` (the chunked body's terminator, usually) so that the connection goes
    back to the pool; an upstream that keeps it open past :data:`_TAIL_SECONDS` has it closed instead."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_TAIL_SECONDS):
            async for _ in body:
                pass


async def _prepend(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for piece in rest:
        yield piece
