"""Pure mappings between OpenAI's Chat/Embeddings requests and what a local transformers model runs.

- :func:`check_request` refuses what this provider cannot honour faithfully (tools, logprobs,
  JSON-constrained output) with a 400 naming the parameter.
- :func:`template_messages` turns ``messages`` into the ``[{"role", "content"}]`` list a
  tokenizer's chat template renders (``developer`` → ``system``, text parts joined, other content refused).
- :func:`sampling` maps temperature, top_p, top_k, seed, stop, the penalties, ``logit_bias`` and the
  token limit, validating ranges as OpenAI does (its API reference and its error texts).
- :class:`IncrementalDecoder` turns generated token ids into text pieces, one per token where the
  tokenizer allows (the offsets method of text-generation-inference's ``decode_token``).
- :func:`finish_reason` decides ``stop`` vs ``length``.
- :func:`model_kind`, :func:`context_window`, :func:`embedding_dimension` read a model's own
  config files (``config.json``, sentence-transformers' ``modules.json`` and module configs).

Unset sampling knobs are left to the model's ``generation_config.json`` (its authors' defaults),
as transformers' own ``pipeline`` does; ``temperature: 0`` means greedy decoding.

What any in-process model does the same way (the checks, the messages, stop strings) is
:mod:`hexgate.inproc`; this module binds it to this provider's wording and limits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import msgspec

from hexgate import plugin_kit
from hexgate.errors import InvalidRequest, Unsupported
from hexgate.plugin_kit import refuse_tools_and_logprobs, sampling_fields
from hexgate.schemas.chat import ChatCompletionRequest, ChatMessage, ResponseFormat
from hexgate_huggingface.settings import Kind

__all__ = [
    "MAX_N",
    "FinishReason",
    "IncrementalDecoder",
    "Sampling",
    "check_request",
    "choices_wanted",
    "context_window",
    "embedding_dimension",
    "finish_reason",
    "model_kind",
    "sampling",
    "template_messages",
]

MAX_N = 16
"""Choices per request (each one is a full generation, one after another, on the model's worker)."""
_MAX_BIAS = 100.0

FinishReason = Literal["stop", "length"]


class Sampling(msgspec.Struct, frozen=True, kw_only=True):
    """What one request asks of ``generate``; None leaves a knob to the model's generation config."""

    max_tokens: int
    """Before clamping to the context window."""
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = msgspec.field(default_factory=dict)
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def check_request(request: ChatCompletionRequest) -> None:
    """Raise :class:`Unsupported` (400, ``param`` set) for what a local transformers model cannot honour.

    Tools are refused unless ``tool_choice`` is ``"none"`` (each model family writes tool calls in
    its own format, which this provider does not parse); ``logprobs: true`` is refused rather than
    ignored; ``response_format`` ``json_object`` / ``json_schema`` is refused (no constrained decoding).
    """
    refuse_tools_and_logprobs(
        request, provider="huggingface", tools_refusal="local Hugging Face models cannot call tools through hexgate"
    )
    fmt = request.response_format
    if isinstance(fmt, ResponseFormat) and fmt.type != "text":
        raise Unsupported(
            f"response_format {fmt.type!r} needs constrained decoding, which the huggingface provider does not do",
            param="response_format",
        )


def choices_wanted(request: ChatCompletionRequest) -> int:
    """``n`` (default 1); raises :class:`InvalidRequest` above :data:`MAX_N`."""
    return plugin_kit.choices_wanted(request, most=MAX_N, provider="huggingface")


def template_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """``messages`` as the ``[{"role": ..., "content": ...}]`` a chat template renders
    (:func:`hexgate.plugin_kit.template_messages`); raises :class:`Unsupported` for image, audio or file parts."""
    return plugin_kit.template_messages(messages, text_only="the huggingface provider passes text only")


def _logit_bias(raw: dict[str, float] | msgspec.UnsetType | None) -> dict[int, float]:
    if not isinstance(raw, dict):
        return {}
    out: dict[int, float] = {}
    for key, value in raw.items():
        try:
            token = int(key)
        except ValueError:
            raise InvalidRequest(
                f"Invalid 'logit_bias': key {key!r} is not a token id", param="logit_bias", code="invalid_value"
            ) from None
        if token < 0:
            raise InvalidRequest(f"Invalid 'logit_bias': token id {token} is negative", param="logit_bias")
        if not -_MAX_BIAS <= value <= _MAX_BIAS:
            raise InvalidRequest(
                f"Invalid 'logit_bias': the bias for token {token} is {value:g}; it must be between -100 and 100",
                param="logit_bias",
            )
        out[token] = float(value)
    return out


def sampling(request: ChatCompletionRequest, *, default_max_tokens: int) -> Sampling:
    """The :class:`Sampling` for ``request``; raises :class:`InvalidRequest` naming an out-of-range field.

    ``max_completion_tokens`` wins over ``max_tokens``; neither → ``default_max_tokens``. ``stop`` takes
    a string or up to 4 strings (empty strings dropped). ``logit_bias`` keys are the model's own token
    ids (its tokenizer's vocabulary), values in [-100, 100], added to the logits before sampling.
    """
    fields = sampling_fields(request, default_max_tokens=default_max_tokens)
    return Sampling(
        max_tokens=fields.max_tokens,
        temperature=fields.temperature,
        top_p=fields.top_p,
        top_k=fields.top_k,
        seed=fields.seed,
        presence_penalty=fields.presence_penalty,
        frequency_penalty=fields.frequency_penalty,
        logit_bias=_logit_bias(request.logit_bias),
        stop=fields.stop,
    )


def finish_reason(*, generated: int, limit: int, stopped: bool, ended_by_eos: bool) -> FinishReason:
    """``stop`` for an end-of-sequence token or a stop string, ``length`` when ``limit`` tokens were
    generated without either (OpenAI's meaning of the two)."""
    if stopped or ended_by_eos:
        return "stop"
    return "length" if generated >= limit else "stop"


class IncrementalDecoder:
    """Token ids in, text pieces out, so that the pieces joined equal ``decode(all ids)``.

    ``decode`` maps ids to text (special tokens skipped). A piece is released as soon as the text of
    the ids since the last release grows without ending in U+FFFD (an incomplete UTF-8 sequence), so
    byte-level and SentencePiece tokenizers stream token by token without splitting a character.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def push(self, ids: list[int]) -> str:
        self._ids.extend(ids)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """What is still held (an incomplete character at the very end decodes as U+FFFD)."""
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :] if len(after) > len(before) else ""


# ---------------------------------------------------------------- model files

_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def model_kind(config: Mapping[str, Any] | None, *, sentence_transformers: bool) -> Kind | None:
    """Guess what a model directory serves: ``embeddings`` when it carries sentence-transformers files
    (``modules.json`` or ``config_sentence_transformers.json``), ``chat`` when ``config.json`` names a
    causal-LM architecture, ``embeddings`` for another architecture (an encoder: mean pooling), else None."""
    if sentence_transformers:
        return "embeddings"
    if not config:
        return None
    architectures = config.get("architectures") or []
    if any(isinstance(a, str) and a.endswith(_CAUSAL_SUFFIXES) for a in architectures):
        return "chat"
    return "embeddings" if architectures else None


def context_window(config: Mapping[str, Any] | None) -> int | None:
    """Tokens the model attends to, from ``config.json`` (``max_position_embeddings`` and the names
    other families use; a multimodal config's ``text_config`` first). None when it does not say."""
    if not config:
        return None
    nested = config.get("text_config")
    for source in (nested if isinstance(nested, Mapping) else {}, config):
        for key in _CONTEXT_KEYS:
            value = source.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def embedding_dimension(
    config: Mapping[str, Any] | None,
    modules: Sequence[Mapping[str, Any]],
    module_configs: Mapping[str, Mapping[str, Any]],
) -> int | None:
    """The length of a sentence-transformers model's vectors without loading it: the last ``Dense``
    module's ``out_features``, else the ``Pooling`` module's dimension, else ``hidden_size``.
    ``module_configs`` maps a module's ``path`` to its ``config.json``."""
    dim: int | None = None
    for module in modules:
        kind = str(module.get("type", ""))
        cfg = module_configs.get(str(module.get("path", "")), {})
        if kind.endswith(".Pooling"):
            value = cfg.get("word_embedding_dimension", cfg.get("embedding_dimension"))
            if isinstance(value, int):
                dim = value
        elif kind.endswith(".Dense"):
            value = cfg.get("out_features")
            if isinstance(value, int):
                dim = value
    if dim is None and config:
        hidden = config.get("hidden_size")
        dim = hidden if isinstance(hidden, int) else None
    return dim
