"""Pure mapping from an OpenAI chat request to what the llama.cpp worker runs, and back.

- :func:`check_request` refuses what SmolLM2-135M cannot do faithfully (tools, logprobs,
  logit_bias, images/audio/files) with a 400 naming the parameter.
- :func:`template_messages` turns ``messages`` into the ``{"role", "content"}`` dicts a GGUF's
  Jinja chat template expects (``developer`` → ``system``, content parts joined).
- :func:`sampling` maps temperature, top_p, top_k, seed, stop, penalties and the token limit,
  validating ranges as OpenAI does (its API reference and error texts).
- :func:`json_constraint` maps ``response_format`` to a JSON grammar request
  (``json_object`` → any JSON, ``json_schema`` → that schema), which llama.cpp enforces.
- :class:`StopFilter` cuts the text at the first stop string while streaming, holding back
  only what could still turn into one.

When the request leaves a sampling knob unset, llama-cpp-python's ``create_chat_completion``
defaults apply (temperature 0.2, top_p 0.95, top_k 40, min_p 0.05), not OpenAI's (1.0, 1.0):
they suit a 135M model far better.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.schemas.chat import ChatCompletionRequest, ChatMessage, RefusalPart, ResponseFormat, TextPart

__all__ = [
    "DEFAULT_MIN_P",
    "DEFAULT_REPEAT_PENALTY",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TOP_K",
    "DEFAULT_TOP_P",
    "MAX_N",
    "JsonConstraint",
    "Sampling",
    "StopFilter",
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
_MAX_STOP = 4


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
    if request.tools and request.tool_choice != "none":
        raise Unsupported(
            "the local model cannot call tools; remove 'tools' (or set tool_choice to 'none'), "
            "or route this request to a provider whose model supports tool calling",
            param="tools",
        )
    if request.logprobs is True:
        raise Unsupported("the local provider does not return logprobs", param="logprobs")
    if request.logit_bias:
        raise Unsupported("the local provider does not support logit_bias", param="logit_bias")


def _content_text(message: ChatMessage, index: int) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    pieces: list[str] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, RefusalPart):
            pieces.append(part.refusal)
        else:
            kind = type(part).__name__.removesuffix("Part").lower()
            raise Unsupported(
                f"the local chat model reads text only; messages[{index}].content[{j}] is {kind} content",
                param=f"messages[{index}].content[{j}]",
            )
    return "".join(pieces)


_ROLES = {"developer": "system", "function": "tool"}


def template_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """``messages`` as the ``[{"role": ..., "content": ...}]`` a GGUF chat template renders.

    ``developer`` becomes ``system`` and ``function`` becomes ``tool``; text parts are joined;
    an assistant turn that only called tools renders its calls as JSON text so the history
    stays readable. Raises :class:`Unsupported` for image, audio or file parts.
    """
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        text = _content_text(message, i)
        if not text and message.role == "assistant" and message.tool_calls:
            text = json.dumps(
                [{"name": c.function.name, "arguments": c.function.arguments} for c in message.tool_calls]
            )
        out.append({"role": _ROLES.get(message.role, message.role), "content": text})
    return out


def _number(value: Any, param: str, *, low: float, high: float | None, default: float) -> float:
    if value is None or value is msgspec.UNSET:
        return default
    if value < low:
        raise InvalidRequest(
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {low:g}, but got {value:g} instead.",
            param=param,
            code="decimal_below_min_value",
        )
    if high is not None and value > high:
        raise InvalidRequest(
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {high:g}, but got {value:g} instead.",
            param=param,
            code="decimal_above_max_value",
        )
    return float(value)


def sampling(request: ChatCompletionRequest, *, default_max_tokens: int) -> Sampling:
    """The :class:`Sampling` for ``request``; raises :class:`InvalidRequest` naming an out-of-range field.

    ``max_completion_tokens`` wins over ``max_tokens``; neither → ``default_max_tokens``.
    ``stop`` takes a string or up to 4 strings (empty strings are dropped).
    """
    for name in ("max_completion_tokens", "max_tokens"):
        value = getattr(request, name)
        if isinstance(value, int) and value < 1:
            raise InvalidRequest(
                f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {value} instead.",
                param=name,
                code="integer_below_min_value",
            )
    if isinstance(request.top_k, int) and request.top_k < 0:
        raise InvalidRequest("'top_k' must be at least 0 (0 disables it)", param="top_k")
    stop = tuple(s for s in request.stop_list() if s)
    if len(stop) > _MAX_STOP:
        raise InvalidRequest(f"'stop' takes at most {_MAX_STOP} sequences, got {len(stop)}", param="stop")
    limit = request.max_output()
    return Sampling(
        temperature=_number(request.temperature, "temperature", low=0, high=2, default=DEFAULT_TEMPERATURE),
        top_p=_number(request.top_p, "top_p", low=0, high=1, default=DEFAULT_TOP_P),
        top_k=request.top_k if isinstance(request.top_k, int) else DEFAULT_TOP_K,
        presence_penalty=_number(request.presence_penalty, "presence_penalty", low=-2, high=2, default=0.0),
        frequency_penalty=_number(request.frequency_penalty, "frequency_penalty", low=-2, high=2, default=0.0),
        seed=request.seed if isinstance(request.seed, int) else None,
        max_tokens=limit if limit is not None else default_max_tokens,
        stop=stop,
    )


def choices_wanted(request: ChatCompletionRequest) -> int:
    """``n`` (default 1); raises :class:`InvalidRequest` above :data:`MAX_N`."""
    n = request.n if isinstance(request.n, int) else 1
    if n > MAX_N:
        raise InvalidRequest(f"the local provider generates at most {MAX_N} choices per request (n={n})", param="n")
    return max(n, 1)


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


class StopFilter:
    """Cut streamed text at the first of ``stops`` (OpenAI leaves the stop string out).

    :meth:`feed` takes the next piece and returns ``(text to emit now, stopped)``; text that might be
    the start of a stop string is held until the next piece settles it; :meth:`flush` returns what
    is held when generation ends without a stop.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._held = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        if not self._stops:
            return piece, False
        text = self._held + piece
        hits = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        if hits:
            self._held = ""
            return text[: min(hits)], True
        keep = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), keep, -1):
                if text.endswith(stop[:size]):
                    keep = size
                    break
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
