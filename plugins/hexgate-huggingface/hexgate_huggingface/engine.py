"""The blocking side: load a causal LM or a sentence-transformers model, generate, embed.

Everything here runs on a worker thread owned by :mod:`hexgate_huggingface.provider`, one thread
per model, so one model generates one answer at a time. Generation follows transformers'
``generate`` with a streamer (:class:`_Streamer`: ``put`` per new token on the generating thread),
a :class:`~transformers.StoppingCriteria` that ends it at the next token once the request is
cancelled or a stop string appeared, and logits processors for OpenAI's ``presence_penalty``,
``frequency_penalty`` (the additive formula of OpenAI's "Parameter details" guide) and ``logit_bias``.
Importing this module imports torch and transformers (seconds): the provider imports it lazily.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer
from transformers.utils import logging as hf_logging

from hexgate.errors import InvalidRequest, UpstreamError, UpstreamOverloaded
from hexgate.plugin_kit import StopFilter
from hexgate_huggingface.settings import Dtype
from hexgate_huggingface.translate import FinishReason, IncrementalDecoder, Sampling, context_window, finish_reason

__all__ = ["ChatModel", "Embedder", "Generation", "resolve_device", "resolve_dtype", "set_threads"]

_threads_lock = threading.Lock()


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads`` (process-wide) when ``threads`` is set; quiet transformers' progress bars."""
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if threads is not None:
        with _threads_lock:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)


