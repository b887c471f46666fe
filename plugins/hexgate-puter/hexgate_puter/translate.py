"""Pure functions OpenAI ⇄ Puter (../shared/upstreams.md §6); no I/O here.

- :func:`chat_args`: an OpenAI chat request → Puter ``puter-chat-completion`` args.
- :func:`completion_from`: Puter's ``result`` → an OpenAI ``chat.completion``.
- :class:`StreamTranslator`: Puter's NDJSON lines → OpenAI chunks (``text`` → ``content``,
  ``reasoning`` → ``reasoning_content``, a whole ``tool_use`` → a tool call header delta and
  one ``arguments`` delta, ``usage`` → usage on the last chunk, ``error`` → a hexgate error).
- :func:`map_error`: Puter's error codes and statuses → the hexgate error tree (ARCHITECTURE.md).
- :func:`image_args`, :func:`image_bytes`: OpenAI image requests → ``puter-image-generation``
  args, and its binary answer back to bytes.
- :func:`model_from`: an entry of ``/puterai/chat/models/details`` → an OpenAI Model.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from typing import Any

import msgspec

from hexgate.errors import (
    AuthenticationFailed,
    HexgateError,
    InvalidRequest,
    Unsupported,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    from_upstream_status,
)
from hexgate.schemas.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    CompletionTokensDetails,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    ImagePart,
    PromptTokensDetails,
    RefusalPart,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from hexgate.schemas.images import ImageGenerationRequest
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate_puter import wire

__all__ = [
    "AUTH_CODES",
    "QUOTA_CODES",
    "RATE_CODES",
    "StreamTranslator",
    "chat_args",
    "completion_from",
    "error_details",
    "image_args",
    "image_bytes",
    "map_error",
    "model_from",
    "openai_chunk",
    "openai_completion",
    "to_messages",
    "usage_from",
]

# ---------------------------------------------------------------- requests


def to_messages(messages: list[ChatMessage]) -> tuple[list[wire.Message], bool]:
    """OpenAI messages → Puter's OpenAI-like messages, and whether any holds an image.

    ``developer`` becomes ``system``, a legacy ``function`` message a ``tool`` message. Text,
    refusal and image parts pass; audio and file parts raise :class:`Unsupported` naming the part.
    Reasoning fields are not sent (Puter documents no way to return them).
    """
    out: list[wire.Message] = []
    vision = False
    for i, m in enumerate(messages):
        role = {"developer": "system", "function": "tool"}.get(m.role, m.role)
        content: str | list[wire.Part] | None
        if isinstance(m.content, str):
            content = m.content
        elif isinstance(m.content, list):
            parts: list[wire.Part] = []
            for j, part in enumerate(m.content):
                if isinstance(part, TextPart):
                    parts.append(wire.TextPart(part.text))
                elif isinstance(part, RefusalPart):
                    parts.append(wire.TextPart(part.refusal))
                elif isinstance(part, ImagePart):
                    parts.append(wire.ImagePart(wire.ImageRef(part.image_url.url)))
                    vision = True
                else:
                    raise Unsupported(
                        f"Puter chat takes text and image parts, not {type(part).__name__}",
                        param=f"messages[{i}].content[{j}]",
                    )
            content = parts
        else:
            content = None
        msg = wire.Message(role=role, content=content)
        if m.tool_calls:
            msg.tool_calls = m.tool_calls
        if isinstance(m.tool_call_id, str):
            msg.tool_call_id = m.tool_call_id
        elif m.role == "function" and isinstance(m.name, str):
            msg.tool_call_id = m.name
        if isinstance(m.name, str) and m.role in ("user", "system", "developer"):
            msg.name = m.name
        out.append(msg)
    return out, vision


def chat_args(
    request: ChatCompletionRequest, *, model: str, stream: bool, provider: str | None = None
) -> wire.ChatArgs:
    """The ``args`` of a ``puter-chat-completion`` call. Sent: messages, model, stream,
    temperature, max_tokens (``max_completion_tokens`` first), tools, reasoning_effort, and the
    configured backend ``provider``. Raises :class:`Unsupported` for ``n`` > 1 and ``logprobs``."""
    if isinstance(request.n, int) and request.n > 1:
        raise Unsupported("Puter returns one choice per request; 'n' must be 1", param="n")
    if request.logprobs is True:
        raise Unsupported("Puter does not return logprobs", param="logprobs")
    messages, vision = to_messages(request.messages)
    args = wire.ChatArgs(messages=messages, model=model, stream=stream)
    if isinstance(request.temperature, float | int):
        args.temperature = float(request.temperature)
    limit = request.max_output()
    if limit is not None:
        args.max_tokens = limit
    if request.tools and request.tool_choice != "none":
        args.tools = request.tools
    if isinstance(request.reasoning_effort, str):
        args.reasoning_effort = request.reasoning_effort
    if provider:
        args.provider = provider
    if vision:
        args.vision = True
    return args


# ---------------------------------------------------------------- answers


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_int(source: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        found = _int(source.get(key))
        if found is not None:
            return found
    return None


def usage_from(value: Any) -> Usage | None:
    """Puter's usage → OpenAI's. Accepts OpenAI's names (``prompt_tokens``, ``completion_tokens``),
    Anthropic-style ones (``input_tokens``, ``output_tokens``, ``cache_read_input_tokens``), and a
    list of metering lines ``[{"type": "prompt" | "completion", "amount": n}]``; None when it
    holds no counts."""
    if isinstance(value, list):
        prompt = completion = 0
        seen = False
        for line in value:
            if isinstance(line, Mapping) and _int(line.get("amount")) is not None:
                kind = str(line.get("type", ""))
                if kind in ("prompt", "input"):
                    prompt += line["amount"]
                    seen = True
                elif kind in ("completion", "output"):
                    completion += line["amount"]
                    seen = True
        return (
            Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
            if seen
            else None
        )
    if not isinstance(value, Mapping):
        return None
    found_prompt = _first_int(value, "prompt_tokens", "input_tokens")
    found_completion = _first_int(value, "completion_tokens", "output_tokens")
    if found_prompt is None and found_completion is None:
        return None
    prompt, completion = found_prompt or 0, found_completion or 0
    usage = Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=_first_int(value, "total_tokens") or prompt + completion,
    )
    details = value.get("prompt_tokens_details")
    cached = _first_int(details, "cached_tokens") if isinstance(details, Mapping) else None
    cached = cached if cached is not None else _first_int(value, "cached_tokens", "cache_read_input_tokens")
    if cached is not None:
        usage.prompt_tokens_details = PromptTokensDetails(cached_tokens=cached)
    details = value.get("completion_tokens_details")
    reasoning = _first_int(details, "reasoning_tokens") if isinstance(details, Mapping) else None
    reasoning = reasoning if reasoning is not None else _first_int(value, "reasoning_tokens")
    if reasoning is not None:
        usage.completion_tokens_details = CompletionTokensDetails(reasoning_tokens=reasoning)
    return usage


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    return msgspec.json.encode({} if value is None else value).decode()


def completion_from(result: wire.ChatResult, *, model: str, cid: str, created: int) -> ChatCompletion:
    """Puter's non-streamed ``result`` → ``chat.completion``. ``content`` may be a string or parts
    (text parts joined, ``tool_use`` parts taken as tool calls); tool call arguments that arrive as
    objects are JSON-encoded; finish_reason is ``tool_calls`` whenever calls were made."""
    message = result.message or wire.ResultMessage()
    text: str | None = None
    calls: list[ToolCall] = []
    if isinstance(message.content, str):
        text = message.content
    elif isinstance(message.content, list):
        pieces: list[str] = []
        for part in message.content:
            if not isinstance(part, Mapping):
                continue
            if part.get("type") == "tool_use":
                calls.append(
                    ToolCall(
                        id=str(part.get("id") or f"call_{len(calls)}"),
                        function=FunctionCall(name=str(part.get("name", "")), arguments=_arguments(part.get("input"))),
                    )
                )
            elif isinstance(part.get("text"), str):
                pieces.append(part["text"])
        text = "".join(pieces) if pieces or not calls else None
    for call in message.tool_calls or []:
        calls.append(
            ToolCall(
                id=call.id or f"call_{len(calls)}",
                function=FunctionCall(name=call.function.name, arguments=_arguments(call.function.arguments)),
            )
        )
    out = AssistantMessage(content=text or (None if calls else ""))
    if calls:
        out.tool_calls = calls
    reasoning = message.reasoning_content or message.reasoning
    if reasoning:
        out.reasoning_content = reasoning
    finish = result.finish_reason or "stop"
    if calls and finish == "stop":
        finish = "tool_calls"
    completion = ChatCompletion(
        id=cid, created=created, model=model, choices=[Choice(index=0, message=out, finish_reason=finish)]
    )
    usage = usage_from(result.usage)
    if usage is not None:
        completion.usage = usage
    return completion


class StreamTranslator:
    """Turns Puter's NDJSON stream lines into OpenAI chunks, one answer at a time.

    :meth:`feed` returns the chunks for one line (raising the mapped hexgate error for an
    ``error`` line, a ``success: false`` line, or one flagged ``metadata.usage_limited``);
    :meth:`finish` returns the last chunk, with ``finish_reason`` and the usage Puter reported.
    """

    def __init__(self, *, cid: str, created: int, model: str, client_token: bool = False) -> None:
        self.cid = cid
        self.created = created
        self.model = model
        self.client_token = client_token
        self.tool_calls = 0
        self.usage: Usage | None = None

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.cid,
            created=self.created,
            model=self.model,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )

    def feed(self, line: wire.StreamLine) -> list[ChatCompletionChunk]:
        if line.type == "error" or line.success is False:
            code, message, status = error_details(line.error, code=line.code, message=line.message)
            if _usage_limited(line.metadata):
                code = code or "usage_limited"
            raise map_error(status=status or 200, code=code, message=message, client_token=self.client_token)
        if _usage_limited(line.metadata):
            raise map_error(status=200, code="usage_limited", message=None, client_token=self.client_token)
        if line.type == "text":
            return [self._chunk(Delta(content=line.text))] if isinstance(line.text, str) and line.text else []
        if line.type == "reasoning":
            text = line.reasoning if isinstance(line.reasoning, str) else line.text
            return [self._chunk(Delta(reasoning_content=text))] if isinstance(text, str) and text else []
        if line.type == "tool_use":
            index = self.tool_calls
            self.tool_calls += 1
            call_id = line.id if isinstance(line.id, str) and line.id else f"call_{index}"
            name = line.name if isinstance(line.name, str) else ""
            head = ToolCallDelta(
                index=index, id=call_id, type="function", function=FunctionCallDelta(name=name, arguments="")
            )
            body = ToolCallDelta(index=index, function=FunctionCallDelta(arguments=_arguments(line.input)))
            return [self._chunk(Delta(tool_calls=[head])), self._chunk(Delta(tool_calls=[body]))]
        if line.type == "usage":
            self.usage = usage_from(line.usage) or self.usage
        return []  # extra_content, compaction and unknown types carry nothing OpenAI-shaped

    def finish(self) -> ChatCompletionChunk:
        chunk = self._chunk(Delta(), "tool_calls" if self.tool_calls else "stop")
        if self.usage is not None:
            chunk.usage = self.usage
        return chunk


# ---------------------------------------------------------------- errors

AUTH_CODES = frozenset(
    {
        "token_auth_failed",
        "reauth_required",
        "permission_denied",
        "email_must_be_confirmed",
        "forbidden",
        "unauthorized",
        "nousersession",
        "no_user_session",
    }
)
"""Puter refused the token or the account (upstreams.md §6); 401/403 statuses land here too."""
QUOTA_CODES = frozenset({"insufficient_funds", "usage_limited", "insufficient_quota"})
"""The account is out of credits or over its usage allowance: 429 ``insufficient_quota``, as OpenAI answers."""
RATE_CODES = frozenset({"rate_limit_exceeded", "rate_limited", "too_many_requests", "concurrency_limit_exceeded"})


def _usage_limited(metadata: Any) -> bool:
    return isinstance(metadata, Mapping) and metadata.get("usage_limited") is True


def error_details(error: Any, *, code: Any = None, message: Any = None) -> tuple[str | None, str | None, int | None]:
    """``(code, message, status)`` from Puter's ``error`` (an object or a string) and the
    envelope's own ``code`` / ``message`` keys, whichever are present."""
    status = None
    if isinstance(error, Mapping):
        code = error.get("code", code)
        message = error.get("message", message)
        status = _int(error.get("status"))
    elif isinstance(error, str):
        message = message or error
    return (
        str(code) if isinstance(code, str | int) and code != "" else None,
        str(message) if isinstance(message, str) and message else None,
        status,
    )


