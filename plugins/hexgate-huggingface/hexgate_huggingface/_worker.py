"""The ``huggingface`` provider's side of its worker process (:mod:`hexgate.inproc.child`).

:class:`HuggingFaceWorker` loads each model on first use, on that model's own lane (the provider
sends every call for model ``name`` to lane ``name``: one generation per model at a time, in
arrival order), and keeps at most ``max_models`` loaded (the least recently used is dropped first).
Ops: ``chat`` (:class:`ChatJob` → :class:`~hexgate.plugin_kit.Outcome`), ``embed`` (:class:`EmbedJob`
→ :class:`Embedded`), ``load`` (:class:`ModelRef`), ``devices`` (a list of device settings; raises
:class:`UpstreamError` for one torch does not see) and ``loaded`` (the names loaded so far, last 64).
torch and transformers are imported with the first model, so the worker is ready at once, unless
the settings ask to ``preload``: then every configured model loads before the worker is ready (at
start and after each restart).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from hexgate.errors import UpstreamError
from hexgate.plugin_kit import Outcome, Sink, as_hexgate, check_dimensions, encode_vectors, run_choices
from hexgate_huggingface.settings import HuggingFaceSettings, Kind, ModelSettings
from hexgate_huggingface.translate import Sampling

if TYPE_CHECKING:
    from hexgate_huggingface.engine import ChatModel, Embedder

__all__ = ["ChatJob", "EmbedJob", "Embedded", "HuggingFaceWorker", "ModelRef"]


class ModelRef(msgspec.Struct, frozen=True, kw_only=True):
    """A model as the provider found it: its name, settings, folder and kind."""

    name: str
    spec: ModelSettings
    folder: str
    kind: Kind


class ChatJob(msgspec.Struct, frozen=True, kw_only=True):
    model: ModelRef
    messages: list[dict[str, str]]
    sampling: Sampling
    n: int


class EmbedJob(msgspec.Struct, frozen=True, kw_only=True):
    model: ModelRef
    texts: list[str]
    dimensions: int | None
    as_base64: bool


class Embedded(msgspec.Struct, frozen=True, kw_only=True):
    """The vectors (floats, or base64 float32 little-endian) and the tokens read."""

    vectors: list[list[float] | str]
    tokens: int


_chat = msgspec.msgpack.Decoder(ChatJob)
_embed = msgspec.msgpack.Decoder(EmbedJob)
_ref = msgspec.msgpack.Decoder(ModelRef)
_devices = msgspec.msgpack.Decoder(list[str])


class HuggingFaceWorker:
    """Built in the worker from the provider's settings (msgpack of :class:`HuggingFaceSettings`)."""

    def __init__(self, config: bytes) -> None:
        self.settings = msgspec.msgpack.decode(config, type=HuggingFaceSettings)
        self._lock = threading.Lock()
        self._models: OrderedDict[str, ChatModel | Embedder] = OrderedDict()
        self._loads: deque[str] = deque(maxlen=64)
        if self.settings.preload:  # before the worker is ready, so a restarted worker comes back warm
            from hexgate_huggingface._describe import describe

            for name, spec in self.settings.models.items():
                described = describe(name, spec, self.settings)
                self._load(ModelRef(name=name, spec=spec, folder=described.folder, kind=described.kind))

    def info(self) -> str:
        return ""

    def run(self, op: str, args: bytes, cancel: threading.Event, sink: Sink | None) -> Any:
        if op == "chat":
            return self._chat_run(_chat.decode(args), cancel, sink)
        if op == "embed":
            job = _embed.decode(args)
            embedder = self._embedder(job.model)
            check_dimensions(job.dimensions, model=job.model.name, dimensions=embedder.dimensions)
            vectors, tokens = embedder.embed(job.texts)
            return Embedded(vectors=encode_vectors(vectors.tolist(), as_base64=job.as_base64), tokens=tokens)
        if op == "load":
            self._load(_ref.decode(args))
            return None
        if op == "devices":
            from hexgate_huggingface.engine import resolve_device

            for device in sorted(_devices.decode(args)):
                resolve_device(device)
            return None
        if op == "loaded":
            return list(self._loads)
        raise UpstreamError(f"the huggingface worker has no op {op!r}")

    def _load(self, ref: ModelRef) -> ChatModel | Embedder:
        """The loaded model for ``ref``, loading it (on its lane) the first time."""
        with self._lock:
            loaded = self._models.get(ref.name)
            if loaded is not None:
                self._models.move_to_end(ref.name)
                return loaded
        from hexgate_huggingface import engine

        spec, settings = ref.spec, self.settings
        engine.set_threads(settings.threads)
        device, dtype, folder = spec.device or settings.device, spec.dtype or settings.dtype, Path(ref.folder)
        model: ChatModel | Embedder
        if ref.kind == "chat":
            model = engine.ChatModel(
                name=ref.name,
                folder=folder,
                device=device,
                dtype=dtype,
                trust_remote_code=spec.trust_remote_code,
                chat_template=spec.chat_template,
                context=spec.context_window,
            )
        else:
            model = engine.Embedder(
                name=ref.name, folder=folder, device=device, dtype=dtype, trust_remote_code=spec.trust_remote_code
            )
        with self._lock:
            self._models[ref.name] = model
            self._loads.append(ref.name)
            while len(self._models) > settings.max_models:
                self._models.popitem(last=False)  # freed once no call holds it
        return model

    def _embedder(self, ref: ModelRef) -> Embedder:
        from hexgate_huggingface.engine import Embedder

        model = self._load(ref)
        assert isinstance(model, Embedder)
        return model

    def _chat_run(self, job: ChatJob, cancel: threading.Event, sink: Sink | None) -> Outcome:
        """Load, render the prompt, check it, then generate each choice in turn."""
        from hexgate_huggingface.engine import ChatModel

        try:
            model = self._load(job.model)
            assert isinstance(model, ChatModel)
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
