"""Pure translation between OpenAI Chat Completions and Anthropic's Messages API (no I/O).

Request (:func:`build_params`): an OpenAI ``ChatCompletionRequest`` becomes the keyword
arguments of ``AsyncAnthropic.messages.create`` (Anthropic's wire JSON as dicts). Response
(:func:`to_choice`, :func:`to_usage`, :func:`combine`): a decoded :class:`wire.Message`
becomes OpenAI choices and usage. Streams are translated by :mod:`hexgate_anthropic.stream`.

Sources: Anthropic's Messages API reference as carried by anthropic-sdk-python 0.125
(``types/message_create_params.py`` and the ``*_param.py`` blocks), LiteLLM's
``anthropic/chat/transformation.py`` and ``prompt_templates/factory.py::anthropic_messages_pt``
(upstreams.md §1), OpenAI's ``chat/completion_create_params.py`` for the input side.

Mapping, OpenAI → Anthropic:

- ``system`` / ``developer`` messages (anywhere) → top-level ``system`` text blocks, in order.
- ``user`` text, ``image_url`` (data URL / http(s)), ``file`` (PDF, plain text) → ``text``,
  ``image`` (base64 / url source), ``document`` blocks.
- ``assistant``: ``reasoning_details`` of format ``anthropic-claude-v1`` → ``thinking``
  {thinking, signature} / ``redacted_thinking`` {data} blocks first, then content → ``text``,
  then ``tool_calls`` → ``tool_use`` {id, name, input}.
- ``tool`` messages → ``tool_result`` {tool_use_id, content} blocks, first in a user turn.
- consecutive messages of one role → one turn.
- ``max_completion_tokens`` / ``max_tokens`` / neither → ``max_tokens`` / setting ``max_tokens``.
- ``stop`` → ``stop_sequences``; ``top_p``, ``top_k`` as they are; ``user`` → ``metadata.user_id``.
- ``temperature`` (OpenAI 0 to 2) → ``temperature`` clamped to Anthropic's 0 to 1.
- ``tools`` [{function: {name, description, parameters, strict}}] → ``tools`` [{name,
  description, input_schema, strict}].
- ``tool_choice`` auto / none / required / {function: {name}} → {type: auto} / {type: none} /
  {type: any} / {type: tool, name}; ``parallel_tool_calls: false`` →
  ``disable_parallel_tool_use: true``.
- ``response_format`` json_schema → ``output_config.format`` {type: json_schema, schema}
  (schema passed through the SDK's ``transform_schema``); json_object → a system instruction
  (Anthropic's structured output needs a schema).
- ``reasoning_effort`` none → ``thinking: {type: disabled}``; minimal…xhigh → ``thinking:
  {type: enabled, budget_tokens}`` from settings, or ``{type: adaptive}`` +
  ``output_config.effort`` for the models in setting ``adaptive_thinking``.

Dropped because Anthropic has no equivalent: ``seed``, ``presence_penalty``,
``frequency_penalty``, ``logit_bias``, ``metadata``, ``stream_options`` (usage always comes).
``logprobs`` / ``top_logprobs`` and ``input_audio`` parts raise :class:`Unsupported`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anthropic
import msgspec
from msgspec import UnsetType

from hexgate.errors import HexgateError, InvalidRequest, Unsupported, from_upstream_status
from hexgate.schemas.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    CompletionTokensDetails,
    ContentPart,
    FilePart,
    FunctionCall,
    FunctionDefinition,
    ImagePart,
    InputAudioPart,
    JSONSchemaFormat,
    PromptTokensDetails,
    ReasoningDetail,
    RefusalPart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolChoiceObject,
    Usage,
)
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate_anthropic import wire
from hexgate_anthropic.settings import AnthropicSettings

__all__ = [
    "JSON_OBJECT_INSTRUCTION",
    "REASONING_FORMAT",
    "add_usage",
    "body_error",
    "build_params",
    "combine",
    "error_from_type",
    "finish_reason",
    "image_block",
    "message_error",
    "model_entry",
    "reasoning_detail",
    "scrub",
    "sent_credentials",
    "to_choice",
    "to_usage",
    "tool_use_id",
]

REASONING_FORMAT = "anthropic-claude-v1"
"""``reasoning_details[].format`` for Anthropic thinking state (OpenRouter's name for it)."""

JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else: no prose, no code fences."
"""Appended to ``system`` for ``response_format: {"type": "json_object"}``."""

Block = dict[str, Any]
Turn = dict[str, Any]

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_EFFORTS = ("minimal", "low", "medium", "high", "xhigh")
_ADAPTIVE_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh"}
_TOOL_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")


# ---------------------------------------------------------------- request


def build_params(request: ChatCompletionRequest, *, model: str, settings: AnthropicSettings) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` for ``request`` (``stream`` not included).

    Raises :class:`InvalidRequest` (``param`` names the field) for input Anthropic cannot take
    and :class:`Unsupported` for OpenAI features it lacks (``logprobs``, audio input).
    """
    if request.logprobs or isinstance(request.top_logprobs, int):
        raise Unsupported("Anthropic returns no log probabilities; remove 'logprobs'", param="logprobs")
    system, turns = _convert_messages(request.messages)
    if not turns:
        raise InvalidRequest("Anthropic needs at least one user or assistant message", param="messages")
    params: dict[str, Any] = {"model": model, "messages": turns}
    max_tokens = request.max_output()
    explicit = max_tokens is not None
    if max_tokens is None:
        max_tokens = settings.max_tokens
    elif max_tokens < 1:
        raise InvalidRequest("'max_tokens' must be at least 1", param="max_tokens")
    fmt = request.response_format
    if isinstance(fmt, ResponseFormat) and fmt.type == "json_object":
        system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    if system:
        params["system"] = system
    output_config: dict[str, Any] = {}
    if isinstance(fmt, ResponseFormat) and fmt.type == "json_schema":
        output_config["format"] = _output_format(fmt)
    effort = request.reasoning_effort
    if isinstance(effort, str):
        thinking, max_tokens, adaptive_effort = _thinking(effort, model, max_tokens, explicit, settings)
        params["thinking"] = thinking
        if adaptive_effort:
            output_config["effort"] = adaptive_effort
    params["max_tokens"] = max_tokens
    if output_config:
        params["output_config"] = output_config
    stops = request.stop_list()
    if stops:
        params["stop_sequences"] = stops
    if isinstance(request.temperature, float | int):
        params["temperature"] = min(max(float(request.temperature), 0.0), 1.0)
    if isinstance(request.top_p, float | int):
        params["top_p"] = float(request.top_p)
    if isinstance(request.top_k, int):
        params["top_k"] = request.top_k
    if isinstance(request.user, str) and request.user:
        params["metadata"] = {"user_id": request.user}
    if request.tools:
        params["tools"] = [_tool(t.function) for t in request.tools]
        choice = _tool_choice(request.tool_choice, request.parallel_tool_calls)
        if choice is not None:
            params["tool_choice"] = choice
    return params


def _convert_messages(messages: Sequence[ChatMessage]) -> tuple[list[Block], list[Turn]]:
    system: list[Block] = []
    turns: list[Turn] = []
    last = max((i for i, m in enumerate(messages) if m.role not in ("system", "developer")), default=-1)
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if msg.role in ("system", "developer"):
            system.extend(_text_blocks(msg, where))
            continue
        if msg.role == "user":
            role, blocks = "user", _user_blocks(msg.content, where)
        elif msg.role == "assistant":
            role, blocks = "assistant", _assistant_blocks(msg, where, final=i == last)
        elif msg.role == "tool":
            role, blocks = "user", [_tool_result(msg, where)]
        else:
            raise InvalidRequest(
                "legacy 'function' messages are not supported; send 'tool' messages with a tool_call_id",
                param=f"{where}.role",
            )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:  # Anthropic wants tool_result blocks before any other block of a user turn
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return system, turns


def _text_blocks(msg: ChatMessage, where: str) -> list[Block]:
    if isinstance(msg.content, str):
        return [{"type": "text", "text": msg.content}] if msg.content else []
    blocks: list[Block] = []
    for j, part in enumerate(msg.content or []):
        if not isinstance(part, TextPart):
            raise InvalidRequest(f"{msg.role} messages may hold text parts only", param=f"{where}.content[{j}]")
        if part.text:
            blocks.append({"type": "text", "text": part.text})
    return blocks


def _user_blocks(content: str | list[ContentPart] | UnsetType | None, where: str) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return []
    blocks: list[Block] = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            blocks.append(image_block(part.image_url.url, where=f"{here}.image_url.url"))
        elif isinstance(part, FilePart):
            blocks.append(_file_block(part, here))
        elif isinstance(part, InputAudioPart):
            raise Unsupported("Anthropic does not take audio input", param=here)
        elif isinstance(part, RefusalPart) and part.refusal:
            blocks.append({"type": "text", "text": part.refusal})
    return blocks


def _parse_data_url(url: str, where: str) -> tuple[str, str]:
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise InvalidRequest("a data URL must look like 'data:<media type>;base64,<data>'", param=where)
    return head[5:-7].strip().lower(), data


def image_block(url: str, *, where: str) -> Block:
    """An ``image_url`` as an Anthropic block: a ``data:`` URL becomes a base64 source, an http(s)
    URL a ``url`` source (Anthropic fetches it). A PDF data URL becomes a ``document`` block.
    Raises :class:`InvalidRequest` for other schemes and for media types Anthropic refuses."""
    if url.startswith("data:"):
        media, data = _parse_data_url(url, where)
        if media == "application/pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": media, "data": data}}
        if media not in _IMAGE_TYPES:
            raise InvalidRequest(
                f"Anthropic accepts images of type {', '.join(sorted(_IMAGE_TYPES))}, not {media!r}", param=where
            )
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest("an image URL must be an http(s) URL or a base64 data URL", param=where)


def _file_block(part: FilePart, where: str) -> Block:
    data_url = part.file.file_data
    if not isinstance(data_url, str):
        raise Unsupported("Anthropic cannot read OpenAI file ids; send the file as 'file_data'", param=where)
    if not data_url.startswith("data:"):  # OpenAI also accepts bare base64 for PDFs
        data_url = f"data:application/pdf;base64,{data_url}"
    media, data = _parse_data_url(data_url, f"{where}.file.file_data")
    block: Block
    if media == "application/pdf":
        block = {"type": "document", "source": {"type": "base64", "media_type": media, "data": data}}
    elif media == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except ValueError:
            raise InvalidRequest("the text file is not base64-encoded UTF-8", param=f"{where}.file.file_data") from None
        block = {"type": "document", "source": {"type": "text", "media_type": media, "data": text}}
    else:
        raise Unsupported(f"Anthropic takes PDF and plain-text documents, not {media!r}", param=where)
    if isinstance(part.file.filename, str) and part.file.filename:
        block["title"] = part.file.filename
    return block


def tool_use_id(value: str) -> str:
    """A tool call id Anthropic accepts (``^[a-zA-Z0-9_-]+$``): other characters become ``_``."""
    return _TOOL_ID_BAD.sub("_", value) or "_"


def _reasoning_blocks(msg: ChatMessage) -> list[Block]:
    if not isinstance(msg.reasoning_details, list):
        return []
    fallback = msg.reasoning_content if isinstance(msg.reasoning_content, str) else None
    if fallback is None and isinstance(msg.reasoning, str):
        fallback = msg.reasoning
    blocks: list[Block] = []
    for item in msg.reasoning_details:
        if isinstance(item.format, str) and not item.format.startswith("anthropic"):
            continue  # another upstream's state: meaningless (and refused) here
        if item.type == "reasoning.text" and isinstance(item.signature, str) and item.signature:
            text = item.text if isinstance(item.text, str) else fallback or ""
            blocks.append({"type": "thinking", "thinking": text, "signature": item.signature})
        elif item.type == "reasoning.encrypted" and isinstance(item.data, str) and item.data:
            blocks.append({"type": "redacted_thinking", "data": item.data})
    return blocks


def _assistant_blocks(msg: ChatMessage, where: str, *, final: bool) -> list[Block]:
    blocks = _reasoning_blocks(msg)
    texts: list[str] = []
    if isinstance(msg.content, str):
        texts.append(msg.content)
    elif isinstance(msg.content, list):
        for part in msg.content:
            if isinstance(part, TextPart):
                texts.append(part.text)
            elif isinstance(part, RefusalPart):
                texts.append(part.refusal)
    if not msg.tool_calls and final:
        # a final assistant turn is a prefill, and Anthropic refuses one ending in whitespace
        while texts and not texts[-1].rstrip():
            texts.pop()
        if texts:
            texts[-1] = texts[-1].rstrip()
    blocks.extend({"type": "text", "text": t} for t in texts if t)
    for j, call in enumerate(msg.tool_calls or []):
        here = f"{where}.tool_calls[{j}].function.arguments"
        raw = call.function.arguments
        try:
            args = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise InvalidRequest("tool call arguments are not valid JSON", param=here) from None
        if not isinstance(args, dict):
            raise InvalidRequest("tool call arguments must be a JSON object", param=here)
        blocks.append({"type": "tool_use", "id": tool_use_id(call.id), "name": call.function.name, "input": args})
    return blocks


def _tool_result(msg: ChatMessage, where: str) -> Block:
    if not isinstance(msg.tool_call_id, str) or not msg.tool_call_id:
        raise InvalidRequest("a tool message needs 'tool_call_id'", param=f"{where}.tool_call_id")
    block: Block = {"type": "tool_result", "tool_use_id": tool_use_id(msg.tool_call_id)}
    if isinstance(msg.content, str):
        if msg.content:
            block["content"] = msg.content
    elif isinstance(msg.content, list):
        parts = _user_blocks(msg.content, where)
        if parts:
            block["content"] = parts
    return block


def _tool(fn: FunctionDefinition) -> Block:
    tool: Block = {"name": fn.name}
    if isinstance(fn.description, str) and fn.description:
        tool["description"] = fn.description
    schema = fn.parameters if isinstance(fn.parameters, dict) else {}
    tool["input_schema"] = {"type": "object", **schema} if "type" not in schema else schema
    if fn.strict is True:
        tool["strict"] = True
    return tool


def _tool_choice(choice: str | ToolChoiceObject | UnsetType, parallel: bool | UnsetType) -> Block | None:
    no_parallel = parallel is False
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, ToolChoiceObject):
        out: Block = {"type": "tool", "name": choice.function.name}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "auto" or no_parallel:
        out = {"type": "auto"}
    else:
        return None
    if no_parallel:
        out["disable_parallel_tool_use"] = True
    return out


def _output_format(fmt: ResponseFormat) -> Block:
    spec = fmt.json_schema
    if not isinstance(spec, JSONSchemaFormat) or not isinstance(spec.schema, dict):
        raise InvalidRequest("response_format json_schema needs 'json_schema.schema'", param="response_format")
    try:
        schema = anthropic.transform_schema(spec.schema)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidRequest(f"Anthropic cannot use this JSON schema: {exc}", param="response_format") from None
    return {"type": "json_schema", "schema": schema}


def _thinking(
    effort: str, model: str, max_tokens: int, explicit: bool, settings: AnthropicSettings
) -> tuple[Block, int, str | None]:
    effort = effort.lower()
    if effort == "none":
        return {"type": "disabled"}, max_tokens, None
    if effort not in _EFFORTS:
        raise InvalidRequest(
            f"reasoning_effort must be one of none, {', '.join(_EFFORTS)}; got {effort!r}", param="reasoning_effort"
        )
    if any(model.startswith(prefix) for prefix in settings.adaptive_thinking):
        return {"type": "adaptive"}, max_tokens, _ADAPTIVE_EFFORT[effort]
    budget: int = getattr(settings.thinking_budgets, effort)
    if not explicit:
        return {"type": "enabled", "budget_tokens": budget}, max_tokens + budget, None
    if budget >= max_tokens:  # OpenAI counts reasoning inside max_completion_tokens; Anthropic wants room above
        budget = max_tokens - 1
        if budget < 1024:
            raise InvalidRequest(
                "with reasoning_effort set, Anthropic needs max_tokens above 1024 (the smallest thinking budget)",
                param="max_tokens",
            )
    return {"type": "enabled", "budget_tokens": budget}, max_tokens, None


# ---------------------------------------------------------------- response

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, *, tool_calls: bool) -> str:
    """OpenAI's ``finish_reason`` for Anthropic's ``stop_reason``.

    ``tool_calls`` whenever calls were made (whatever the upstream said), except when the
    answer was cut by ``max_tokens`` (``length``, as OpenAI reports a truncated call); unknown
    reasons (and none) are ``stop`` (``types/stop_reason.py``; LiteLLM ``_FINISH_REASON_MAP``).
    """
    mapped = _FINISH.get(stop_reason or "", "stop")
    if tool_calls and mapped != "length":
        return "tool_calls"
    return mapped


def to_usage(usage: wire.Usage | None) -> Usage:
    """``prompt_tokens`` = input + cache read + cache creation (all are billed input);
    ``cached_tokens`` = cache read; ``completion_tokens`` = output (thinking included, as OpenAI
    counts reasoning); ``reasoning_tokens`` = ``output_tokens_details.thinking_tokens`` when reported."""
    u = usage or wire.Usage()
    cached = u.cache_read_input_tokens or 0
    prompt = (u.input_tokens or 0) + cached + (u.cache_creation_input_tokens or 0)
    completion = u.output_tokens or 0
    out = Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
    )
    details = u.output_tokens_details
    if details is not None and details.thinking_tokens is not None:
        out.completion_tokens_details = CompletionTokensDetails(reasoning_tokens=details.thinking_tokens)
    return out


def reasoning_detail(block: wire.ContentBlock, index: int) -> ReasoningDetail | None:
    """A ``thinking`` / ``redacted_thinking`` block as a ``reasoning_details`` item (None for others)."""
    if block.type == "thinking":
        return ReasoningDetail(
            type="reasoning.text",
            text=block.thinking or "",
            signature=block.signature or None,
            format=REASONING_FORMAT,
            index=index,
        )
    if block.type == "redacted_thinking":
        return ReasoningDetail(type="reasoning.encrypted", data=block.data or "", format=REASONING_FORMAT, index=index)
    return None


def to_choice(message: wire.Message, *, index: int = 0) -> Choice:
    """One OpenAI choice from an Anthropic Message: text blocks joined into ``content`` (null when
    none), ``tool_use`` → ``tool_calls`` (arguments = compact JSON of ``input``), thinking text →
    ``reasoning_content``, thinking state → ``reasoning_details``; other block kinds are skipped."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    details: list[ReasoningDetail] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "tool_use":
            args = msgspec.json.encode(block.input if block.input is not None else {}).decode()
            calls.append(ToolCall(id=block.id or "", function=FunctionCall(name=block.name or "", arguments=args)))
        detail = reasoning_detail(block, len(details))
        if detail is not None:
            details.append(detail)
            if block.type == "thinking" and block.thinking:
                thoughts.append(block.thinking)
    msg = AssistantMessage(content="".join(texts) if texts else None)
    if calls:
        msg.tool_calls = calls
    if thoughts:
        msg.reasoning_content = "".join(thoughts)
    if details:
        msg.reasoning_details = details
    return Choice(index=index, message=msg, finish_reason=finish_reason(message.stop_reason, tool_calls=bool(calls)))


def add_usage(a: Usage, b: Usage) -> Usage:
    """The sum of two usages (``n > 1`` fan-out: every call is billed)."""

    def _cached(u: Usage) -> int | None:
        d = u.prompt_tokens_details
        return d.cached_tokens if isinstance(d, PromptTokensDetails) and isinstance(d.cached_tokens, int) else None

    def _reasoning(u: Usage) -> int | None:
        d = u.completion_tokens_details
        if isinstance(d, CompletionTokensDetails) and isinstance(d.reasoning_tokens, int):
            return d.reasoning_tokens
        return None

    def _sum(x: int | None, y: int | None) -> int | None:
        return None if x is None and y is None else (x or 0) + (y or 0)

    out = Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        total_tokens=a.total_tokens + b.total_tokens,
    )
    cached = _sum(_cached(a), _cached(b))
    if cached is not None:
        out.prompt_tokens_details = PromptTokensDetails(cached_tokens=cached)
    reasoning = _sum(_reasoning(a), _reasoning(b))
    if reasoning is not None:
        out.completion_tokens_details = CompletionTokensDetails(reasoning_tokens=reasoning)
    return out


def combine(messages: Sequence[wire.Message], *, created: int, model: str) -> ChatCompletion:
    """One ChatCompletion from one Message per choice (``n`` ≥ 1); usage summed over all calls.
    Raises the mapped hexgate error when one of them is an error object (:func:`message_error`)."""
    for m in messages:
        failure = message_error(m)
        if failure is not None:
            raise failure
    choices = [to_choice(m, index=i) for i, m in enumerate(messages)]
    usage = to_usage(messages[0].usage)
    for m in messages[1:]:
        usage = add_usage(usage, to_usage(m.usage))
    first = messages[0]
    return ChatCompletion(
        id=f"chatcmpl-{first.id}" if first.id else "chatcmpl-anthropic",
        created=created,
        model=first.model or model,
        choices=choices,
        usage=usage,
    )


# ---------------------------------------------------------------- errors

_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def error_from_type(error_type: str, message: str) -> HexgateError:
    """The hexgate error for an Anthropic error ``type`` (an ``event: error`` in a stream, where
    the HTTP status is already 200), by the status Anthropic documents for that type
    (docs.claude.com/en/api/errors); unknown types count as 500."""
    status = _ERROR_STATUS.get(error_type, 500)
    return from_upstream_status(status, message or error_type)


_CREDENTIAL_HEADERS = ("x-api-key", "authorization")


def sent_credentials(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The credentials a request carried (``x-api-key``; the token of ``authorization: Bearer …``),
    whatever their shape: what an upstream may echo in an error and :func:`scrub` removes."""
    found = []
    for name in _CREDENTIAL_HEADERS:
        value = headers.get(name)
        if value:
            found.append(value.split(" ", 1)[1] if " " in value else value)
    return tuple(v for v in found if len(v) >= 4)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ``[redacted]`` (the core's :func:`hexgate.errors.redact`
    only catches key-shaped strings; a key of another shape, e.g. a proxy's, needs its value)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def message_error(message: wire.Message) -> HexgateError | None:
    """The hexgate error for a 200 answer whose body is Anthropic's error object
    (``{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}``, the shape
    of docs.claude.com/en/api/errors, which Anthropic also sends with a 200 when a failure comes after
    the status was committed), by :func:`error_from_type`; None for a real Message."""
    if message.type != "error":
        return None
    error = message.error or wire.ErrorObject()
    return error_from_type(error.type, f"{error.message or error.type} (Anthropic {error.type})")


_ERROR_PREFIX = re.compile(rb'^\s*\{\s*"type"\s*:\s*"error"')


def body_error(body: bytes) -> HexgateError | None:
    """The hexgate error for a 200 JSON body that is Anthropic's error object (see
    :func:`message_error`), else None. Only a body that starts with ``{"type": "error"`` is decoded."""
    if not _ERROR_PREFIX.match(body[:64]):
        return None
    error = wire.decode_error(body) or wire.ErrorObject()
    return error_from_type(error.type, f"{error.message or error.type} (Anthropic {error.type})")


# ---------------------------------------------------------------- models

# context window, max output tokens, vision, reasoning — Anthropic's models overview [mem]; the
# API's own numbers (``max_input_tokens``, ``max_tokens``, ``capabilities``) win when it sends them.
_FAMILIES: tuple[tuple[str, int, int, bool, bool], ...] = (
    ("claude-opus-4-7", 200_000, 128_000, True, True),
    ("claude-opus-4-6", 200_000, 128_000, True, True),
    ("claude-sonnet-4-6", 200_000, 64_000, True, True),
    ("claude-opus-4-5", 200_000, 64_000, True, True),
    ("claude-haiku-4-5", 200_000, 64_000, True, True),
    ("claude-sonnet-4-5", 200_000, 64_000, True, True),
    ("claude-opus-4-1", 200_000, 32_000, True, True),
    ("claude-opus-4", 200_000, 32_000, True, True),
    ("claude-sonnet-4", 200_000, 64_000, True, True),
    ("claude-3-7-sonnet", 200_000, 64_000, True, True),
    ("claude-3-5-sonnet", 200_000, 8_192, True, False),
    ("claude-3-5-haiku", 200_000, 8_192, True, False),
    ("claude-3-opus", 200_000, 4_096, True, False),
    ("claude-3-haiku", 200_000, 4_096, True, False),
)


def model_entry(
    *,
    id: str,
    display_name: str | None = None,
    created: int = 0,
    context_window: int | None = None,
    max_output_tokens: int | None = None,
    vision: bool | None = None,
    reasoning: bool | None = None,
    json_output: bool | None = None,
) -> Model:
    """A ``/v1/models`` entry: what the API said, completed from the known-family table."""
    family = next((f for f in _FAMILIES if id.startswith(f[0])), None)
    if family is not None:
        context_window = context_window or family[1]
        max_output_tokens = max_output_tokens or family[2]
        vision = family[3] if vision is None else vision
        reasoning = family[4] if reasoning is None else reasoning
    caps = ModelCapabilities(chat=True, embeddings=False, tools=True, streaming=True)
    if vision is not None:
        caps.vision = vision
    if reasoning is not None:
        caps.reasoning = reasoning
    if json_output is not None:
        caps.json_output = json_output
    model = Model(id=id, created=created, owned_by="anthropic", capabilities=caps)
    if display_name:
        model.display_name = display_name
    if context_window:
        model.context_window = context_window
    if max_output_tokens:
        model.max_output_tokens = max_output_tokens
    return model
