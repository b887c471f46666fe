"""What OpenAI-compatible upstreams actually send, as lenient msgspec Structs.

OpenAI omits keys; its imitators send them as ``null``, add vendor keys, and vary on
names. Every field here is optional and nullable, unknown keys are ignored, so one
decoder reads them all. Sources: openai-python ``types/chat/chat_completion*.py``;
captures in ``tests/fixtures`` (OpenAI, DeepSeek); upstreams.md §3 (Ollama ``/v1``:
``reasoning``), §4a (DeepSeek: ``reasoning_content``, ``usage: null`` on every chunk),
§4b (MiniMax: ``reasoning_details: [{text}]``, ``base_resp``), §4c (HF router
``/v1/models``: ``architecture``, ``providers[]``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Raw, Struct, UnsetType

__all__ = [
    "WireArchitecture",
    "WireBaseResp",
    "WireChoice",
    "WireChunk",
    "WireChunkChoice",
    "WireCompletion",
    "WireCompletionDetails",
    "WireEmbedding",
    "WireEmbeddingResponse",
    "WireEmbeddingUsage",
    "WireError",
    "WireErrorBody",
    "WireFunction",
    "WireHFProvider",
    "WireMessage",
    "WireModel",
    "WireModelList",
    "WirePlainChoice",
    "WirePlainChunk",
    "WirePlainDelta",
    "WirePromptDetails",
    "WireReasoningDetail",
    "WireToolCall",
    "WireUsage",
]


class _Lenient(Struct, kw_only=True):
    """Base: every field optional; unknown keys ignored (msgspec's default)."""


class WireError(_Lenient):
    """``{"error": {...}}`` as OpenAI, vLLM, llama.cpp and Ollama ``/v1`` send it (``code`` may be an int)."""

    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


class WireBaseResp(_Lenient):
    """MiniMax's status block: ``status_code`` 0 is success, anything else an error (often with HTTP 200)."""

    status_code: int | None = None
    status_msg: str | None = None


class WireErrorBody(_Lenient):
    """Any error body: OpenAI's ``{"error": {...}}``, Ollama's ``{"error": "..."}``, MiniMax's ``base_resp``,
    FastAPI's ``{"detail": ...}`` or a bare ``{"message": ...}``."""

    error: WireError | str | None = None
    base_resp: WireBaseResp | None = None
    message: str | None = None
    detail: Any = None


class WireFunction(_Lenient):
    name: str | None = None
    arguments: str | dict[str, Any] | None = None
    """JSON text as OpenAI sends it; a few servers send the object itself."""


class WireToolCall(_Lenient):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: WireFunction | None = None


class WireReasoningDetail(_Lenient):
    """MiniMax (``reasoning_split``) and OpenRouter reasoning items; only ``text`` is needed for reasoning text."""

    type: str | None = None
    text: str | None = None
    summary: str | None = None
    signature: str | None = None
    data: str | None = None
    id: str | None = None
    format: str | None = None
    index: int | None = None


class WireMessage(_Lenient):
    """``choices[].message`` (completion) and ``choices[].delta`` (chunk) alike."""

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[WireReasoningDetail] | None = None
    tool_calls: list[WireToolCall] | None = None
    annotations: list[Any] | None = None


class WireChoice(_Lenient):
    index: int | None = None
    message: WireMessage | None = None
    finish_reason: str | None = None
    logprobs: Any = None


class WireChunkChoice(_Lenient):
    index: int | None = None
    delta: WireMessage | None = None
    finish_reason: str | None = None
    logprobs: Any | UnsetType = UNSET


class WirePromptDetails(_Lenient):
    cached_tokens: int | None = None
    audio_tokens: int | None = None


class WireCompletionDetails(_Lenient):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class WireUsage(_Lenient):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: WirePromptDetails | None = None
    completion_tokens_details: WireCompletionDetails | None = None


class WireCompletion(_Lenient):
    """A non-streamed answer, or an error body that came back instead of one."""

    id: str | None = None
    created: int | float | None = None
    model: str | None = None
    choices: list[WireChoice] | None = None
    usage: WireUsage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    error: WireError | str | None = None
    base_resp: WireBaseResp | None = None


class WireChunk(_Lenient):
    """One ``data:`` payload of a stream (or an error frame: ``{"error": ...}``)."""

    id: str | None = None
    created: int | float | None = None
    model: str | None = None
    choices: list[WireChunkChoice] | None = None
    usage: WireUsage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    error: WireError | str | None = None
    base_resp: WireBaseResp | None = None


class WireEmbedding(_Lenient):
    index: int | None = None
    embedding: Raw = Raw()
    """The vector as the upstream's JSON (an array of floats, or base64 text), not parsed here."""


class WireEmbeddingUsage(_Lenient):
    prompt_tokens: int | None = None
    total_tokens: int | None = None


class WireEmbeddingResponse(_Lenient):
    data: list[WireEmbedding] | None = None
    model: str | None = None
    usage: WireEmbeddingUsage | None = None
    error: WireError | str | None = None
    base_resp: WireBaseResp | None = None


class WireArchitecture(_Lenient):
    """HF router: ``{"input_modalities": ["text", "image"], "output_modalities": ["text"]}``."""

    input_modalities: list[str] | None = None
    output_modalities: list[str] | None = None


class WireHFProvider(_Lenient):
    """One entry of the HF router's ``providers[]`` for a model."""

    provider: str | None = None
    status: str | None = None
    context_length: int | None = None
    supports_tools: bool | None = None
    supports_structured_output: bool | None = None


class WireModel(_Lenient):
    """``/models`` entries: OpenAI's keys plus what HF router, vLLM, Groq and OpenRouter add."""

    id: str
    created: int | float | None = None
    owned_by: str | None = None
    context_length: int | None = None
    context_window: int | None = None
    max_model_len: int | None = None
    architecture: WireArchitecture | None = None
    providers: list[WireHFProvider] | None = None


class WireModelList(_Lenient):
    data: list[WireModel] | None = None
    error: WireError | str | None = None


# ------------------------------------------------------------ the stream's fast path


class WirePlainDelta(Struct, forbid_unknown_fields=True):
    """A ``delta`` the fast path forwards untouched (:meth:`hexgate_openai.translate.StreamNormaliser.passable`):
    text, at most a role, and the fields the full path would normalise only when ``null``; any other
    field, or a missing or ``null`` content, fails the decode (the chunk goes the full way)."""

    content: str
    role: str | None = None
    refusal: None = None
    reasoning_content: None = None
    reasoning: None = None
    reasoning_details: None = None
    tool_calls: None = None


class WirePlainChoice(Struct):
    index: int
    delta: WirePlainDelta
    finish_reason: None = None


class WirePlainChunk(Struct):
    """A stream chunk that needs no change, as far as its shape tells (the rest: the stream's ``id``,
    ``created`` and ``model``, checked by the caller). Validation, in msgspec, is the test: a finish
    reason, usage beyond ``null``, an error, a float ``created``, no choices all fail the decode."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: Annotated[list[WirePlainChoice], Meta(min_length=1)]
    usage: UnsetType | None = UNSET
    error: None = None
    base_resp: None = None
