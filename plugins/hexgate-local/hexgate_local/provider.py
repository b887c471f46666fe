"""The embedded ``local`` provider: llama.cpp chat and ONNX embeddings inside the gateway process.

Nothing blocks the event loop. Chat runs on one dedicated worker thread (a single-thread
executor that owns the llama.cpp model); each piece of text crosses to the loop through an
``asyncio.Queue`` fed with ``loop.call_soon_threadsafe``. When the consumer goes away (the core
closes ``stream_chat``'s generator on a client disconnect, or cancels ``chat`` at its deadline)
a per-request flag is set, the token loop sees it before its next token, and the thread is free
for the next request. Embeddings run on a second single-thread executor, so they are never
queued behind a long generation. Both models load in :meth:`LocalProvider.start` (or on first use).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import msgspec

from hexgate.errors import HexgateError, InvalidRequest, ModelNotFound, Unsupported, UpstreamError
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
from hexgate_local.embedder import MAX_SEQ_LENGTH, Embedder
from hexgate_local.engine import ChatEngine, Generation, grammar_for
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

MAX_EMBEDDING_INPUTS = 2048
"""OpenAI's limit on inputs per embeddings request."""
_OWNER = "hexgate-local"


class _Job(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[dict[str, str]]
    sampling: Sampling
    json: JsonConstraint | None
    n: int


class _Outcome(msgspec.Struct, frozen=True, kw_only=True):
    prompt_tokens: int
    generations: list[Generation]

    def usage(self) -> Usage:
        completion = sum(g.completion_tokens for g in self.generations)
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=completion,
            total_tokens=self.prompt_tokens + completion,
        )


# what the worker thread sends to a streaming consumer
class _Start(msgspec.Struct, frozen=True):
    index: int


class _Text(msgspec.Struct, frozen=True):
    index: int
    text: str


class _Finish(msgspec.Struct, frozen=True):
    index: int
    reason: str


class _Done(msgspec.Struct, frozen=True):
    outcome: _Outcome


class _Failed(msgspec.Struct, frozen=True):
    error: HexgateError


_Event = _Start | _Text | _Finish | _Done | _Failed


