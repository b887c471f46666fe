"""Pure mapping between OpenAI's shapes and the Hexin backend's (upstreams.md §7, after the reference
client ``hexin-server`` 0.1.23): where a model is served, the chat body, in-body failures, answers.

Model routing (``backend_route``), as the reference client does it::

    deepseek-reasoner, *r1* / *reasoner* doubao models   doubao/v3     model ep-20250410145517-rpbrz
    deepseek-chat, *v3* / *chat* doubao models           doubao/v3     model ep-20250410151344-fzm9z
    other doubao-* and ep-* ids                          doubao/v3     as given
    r1-qianfan                                           qianfan/v3    model deepseek-r1
    gemini                                               gemini/v3     model gemini-2.5-pro-preview-03-25
    *qwen*                                               qianwen/v1    as given
    gpt-*, o1/o3/o4(-mini)                               chatgpt/v3    max_tokens sent as max_completion_tokens;
                                                                       o-series without temperature
    anything else                                        chatgpt/v3    as given

``claude*`` models sit behind a Bedrock ``invoke`` route with Anthropic's body, which this plugin does
not speak (use the anthropic plugin). A ``routes`` table in the settings adds or overrides entries.

In-body failures (``body_error``), often sent with HTTP 200::

    {"success": false, "status_code": S, "status_msg": M}   S an HTTP status → that status's error
                                                            (401/403: our token, refreshed once);
                                                            any other code → 502 upstream_error
    {"error": {"type": T, "message": M, "code": C}}         T/C authentication/permission → token;
                                                            rate limit / quota → 429; invalid request,
                                                            context length → 400 (model_not_found 404);
                                                            overloaded → 503; timeout → 504; else 502

A non-2xx answer (``status_error``): its HTTP status wins wherever it is more specific than the body's
error type (404 → 404 ``model_not_found``, 408/504 → 504, 429 → 429, 503/529 → 503 with ``retry-after``,
401/403 → our token); only a generic 400, 500 or 502 lets the body's type decide (e.g. a 400 whose body
says ``context_length_exceeded`` stays 400, a 500 whose body says ``rate_limit_error`` becomes 429).

Every text taken from the backend is scrubbed of the configured secrets (``scrub``: the ``app_secret``
and the token in use), which the backend may echo in an error message.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from msgspec import UNSET

from hexgate.errors import (
    HexgateError,
    Unsupported,
    UpstreamAuthError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    from_upstream_status,
)
from hexgate.schemas import chat as c
from hexgate.schemas.embeddings import Embedding, EmbeddingResponse, EmbeddingUsage
from hexgate_hexin.wire import (
    WireAuthData,
    WireCompletion,
    WireEmbeddingItem,
    WireEmbeddings,
    WireEnvelope,
    WireError,
    WireMessage,
    WireToolCall,
    WireUsage,
)

__all__ = [
    "BackendRoute",
    "RouteOverride",
    "backend_route",
    "body_error",
    "build_embeddings",
    "chat_body",
    "chunk_from_wire",
    "completion_from_wire",
    "embeddings_from_wire",
    "embeddings_payload",
    "scrub",
    "status_error",
    "token_expiry",
    "unwrap",
]

_O_SERIES = re.compile(r"^o\d+(-mini)?$")
_REASONER = "ep-20250410145517-rpbrz"
_CHAT = "ep-20250410151344-fzm9z"


class RouteOverride(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A ``routes.<model>`` settings table: where that model is served."""

    symbol: str
    version: str = "v3"
    model: str | None = None
    """The backend's id for it; default the model name itself."""


