"""The ``huggingface`` provider: local transformers chat models and sentence-transformers embeddings.

Nothing blocks the event loop. Each model name gets one worker thread (a single-thread executor)
that loads the model on first use (or at start with ``preload``) and then runs that model's
requests one after another, in arrival order: one generation per model at a time, the rest queued.
Text crosses from the worker to the loop through :class:`hexgate.inproc.Jobs`. When the consumer
goes away (the core closes ``stream_chat``'s generator on a client disconnect, or cancels ``chat``
at its deadline) the request's flag is set;
``generate``'s stopping criterion sees it at the next token, and a request still waiting in the
queue is skipped when its turn comes, so the worker is free for the next one.

torch, transformers and sentence-transformers are imported on the worker thread the first time a
model loads, so the gateway starts (and ``hexgate plugins`` answers) without paying for them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import msgspec

from hexgate.errors import HexgateError, InvalidRequest, ModelNotFound, Unsupported, UpstreamError
from hexgate.inproc import Jobs, Outcome, Sink, as_hexgate, check_dimensions, encode_vectors, run_choices, text_inputs
from hexgate.protocol import PROTOCOL_VERSION, CallContext
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent
from hexgate_huggingface._locate import PACKAGED, ModelFiles, is_repo_id, locate, packaged_dir
from hexgate_huggingface.settings import HuggingFaceSettings, Kind, ModelSettings
from hexgate_huggingface.translate import (
    Sampling,
    check_request,
    choices_wanted,
    context_window,
    embedding_dimension,
    model_kind,
    sampling,
    template_messages,
)

if TYPE_CHECKING:
    from hexgate_huggingface.engine import ChatModel, Embedder

__all__ = ["HuggingFaceProvider"]

T = TypeVar("T")

_OWNER = "hexgate-huggingface"


class _Described(msgspec.Struct, frozen=True, kw_only=True):
    """What a model's files say, without loading its weights."""

    folder: str
    kind: Kind
    context_window: int | None
    embedding_dimensions: int | None


def _describe(name: str, spec: ModelSettings, settings: HuggingFaceSettings) -> _Described:
    """Blocking: locate ``name``'s files and read its small JSON files. Raises :class:`ModelNotFound`,
    or :class:`UpstreamError` when neither the settings nor the files tell chat from embeddings."""
    folder = locate(
        name=name,
        path=spec.path,
        repo=spec.repo,
        package=spec.package,
        revision=spec.revision,
        cache_dir=settings.cache_dir,
        download=settings.download,
        remote_code=spec.trust_remote_code,
    )
    files = ModelFiles(folder)
    kind = spec.kind or model_kind(files.config, sentence_transformers=files.sentence_transformers)
    if kind is None:
        raise UpstreamError(
            f"cannot tell whether model {name!r} is a chat or an embeddings model from its config.json; "
            "set kind in its settings"
        )
    if kind == "chat":
        window = spec.context_window or context_window(files.config)
        dims = None
    else:
        window = spec.context_window or files.max_seq_length
        dims = embedding_dimension(files.config, files.modules, files.module_configs)
    return _Described(folder=str(folder), kind=kind, context_window=window, embedding_dimensions=dims)