def resolve_device(setting: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``mps`` when present, else ``cpu``; a named
    device that is not there raises :class:`UpstreamError` (the gateway's config is wrong)."""
    if setting == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise UpstreamError(f"device {setting!r} is configured but torch sees no CUDA GPU (torch {torch.__version__})")
    if setting == "mps" and not torch.backends.mps.is_available():
        raise UpstreamError("device 'mps' is configured but torch sees no Apple GPU")
    return setting


def resolve_dtype(setting: Dtype, device: str) -> torch.dtype | str:
    """``auto`` → float32 on the CPU (bfloat16/float16 kernels there are slow or missing), the
    checkpoint's own dtype (transformers' ``"auto"``) elsewhere; else that torch dtype."""
    if setting == "auto":
        return torch.float32 if device == "cpu" else "auto"
    dtype: torch.dtype = getattr(torch, setting)
    return dtype


class Generation:
    """One finished (or cancelled) choice: its text after stop-string trimming, its token count."""

    __slots__ = ("completion_tokens", "finish_reason", "text")

    def __init__(self, *, text: str, completion_tokens: int, finish_reason: FinishReason | None) -> None:
        self.text = text
        self.completion_tokens = completion_tokens
        self.finish_reason = finish_reason
        """None when the request was cancelled midway."""


class _Streamer(BaseStreamer):
    """``generate``'s streamer: skips the prompt, decodes each new token, cuts at stop strings."""

    def __init__(self, decode: Callable[[list[int]], str], stops: tuple[str, ...], on_text: Callable[[str], None]):
        self._decoder = IncrementalDecoder(decode)
        self._filter = StopFilter(stops)
        self._on_text = on_text
        self._prompt_seen = False
        self.stopped = threading.Event()
        self.pieces: list[str] = []

    def _emit(self, piece: str) -> None:
        if not piece or self.stopped.is_set():
            return
        text, hit = self._filter.feed(piece)
        if text:
            self.pieces.append(text)
            self._on_text(text)
        if hit:
            self.stopped.set()

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self._emit(self._decoder.push([int(t) for t in value.reshape(-1).tolist()]))

    def end(self) -> None:
        self._emit(self._decoder.flush())
        if not self.stopped.is_set():
            rest = self._filter.flush()
            if rest:
                self.pieces.append(rest)
                self._on_text(rest)


class _Until(StoppingCriteria):
    """True (stop every sequence) once the request was cancelled or a stop string was seen."""

    def __init__(self, *flags: threading.Event) -> None:
        self._flags = flags

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = any(flag.is_set() for flag in self._flags)
        result: torch.BoolTensor = torch.full(  # type: ignore[assignment]
            (input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device
        )
        return result


class _Penalties(LogitsProcessor):
    """OpenAI's penalties over the tokens generated so far:
    ``logit[j] -= count[j] * frequency_penalty + (count[j] > 0) * presence_penalty``."""

    def __init__(self, *, prompt_length: int, presence: float, frequency: float) -> None:
        self._start = prompt_length
        self._presence = presence
        self._frequency = frequency

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self._start :]
        if generated.numel() == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        out: torch.FloatTensor = scores - counts * self._frequency - (counts > 0).to(scores.dtype) * self._presence  # type: ignore[assignment]
        return out


class _Bias(LogitsProcessor):
    """OpenAI's ``logit_bias``: add each token's bias to its logit before sampling."""

    def __init__(self, bias: dict[int, float]) -> None:
        self._ids = list(bias)
        self._values = list(bias.values())

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        ids = torch.tensor(self._ids, device=scores.device)
        values = torch.tensor(self._values, device=scores.device, dtype=scores.dtype)
        scores[:, ids] += values
        return scores


def _load_error(name: str, exc: BaseException) -> UpstreamError:
    return UpstreamError(f"could not load model {name!r}: {type(exc).__name__}: {exc}")


class ChatModel:
    """A causal LM with its tokenizer on one device. Raises :class:`UpstreamError` when loading fails."""

    def __init__(
        self,
        *,
        name: str,
        folder: Path,
        device: str,
        dtype: Dtype,
        trust_remote_code: bool,
        chat_template: str | None,
        context: int | None,
    ) -> None:
        self.name = name
        self.device = resolve_device(device)
        try:
            self.tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=trust_remote_code
            )
            self.model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
                str(folder),
                local_files_only=True,
                trust_remote_code=trust_remote_code,
                dtype=resolve_dtype(dtype, self.device),
            )
        except (OSError, ValueError, RuntimeError, ImportError, KeyError) as exc:
            raise _load_error(name, exc) from None
        self.model.to(self.device)  # type: ignore[arg-type]
        self.model.eval()  # type: ignore[no-untyped-call]
        self.chat_template = chat_template
        self.context_window = context or context_window(self.model.config.to_dict())
        config = self.model.generation_config or GenerationConfig()  # type: ignore[no-untyped-call]
        self._generation_config: GenerationConfig = config
        eos = config.eos_token_id if config.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.vocab_size = int(getattr(self.model.config, "vocab_size", 0) or len(self.tokenizer))

    def prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat template applied to ``messages`` with the assistant's turn opened, as token ids.

        Raises :class:`InvalidRequest` when the model has no chat template or its template refuses the
        conversation (e.g. a template without a system role)."""
        template = self.chat_template
        if template is None and not getattr(self.tokenizer, "chat_template", None):
            raise InvalidRequest(
                f"model {self.name!r} has no chat template (a base model?); set chat_template in its settings",
                param="model",
                code="model_not_supported",
            )
        try:
            encoded = self.tokenizer.apply_chat_template(
                messages, chat_template=template, add_generation_prompt=True, tokenize=True, return_dict=True
            )
        except Exception as exc:  # jinja2's TemplateError, or a template's raise_exception()
            raise InvalidRequest(f"model {self.name!r} cannot render these messages: {exc}", param="messages") from None
        ids: Any = encoded["input_ids"]  # type: ignore[index,call-overload]
        return [int(i) for i in ids]

    def _decode(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text if isinstance(text, str) else "".join(text)

    def _config(self, params: Sampling, limit: int) -> GenerationConfig:
        config = copy.deepcopy(self._generation_config)
        config.max_new_tokens = limit
        config.num_return_sequences = 1
        config.num_beams = 1
        if config.pad_token_id is None:
            config.pad_token_id = (
                self.tokenizer.pad_token_id
                if self.tokenizer.pad_token_id is not None
                else (next(iter(self.eos_ids), None))
            )
        if params.greedy:
            config.do_sample = False
            config.temperature = None
            config.top_p = None
            config.top_k = None
        else:
            if params.temperature is not None or params.top_p is not None or params.top_k is not None:
                config.do_sample = True  # asking for a sampling knob asks for sampling
            if params.temperature is not None:
                config.temperature = params.temperature
            if params.top_p is not None:
                config.top_p = params.top_p
            if params.top_k is not None:
                config.top_k = params.top_k or None
            if not config.do_sample:
                config.temperature = config.top_p = config.top_k = None
        return config

    def plan(self, prompt: list[int], params: Sampling) -> int:
        """The token limit for one choice: ``params.max_tokens`` clamped to the room left in the context
        window. Raises :class:`InvalidRequest` when the prompt fills the window
        (``context_length_exceeded``) or ``logit_bias`` names a token outside the vocabulary."""
        limit = params.max_tokens
        if self.context_window is not None:
            room = self.context_window - len(prompt)
            if room < 1:
                raise InvalidRequest(
                    f"This model's maximum context length is {self.context_window} tokens. However, your messages "
                    f"resulted in {len(prompt)} tokens. Please reduce the length of the messages.",
                    param="messages",
                    code="context_length_exceeded",
                )
            limit = min(limit, room)
        bad = [t for t in params.logit_bias if t >= self.vocab_size]
        if bad:
            raise InvalidRequest(
                f"Invalid 'logit_bias': token id {bad[0]} is outside the vocabulary of {self.name!r} "
                f"(0..{self.vocab_size - 1})",
                param="logit_bias",
            )
        return limit

    def generate(
        self,
        prompt: list[int],
        *,
        params: Sampling,
        limit: int,
        cancel: threading.Event,
        on_text: Callable[[str], None],
    ) -> Generation:
        """Generate one choice of at most ``limit`` tokens (from :meth:`plan`), calling ``on_text`` with
        each new piece of text as it is decoded; stops at the next token once ``cancel`` is set.
        A GPU out of memory raises :class:`UpstreamOverloaded` (503)."""
        streamer = _Streamer(self._decode, params.stop, on_text)
        processors = LogitsProcessorList()
        if params.logit_bias:
            processors.append(_Bias(params.logit_bias))
        if params.presence_penalty or params.frequency_penalty:
            processors.append(
                _Penalties(
                    prompt_length=len(prompt), presence=params.presence_penalty, frequency=params.frequency_penalty
                )
            )
        input_ids = torch.tensor([prompt], dtype=torch.long, device=self.device)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        try:
            with torch.inference_mode():
                output = self.model.generate(  # type: ignore[operator]
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    generation_config=self._config(params, limit),
                    logits_processor=processors,
                    stopping_criteria=StoppingCriteriaList([_Until(cancel, streamer.stopped)]),
                    streamer=streamer,
                )
        except torch.OutOfMemoryError:
            raise UpstreamOverloaded(f"model {self.name!r} ran out of device memory; try a shorter request") from None
        sequence = output[0] if isinstance(output, torch.Tensor) else output.sequences[0]
        new = [int(t) for t in sequence[len(prompt) :].tolist()]
        ended_by_eos = bool(new) and new[-1] in self.eos_ids
        reason: FinishReason | None = None
        if not cancel.is_set():
            reason = finish_reason(
                generated=len(new), limit=limit, stopped=streamer.stopped.is_set(), ended_by_eos=ended_by_eos
            )
        return Generation(text="".join(streamer.pieces), completion_tokens=len(new), finish_reason=reason)

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


class Embedder:
    """A sentence-transformers model (its modules decide pooling and normalisation; a plain
    transformers encoder gets mean pooling). Raises :class:`UpstreamError` when loading fails."""

    def __init__(self, *, name: str, folder: Path, device: str, dtype: Dtype, trust_remote_code: bool) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.device = resolve_device(device)
        try:
            self.model = SentenceTransformer(
                str(folder),
                device=self.device,
                local_files_only=True,
                trust_remote_code=trust_remote_code,
                model_kwargs={"dtype": resolve_dtype(dtype, self.device)},
            )
        except (OSError, ValueError, RuntimeError, ImportError, KeyError) as exc:
            raise _load_error(name, exc) from None
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            probe = self.model.encode(["dimension"], convert_to_numpy=True)
            dimension = int(probe.shape[-1])
        self.dimensions: int = dimension
        self.max_seq_length: int | None = self.model.get_max_seq_length()

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for ``texts`` (special tokens included, truncated as it truncates)."""
        tokenizer = self.model.tokenizer
        kwargs: dict[str, Any] = {"truncation": True}
        if self.max_seq_length:
            kwargs["max_length"] = self.max_seq_length
        encoded = tokenizer(texts, **kwargs)
        return sum(len(ids) for ids in encoded["input_ids"])

    def embed(self, texts: list[str]) -> tuple[npt.NDArray[np.float32], int]:
        """``(vectors, tokens)``: one float32 row per text, and the tokens read."""
        with torch.inference_mode():
            vectors = self.model.encode(texts, convert_to_numpy=True, batch_size=32, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32), self.count_tokens(texts)

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