class BackendRoute(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    """``/{symbol}/{version}/chat/completions``, under ``base_url``."""
    model: str
    max_completion_tokens: bool = False
    """Send the output limit as ``max_completion_tokens`` (OpenAI models), not ``max_tokens``."""
    temperature: bool = True
    """False for o-series models, which refuse it."""


def backend_route(model: str, overrides: Mapping[str, RouteOverride]) -> BackendRoute:
    """Where ``model`` is served (table in the module docstring). Raises :class:`Unsupported` for Claude."""
    override = overrides.get(model)
    if override is not None:
        return BackendRoute(
            path=f"/{override.symbol}/{override.version}/chat/completions", model=override.model or model
        )
    if model == "claude" or model.startswith("claude-"):
        raise Unsupported(
            f"{model!r} is served by the Hexin backend's Bedrock route, which this plugin does not speak; "
            "add it to the provider's 'routes' table if the backend serves it OpenAI-style",
            param="model",
        )
    if "doubao" in model or model.startswith("ep-") or model in ("deepseek-reasoner", "deepseek-chat"):
        backend = model
        if "r1" in model or "reasoner" in model:
            backend = _REASONER
        elif "v3" in model or "chat" in model:
            backend = _CHAT
        return BackendRoute(path="/doubao/v3/chat/completions", model=backend)
    if model == "r1-qianfan":
        return BackendRoute(path="/qianfan/v3/chat/completions", model="deepseek-r1")
    if model == "gemini":
        return BackendRoute(path="/gemini/v3/chat/completions", model="gemini-2.5-pro-preview-03-25")
    if "qwen" in model:
        return BackendRoute(path="/qianwen/v1/chat/completions", model=model)
    o_series = bool(_O_SERIES.match(model))
    if model.startswith("gpt-") or o_series:
        return BackendRoute(
            path="/chatgpt/v3/chat/completions", model=model, max_completion_tokens=True, temperature=not o_series
        )
    return BackendRoute(path="/chatgpt/v3/chat/completions", model=model)


# ---------------------------------------------------------------- requests

_OPTIONAL = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "n",
    "stop",
    "seed",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "reasoning_effort",
)


