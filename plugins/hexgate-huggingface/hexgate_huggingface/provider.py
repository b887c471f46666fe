"""The ``huggingface`` provider: transformers chat models and sentence-transformers embeddings, run
in a supervised worker process.

The models live in one worker process (:mod:`hexgate_huggingface._worker`, run by
:class:`hexgate.plugin_kit.Supervisor`), never in the gateway's: a fault in torch or a model's code
(a segfault, an abort, an out-of-memory kill, a hang) costs the requests it was serving a 502 (or
the error frame of a stream) and a restart of the worker, not the gateway. Each model name has its
own thread there, which loads the model on first use (or at start with ``preload``) and then runs
that model's requests one after another, in arrival order; a request cancelled while it waits is
skipped. When the consumer goes away (the core closes ``stream_chat``'s generator on a client
disconnect, or cancels ``chat`` at its deadline) ``generate``'s stopping criterion sees it at the
next token. The gateway keeps only what each model's small JSON files say (at most ``max_models``
names, least recently used dropped first); torch is imported only in the worker.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import Any

import httpx
import msgspec

from hexgate.errors import HexgateError, InvalidRequest, ModelNotFound, Unsupported, UpstreamError
from hexgate.plugin_kit import Supervisor, text_inputs
from hexgate.protocol import PROTOCOL_VERSION, CallContext, WorkerStatus
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent
from hexgate_huggingface._describe import Described, describe
from hexgate_huggingface._locate import PACKAGED, is_repo_id, packaged_dir
from hexgate_huggingface._worker import ChatJob, Embedded, EmbedJob, ModelRef
from hexgate_huggingface.settings import HuggingFaceSettings, Kind, ModelSettings
from hexgate_huggingface.translate import (
    check_request,
    choices_wanted,
    sampling,
    template_messages,
)

__all__ = ["HuggingFaceProvider", "describe"]

_OWNER = "hexgate-huggingface"
_encoder = msgspec.msgpack.Encoder()


def _wrong_kind(name: str, kind: Kind) -> InvalidRequest:
    other = "/v1/embeddings" if kind == "embeddings" else "/v1/chat/completions"
    return InvalidRequest(
        f"{name!r} is {'an embeddings' if kind == 'embeddings' else 'a chat'} model; use it with {other}",
        param="model",
        code="model_not_supported",
    )


class _Slot(msgspec.Struct, frozen=True, kw_only=True):
    """One model name the gateway knows: its settings and what its files say."""

    spec: ModelSettings
    described: Described
    ref: ModelRef


class HuggingFaceProvider:
    """A :class:`hexgate.protocol.Provider` running Hugging Face models in a worker process.

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
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self.worker = Supervisor(
            provider="huggingface",
            label="huggingface model worker",
            target="hexgate_huggingface._worker:HuggingFaceWorker",
            config=_encoder.encode(self.settings),
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the worker process and check that a configured GPU is there (torch is imported in the
        worker); with ``preload`` the worker locates and loads every configured model, one after
        another, before it is ready. Raises ValueError for a device torch does not see, or a
        preloaded model that cannot be found or loaded."""
        await self.worker.start()
        devices = {self.settings.device, *(s.device for s in self.settings.models.values() if s.device)}
        if devices - {"cpu", "auto"}:
            try:
                await self.worker.call("devices", _encoder.encode(sorted(devices)), type=type(None))
            except UpstreamError as exc:
                raise ValueError(exc.message) from None
        for name in self.settings.models if self.settings.preload else ():
            await self._slot(name)  # the worker loaded them before it was ready

    async def aclose(self) -> None:
        """Stop the worker process: running generations end with an error, later calls raise
        :class:`UpstreamError` (``shutting down``)."""
        await self.worker.aclose()

    def workers(self) -> list[WorkerStatus]:
        """The worker process's state (:class:`hexgate.protocol.WorkerProvider`)."""
        return [self.worker.status()]

    async def _slot(self, name: str) -> _Slot:
        """The slot for model ``name``, made on first use once its files are found (the least recently
        used one dropped beyond ``max_models``). Raises :class:`ModelNotFound` for a name that is
        neither configured nor, with ``allow_unlisted``, a cached repo id."""
        slot = self._slots.get(name)
        if slot is not None:
            self._slots.move_to_end(name)
            return slot
        spec = self.settings.models.get(name)
        if spec is None:
            if not (self.settings.allow_unlisted and is_repo_id(name)):
                known = ", ".join(repr(k) for k in self.settings.models) or "none"
                if self.settings.allow_unlisted:
                    more = " or a repo id in the local Hugging Face cache"
                elif is_repo_id(name):
                    more = "; list it under models, or set allow_unlisted = true to serve cached repo ids"
                else:
                    more = ""
                raise ModelNotFound(f"model {name!r} is not configured for this provider (configured: {known}){more}")
            spec = ModelSettings(repo=name)
        described = await asyncio.to_thread(describe, name, spec, self.settings)
        ref = ModelRef(name=name, spec=spec, folder=described.folder, kind=described.kind)
        slot = self._slots[name] = _Slot(spec=spec, described=described, ref=ref)
        while len(self._slots) > self.settings.max_models:
            self._slots.popitem(last=False)
        return slot

    # ------------------------------------------------------------------ chat

    async def _chat_job(self, request: ChatCompletionRequest, ctx: CallContext) -> bytes:
        check_request(request)
        spec = self.settings.models.get(ctx.model)
        default_max = (spec.max_new_tokens if spec else None) or self.settings.max_new_tokens
        messages = template_messages(request.messages)
        params = sampling(request, default_max_tokens=default_max)
        n = choices_wanted(request)
        slot = await self._slot(ctx.model)
        if slot.described.kind != "chat":
            raise _wrong_kind(ctx.model, slot.described.kind)
        return _encoder.encode(ChatJob(model=slot.ref, messages=messages, sampling=params, n=n))

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        """One completion with ``n`` choices (generated one after another); usage from the tokenizer's counts
        (the rendered prompt's tokens; the generated tokens, an end-of-sequence token included).
        Raises :class:`UpstreamError` (502) naming the exit when the worker dies meanwhile."""
        job = await self._chat_job(request, ctx)
        return await self.worker.complete("chat", job, model=ctx.model, lane=ctx.model)

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as the model decodes them: per choice a role chunk, one content chunk per decoded
        piece (about one per token), a finish chunk; last a ``choices: []`` chunk with usage. Errors
        found before generation (unknown model, template refusal, context too long) are raised before
        the first chunk; a worker that dies mid-stream raises :class:`UpstreamError` (the error frame)."""
        job = await self._chat_job(request, ctx)
        async with aclosing(self.worker.stream("chat", job, model=ctx.model, lane=ctx.model)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("the huggingface provider has no native Responses API")

    # ------------------------------------------------------------------ embeddings

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
        job = EmbedJob(
            model=slot.ref,
            texts=texts,
            dimensions=request.dimensions if isinstance(request.dimensions, int) else None,
            as_base64=request.encoding_format == "base64",
        )
        out = await self.worker.call("embed", _encoder.encode(job), type=Embedded, lane=ctx.model)
        return EmbeddingResponse(
            data=[Embedding(index=i, embedding=v) for i, v in enumerate(out.vectors)],
            model=ctx.model,
            usage=EmbeddingUsage(prompt_tokens=out.tokens, total_tokens=out.tokens),
        )

    # ------------------------------------------------------------------ models

    def _model(self, name: str, spec: ModelSettings | None, described: Described | None) -> Model:
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
            if described.embedding_dimensions is not None:
                model.embedding_dimensions = described.embedding_dimensions
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
                    described = slot.described if slot is not None else describe(name, spec, self.settings)
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
                    described = describe(repo, ModelSettings(package=package), self.settings)
                except HexgateError:
                    continue
                out.append(self._model(repo, None, described))
            return out

        return await asyncio.to_thread(scan)