class _Slot:
    """One model name: its settings, its worker thread, and the model once loaded (on that thread)."""

    def __init__(self, *, name: str, spec: ModelSettings, described: _Described, settings: HuggingFaceSettings):
        self.name = name
        self.spec = spec
        self.described = described
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hexgate-hf")
        self._lock = threading.Lock()
        self._loaded: ChatModel | Embedder | None = None

    def load(self) -> ChatModel | Embedder:
        """Blocking: the loaded model, loading it once (the lock keeps concurrent first uses to one load)."""
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            from hexgate_huggingface import engine

            spec, settings = self.spec, self.settings
            engine.set_threads(settings.threads)
            device = spec.device or settings.device
            dtype = spec.dtype or settings.dtype
            folder = Path(self.described.folder)
            loaded: ChatModel | Embedder
            if self.described.kind == "chat":
                loaded = engine.ChatModel(
                    name=self.name,
                    folder=folder,
                    device=device,
                    dtype=dtype,
                    trust_remote_code=spec.trust_remote_code,
                    chat_template=spec.chat_template,
                    context=spec.context_window,
                )
            else:
                loaded = engine.Embedder(
                    name=self.name, folder=folder, device=device, dtype=dtype, trust_remote_code=spec.trust_remote_code
                )
            self._loaded = loaded
            return loaded

    @property
    def loaded(self) -> ChatModel | Embedder | None:
        return self._loaded

    def chat_model(self) -> ChatModel:
        from hexgate_huggingface.engine import ChatModel

        model = self.load()
        assert isinstance(model, ChatModel)
        return model

    def embedder(self) -> Embedder:
        from hexgate_huggingface.engine import Embedder

        model = self.load()
        assert isinstance(model, Embedder)
        return model

    def free(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded.close()
                self._loaded = None


class _Job(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[dict[str, str]]
    sampling: Sampling
    n: int


def _wrong_kind(name: str, kind: Kind) -> InvalidRequest:
    other = "/v1/embeddings" if kind == "embeddings" else "/v1/chat/completions"
    return InvalidRequest(
        f"{name!r} is {'an embeddings' if kind == 'embeddings' else 'a chat'} model; use it with {other}",
        param="model",
        code="model_not_supported",
    )


class HuggingFaceProvider:
    """A :class:`hexgate.protocol.Provider` running Hugging Face models inside the gateway process.

    ``settings`` is the ``[providers.<id>]`` table (:class:`hexgate_huggingface.settings.HuggingFaceSettings`);
    raises ``msgspec.ValidationError`` on a bad table. Model names are the keys of ``models`` or, with
    ``allow_unlisted``, any ``owner/name`` repo id found in the local Hugging Face cache (or shipped by
    an installed package, :data:`hexgate_huggingface._locate.PACKAGED`).
    """

    protocol_version = PROTOCOL_VERSION

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), HuggingFaceSettings)
        for name, spec in self.settings.models.items():
            if spec.package is not None and packaged_dir(spec.package) is None:
                raise ValueError(f"models.{name}.package: {spec.package!r} is not installed or ships no model/ folder")
            if spec.path is not None and not is_repo_id(spec.path) and not Path(spec.path).expanduser().is_dir():
                raise ValueError(f"models.{name}.path: {spec.path} is not a directory")
        self._http = http  # unused: everything is local (a download, when allowed, uses huggingface_hub)
        self._slots: dict[str, _Slot] = {}
        self._jobs = Jobs(provider="huggingface")

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Check that a configured GPU is there (this imports torch); with ``preload``, locate and load
        every configured model, one after another. Raises ValueError for a device torch does not see."""
        devices = {self.settings.device, *(s.device for s in self.settings.models.values() if s.device)}
        if devices - {"cpu", "auto"}:
            await asyncio.to_thread(_check_devices, devices)
        if not self.settings.preload:
            return
        for name in self.settings.models:
            slot = await self._slot(name)
            await self._on(slot, slot.load)

    async def aclose(self) -> None:
        """Stop running generations, drop queued ones, free every model, end the worker threads."""
        if not self._jobs.close():
            return
        loop = asyncio.get_running_loop()
        slots = list(self._slots.values())
        await asyncio.gather(*(loop.run_in_executor(s.executor, s.free) for s in slots), return_exceptions=True)
        for slot in slots:
            slot.executor.shutdown(wait=False, cancel_futures=True)

    async def _slot(self, name: str) -> _Slot:
        """The slot for model ``name``, created on first use once its files are found.
        Raises :class:`ModelNotFound` for a name that is neither configured nor a cached repo id."""
        slot = self._slots.get(name)
        if slot is not None:
            return slot
        spec = self.settings.models.get(name)
        if spec is None:
            if not (self.settings.allow_unlisted and is_repo_id(name)):
                known = ", ".join(repr(k) for k in self.settings.models) or "none"
                more = " or a repo id in the local Hugging Face cache" if self.settings.allow_unlisted else ""
                raise ModelNotFound(f"model {name!r} is not configured for this provider (configured: {known}){more}")
            spec = ModelSettings(repo=name)
        described = await asyncio.to_thread(_describe, name, spec, self.settings)
        slot = self._slots.get(name)  # another request may have created it meanwhile
        if slot is None:
            slot = self._slots[name] = _Slot(name=name, spec=spec, described=described, settings=self.settings)
        return slot

    async def _on(self, slot: _Slot, func: Callable[[], T]) -> T:
        return await self._jobs.call(slot.executor, func)

    # ------------------------------------------------------------------ chat

    async def _chat_slot(self, request: ChatCompletionRequest, ctx: CallContext) -> tuple[_Slot, _Job]:
        check_request(request)
        spec = self.settings.models.get(ctx.model)
        default_max = (spec.max_new_tokens if spec else None) or self.settings.max_new_tokens
        job = _Job(
            messages=template_messages(request.messages),
            sampling=sampling(request, default_max_tokens=default_max),
            n=choices_wanted(request),
        )
        slot = await self._slot(ctx.model)
        if slot.described.kind != "chat":
            raise _wrong_kind(ctx.model, slot.described.kind)
        return slot, job

    def _run(self, slot: _Slot, job: _Job, cancel: threading.Event, sink: Sink | None) -> Outcome:
        """On the model's thread: load, render the prompt, check it, then generate each choice in turn."""
        if cancel.is_set():  # given up while queued
            return Outcome(prompt_tokens=0, generations=[])
        try:
            model = slot.chat_model()
            prompt = model.prompt(job.messages)
            limit = model.plan(prompt, job.sampling)
            generations = run_choices(
                n=job.n,
                sampling=job.sampling,
                sink=sink,
                generate=lambda params, on_text: model.generate(
                    prompt, params=params, limit=limit, cancel=cancel, on_text=on_text
                ),
                cancelled=lambda gen: gen.finish_reason is None,
            )
            return Outcome(prompt_tokens=len(prompt), generations=generations)
        except Exception as exc:
            raise as_hexgate(exc) from None

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        """One completion with ``n`` choices (generated one after another); usage from the tokenizer's counts
        (the rendered prompt's tokens; the generated tokens, an end-of-sequence token included)."""
        slot, job = await self._chat_slot(request, ctx)
        return await self._jobs.complete(slot.executor, partial(self._run, slot, job), model=ctx.model)

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as the model decodes them: per choice a role chunk, one content chunk per decoded
        piece (about one per token), a finish chunk; last a ``choices: []`` chunk with usage. Errors
        found before generation (unknown model, template refusal, context too long) are raised before
        the first chunk."""
        slot, job = await self._chat_slot(request, ctx)
        async with aclosing(self._jobs.stream(slot.executor, partial(self._run, slot, job), model=ctx.model)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("the huggingface provider has no native Responses API")

    # ------------------------------------------------------------------ embeddings

    @staticmethod
    def _embed_blocking(
        slot: _Slot, texts: list[str], *, dimensions: int | None, as_base64: bool
    ) -> tuple[list[list[float] | str], int]:
        """On the model's thread: load, check ``dimensions``, embed, encode (base64 = float32 little-endian)."""
        embedder = slot.embedder()
        check_dimensions(dimensions, model=slot.name, dimensions=embedder.dimensions)
        vectors, tokens = embedder.embed(texts)
        return encode_vectors(vectors.tolist(), as_base64=as_base64), tokens

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        """Embeddings as the model's sentence-transformers modules make them (all-MiniLM-L6-v2: mean
        pooling, unit length, 384 floats; inputs truncated at its 256 tokens).

        Raises :class:`InvalidRequest` for an empty string, over 2048 inputs, or ``dimensions`` other than
        the model's; :class:`Unsupported` for token-array inputs (their ids would have to be in this
        model's own vocabulary, which no OpenAI client assumes, so they are refused rather than misread).
        """
        texts = text_inputs(request, text_only="the huggingface provider embeds text only")
        slot = await self._slot(ctx.model)
        if slot.described.kind != "embeddings":
            raise _wrong_kind(ctx.model, slot.described.kind)
        dimensions = request.dimensions if isinstance(request.dimensions, int) else None
        as_base64 = request.encoding_format == "base64"
        try:
            vectors, tokens = await self._on(
                slot, lambda: self._embed_blocking(slot, texts, dimensions=dimensions, as_base64=as_base64)
            )
        except HexgateError:
            raise
        except Exception as exc:
            raise as_hexgate(exc) from None
        return EmbeddingResponse(
            data=[Embedding(index=i, embedding=v) for i, v in enumerate(vectors)],
            model=ctx.model,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )

    # ------------------------------------------------------------------ models

    def _model(self, name: str, spec: ModelSettings | None, described: _Described | None) -> Model:
        owner = name.split("/", 1)[0] if "/" in name else _OWNER
        model = Model(id=name, owned_by=owner)
        if spec is not None and spec.display_name:
            model.display_name = spec.display_name
        if described is None:
            if spec is not None and spec.kind is not None:
                model.capabilities = ModelCapabilities(chat=spec.kind == "chat", embeddings=spec.kind == "embeddings")
            return model
        if described.context_window is not None:
            model.context_window = described.context_window
        if described.kind == "chat":
            model.capabilities = ModelCapabilities(
                chat=True, embeddings=False, tools=False, vision=False, json_output=False, streaming=True
            )
        else:
            slot = self._slots.get(name)
            loaded = slot.loaded if slot is not None else None
            dims = getattr(loaded, "dimensions", None) or described.embedding_dimensions
            if dims is not None:
                model.embedding_dimensions = dims
            model.capabilities = ModelCapabilities(chat=False, embeddings=True, streaming=False)
        return model

    async def list_models(self) -> list[Model]:
        """Every configured model, then each packaged model installed and not configured under another
        name, with what its files say (chat or embeddings, context window, embedding dimensions).
        A configured model whose files are missing is listed without that metadata."""

        def scan() -> list[Model]:
            out: list[Model] = []
            seen: set[str] = set()
            for name, spec in self.settings.models.items():
                slot = self._slots.get(name)
                try:
                    described = slot.described if slot is not None else _describe(name, spec, self.settings)
                except HexgateError:
                    described = None
                if described is not None:
                    seen.add(described.folder)
                out.append(self._model(name, spec, described))
            for repo, package in PACKAGED.items() if self.settings.allow_unlisted else ():
                folder = packaged_dir(package)
                if folder is None or str(folder) in seen or repo in self.settings.models:
                    continue
                try:
                    described = _describe(repo, ModelSettings(package=package), self.settings)
                except HexgateError:
                    continue
                out.append(self._model(repo, None, described))
            return out

        return await asyncio.to_thread(scan)


def _check_devices(devices: set[str]) -> None:
    from hexgate_huggingface.engine import resolve_device

    for device in sorted(devices):
        try:
            resolve_device(device)
        except UpstreamError as exc:
            raise ValueError(exc.message) from None
