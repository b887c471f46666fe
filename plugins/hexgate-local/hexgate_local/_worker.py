"""The ``local`` provider's side of its worker process (:mod:`hexgate.inproc.child`).

:class:`LocalWorker` loads the GGUF chat model (llama.cpp) and the ONNX embedder when the worker
starts and serves three ops: ``chat`` (:class:`ChatJob` → an :class:`~hexgate.plugin_kit.Outcome`),
``embed`` (:class:`EmbedJob` → :class:`Embedded`) and ``dimensions`` (→ int). The provider sends
chat to the ``chat`` lane and the others to the ``embed`` lane, so an embedding never waits behind a long
generation. Everything here blocks; it runs only in the worker process.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec

from hexgate.errors import UpstreamError
from hexgate.plugin_kit import Outcome, Sink, as_hexgate, check_dimensions, encode_vectors, run_choices
from hexgate_local.settings import LocalSettings, resolve_paths
from hexgate_local.translate import JsonConstraint, Sampling

__all__ = ["ChatJob", "EmbedJob", "Embedded", "LocalWorker"]


class ChatJob(msgspec.Struct, frozen=True, kw_only=True):
    """One chat request as the worker runs it: template-ready messages, sampling, JSON grammar, ``n``."""

    messages: list[dict[str, str]]
    sampling: Sampling
    json: JsonConstraint | None
    n: int


class EmbedJob(msgspec.Struct, frozen=True, kw_only=True):
    texts: list[str]
    dimensions: int | None
    as_base64: bool


class Embedded(msgspec.Struct, frozen=True, kw_only=True):
    """The vectors (floats, or base64 float32 little-endian) and the tokens read."""

    vectors: list[list[float] | str]
    tokens: int


_chat_job = msgspec.msgpack.Decoder(ChatJob)
_embed_job = msgspec.msgpack.Decoder(EmbedJob)


class LocalWorker:
    """Built in the worker from the provider's settings (msgpack of :class:`LocalSettings`).
    Raises ValueError when a model file cannot be loaded (the gateway reports it at start)."""

    def __init__(self, config: bytes) -> None:
        from hexgate_local.embedder import Embedder
        from hexgate_local.engine import ChatEngine

        self.settings = msgspec.msgpack.decode(config, type=LocalSettings)
        self.paths = resolve_paths(self.settings)
        s = self.settings
        self.engine = ChatEngine(path=self.paths.chat_model, n_ctx=s.n_ctx, n_threads=s.n_threads)
        self.embedder = Embedder(model=self.paths.embedding_model, tokenizer=self.paths.tokenizer)

    def info(self) -> str:
        """llama.cpp's ``llama_print_system_info()``: the CPU features this build uses."""
        import llama_cpp

        raw: bytes = llama_cpp.llama_print_system_info()
        return "llama.cpp system info: " + raw.decode("utf-8", errors="replace").strip()

    def run(self, op: str, args: bytes, cancel: threading.Event, sink: Sink | None) -> Any:
        if op == "chat":
            return self._chat(_chat_job.decode(args), cancel, sink)
        if op == "embed":
            job = _embed_job.decode(args)
            check_dimensions(job.dimensions, model=self.paths.embedding_name, dimensions=self.embedder.dimensions)
            vectors, tokens = self.embedder.embed(job.texts)
            return Embedded(vectors=encode_vectors(vectors.tolist(), as_base64=job.as_base64), tokens=tokens)
        if op == "dimensions":
            return self.embedder.dimensions
        raise UpstreamError(f"the local worker has no op {op!r}")

    def _chat(self, job: ChatJob, cancel: threading.Event, sink: Sink | None) -> Outcome:
        """Render, check, then generate each choice in turn; raises :class:`UpstreamError` when cancelled."""
        from hexgate_local.engine import grammar_for

        try:
            engine = self.engine
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
                raise UpstreamError("the generation was cancelled")
            return Outcome(prompt_tokens=len(prompt), generations=generations)
        except Exception as exc:
            raise as_hexgate(exc) from None
