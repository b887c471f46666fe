"""The embedded ``local`` provider: llama.cpp chat and ONNX embeddings in a supervised worker process.

Both models live in one worker process (:mod:`hexgate_local._worker`, run by
:class:`hexgate.plugin_kit.Supervisor`), never in the gateway's: a fault in llama.cpp or onnxruntime
(a segfault, an abort, an out-of-memory kill, a hang) costs the requests it was serving a 502 (or
the error frame of a stream) and a restart of the worker, not the gateway. Chat runs on the
worker's chat thread and embeddings on its embedding thread, so an embedding never waits behind a
long generation. Each piece of text crosses the pipe as soon as it is whole UTF-8. When the
consumer goes away (the core closes ``stream_chat``'s generator on a client disconnect, or cancels
``chat`` at its deadline) the worker's token loop sees the cancel before its next token. Both models
load in :meth:`LocalProvider.start` (or on first use); llama.cpp's system info is logged then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import httpx
import msgspec

from hexgate.errors import InvalidRequest, ModelNotFound, Unsupported
from hexgate.plugin_kit import Supervisor, text_inputs
from hexgate.protocol import PROTOCOL_VERSION, CallContext, WorkerStatus
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent
from hexgate_local._worker import ChatJob, Embedded, EmbedJob
from hexgate_local.embedder import MAX_SEQ_LENGTH
from hexgate_local.settings import BUNDLED_CHAT_NAME, LocalSettings, resolve_paths
from hexgate_local.translate import (
    check_request,
    choices_wanted,
    json_constraint,
    sampling,
    template_messages,
)

__all__ = ["LocalProvider"]

_OWNER = "hexgate-local"
_encoder = msgspec.msgpack.Encoder()


class LocalProvider:
    """A :class:`hexgate.protocol.Provider` serving a GGUF chat model and an ONNX embedding model.

    ``settings`` is the ``[providers.<id>]`` table (see :class:`hexgate_local.settings.LocalSettings`);
    raises ``msgspec.ValidationError`` on a bad table and ValueError when a model file is missing.
    """

    protocol_version = PROTOCOL_VERSION

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), LocalSettings)
        self.paths = resolve_paths(self.settings)
        self._http = http  # unused: everything is local
        self.worker = Supervisor(
            provider="local",
            label="local model worker",
            target="hexgate_local._worker:LocalWorker",
            config=_encoder.encode(self.settings),
        )
        self._dimensions: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the worker process, which loads both models. Raises ValueError if a file cannot be loaded."""
        await self.worker.start()
        if self.worker.status().state == "ready":
            self._dimensions = await self.worker.call("dimensions", b"", type=int, lane="embed")

    async def aclose(self) -> None:
        """Stop the worker process: running generations end with an error, later calls raise
        :class:`UpstreamError` (``shutting down``)."""
        await self.worker.aclose()

    def workers(self) -> list[WorkerStatus]:
        """The worker process's state (:class:`hexgate.protocol.WorkerProvider`)."""
        return [self.worker.status()]

    # ------------------------------------------------------------------ chat

    def _job(self, request: ChatCompletionRequest, ctx: CallContext) -> bytes:
        self._check_model(ctx.model, want_chat=True)
        check_request(request)
        job = ChatJob(
            messages=template_messages(request.messages),
            sampling=sampling(request, default_max_tokens=self.settings.default_max_tokens),
            json=json_constraint(request),
            n=choices_wanted(request),
        )
        return _encoder.encode(job)

    def _check_model(self, model: str, *, want_chat: bool) -> None:
        chat, embedding = self.paths.chat_name, self.paths.embedding_name
        if model == (chat if want_chat else embedding):
            return
        if model in (chat, embedding):
            kind = "an embedding" if want_chat else "a chat"
            use = chat if want_chat else embedding
            raise InvalidRequest(
                f"{model!r} is {kind} model; use {use!r} here", param="model", code="model_not_supported"
            )
        raise ModelNotFound(f"the local provider serves {chat!r} (chat) and {embedding!r} (embeddings), not {model!r}")

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        """One completion with ``n`` choices (generated one after another); usage from llama.cpp's own counts.
        Raises :class:`UpstreamError` (502) naming the exit when the worker dies meanwhile."""
        return await self.worker.complete("chat", self._job(request, ctx), model=ctx.model)

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks token by token: per choice a role chunk, content chunks, a finish chunk; last, a
        ``choices: []`` chunk with usage. Errors found before generation (context too long, a template
        refusal) are raised before the first chunk; a worker that dies mid-stream raises
        :class:`UpstreamError` (the core's error frame)."""
        job = self._job(request, ctx)
        async with aclosing(self.worker.stream("chat", job, model=ctx.model)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("the local provider has no native Responses API")

    # ------------------------------------------------------------------ embeddings

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        """Unit-length embeddings (384 floats for all-MiniLM-L6-v2), inputs truncated at 256 tokens.

        Raises :class:`InvalidRequest` for an empty string, over 2048 inputs, or ``dimensions`` other
        than the model's (MiniLM was not trained to be shortened, unlike OpenAI's v3 models);
        :class:`Unsupported` for token-array inputs (their ids would have to be in MiniLM's own
        vocabulary, which no OpenAI client assumes, so they are refused rather than misread).
        """
        self._check_model(ctx.model, want_chat=False)
        texts = text_inputs(request, text_only=f"{self.paths.embedding_name} takes text input only")
        job = EmbedJob(
            texts=texts,
            dimensions=request.dimensions if isinstance(request.dimensions, int) else None,
            as_base64=request.encoding_format == "base64",
        )
        out = await self.worker.call("embed", _encoder.encode(job), type=Embedded, lane="embed")
        return EmbeddingResponse(
            data=[Embedding(index=i, embedding=v) for i, v in enumerate(out.vectors)],
            model=ctx.model,
            usage=EmbeddingUsage(prompt_tokens=out.tokens, total_tokens=out.tokens),
        )

    # ------------------------------------------------------------------ models

    async def list_models(self) -> list[Model]:
        """The chat model (context window = ``n_ctx``; chat, streaming, JSON output) and the embedding model."""
        bundled_chat = self.paths.chat_name == BUNDLED_CHAT_NAME and self.settings.chat_model_path is None
        bundled_embedding = self.settings.embedding_model_path is None
        dims = self._dimensions if self._dimensions is not None else (384 if bundled_embedding else None)
        embedding = Model(
            id=self.paths.embedding_name,
            owned_by=_OWNER,
            display_name="all-MiniLM-L6-v2 (int8 ONNX)" if bundled_embedding else msgspec.UNSET,
            context_window=MAX_SEQ_LENGTH,
            capabilities=ModelCapabilities(chat=False, embeddings=True, streaming=False),
        )
        if dims is not None:
            embedding.embedding_dimensions = dims
        return [
            Model(
                id=self.paths.chat_name,
                owned_by=_OWNER,
                display_name="SmolLM2 135M Instruct (Q4_1, llama.cpp)" if bundled_chat else msgspec.UNSET,
                context_window=self.settings.n_ctx,
                capabilities=ModelCapabilities(
                    chat=True,
                    embeddings=False,
                    tools=False,
                    vision=False,
                    reasoning=False,
                    json_output=True,
                    streaming=True,
                ),
            ),
            embedding,
        ]