def map_error(
    *,
    status: int,
    code: str | None,
    message: str | None,
    retry_after: float | None = None,
    client_token: bool = False,
) -> HexgateError:
    """Puter's failure → the hexgate error ARCHITECTURE.md's table calls for.

    ``AUTH_CODES`` or 401/403 → 502 :class:`UpstreamAuthError` (the configured token is wrong),
    or 401 :class:`AuthenticationFailed` when the token was the client's own bearer key;
    ``QUOTA_CODES`` or 402 → 429 ``insufficient_quota``; ``RATE_CODES`` or 429 → 429 with
    ``retry-after``; any other 4xx/5xx through :func:`hexgate.errors.from_upstream_status`;
    ``success: false`` with status 200 and an unknown code → 502.
    """
    key = (code or "").lower()
    text = message or code or f"status {status}"
    if key in AUTH_CODES or (status in (401, 403) and key not in QUOTA_CODES):
        if client_token:
            return AuthenticationFailed(
                f"Puter refused the token sent as the bearer key ({code or status}): {text}", code="invalid_api_key"
            )
        return UpstreamAuthError(f"Puter refused the configured auth_token ({code or status}): {text}", code=code)
    if key in QUOTA_CODES or status == 402:
        return UpstreamRateLimited(
            f"Puter: the account is out of credits or over its usage limit ({code or status}): {text}",
            retry_after=retry_after,
            code="insufficient_quota",
        )
    if key in RATE_CODES or status == 429:
        return UpstreamRateLimited(f"Puter is rate limiting: {text}", retry_after=retry_after, code=code)
    if status >= 400:
        return from_upstream_status(status, f"Puter: {text}", retry_after=retry_after, code=code)
    return UpstreamError(f"Puter reported a failure: {text}", code=code)