def _as_hexgate(exc: BaseException) -> HexgateError:
    if isinstance(exc, HexgateError):
        return exc
    return UpstreamError(f"the local model failed: {type(exc).__name__}: {exc}")


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
        self._active: set[threading.Event] = set()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load both models (each on its own thread). Raises ValueError if a file cannot be loaded."""
        await asyncio.gather(self._on(self._chat_pool, self._chat_engine), self._on(self._embed_pool, self._embedding))

    async def aclose(self) -> None:
        """Stop running generations, free both models, end the worker threads."""
        if self._closed:
            return
        self._closed = True
        for flag in list(self._active):
            flag.set()
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
        if self._closed:
            raise UpstreamError("the local provider is shutting down")
        return await asyncio.get_running_loop().run_in_executor(pool, func)

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

    def _run(self, job: _Job, cancel: threading.Event, sink: Callable[[_Event], None] | None) -> _Outcome:
        """On the chat thread: render, check, then generate each choice in turn. Raises
        :class:`UpstreamError` when stopped by :meth:`aclose` (or once nobody is waiting any more)."""
        try:
            if cancel.is_set():
                raise self._stopped()
            engine = self._chat_engine()
            prompt = engine.prompt(job.messages)
            grammar = grammar_for(job.json) if job.json is not None else None
            generations: list[Generation] = []
            for index in range(job.n):
                on_text: Callable[[str], None] | None = None
                if sink is not None:
                    sink(_Start(index))
                    on_text = lambda text, i=index: sink(_Text(i, text))  # noqa: E731
                params = job.sampling
                if params.seed is not None and index:  # n > 1 with a seed: distinct but repeatable choices
                    params = msgspec.structs.replace(params, seed=params.seed + index)
                gen = engine.generate(prompt, sampling=params, grammar=grammar, cancel=cancel, on_text=on_text)
                generations.append(gen)
                if gen.finish_reason == "cancelled":
                    raise self._stopped()
                if sink is not None:
                    sink(_Finish(index, gen.finish_reason))
            return _Outcome(prompt_tokens=len(prompt), generations=generations)
        except Exception as exc:
            raise _as_hexgate(exc) from None

    def _stopped(self) -> UpstreamError:
        if self._closed:
            return UpstreamError("the local provider shut down while generating; retry the request")
        return UpstreamError("the generation was cancelled")

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        """One completion with ``n`` choices (generated one after another); usage from llama.cpp's own counts."""
        job = self._job(request, ctx)
        cancel = threading.Event()
        self._active.add(cancel)
        try:
            outcome = await self._on(self._chat_pool, lambda: self._run(job, cancel, None))
        finally:
            cancel.set()  # a cancelled await (deadline, disconnect) stops the thread at its next token
            self._active.discard(cancel)
        return ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=ctx.model,
            choices=[
                Choice(
                    index=i,
                    message=AssistantMessage(content=g.text, refusal=None, annotations=[]),
                    finish_reason=g.finish_reason,
                )
                for i, g in enumerate(outcome.generations)
            ],
            usage=outcome.usage(),
        )

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks token by token: per choice a role chunk, content chunks, a finish chunk; last, a
        ``choices: []`` chunk with usage. Errors found before generation (context too long, a template
        refusal) are raised before the first chunk."""
        job = self._job(request, ctx)
        if self._closed:
            raise UpstreamError("the local provider is shutting down")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Event] = asyncio.Queue()
        cancel = threading.Event()

        def sink(event: _Event) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the loop is gone: nobody is listening
                cancel.set()

        def work() -> None:
            try:
                sink(_Done(self._run(job, cancel, sink)))
            except HexgateError as exc:
                sink(_Failed(exc))

        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                id=cid, created=created, model=ctx.model, choices=choices, usage=usage if usage else msgspec.UNSET
            )

        self._active.add(cancel)
        try:
            loop.run_in_executor(self._chat_pool, work)
            while True:
                event = await queue.get()
                if isinstance(event, _Text):
                    yield chunk([ChunkChoice(index=event.index, delta=Delta(content=event.text), logprobs=None)])
                elif isinstance(event, _Start):
                    delta = Delta(role="assistant", content="", refusal=None)
                    yield chunk([ChunkChoice(index=event.index, delta=delta, logprobs=None)])
                elif isinstance(event, _Finish):
                    yield chunk(
                        [ChunkChoice(index=event.index, delta=Delta(), finish_reason=event.reason, logprobs=None)]
                    )
                elif isinstance(event, _Done):
                    yield chunk([], event.outcome.usage())
                    return
                else:
                    raise event.error
        finally:
            cancel.set()
            self._active.discard(cancel)

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
        if dimensions is not None and dimensions != embedder.dimensions:
            raise InvalidRequest(
                f"{self.paths.embedding_name} produces {embedder.dimensions}-dimensional embeddings and cannot "
                f"shorten them; omit 'dimensions' or set it to {embedder.dimensions}",
                param="dimensions",
            )
        vectors, tokens = embedder.embed(texts)
        if as_base64:
            little = vectors.astype("<f4", copy=False)
            return [base64.b64encode(row.tobytes()).decode("ascii") for row in little], tokens
        return [row.tolist() for row in vectors], tokens

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        """Unit-length embeddings (384 floats for all-MiniLM-L6-v2), inputs truncated at 256 tokens.

        Raises :class:`InvalidRequest` for an empty string, over 2048 inputs, or ``dimensions`` other
        than the model's (MiniLM was not trained to be shortened, unlike OpenAI's v3 models);
        :class:`Unsupported` for token-array inputs (their ids would have to be in MiniLM's own
        vocabulary, which no OpenAI client assumes, so they are refused rather than misread).
        """
        self._check_model(ctx.model, want_chat=False)
        try:
            inputs = request.inputs()
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="input") from None
        texts = [t for t in inputs if isinstance(t, str)]
        if len(texts) != len(inputs):
            raise Unsupported(
                f"{self.paths.embedding_name} takes text input only; token arrays are not supported "
                "(LangChain: set check_embedding_ctx_length=False)",
                param="input",
            )
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise InvalidRequest(f"at most {MAX_EMBEDDING_INPUTS} inputs per request, got {len(texts)}", param="input")
        for i, text in enumerate(texts):
            if not text:
                raise InvalidRequest(f"input[{i}] is an empty string; every input must contain text", param="input")
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
