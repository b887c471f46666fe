"""Pure checks and mappings of an OpenAI chat request for a model that runs inside the gateway.

- :func:`refuse_tools_and_logprobs`: a 400 naming ``tools`` or ``logprobs`` when the model cannot honour them.
- :func:`choices_wanted`: ``n``, bounded.
- :func:`template_messages`: ``messages`` as the ``[{"role", "content"}]`` list a chat template
  (Jinja, as GGUF files and Hugging Face tokenizers carry it) renders.
- :func:`sampling_fields`: the sampling fields range-checked as OpenAI checks them (its API reference
  and its error texts: ``decimal_above_max_value`` …), unset ones left None for the engine's defaults.

Messages name the provider through the ``provider`` / ``text_only`` / ``tools_refusal`` arguments,
so each plugin keeps its own wording.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.schemas.chat import ChatCompletionRequest, ChatMessage, RefusalPart, TextPart

__all__ = [
    "MAX_STOP",
    "SamplingFields",
    "choices_wanted",
    "refuse_tools_and_logprobs",
    "sampling_fields",
    "template_messages",
]

MAX_STOP = 4
"""Stop sequences per request, as OpenAI allows."""


def refuse_tools_and_logprobs(request: ChatCompletionRequest, *, provider: str, tools_refusal: str) -> None:
    """Raise :class:`Unsupported` (400, ``param`` set) for tools or ``logprobs: true``.

    Tools are refused unless ``tool_choice`` is ``"none"``; the message starts with ``tools_refusal``
    (e.g. ``"the local model cannot call tools"``) and says how to fix the request. ``logprobs: true``
    is refused rather than ignored (``"the <provider> provider does not return logprobs"``).
    """
    if request.tools and request.tool_choice != "none":
        raise Unsupported(
            f"{tools_refusal}; remove 'tools' (or set tool_choice to 'none'), "
            "or route this request to a provider whose model supports tool calling",
            param="tools",
        )
    if request.logprobs is True:
        raise Unsupported(f"the {provider} provider does not return logprobs", param="logprobs")


def choices_wanted(request: ChatCompletionRequest, *, most: int, provider: str) -> int:
    """``n`` (default 1, at least 1); raises :class:`InvalidRequest` (``param="n"``) above ``most``."""
    n = request.n if isinstance(request.n, int) else 1
    if n > most:
        raise InvalidRequest(f"the {provider} provider generates at most {most} choices per request (n={n})", param="n")
    return max(n, 1)


def _content_text(message: ChatMessage, index: int, text_only: str) -> str:
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
                f"{text_only}; messages[{index}].content[{j}] is {kind} content",
                param=f"messages[{index}].content[{j}]",
            )
    return "".join(pieces)


_ROLES = {"developer": "system", "function": "tool"}


def template_messages(messages: list[ChatMessage], *, text_only: str) -> list[dict[str, str]]:
    """``messages`` as the ``[{"role": ..., "content": ...}]`` a chat template renders.

    ``developer`` becomes ``system`` and ``function`` becomes ``tool``; text and refusal parts are
    joined; an assistant turn that only called tools renders its calls as JSON text
    (``[{"name", "arguments"}]``) so the history stays readable. Raises :class:`Unsupported` for
    image, audio or file parts, ``param`` naming the part and the message starting with ``text_only``
    (e.g. ``"the local chat model reads text only"``).
    """
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        text = _content_text(message, i, text_only)
        if not text and message.role == "assistant" and message.tool_calls:
            text = json.dumps(
                [{"name": c.function.name, "arguments": c.function.arguments} for c in message.tool_calls]
            )
        out.append({"role": _ROLES.get(message.role, message.role), "content": text})
    return out


class SamplingFields(msgspec.Struct, frozen=True, kw_only=True):
    """A request's sampling fields after range checks; None where the request left one to the engine."""

    max_tokens: int
    """``max_completion_tokens``, else ``max_tokens``, else the provider's default; before clamping
    to the context window."""
    temperature: float | None
    top_p: float | None
    top_k: int | None
    seed: int | None
    presence_penalty: float
    """0.0 when unset, as OpenAI's default."""
    frequency_penalty: float
    """0.0 when unset, as OpenAI's default."""
    stop: tuple[str, ...]
    """At most :data:`MAX_STOP` non-empty strings."""


def _number(value: Any, param: str, *, low: float, high: float) -> float | None:
    if value is None or value is msgspec.UNSET:
        return None
    if value < low:
        raise InvalidRequest(
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {low:g}, but got {value:g} instead.",
            param=param,
            code="decimal_below_min_value",
        )
    if value > high:
        raise InvalidRequest(
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {high:g}, but got {value:g} instead.",
            param=param,
            code="decimal_above_max_value",
        )
    return float(value)


def sampling_fields(request: ChatCompletionRequest, *, default_max_tokens: int) -> SamplingFields:
    """The sampling fields of ``request``; raises :class:`InvalidRequest` naming an out-of-range field.

    Ranges as OpenAI's API reference gives them: ``max_tokens`` / ``max_completion_tokens`` >= 1
    (``integer_below_min_value``), ``temperature`` in [0, 2], ``top_p`` in [0, 1], the penalties in
    [-2, 2] (``decimal_below_min_value`` / ``decimal_above_max_value``), ``top_k`` >= 0 (0 disables it),
    ``stop`` a string or up to 4 strings (empty strings dropped). ``max_completion_tokens`` wins over
    ``max_tokens``; neither → ``default_max_tokens``.
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
    if len(stop) > MAX_STOP:
        raise InvalidRequest(f"'stop' takes at most {MAX_STOP} sequences, got {len(stop)}", param="stop")
    limit = request.max_output()
    return SamplingFields(
        max_tokens=limit if limit is not None else default_max_tokens,
        temperature=_number(request.temperature, "temperature", low=0, high=2),
        top_p=_number(request.top_p, "top_p", low=0, high=1),
        top_k=request.top_k if isinstance(request.top_k, int) else None,
        seed=request.seed if isinstance(request.seed, int) else None,
        presence_penalty=_number(request.presence_penalty, "presence_penalty", low=-2, high=2) or 0.0,
        frequency_penalty=_number(request.frequency_penalty, "frequency_penalty", low=-2, high=2) or 0.0,
        stop=stop,
    )