# ---------------------------------------------------------------- images


def _ratio(size: str) -> wire.Ratio:
    width, sep, height = size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 1 or int(height) < 1:
        raise InvalidRequest(f"'size' must be WIDTHxHEIGHT (e.g. 1024x1024) or 'auto', not {size!r}", param="size")
    w, h = int(width), int(height)
    g = math.gcd(w, h)
    return wire.Ratio(w=w // g, h=h // g)


def image_args(request: ImageGenerationRequest, *, model: str) -> wire.ImageArgs:
    """``puter-image-generation`` args: prompt, model, quality (unless ``auto``) and the aspect
    ratio of ``size`` reduced to lowest terms (``1536x1024`` → ``{"w": 3, "h": 2}``). Style,
    background, moderation and output format are not sent: Puter documents no such args."""
    args = wire.ImageArgs(prompt=request.prompt, model=model)
    if isinstance(request.quality, str) and request.quality != "auto":
        args.quality = request.quality
    if isinstance(request.size, str) and request.size != "auto":
        args.ratio = _ratio(request.size)
    return args


_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


def image_bytes(content_type: str, body: bytes) -> bytes | None:
    """The image in a ``puter-image-generation`` answer: the body itself when it is an image
    (by ``Content-Type`` or by its first bytes), or the payload of a ``data:image/...;base64,``
    body; None when the body is something else (a JSON envelope, an error)."""
    if content_type.lower().startswith("image/") or body.startswith(_IMAGE_MAGIC):
        return body
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return body
    text = body.strip()
    if text.startswith(b'"') and text.endswith(b'"'):
        text = text[1:-1]
    if text.startswith(b"data:image/"):
        _, sep, payload = text.partition(b";base64,")
        if sep:
            try:
                return base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                return None
    return None


# ---------------------------------------------------------------- models


def model_from(entry: wire.ModelEntry | str) -> Model:
    """An entry of Puter's model list → an OpenAI Model with what Puter says about it
    (``name`` → display_name, ``context`` → context_window, ``max_tokens`` → max_output_tokens)."""
    caps = ModelCapabilities(chat=True, streaming=True)
    if isinstance(entry, str):
        return Model(id=entry, owned_by="puter", capabilities=caps)
    model = Model(id=entry.id, owned_by=entry.provider if isinstance(entry.provider, str) else "puter")
    model.capabilities = caps
    if isinstance(entry.name, str) and entry.name:
        model.display_name = entry.name
    if _int(entry.context):
        model.context_window = entry.context
    if _int(entry.max_tokens):
        model.max_output_tokens = entry.max_tokens
    return model


# ---------------------------------------------------------------- OpenAI-compatible mode


def openai_completion(data: dict[str, Any]) -> ChatCompletion:
    """A ``chat.completion`` from Puter's OpenAI-compatible endpoint → the Struct, tolerating a
    message without ``content`` and reasoning under ``reasoning`` (OpenRouter's name).
    Raises ``msgspec.ValidationError`` when it is not a completion."""
    for choice in data.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            message.setdefault("content", None)
            _reasoning_alias(message)
    return msgspec.convert(data, ChatCompletion)


def openai_chunk(data: dict[str, Any]) -> ChatCompletionChunk:
    """A ``chat.completion.chunk`` from Puter's OpenAI-compatible endpoint → the Struct (``reasoning``
    read as ``reasoning_content``). Raises ``msgspec.ValidationError`` when it is not a chunk."""
    for choice in data.get("choices") or []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict):
            _reasoning_alias(delta)
    return msgspec.convert(data, ChatCompletionChunk)


def _reasoning_alias(message: dict[str, Any]) -> None:
    reasoning = message.pop("reasoning", None)
    if isinstance(reasoning, str) and reasoning and not message.get("reasoning_content"):
        message["reasoning_content"] = reasoning
    if message.get("reasoning_content") is None:
        message.pop("reasoning_content", None)
