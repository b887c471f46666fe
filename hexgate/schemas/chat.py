"""OpenAI Chat Completions on the wire: request, response and stream chunk.

Field names and shapes follow OpenAI's API reference and openai-python
(``types/chat/completion_create_params.py``, ``chat_completion.py``,
``chat_completion_chunk.py``). Optional keys default to ``UNSET`` so that an
encoded Struct carries exactly the keys that were set; keys OpenAI always sends,
even as null (``finish_reason``, ``message.content``), are required fields.
Unknown request keys are ignored here; pass-through plugins read them from
``CallContext.body``.

Reasoning extensions (not in OpenAI's schema, the field's de-facto standard):
``reasoning_content`` (DeepSeek, LiteLLM, LobeChat) carries reasoning text on
messages and deltas; ``reasoning_details`` (OpenRouter's shape) carries opaque
reasoning state such as Anthropic thinking signatures so that it survives an
OpenAI-shaped history and goes back to the upstream on the next turn.
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, Struct, UnsetType, field

from hexgate.schemas.models import ModelName

__all__ = [
    "READ_END",
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatMessage",
    "Choice",
    "ChunkChoice",
    "ChunkFrames",
    "CompletionTokensDetails",
    "ContentPart",
    "Delta",
    "FileData",
    "FilePart",
    "FunctionCall",
    "FunctionCallDelta",
    "FunctionDefinition",
    "FunctionName",
    "ImagePart",
    "ImageURL",
    "InputAudio",
    "InputAudioPart",
    "JSONSchemaFormat",
    "PromptTokensDetails",
    "ReasoningDetail",
    "RefusalPart",
    "ResponseFormat",
    "StreamOptions",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoiceObject",
    "Usage",
    "estimate_prompt_tokens",
]


class _Wire(Struct, kw_only=True):
    """Base: keyword-only; ``UNSET`` fields are not encoded, every other field is."""


# ---------------------------------------------------------------- content parts


class TextPart(_Wire, tag="text", tag_field="type"):
    text: str


class ImageURL(_Wire):
    url: str
    """An ``http(s)://`` URL or a ``data:<mime>;base64,<data>`` URL."""
    detail: Literal["auto", "low", "high"] | UnsetType = UNSET


class ImagePart(_Wire, tag="image_url", tag_field="type"):
    image_url: ImageURL


class InputAudio(_Wire):
    data: str
    format: str


class InputAudioPart(_Wire, tag="input_audio", tag_field="type"):
    input_audio: InputAudio


class FileData(_Wire):
    file_data: str | UnsetType = UNSET
    file_id: str | UnsetType = UNSET
    filename: str | UnsetType = UNSET


class FilePart(_Wire, tag="file", tag_field="type"):
    file: FileData


class RefusalPart(_Wire, tag="refusal", tag_field="type"):
    refusal: str


ContentPart = TextPart | ImagePart | InputAudioPart | FilePart | RefusalPart

# ---------------------------------------------------------------- tools


class FunctionCall(_Wire):
    name: str
    arguments: str
    """JSON text, as OpenAI sends it (not an object)."""


class ToolCall(_Wire):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class FunctionDefinition(_Wire):
    name: str
    description: str | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET


class Tool(_Wire):
    function: FunctionDefinition
    type: Literal["function"] = "function"


class FunctionName(_Wire):
    name: str


class ToolChoiceObject(_Wire):
    """``{"type": "function", "function": {"name": ...}}``: force one named tool."""

    function: FunctionName
    type: Literal["function"] = "function"


class JSONSchemaFormat(_Wire):
    name: str
    schema: dict[str, Any] | UnsetType = UNSET
    description: str | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET


class ResponseFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | UnsetType = UNSET


class StreamOptions(_Wire):
    include_usage: bool | UnsetType = UNSET
    include_obfuscation: bool | UnsetType = UNSET


class ReasoningDetail(_Wire):
    """Opaque reasoning state (OpenRouter's ``reasoning_details`` item shape).

    ``type`` is ``reasoning.text`` (``text`` + ``signature``), ``reasoning.encrypted``
    (``data``) or ``reasoning.summary`` (``summary``); ``format`` names the upstream
    dialect that produced it (e.g. ``anthropic-claude-v1``).
    """

    type: str
    text: str | UnsetType = UNSET
    summary: str | UnsetType = UNSET
    signature: str | UnsetType | None = UNSET
    data: str | UnsetType = UNSET
    id: str | UnsetType | None = UNSET
    format: str | UnsetType = UNSET
    index: int | UnsetType = UNSET


# ---------------------------------------------------------------- request


