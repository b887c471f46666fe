"""Pure mapping from an OpenAI chat request to what the llama.cpp worker runs, and back.

- :func:`check_request` refuses what SmolLM2-135M cannot do faithfully (tools, logprobs,
  logit_bias) with a 400 naming the parameter.
- :func:`template_messages` turns ``messages`` into the ``{"role", "content"}`` dicts a GGUF's
  Jinja chat template expects (``developer`` → ``system``, content parts joined; images, audio
  and files refused).
- :func:`sampling` maps temperature, top_p, top_k, seed, stop, penalties and the token limit,
  validating ranges as OpenAI does (its API reference and error texts).
- :func:`json_constraint` maps ``response_format`` to a JSON grammar request
  (``json_object`` → any JSON, ``json_schema`` → that schema), which llama.cpp enforces.

What any in-process model does the same way (the checks, the messages, stop strings) is
:mod:`hexgate.inproc`; this module binds it to this provider's wording, limits and defaults.

When the request leaves a sampling knob unset, llama-cpp-python's ``create_chat_completion``
defaults apply (temperature 0.2, top_p 0.95, top_k 40, min_p 0.05), not OpenAI's (1.0, 1.0):
they suit a 135M model far better.
"""

from __future__ import annotations

import json

import msgspec

from hexgate import plugin_kit
from hexgate.errors import InvalidRequest, Unsupported
from hexgate.plugin_kit import refuse_tools_and_logprobs, sampling_fields
from hexgate.schemas.chat import ChatCompletionRequest, ChatMessage, ResponseFormat

__all__ = [
    "DEFAULT_MIN_P",
    "DEFAULT_REPEAT_PENALTY",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TOP_K",
    "DEFAULT_TOP_P",
    "MAX_N",
    "JsonConstraint",
    "Sampling",
    "check_request",
    "choices_wanted",
    "json_constraint",
    "sampling",
    "template_messages",
]

DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.95
DEFAULT_TOP_K = 40
DEFAULT_MIN_P = 0.05
DEFAULT_REPEAT_PENALTY = 1.1
"""llama.cpp server's default; keeps a 135M model out of most loops."""
MAX_N = 16
"""Choices per request (OpenAI allows 128; each one is a full sequential generation here)."""


class Sampling(msgspec.Struct, frozen=True, kw_only=True):
    """llama.cpp sampling for one request; ``max_tokens`` is before clamping to the context window."""

    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    top_k: int = DEFAULT_TOP_K
    min_p: float = DEFAULT_MIN_P
    repeat_penalty: float = DEFAULT_REPEAT_PENALTY
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    max_tokens: int = 512
    stop: tuple[str, ...] = ()


class JsonConstraint(msgspec.Struct, frozen=True, kw_only=True):
    """Constrain the answer to JSON: any JSON value when ``schema`` is None, else that JSON Schema (text)."""

    schema: str | None = None


def check_request(request: ChatCompletionRequest) -> None:
    """Raise :class:`Unsupported` (400, ``param`` set) for what the local model cannot honour.

    Tools are refused unless ``tool_choice`` is ``"none"`` (SmolLM2-135M does not call tools
    reliably); ``logprobs: true`` and a non-empty ``logit_bias`` are refused rather than ignored.
    """
    refuse_tools_and_logprobs(request, provider="local", tools_refusal="the local model cannot call tools")
    if request.logit_bias:
        raise Unsupported("the local provider does not support logit_bias", param="logit_bias")


def template_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """``messages`` as the ``[{"role": ..., "content": ...}]`` a GGUF chat template renders
    (:func:`hexgate.plugin_kit.template_messages`); raises :class:`Unsupported` for image, audio or file parts."""
    return plugin_kit.template_messages(messages, text_only="the local chat model reads text only")


def sampling(request: ChatCompletionRequest, *, default_max_tokens: int) -> Sampling:
    """The :class:`Sampling` for ``request``; raises :class:`InvalidRequest` naming an out-of-range field
    (the ranges and messages of :func:`hexgate.plugin_kit.sampling_fields`).

    ``max_completion_tokens`` wins over ``max_tokens``; neither → ``default_max_tokens``.
    ``stop`` takes a string or up to 4 strings (empty strings are dropped). Unset temperature, top_p
    and top_k take this module's defaults.
    """
    fields = sampling_fields(request, default_max_tokens=default_max_tokens)
    return Sampling(
        temperature=DEFAULT_TEMPERATURE if fields.temperature is None else fields.temperature,
        top_p=DEFAULT_TOP_P if fields.top_p is None else fields.top_p,
        top_k=DEFAULT_TOP_K if fields.top_k is None else fields.top_k,
        presence_penalty=fields.presence_penalty,
        frequency_penalty=fields.frequency_penalty,
        seed=fields.seed,
        max_tokens=fields.max_tokens,
        stop=fields.stop,
    )


def choices_wanted(request: ChatCompletionRequest) -> int:
    """``n`` (default 1); raises :class:`InvalidRequest` above :data:`MAX_N`."""
    return plugin_kit.choices_wanted(request, most=MAX_N, provider="local")


def json_constraint(request: ChatCompletionRequest) -> JsonConstraint | None:
    """``response_format`` → :class:`JsonConstraint` (None for ``text`` or absent).

    ``json_schema`` without a ``schema`` object constrains to any JSON object.
    """
    fmt = request.response_format
    if not isinstance(fmt, ResponseFormat) or fmt.type == "text":
        return None
    if fmt.type == "json_schema":
        spec = fmt.json_schema
        if spec is msgspec.UNSET or isinstance(spec, msgspec.UnsetType):
            raise InvalidRequest(
                "response_format of type 'json_schema' needs a 'json_schema' object",
                param="response_format.json_schema",
            )
        if isinstance(spec.schema, dict):
            return JsonConstraint(schema=json.dumps(spec.schema))
    return JsonConstraint(schema=None)
