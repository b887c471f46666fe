"""Echo: answers with the last user message, word by word when streamed.

Settings (``[providers.<id>]``, plugin = "echo"):

| key | type | default | meaning |
|---|---|---|---|
| ``models`` | list of str | ``["echo"]`` | model ids it lists and accepts |
| ``delay`` | float, seconds | 0 | pause before each streamed chunk |
| ``dimensions`` | int | 8 | length of the (deterministic, unit-length) embeddings |

A user message ``!fail <status>`` makes it raise the error the core maps that
upstream status to, so tests can exercise error paths without a network.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import msgspec

from hexgate.errors import ModelNotFound, Unsupported, from_upstream_status
from hexgate.protocol import PROTOCOL_VERSION, CallContext
from hexgate.schemas.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
)
from hexgate.schemas.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent

__all__ = ["EchoProvider", "EchoSettings"]


class EchoSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    models: list[str] = msgspec.field(default_factory=lambda: ["echo"])
    delay: float = 0.0
    dimensions: int = 8


class EchoProvider:
    """A :class:`hexgate.protocol.Provider` that needs no upstream."""

    protocol_version = PROTOCOL_VERSION

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), EchoSettings)
        self._http = http  # unused: a real plugin sends every upstream call through it

    def _answer(self, request: ChatCompletionRequest, ctx: CallContext) -> str:
        if ctx.model not in self.settings.models:
            raise ModelNotFound(f"echo serves {self.settings.models}, not {ctx.model!r}")
        text = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
        if text.startswith("!fail "):
            status = int(text.split()[1])
            raise from_upstream_status(status, f"echo was asked to fail with {status}", retry_after=1.0)
        return text

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        text = self._answer(request, ctx)
        prompt = sum(len(m.text().split()) for m in request.messages)
        words = len(text.split())
        n = request.n if isinstance(request.n, int) else 1
        return ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=ctx.model,
            choices=[Choice(index=i, message=AssistantMessage(content=text), finish_reason="stop") for i in range(n)],
            usage=Usage(prompt_tokens=prompt, completion_tokens=words, total_tokens=prompt + words),
        )

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        text = self._answer(request, ctx)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                id=cid,
                created=created,
                model=ctx.model,
                choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
            )

        yield chunk(Delta(role="assistant", content=""))
        words = text.split(" ")
        for i, word in enumerate(words):
            if self.settings.delay:
                await asyncio.sleep(self.settings.delay)
            yield chunk(Delta(content=word if i == 0 else " " + word))
        yield chunk(Delta(), "stop")

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        data = []
        for i, item in enumerate(request.inputs()):
            seed = hashlib.sha256(str(item).encode()).digest()
            dims = request.dimensions if isinstance(request.dimensions, int) else self.settings.dimensions
            raw = [seed[j % len(seed)] - 127.5 for j in range(dims)]
            norm = math.sqrt(sum(v * v for v in raw)) or 1.0
            data.append(Embedding(index=i, embedding=[v / norm for v in raw]))
        tokens = sum(len(str(x).split()) for x in request.inputs())
        return EmbeddingResponse(
            data=data, model=ctx.model, usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens)
        )

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("echo has no native Responses API")

    async def list_models(self) -> list[Model]:
        caps = ModelCapabilities(chat=True, embeddings=True, streaming=True)
        return [
            Model(id=m, owned_by="echo", capabilities=caps, embedding_dimensions=self.settings.dimensions)
            for m in self.settings.models
        ]