class ChatMessage(_Wire):
    """One message of ``messages``: system, developer, user, assistant, tool (or legacy function)."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | UnsetType | None = UNSET
    name: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    refusal: str | UnsetType | None = UNSET
    reasoning_content: str | UnsetType | None = UNSET
    reasoning: str | UnsetType | None = UNSET
    """Ollama / vLLM name for ``reasoning_content``; accepted on input."""
    reasoning_details: list[ReasoningDetail] | UnsetType = UNSET

    def text(self) -> str:
        """The text of ``content``: the string itself, or its text parts joined."""
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content if isinstance(p, TextPart))
        return ""


class ChatCompletionRequest(_Wire):
    """``POST /v1/chat/completions`` body."""

    model: ModelName
    messages: list[ChatMessage]
    stream: bool | UnsetType | None = UNSET
    stream_options: StreamOptions | UnsetType | None = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceObject | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET
    response_format: ResponseFormat | UnsetType = UNSET
    n: int | UnsetType | None = UNSET
    stop: str | list[str] | UnsetType | None = UNSET
    seed: int | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    top_p: float | UnsetType | None = UNSET
    max_tokens: int | UnsetType | None = UNSET
    max_completion_tokens: int | UnsetType | None = UNSET
    presence_penalty: float | UnsetType | None = UNSET
    frequency_penalty: float | UnsetType | None = UNSET
    logit_bias: dict[str, float] | UnsetType | None = UNSET
    logprobs: bool | UnsetType | None = UNSET
    top_logprobs: int | UnsetType | None = UNSET
    user: str | UnsetType = UNSET
    reasoning_effort: str | UnsetType | None = UNSET
    """``none | minimal | low | medium | high | xhigh``; providers map it to their own knob."""
    metadata: dict[str, str] | UnsetType | None = UNSET
    top_k: int | UnsetType | None = UNSET
    """Not OpenAI's; accepted because Anthropic, Gemini and local servers take it."""

    def max_output(self) -> int | None:
        """``max_completion_tokens``, else ``max_tokens``, else None."""
        for value in (self.max_completion_tokens, self.max_tokens):
            if isinstance(value, int):
                return value
        return None

    def stop_list(self) -> list[str]:
        """``stop`` as a list (OpenAI accepts a string or up to 4 strings)."""
        if isinstance(self.stop, str):
            return [self.stop]
        return list(self.stop) if isinstance(self.stop, list) else []

    def wants_usage(self) -> bool:
        """True when the client asked for a final usage chunk in a stream."""
        return isinstance(self.stream_options, StreamOptions) and self.stream_options.include_usage is True


# ---------------------------------------------------------------- response


class PromptTokensDetails(_Wire):
    cached_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET


class CompletionTokensDetails(_Wire):
    reasoning_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET
    accepted_prediction_tokens: int | UnsetType = UNSET
    rejected_prediction_tokens: int | UnsetType = UNSET


class Usage(_Wire):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | UnsetType | None = UNSET
    completion_tokens_details: CompletionTokensDetails | UnsetType | None = UNSET


class AssistantMessage(Struct, kw_only=True):
    """``choices[].message`` of a completion; ``content`` is always present, null when empty."""

    content: str | None
    role: str = field(default="assistant")
    refusal: str | UnsetType | None = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    reasoning: str | UnsetType = UNSET
    """``reasoning_content`` under OpenRouter's / vLLM's name (``reasoning_format = "reasoning"``)."""
    reasoning_details: list[ReasoningDetail] | UnsetType = UNSET
    annotations: list[Any] | UnsetType = UNSET


class Choice(Struct, kw_only=True):
    index: int
    message: AssistantMessage
    finish_reason: str | None
    """``stop | length | tool_calls | content_filter`` (or null)."""
    logprobs: Any | None = None


class ChatCompletion(Struct, kw_only=True):
    id: str
    created: int
    model: str
    choices: list[Choice]
    object: str = field(default="chat.completion")
    usage: Usage | UnsetType = UNSET
    system_fingerprint: str | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET


# ---------------------------------------------------------------- stream


class FunctionCallDelta(_Wire):
    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class ToolCallDelta(_Wire):
    """A tool call fragment: the first one carries ``id``, ``type`` and ``function.name``."""

    index: int
    id: str | UnsetType = UNSET
    type: Literal["function"] | UnsetType = UNSET
    function: FunctionCallDelta | UnsetType = UNSET


class Delta(_Wire):
    role: str | UnsetType = UNSET
    content: str | UnsetType | None = UNSET
    reasoning_content: str | UnsetType = UNSET
    reasoning: str | UnsetType = UNSET
    """``reasoning_content`` under OpenRouter's / vLLM's name (``reasoning_format = "reasoning"``)."""
    tool_calls: list[ToolCallDelta] | UnsetType = UNSET
    refusal: str | UnsetType | None = UNSET
    reasoning_details: list[ReasoningDetail] | UnsetType = UNSET


class ChunkChoice(Struct, kw_only=True):
    index: int
    delta: Delta
    finish_reason: str | None = field(default=None)
    logprobs: Any | UnsetType | None = UNSET


class ChatCompletionChunk(Struct, kw_only=True):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: str = field(default="chat.completion.chunk")
    usage: Usage | UnsetType | None = UNSET
    system_fingerprint: str | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET


class ChunkFrames(Struct, kw_only=True, frozen=True):
    """Stream chunks already in the form the client receives them: one or more whole
    ``data: <chat.completion.chunk JSON>\n\n`` SSE frames, forwarded byte for byte. Only a provider's
    :meth:`hexgate.protocol.RelaysFrames.stream_chat_frames` yields these, for chunks that need no
    change (see there); everything else about the stream travels as :class:`ChatCompletionChunk`.
    """

    data: bytes
    """The frames, concatenated (``data: {...}\n\n`` each)."""
    pieces: int
    """How many content pieces they carry (a choice with non-empty text): the core counts completion
    tokens with it when the upstream reports no usage."""


READ_END = ChunkFrames(data=b"", pieces=0)
"""No frames: the end of what one upstream read brought (:class:`hexgate.protocol.RelaysFrames`)."""


def estimate_prompt_tokens(chat: ChatCompletionRequest) -> int:
    """A local estimate of ``chat``'s prompt tokens for upstreams that report no usage: about four
    characters a token, plus four tokens of framing per message (OpenAI's cookbook rule of thumb)."""
    chars = sum(len(m.text()) for m in chat.messages)
    return (chars + 3) // 4 + 4 * len(chat.messages)
