"""Pure mapping between hexgate's OpenAI Structs and what OpenAI-compatible upstreams send.

No I/O here: the provider hands in bytes, headers and Structs. What it normalises
(upstreams.md §0, §3, §4):

- reasoning text: ``reasoning_content`` (DeepSeek), ``reasoning`` (Ollama ``/v1``, vLLM),
  ``reasoning_details[].text`` (MiniMax ``reasoning_split``) → ``reasoning_content``;
  inline ``<think>…</think>`` (MiniMax default) when asked, across chunk boundaries;
- tool call deltas: first fragment with ``index``, ``id``, ``type``, ``function.name``,
  later fragments with ``index`` and ``function.arguments`` only, as OpenAI streams them;
- usage on the last content chunk, on a choices-less chunk, or on every chunk;
- errors in a 200 body (``{"error": ...}``, MiniMax ``base_resp.status_code != 0``) and the
  message of a non-2xx body, with ``retry-after-ms`` / ``retry-after`` turned into seconds.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from msgspec import UNSET

from hexgate.errors import HexgateError, InvalidRequest, UpstreamError, from_upstream_status
from hexgate.schemas.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    CompletionTokensDetails,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    PromptTokensDetails,
    ReasoningDetail,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from hexgate.schemas.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate_openai.wire import (
    WireBaseResp,
    WireChunk,
    WireCompletion,
    WireEmbeddingResponse,
    WireError,
    WireErrorBody,
    WireMessage,
    WireModelList,
    WirePlainChunk,
    WireReasoningDetail,
    WireToolCall,
    WireUsage,
)

__all__ = [
    "StreamNormaliser",
    "ThinkSplitter",
    "body_error",
    "chat_payload",
    "completion_from_wire",
    "embeddings_from_wire",
    "embeddings_payload",
    "models_from_ids",
    "models_from_wire",
    "split_think",
    "status_error",
]

_error_decoder = msgspec.json.Decoder(WireErrorBody)
_plain_decoder = msgspec.json.Decoder(WirePlainChunk)
_USAGE_NULL = b',"usage":null'
_VECTOR_ENDS = {(ord("["), ord("]")), (ord('"'), ord('"'))}
_json = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

# ---------------------------------------------------------------- requests


def _client_json(body: bytes) -> dict[str, Any]:
    try:
        payload = _json.decode(body)
    except msgspec.DecodeError:
        raise InvalidRequest("the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return payload


def chat_payload(
    request: ChatCompletionRequest, *, body: bytes | None, model: str, stream: bool, stream_usage: bool
) -> dict[str, Any]:
    """The JSON object to POST to ``/chat/completions``.

    ``body`` (the client's raw bytes) is forwarded as decoded, unknown fields included; without
    it the Struct is encoded. ``model`` replaces the client's (prefix and alias resolved). Streaming
    sets ``stream: true`` and, with ``stream_usage``, ``stream_options.include_usage: true`` (the
    core decides whether the client sees usage); without ``stream_usage`` ``stream_options`` is
    dropped for upstreams that refuse it. A non-streamed call drops ``stream`` / ``stream_options``.
    """
    payload = _client_json(body) if body is not None else msgspec.to_builtins(request)
    payload["model"] = model
    if stream:
        payload["stream"] = True
        if stream_usage:
            options = payload.get("stream_options")
            payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        else:
            payload.pop("stream_options", None)
    else:
        payload.pop("stream", None)
        payload.pop("stream_options", None)
    return payload


def embeddings_payload(
    request: EmbeddingRequest, *, body: bytes | None, model: str, floats_only: bool
) -> dict[str, Any]:
    """The JSON object to POST to ``/embeddings``: the client's body (or the Struct) with ``model``
    replaced; ``floats_only`` drops ``encoding_format`` so the upstream answers floats (OpenAI's
    default) and the core encodes base64 itself."""
    payload = _client_json(body) if body is not None else msgspec.to_builtins(request)
    payload["model"] = model
    if floats_only:
        payload.pop("encoding_format", None)
    return payload


# ---------------------------------------------------------------- errors

_TYPE_STATUS = {
    "invalid_request_error": 400,
    "invalid_request": 400,
    "bad_request": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "not_found": 404,
    "model_not_found": 404,
    "insufficient_quota": 429,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "tokens": 429,
    "requests": 429,
    "overloaded_error": 503,
    "overloaded": 503,
    "service_unavailable": 503,
    "timeout_error": 504,
    "timeout": 504,
}
"""OpenAI's ``error.type`` / ``error.code`` names and their common variants → the status they stand for."""

_MINIMAX_STATUS = {
    1000: 500,
    1001: 504,
    1002: 429,
    1004: 401,
    1008: 402,
    1013: 500,
    1024: 500,
    1026: 400,
    1027: 400,
    1039: 400,
    2013: 400,
    2049: 401,
}
"""MiniMax ``base_resp.status_code`` → HTTP status (platform.minimax.io errorcode page; upstreams.md §4b)."""


def _clean(message: str, secret: str | None) -> str:
    message = " ".join(message.split())
    if secret and len(secret) >= 4:
        message = message.replace(secret, "[redacted]")
    return message[:1000]


def _status_of(error: WireError) -> int:
    if isinstance(error.code, int) and 400 <= error.code <= 599:
        return error.code
    for name in (error.code, error.type):
        if isinstance(name, str) and name.lower() in _TYPE_STATUS:
            return _TYPE_STATUS[name.lower()]
    return 500


def _error_code(error: WireError) -> str | None:
    return error.code if isinstance(error.code, str) else None


def _base_resp_error(base: WireBaseResp, secret: str | None) -> HexgateError | None:
    if not base.status_code:
        return None
    status = _MINIMAX_STATUS.get(base.status_code, 500)
    message = _clean(base.status_msg or "the upstream reported an error", secret)
    return from_upstream_status(status, f"{message} (upstream code {base.status_code})", code=str(base.status_code))


def body_error(
    error: WireError | str | None, base_resp: WireBaseResp | None, *, secret: str | None = None
) -> HexgateError | None:
    """The hexgate error an answer that came back with status 200 carries, or None when it is fine.

    ``error``: ``{"error": {"message", "type", "code"}}`` (OpenAI shape; ``code`` may be the HTTP
    status, as llama.cpp and vLLM send it) or ``{"error": "text"}`` (Ollama); ``base_resp`` with a
    non-zero ``status_code`` (MiniMax). The status is taken from ``code``, else ``type``, else 500
    (→ 502 upstream_error), then mapped by :func:`hexgate.errors.from_upstream_status`.
    """
    if isinstance(error, str):
        return from_upstream_status(500, _clean(error, secret))
    if isinstance(error, WireError):
        message = _clean(error.message or error.type or "the upstream reported an error", secret)
        return from_upstream_status(_status_of(error), message, code=_error_code(error), param=error.param)
    if base_resp is not None:
        return _base_resp_error(base_resp, secret)
    return None


def status_error(
    status: int, body: bytes, *, retry_after: float | None = None, secret: str | None = None
) -> HexgateError:
    """The hexgate error for a non-2xx upstream answer, with the upstream's own message.

    The message comes from ``error.message``, ``error`` (a string), ``base_resp.status_msg``,
    ``message`` or ``detail``, else the body's first 300 characters (never the configured key:
    ``secret`` is replaced and anything key-like is redacted by the error tree).
    """
    message, code, param = "", None, None
    try:
        parsed = _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        parsed = None
    if parsed is not None:
        if isinstance(parsed.error, WireError):
            message = parsed.error.message or parsed.error.type or ""
            code, param = _error_code(parsed.error), parsed.error.param
        elif isinstance(parsed.error, str):
            message = parsed.error
        elif parsed.base_resp is not None and parsed.base_resp.status_msg:
            message = parsed.base_resp.status_msg
        elif parsed.message:
            message = parsed.message
        elif parsed.detail is not None:
            message = parsed.detail if isinstance(parsed.detail, str) else _encoder.encode(parsed.detail).decode()
    if not message:
        text = body[:300].decode("utf-8", "replace").strip()
        message = text if text and not text.startswith("<") else f"the upstream answered HTTP {status}"
    return from_upstream_status(status, _clean(message, secret), retry_after=retry_after, code=code, param=param)


# ---------------------------------------------------------------- shared pieces


def _usage(wire: WireUsage | None) -> Usage | None:
    if wire is None or (wire.prompt_tokens is None and wire.completion_tokens is None):
        return None
    prompt, completion = wire.prompt_tokens or 0, wire.completion_tokens or 0
    usage = Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=wire.total_tokens if wire.total_tokens is not None else prompt + completion,
    )
    p, c = wire.prompt_tokens_details, wire.completion_tokens_details
    if p is not None:
        usage.prompt_tokens_details = PromptTokensDetails(
            cached_tokens=UNSET if p.cached_tokens is None else p.cached_tokens,
            audio_tokens=UNSET if p.audio_tokens is None else p.audio_tokens,
        )
    if c is not None:
        usage.completion_tokens_details = CompletionTokensDetails(
            reasoning_tokens=UNSET if c.reasoning_tokens is None else c.reasoning_tokens,
            audio_tokens=UNSET if c.audio_tokens is None else c.audio_tokens,
            accepted_prediction_tokens=UNSET if c.accepted_prediction_tokens is None else c.accepted_prediction_tokens,
            rejected_prediction_tokens=UNSET if c.rejected_prediction_tokens is None else c.rejected_prediction_tokens,
        )
    return usage