def chat_body(
    request: c.ChatCompletionRequest, route: BackendRoute, *, stream: bool, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The backend's chat body: OpenAI's, with the backend's model id and the route's quirks.
    ``reasoning_details`` (hexgate's opaque state for other upstreams) stay behind; ``extra`` (keys such
    as ``thinking`` taken from the client's body) goes along."""
    messages = []
    for message in request.messages:
        data = msgspec.to_builtins(message)
        data.pop("reasoning_details", None)
        messages.append(data)
    body: dict[str, Any] = {"model": route.model, "messages": messages, "stream": stream}
    limit = request.max_output()
    if limit is not None:
        body["max_completion_tokens" if route.max_completion_tokens else "max_tokens"] = limit
    if route.temperature and isinstance(request.temperature, float | int):
        body["temperature"] = request.temperature
    for name in _OPTIONAL:
        value = getattr(request, name)
        if value is not UNSET and value is not None:
            body[name] = msgspec.to_builtins(value)
    body.update(extra or {})
    return body


# ---------------------------------------------------------------- failures

_AUTH = {"authentication_error", "invalid_api_key", "permission_error", "invalid_token", "token_expired"}
_RATE = {"rate_limit_error", "rate_limit_exceeded", "insufficient_quota", "quota_exceeded"}
_REJECTED = {"invalid_request_error", "context_length_exceeded", "invalid_prompt", "bad_request"}
_OVERLOADED = {"overloaded_error", "server_overloaded", "engine_overloaded"}
_TIMEOUT = {"timeout", "timeout_error", "request_timeout"}


def _http_status(code: int | str | None) -> int | None:
    try:
        status = int(code) if code is not None else None
    except ValueError:
        return None
    return status if status is not None and 400 <= status < 600 else None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty one of ``secrets`` replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def body_error(
    envelope: WireEnvelope, *, retry_after: float | None = None, secrets: Iterable[str] = ()
) -> HexgateError | None:
    """The error an answer reports in its body (table in the module docstring), or None. Messages
    are scrubbed of ``secrets``."""
    if envelope.success is False:
        message = scrub(envelope.status_msg or "the Hexin backend reported a failure", secrets)
        status = _http_status(envelope.status_code)
        if status is not None:
            return from_upstream_status(status, message, retry_after=retry_after)
        return UpstreamError(f"the Hexin backend reported error {envelope.status_code}: {message}")
    error = envelope.error
    if isinstance(error, str):
        return UpstreamError(f"the Hexin backend reported: {scrub(error, secrets)}")
    if isinstance(error, WireError):
        return _typed_error(error, retry_after=retry_after, secrets=secrets)
    return None


_envelope = msgspec.json.Decoder(WireEnvelope)
_GENERIC = frozenset({400, 500, 502})
"""HTTP statuses that say less than the body's error type (which then decides)."""


def status_error(
    status: int, raw: bytes, *, retry_after: float | None = None, secrets: Iterable[str] = ()
) -> HexgateError:
    """The error for a non-2xx answer with body ``raw``: the body's error where ``status`` is generic
    (400/500/502), else ``status``'s own error carrying the body's message (module docstring)."""
    secrets = tuple(secrets)
    try:
        error = body_error(_envelope.decode(raw), retry_after=retry_after, secrets=secrets)
    except (msgspec.DecodeError, msgspec.ValidationError):
        error = None
    if error is not None and status in _GENERIC:
        return error
    if error is not None:
        message = error.message
    else:
        message = scrub(raw[:300].decode("utf-8", "replace").strip(), secrets) or f"HTTP {status}"
    if status == 404:
        return UpstreamRejected(message, status=404, code="model_not_found", param="model")
    return from_upstream_status(status, message, retry_after=retry_after)


def _typed_error(error: WireError, *, retry_after: float | None, secrets: Iterable[str]) -> HexgateError:
    message = scrub(error.message or error.type or "the Hexin backend reported an error", secrets)
    names = {str(error.type or "").lower(), str(error.code or "").lower()}
    code = str(error.code) if error.code is not None else None
    if names & _AUTH:
        return UpstreamAuthError(f"the Hexin backend refused our token: {message}", code=code)
    if names & _RATE:
        return UpstreamRateLimited(message, retry_after=retry_after, code=code)
    if "model_not_found" in names:
        return UpstreamRejected(message, status=404, code="model_not_found", param="model")
    if names & _REJECTED:
        return UpstreamRejected(message, code=code, param=error.param)
    if names & _OVERLOADED:
        return UpstreamOverloaded(message, retry_after=retry_after)
    if names & _TIMEOUT:
        return UpstreamTimeout(message, code=code)
    status = _http_status(error.code)
    if status is not None:
        return from_upstream_status(status, message, retry_after=retry_after)
    return UpstreamError(f"the Hexin backend reported: {message}", code=code)


def unwrap(envelope: WireEnvelope, raw: bytes) -> bytes:
    """The payload of an answer: its ``data`` when it is wrapped in one (an object), else the answer itself."""
    data = bytes(envelope.data)
    return data if data.lstrip()[:1] == b"{" else raw


# ---------------------------------------------------------------- answers


def _text(content: str | list[Any] | None) -> str | None:
    if content is None or isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", None))


def _arguments(value: str | dict[str, Any] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _usage(usage: WireUsage | None) -> c.Usage | None:
    if usage is None:
        return None
    out = c.Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    )
    if usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens is not None:
        out.prompt_tokens_details = c.PromptTokensDetails(cached_tokens=usage.prompt_tokens_details.cached_tokens)
    if usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens is not None:
        out.completion_tokens_details = c.CompletionTokensDetails(
            reasoning_tokens=usage.completion_tokens_details.reasoning_tokens
        )
    return out


def _calls(calls: list[WireToolCall] | None) -> list[c.ToolCall]:
    out = []
    for i, call in enumerate(calls or []):
        fn = call.function
        out.append(
            c.ToolCall(
                id=call.id or f"call_{i}",
                function=c.FunctionCall(
                    name=(fn.name if fn else None) or "", arguments=_arguments(fn.arguments if fn else None)
                ),
            )
        )
    return out


def completion_from_wire(wire: WireCompletion, *, model: str) -> c.ChatCompletion:
    """A backend completion as OpenAI's: ``reasoning_content`` (or ``reasoning``) kept apart from the
    text (the reference client folds it into ``<think>`` tags; hexgate does not), tool-call arguments
    as JSON text, ``tool_calls`` as the finish reason when calls came back with ``stop``."""
    choices = []
    for i, choice in enumerate(wire.choices):
        message = choice.message or WireMessage(content=choice.text)
        calls = _calls(message.tool_calls)
        reasoning = message.reasoning_content or message.reasoning
        finish = choice.finish_reason or "stop"
        if calls and finish == "stop":
            finish = "tool_calls"
        choices.append(
            c.Choice(
                index=choice.index if choice.index is not None else i,
                message=c.AssistantMessage(
                    content=_text(message.content),
                    tool_calls=calls or UNSET,
                    reasoning_content=reasoning or UNSET,
                    refusal=message.refusal or UNSET,
                ),
                finish_reason=finish,
            )
        )
    usage = _usage(wire.usage)
    return c.ChatCompletion(
        id=wire.id or f"chatcmpl-{int(time.time() * 1000)}",
        created=wire.created or int(time.time()),
        model=wire.model or model,
        choices=choices,
        usage=usage if usage is not None else UNSET,
        system_fingerprint=wire.system_fingerprint or UNSET,
    )


def chunk_from_wire(wire: WireCompletion, *, model: str) -> c.ChatCompletionChunk | None:
    """One backend stream chunk as OpenAI's, or None when it carries nothing."""
    choices = []
    for choice in wire.choices:
        d = choice.delta or choice.message or WireMessage(content=choice.text)
        calls = []
        for j, call in enumerate(d.tool_calls or []):
            fn = call.function
            calls.append(
                c.ToolCallDelta(
                    index=call.index if call.index is not None else j,
                    id=call.id or UNSET,
                    type="function" if call.id else UNSET,
                    function=c.FunctionCallDelta(
                        name=(fn.name if fn else None) or UNSET,
                        arguments=_arguments(fn.arguments) if fn and fn.arguments is not None else UNSET,
                    ),
                )
            )
        delta = c.Delta(
            role=d.role or UNSET,
            content=_text(d.content) if d.content is not None else UNSET,
            reasoning_content=d.reasoning_content or d.reasoning or UNSET,
            tool_calls=calls or UNSET,
            refusal=d.refusal or UNSET,
        )
        choices.append(c.ChunkChoice(index=choice.index, delta=delta, finish_reason=choice.finish_reason))
    usage = _usage(wire.usage)
    if not choices and usage is None:
        return None
    return c.ChatCompletionChunk(
        id=wire.id or "chatcmpl-hexin",
        created=wire.created or int(time.time()),
        model=wire.model or model,
        choices=choices,
        usage=usage if usage is not None else UNSET,
    )


def embeddings_from_wire(
    items: list[WireEmbeddingItem], usage: WireUsage | None, *, model: str, index: int
) -> tuple[list[Embedding], EmbeddingUsage | None]:
    """One answer's vectors, re-indexed from ``index`` (inputs are sent one per request)."""
    data = [Embedding(index=index + j, embedding=item.embedding) for j, item in enumerate(items)]
    tokens = EmbeddingUsage(prompt_tokens=usage.prompt_tokens, total_tokens=usage.total_tokens) if usage else None
    return data, tokens


def embeddings_payload(raw: bytes, envelope: WireEnvelope) -> WireEmbeddings:
    """The vectors in any of the shapes the backend uses: ``{"data": {"data": [...], "usage"}}``,
    ``{"data": [...]}``, or OpenAI's own ``{"object": "list", "data": [...], "usage"}``.
    Raises ``msgspec.ValidationError`` / ``DecodeError`` when there are none."""
    data = bytes(envelope.data)
    if data.lstrip()[:1] == b"{":
        return msgspec.json.decode(data, type=WireEmbeddings)
    return msgspec.json.decode(raw, type=WireEmbeddings)


def build_embeddings(parts: list[WireEmbeddings], *, model: str, inputs: list[str]) -> EmbeddingResponse:
    data: list[Embedding] = []
    prompt = 0
    for i, part in enumerate(parts):
        vectors, usage = embeddings_from_wire(part.data, part.usage, model=model, index=i)
        data.extend(vectors)
        prompt += usage.prompt_tokens if usage is not None else (len(inputs[i]) + 3) // 4
    return EmbeddingResponse(data=data, model=model, usage=EmbeddingUsage(prompt_tokens=prompt, total_tokens=prompt))


def token_expiry(data: WireAuthData, *, now: float, wall: float, default_ttl: float) -> float:
    """When a token expires on the ``now`` clock (monotonic seconds): ``expires_in``, else an absolute
    ``expire_time`` / ``expires_at`` / ``expire`` (Unix seconds or milliseconds), else ``default_ttl``."""
    if data.expires_in is not None and data.expires_in > 0:
        return now + float(data.expires_in)
    for value in (data.expire_time, data.expires_at, data.expire):
        try:
            stamp = float(value) if value is not None else None
        except ValueError:
            continue
        if stamp:
            if stamp > 1e11:  # milliseconds
                stamp /= 1000
            return now + (stamp - wall)
    return now + default_ttl
