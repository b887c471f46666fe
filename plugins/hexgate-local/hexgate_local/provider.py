"""The embedded ``local`` provider: llama.cpp chat and ONNX embeddings inside the gateway process.

Nothing blocks the event loop. Chat runs on one dedicated worker thread (a single-thread
executor that owns the llama.cpp model); each piece of text crosses to the loop through
:class:`hexgate.inproc.Jobs`. When the consumer goes away (the core closes ``stream_chat``'s
generator on a client disconnect, or cancels ``chat`` at its deadline) a per-request flag is set,
the token loop sees it before its next token, and the thread is free for the next request.
Embeddings run on a second single-thread executor, so they are never queued behind a long
generation. Both models load in :meth:`LocalProvider.start` (or on first use).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from functools import partial
from typing import Any, TypeVar

import httpx
import msgspec

from hexgate.errors import InvalidRequest, ModelNotFound, Unsupported, UpstreamError
from hexgate.inproc import Jobs, Outcome, Sink, as_hexgate, check_dimensions, encode_vectors, run_choices, text_inputs
from hexgate.protocol import PROTOCOL_VERSION, CallContext
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent
from hexgate_local.embedder import MAX_SEQ_LENGTH, Embedder
from hexgate_local.engine import ChatEngine, grammar_for
from hexgate_local.settings import BUNDLED_CHAT_NAME, LocalSettings, resolve_paths
from hexgate_local.translate import (
    JsonConstraint,
    Sampling,
    check_request,
    choices_wanted,
    json_constraint,
    sampling,
    template_messages,
)

__all__ = ["LocalProvider"]

T = TypeVar("T")

_OWNER = "hexgate-local"


class _Job(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[dict[str, str]]
    sampling: Sampling
    json: JsonConstraint | None
    n: int


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
        self._chat_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hexgate-local-chat")
        self._embed_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hexgate-local-embed")
        self._engine: ChatEngine | None = None  # created and used on the chat thread only
        self._embedder: Embedder | None = None  # created and used on the embedding thread only
        self._jobs = Jobs(provider="local")

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load both models (each on its own thread). Raises ValueError if a file cannot be loaded."""
        await asyncio.gather(self._on(self._chat_pool, self._chat_engine), self._on(self._embed_pool, self._embedding))

    async def aclose(self) -> None:
        """Stop running generations, free both models, end the worker threads."""
        if not self._jobs.close():
            return
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            loop.run_in_executor(self._chat_pool, self._free_chat),
            loop.run_in_executor(self._embed_pool, self._free_embedder),
        )
        self._chat_pool.shutdown(wait=False, cancel_futures=True)
        self._embed_pool.shutdown(wait=False, cancel_futures=True)

    def _chat_engine(self) -> ChatEngine:
        if self._engine is None:
            s = self.settings
            self._engine = ChatEngine(path=self.paths.chat_model, n_ctx=s.n_ctx, n_threads=s.n_threads)
        return self._engine

    def _embedding(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(model=self.paths.embedding_model, tokenizer=self.paths.tokenizer)
        return self._embedder

    def _free_chat(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def _free_embedder(self) -> None:
        self._embedder = None

    async def _on(self, pool: ThreadPoolExecutor, func: Callable[[], T]) -> T:
        return await self._jobs.call(pool, func)

    # ------------------------------------------------------------------ chat

    def _job(self, request: ChatCompletionRequest, ctx: CallContext) -> _Job:
        self._check_model(ctx.model, want_chat=True)
        check_request(request)
        return _Job(
            messages=template_messages(request.messages),
            sampling=sampling(request, default_max_tokens=self.settings.default_max_tokens),
            json=json_constraint(request),
            n=choices_wanted(request),
        )

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

    def _run(self, job: _Job, cancel: threading.Event, sink: Sink | None) -> Outcome:
        """On the chat thread: render, check, then generate each choice in turn. Raises
        :class:`UpstreamError` when stopped by :meth:`aclose` (or once nobody is waiting any more)."""
        try:
            if cancel.is_set():
                raise self._stopped()
            engine = self._chat_engine()
            prompt = engine.prompt(job.messages)
            grammar = grammar_for(job.json) if job.json is not None else None
            generations = run_choices(
                n=job.n,
                sampling=job.sampling,
                sink=sink,
                generate=lambda params, on_text: engine.generate(
                    prompt, sampling=params, grammar=grammar, cancel=cancel, on_text=on_text
                ),
                cancelled=lambda gen: gen.finish_reason == "cancelled",
            )
            if generations[-1].finish_reason == "cancelled":
                raise self._stopped()
            return Outcome(prompt_tokens=len(prompt), generations=generations)
        except Exception as exc:
            raise as_hexgate(exc) from None

    def _stopped(self) -> UpstreamError:
        if self._jobs.closed:
            return UpstreamError("the local provider shut down while generating; retry the request")
        return UpstreamError("the generation was cancelled")

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        """One completion with ``n`` choices (generated one after another); usage from llama.cpp's own counts."""
        job = self._job(request, ctx)
        return await self._jobs.complete(self._chat_pool, partial(self._run, job), model=ctx.model)

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks token by token: per choice a role chunk, content chunks, a finish chunk; last, a
        ``choices: []`` chunk with usage. Errors found before generation (context too long, a template
        refusal) are raised before the first chunk."""
        job = self._job(request, ctx)
        async with aclosing(self._jobs.stream(self._chat_pool, partial(self._run, job), model=ctx.model)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("the local provider has no native Responses API")

    # ------------------------------------------------------------------ embeddings

    def _embed_blocking(
        self, texts: list[str], *, dimensions: int | None, as_base64: bool
    ) -> tuple[list[list[float] | str], int]:
        """On the embedding thread: check ``dimensions``, embed, encode (base64 = float32 little-endian)."""
        embedder = self._embedding()
        check_dimensions(dimensions, model=self.paths.embedding_name, dimensions=embedder.dimensions)
        vectors, tokens = embedder.embed(texts)
        return encode_vectors(vectors.tolist(), as_base64=as_base64), tokens

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        """Unit-length embeddings (384 floats for all-MiniLM-L6-v2), inputs truncated at 256 tokens.

        Raises :class:`InvalidRequest` for an empty string, over 2048 inputs, or ``dimensions`` other
        than the model's (MiniLM was not trained to be shortened, unlike OpenAI's v3 models);
        :class:`Unsupported` for token-array inputs (their ids would have to be in MiniLM's own
        vocabulary, which no OpenAI client assumes, so they are refused rather than misread).
        """
        self._check_model(ctx.model, want_chat=False)
        texts = text_inputs(request, text_only=f"{self.paths.embedding_name} takes text input only")
        dimensions = request.dimensions if isinstance(request.dimensions, int) else None
        as_base64 = request.encoding_format == "base64"
        vectors, tokens = await self._on(
            self._embed_pool, lambda: self._embed_blocking(texts, dimensions=dimensions, as_base64=as_base64)
        )
        return EmbeddingResponse(
            data=[Embedding(index=i, embedding=v) for i, v in enumerate(vectors)],
            model=ctx.model,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )

    # ------------------------------------------------------------------ models

    async def list_models(self) -> list[Model]:
        """The chat model (context window = ``n_ctx``; chat, streaming, JSON output) and the embedding model."""
        bundled_chat = self.paths.chat_name == BUNDLED_CHAT_NAME and self.settings.chat_model_path is None
        bundled_embedding = self.settings.embedding_model_path is None
        dims = self._embedder.dimensions if self._embedder is not None else (384 if bundled_embedding else None)
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