def _reasoning_text(message: WireMessage) -> str | None:
    """The first non-empty of ``reasoning_content``, ``reasoning``, the joined ``reasoning_details``
    texts; ``""`` when one is present but empty; None when none is."""
    details = None
    if message.reasoning_details:
        texts = [d.text if d.text is not None else d.summary for d in message.reasoning_details]
        details = "".join(t for t in texts if t) if any(t is not None for t in texts) else None
    candidates = (message.reasoning_content, message.reasoning, details)
    for text in candidates:
        if text:
            return text
    return "" if any(text is not None for text in candidates) else None


def _reasoning_details(items: list[WireReasoningDetail] | None) -> list[ReasoningDetail] | None:
    if not items:
        return None
    return [
        ReasoningDetail(
            type=d.type or "reasoning.text",
            text=UNSET if d.text is None else d.text,
            summary=UNSET if d.summary is None else d.summary,
            signature=UNSET if d.signature is None else d.signature,
            data=UNSET if d.data is None else d.data,
            id=UNSET if d.id is None else d.id,
            format=UNSET if d.format is None else d.format,
            index=UNSET if d.index is None else d.index,
        )
        for d in items
    ]


def _arguments(value: str | dict[str, Any] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else _encoder.encode(value).decode()


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class ThinkSplitter:
    """Splits inline ``<think>…</think>`` out of content, fed piece by piece (MiniMax's default
    output, upstreams.md §4b). A tag split across pieces is held back until it is complete;
    whitespace right after either tag is dropped. ``feed`` and ``flush`` return
    ``(content, reasoning)``."""

    OPEN = "<think>"
    CLOSE = "</think>"

    def __init__(self) -> None:
        self.inside = False
        self._pending = ""
        self._strip = False

    def feed(self, text: str) -> tuple[str, str]:
        text = self._pending + text
        self._pending = ""
        content: list[str] = []
        reasoning: list[str] = []
        while text:
            tag = self.CLOSE if self.inside else self.OPEN
            at = text.find(tag)
            if at >= 0:
                self._emit(text[:at], content, reasoning)
                text = text[at + len(tag) :]
                self.inside = not self.inside
                self._strip = True
                continue
            keep = _partial_suffix(text, tag)
            self._emit(text[: len(text) - keep], content, reasoning)
            self._pending = text[len(text) - keep :]
            break
        return "".join(content), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        """What is held back, as text of the current section (the stream ended)."""
        content: list[str] = []
        reasoning: list[str] = []
        self._emit(self._pending, content, reasoning)
        self._pending = ""
        return "".join(content), "".join(reasoning)

    def _emit(self, piece: str, content: list[str], reasoning: list[str]) -> None:
        if self._strip:
            piece = piece.lstrip()
            if not piece:
                return
            self._strip = False
        if piece:
            (reasoning if self.inside else content).append(piece)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper beginning of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def split_think(text: str) -> tuple[str, str]:
    """``(content, reasoning)`` of a whole message with inline ``<think>`` blocks."""
    splitter = ThinkSplitter()
    content, reasoning = splitter.feed(text)
    more_content, more_reasoning = splitter.flush()
    return content + more_content, reasoning + more_reasoning


# ---------------------------------------------------------------- chat (JSON)


def completion_from_wire(
    wire: WireCompletion, *, model: str, think_tags: bool = False, secret: str | None = None
) -> ChatCompletion:
    """A non-streamed upstream answer → :class:`ChatCompletion`.

    Raises the mapped hexgate error for an error sent with status 200, and :class:`UpstreamError`
    (502) for an answer without choices. ``model`` is used when the upstream names none;
    ``think_tags`` moves inline ``<think>`` blocks from ``content`` to ``reasoning_content``;
    ``secret`` (the configured key) never appears in an error message.
    """
    error = body_error(wire.error, wire.base_resp, secret=secret)
    if error is not None:
        raise error
    if not wire.choices:
        raise UpstreamError("the upstream answered without any choices")
    choices = []
    for position, choice in enumerate(wire.choices):
        message = choice.message or WireMessage()
        content, reasoning = message.content, _reasoning_text(message)
        if think_tags and content:
            content, inline = split_think(content)
            reasoning = (reasoning or "") + inline or reasoning
        calls = [
            ToolCall(
                id=call.id or _call_id(),
                function=FunctionCall(
                    name=(call.function.name if call.function else None) or "",
                    arguments=_arguments(call.function.arguments if call.function else None),
                ),
            )
            for call in message.tool_calls or []
        ]
        out = AssistantMessage(content=content)
        if reasoning:
            out.reasoning_content = reasoning
        details = _reasoning_details(message.reasoning_details)
        if details:
            out.reasoning_details = details
        if calls:
            out.tool_calls = calls
        if message.refusal is not None:
            out.refusal = message.refusal
        if message.annotations is not None:
            out.annotations = message.annotations
        finish = choice.finish_reason or ("tool_calls" if calls else "stop")
        index = choice.index if choice.index is not None else position
        choices.append(Choice(index=index, message=out, finish_reason=finish, logprobs=choice.logprobs))
    completion = ChatCompletion(
        id=wire.id or f"chatcmpl-{uuid.uuid4().hex}",
        created=int(wire.created) if wire.created is not None else int(time.time()),
        model=wire.model or model,
        choices=choices,
    )
    usage = _usage(wire.usage)
    if usage is not None:
        completion.usage = usage
    if wire.system_fingerprint is not None:
        completion.system_fingerprint = wire.system_fingerprint
    if wire.service_tier is not None:
        completion.service_tier = wire.service_tier
    return completion


# ---------------------------------------------------------------- chat (stream)


class _Call(msgspec.Struct):
    id: str
    out: int


class _ChoiceState:
    __slots__ = ("calls", "next_call", "splitter")

    def __init__(self, think_tags: bool) -> None:
        self.splitter = ThinkSplitter() if think_tags else None
        self.calls: dict[int, _Call] = {}
        self.next_call = 0


class StreamNormaliser:
    """Upstream chunks → OpenAI-shaped :class:`ChatCompletionChunk` s, one stream at a time.

    Keeps one ``id``/``created``/``model`` for the whole stream (the first the upstream gave),
    renumbers tool calls so that each starts with ``id``/``type``/``name`` and continues with
    argument fragments only (a new ``id`` at a reused index starts a new call), attaches usage
    wherever the upstream put it, and drops chunks left empty. Raises the mapped hexgate error
    for an error frame (``{"error": ...}`` or MiniMax ``base_resp``).
    """

    def __init__(self, *, model: str, think_tags: bool = False, secret: str | None = None) -> None:
        self._model = model
        self._secret = secret
        self._think = think_tags
        self._id: str | None = None
        self._created: int | None = None
        self._choices: dict[int, _ChoiceState] = {}
        self._started = False

    def feed(self, wire: WireChunk) -> ChatCompletionChunk | None:
        """One upstream chunk → the chunk to yield, or None when nothing is left in it."""
        error = body_error(wire.error, wire.base_resp, secret=self._secret)
        if error is not None:
            raise error
        if self._id is None:
            self._id = wire.id or f"chatcmpl-{uuid.uuid4().hex}"
            self._created = int(wire.created) if wire.created is not None else int(time.time())
            self._model = wire.model or self._model
        choices = []
        for position, choice in enumerate(wire.choices or []):
            index = choice.index if choice.index is not None else position
            out = self._choice(index, choice.delta or WireMessage(), choice.finish_reason)
            if out.finish_reason is None and _empty(out.delta) and choice.logprobs in (UNSET, None):
                continue
            if choice.logprobs is not UNSET:
                out.logprobs = choice.logprobs
            choices.append(out)
        usage = _usage(wire.usage)
        if not choices and usage is None:
            return None
        chunk = ChatCompletionChunk(id=self._id, created=self._created or 0, model=self._model, choices=choices)
        if choices:
            self._started = True
        if usage is not None:
            chunk.usage = usage
        if wire.system_fingerprint is not None:
            chunk.system_fingerprint = wire.system_fingerprint
        if wire.service_tier is not None:
            chunk.service_tier = wire.service_tier
        return chunk

    def passable(self, data: bytes, *, want_usage: bool) -> tuple[bytes, int] | None:
        """The fast path's test for one event's JSON ``data``: ``(payload to forward, content pieces)``
        when :meth:`feed` would yield it unchanged, else None (decode it and :meth:`feed` it).

        Unchanged means: the stream has started (an earlier chunk with choices went through
        :meth:`feed`, which fixed ``id``/``created``/``model``) and this one carries the same three,
        and it decodes as a :class:`~hexgate_openai.wire.WirePlainChunk` (one ~0.6 µs msgspec decode:
        ``object: chat.completion.chunk``, an integer ``created``, at least one choice, each with its
        ``index``, no ``finish_reason``, a delta holding text and at most a role; no reasoning field,
        tool call, refusal, error, ``base_resp`` or usage beyond ``null``). ``"usage": null`` is dropped
        (compact form only) unless ``want_usage``. Fields the Structs do not model at the chunk and
        choice level (a vendor's extras, ``logprobs``, ``system_fingerprint``) pass through as sent.
        Never with ``think_tags`` (the text may hide a tag).
        """
        if self._think or not self._started:
            return None
        try:
            plain = _plain_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # feed's decoder says what is wrong with it, if anything
        if plain.id != self._id or plain.created != self._created or plain.model != self._model:
            return None
        pieces = 0
        for choice in plain.choices:
            if choice.delta.content:
                pieces += 1
        if plain.usage is None and not want_usage:
            stripped = data.replace(_USAGE_NULL, b"", 1)
            if len(stripped) == len(data):  # not in the compact form: the full way
                return None
            data = stripped
        return data, pieces

    def finish(self) -> ChatCompletionChunk | None:
        """Text still held back by ``<think>`` splitting when the stream ended without a finish_reason."""
        choices = []
        for index, state in self._choices.items():
            if state.splitter is None:
                continue
            content, reasoning = state.splitter.flush()
            if content or reasoning:
                delta = Delta()
                if content:
                    delta.content = content
                if reasoning:
                    delta.reasoning_content = reasoning
                choices.append(ChunkChoice(index=index, delta=delta))
        if not choices or self._id is None:
            return None
        return ChatCompletionChunk(id=self._id, created=self._created or 0, model=self._model, choices=choices)

    def _choice(self, index: int, delta: WireMessage, finish: str | None) -> ChunkChoice:
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _ChoiceState(self._think)
        out = Delta()
        if delta.role is not None:
            out.role = delta.role
        content, reasoning = delta.content, _reasoning_text(delta)
        if state.splitter is not None:
            text, inline = state.splitter.feed(content) if content else ("", "")
            if finish is not None:
                more_text, more_inline = state.splitter.flush()
                text, inline = text + more_text, inline + more_inline
            if inline:
                reasoning = (reasoning or "") + inline
            content = text if text or content == "" else None
        if content is not None:
            out.content = content
        if reasoning:
            out.reasoning_content = reasoning
        details = _reasoning_details(delta.reasoning_details)
        if details:
            out.reasoning_details = details
        if delta.refusal is not None:
            out.refusal = delta.refusal
        if delta.tool_calls:
            calls = [c for c in (self._call(state, pos, call) for pos, call in enumerate(delta.tool_calls)) if c]
            if calls:
                out.tool_calls = calls
        return ChunkChoice(index=index, delta=out, finish_reason=finish)

    @staticmethod
    def _call(state: _ChoiceState, position: int, call: WireToolCall) -> ToolCallDelta | None:
        key = call.index if call.index is not None else position
        known = state.calls.get(key)
        name = call.function.name if call.function else None
        arguments = _arguments(call.function.arguments if call.function else None)
        if known is None or (call.id and call.id != known.id):
            known = state.calls[key] = _Call(call.id or _call_id(), state.next_call)
            state.next_call += 1
            return ToolCallDelta(
                index=known.out,
                id=known.id,
                type="function",
                function=FunctionCallDelta(name=name or "", arguments=arguments),
            )
        if not arguments:
            return None
        return ToolCallDelta(index=known.out, function=FunctionCallDelta(arguments=arguments))


def _empty(delta: Delta) -> bool:
    return (
        delta.role is UNSET
        and delta.content is UNSET
        and delta.reasoning_content is UNSET
        and delta.tool_calls is UNSET
        and delta.refusal is UNSET
        and delta.reasoning_details is UNSET
    )


# ---------------------------------------------------------------- embeddings and models


def embeddings_from_wire(wire: WireEmbeddingResponse, *, model: str, secret: str | None = None) -> EmbeddingResponse:
    """An upstream ``/embeddings`` answer → :class:`EmbeddingResponse`, each vector the upstream's own JSON
    (``msgspec.Raw``: floats or base64 as sent, never parsed here; the core converts to what the client
    asked). Raises the mapped error for an error sent with 200, :class:`UpstreamError` for an answer
    without data or with a vector that is not a JSON array or string."""
    error = body_error(wire.error, wire.base_resp, secret=secret)
    if error is not None:
        raise error
    if not wire.data:
        raise UpstreamError("the upstream answered without any embeddings")
    for item in wire.data:
        raw = memoryview(item.embedding)
        if not raw or (raw[0], raw[-1]) not in _VECTOR_ENDS:
            raise UpstreamError("the upstream sent an embedding that is neither an array of floats nor base64 text")
    data = [
        Embedding(index=item.index if item.index is not None else position, embedding=item.embedding)
        for position, item in enumerate(wire.data)
    ]
    data.sort(key=lambda e: e.index)
    prompt = wire.usage.prompt_tokens if wire.usage and wire.usage.prompt_tokens is not None else 0
    total = wire.usage.total_tokens if wire.usage and wire.usage.total_tokens is not None else prompt
    return EmbeddingResponse(
        data=data, model=wire.model or model, usage=EmbeddingUsage(prompt_tokens=prompt, total_tokens=total)
    )


def models_from_wire(listing: WireModelList, *, secret: str | None = None) -> list[Model]:
    """``GET /models`` → :class:`Model` s with what the upstream says about each: context window
    (``context_window``, ``context_length``, vLLM ``max_model_len``, else the largest of the HF
    router's live ``providers[].context_length``), tools and structured output (any HF provider
    supports them), vision (``image`` in ``architecture.input_modalities``)."""
    error = body_error(listing.error, None, secret=secret)
    if error is not None:
        raise error
    models = []
    for item in listing.data or []:
        model = Model(id=item.id, created=int(item.created or 0))
        if item.owned_by:
            model.owned_by = item.owned_by
        live = [p for p in item.providers or [] if p.status in (None, "live")] or list(item.providers or [])
        window = item.context_window or item.context_length or item.max_model_len
        if window is None:
            window = max((p.context_length for p in live if p.context_length), default=None)
        if window:
            model.context_window = window
        caps = ModelCapabilities()
        tools = [p.supports_tools for p in live if p.supports_tools is not None]
        if tools:
            caps.tools = any(tools)
        structured = [p.supports_structured_output for p in live if p.supports_structured_output is not None]
        if structured:
            caps.json_output = any(structured)
        if item.architecture is not None:
            if item.architecture.input_modalities is not None:
                caps.vision = "image" in item.architecture.input_modalities
            if item.architecture.output_modalities is not None:
                caps.chat = "text" in item.architecture.output_modalities
        if caps != ModelCapabilities():
            model.capabilities = caps
        models.append(model)
    return models


def models_from_ids(ids: list[str]) -> list[Model]:
    """The static ``models`` setting → :class:`Model` s (nothing more is known about them)."""
    return [Model(id=i, owned_by="upstream") for i in ids]
