"""Anthropic's Messages API on the wire: request, content blocks, response, stream events.

Shapes follow the Messages API reference and anthropic-sdk-python (``types/message_create_params.py``,
``content_block_param.py``, ``message.py``, ``raw_message_stream_event.py``,
``message_count_tokens_params.py``). Content blocks, image/document sources, ``tool_choice``,
``thinking``, stream events and their deltas are tagged unions on ``type``. Optional keys default to
``UNSET`` so that an encoded Struct carries exactly the keys that were set; keys Anthropic always
sends, even as null (``stop_reason``, ``stop_sequence``), are required fields. Unknown keys are
ignored (a native upstream reads the client's body itself). The error body lives in
:mod:`hexgate.errors` (``MessagesErrorEnvelope``).
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, Struct, UnsetType, field

from hexgate.schemas.models import ModelName

__all__ = [
    "Base64Source",
    "ContentBlock",
    "ContentBlockDelta",
    "ContentBlockStart",
    "ContentBlockStop",
    "ContentSource",
    "CountTokensRequest",
    "DeltaUsage",
    "DocumentBlock",
    "ErrorEvent",
    "FileSource",
    "ImageBlock",
    "InputJSONDelta",
    "Message",
    "MessageDelta",
    "MessageDeltaBody",
    "MessageParam",
    "MessageStart",
    "MessageStop",
    "MessageUsage",
    "MessagesRequest",
    "Metadata",
    "OutputConfig",
    "Ping",
    "RedactedThinkingBlock",
    "SignatureDelta",
    "Source",
    "StreamEvent",
    "TextBlock",
    "TextDelta",
    "TextSource",
    "ThinkingAdaptive",
    "ThinkingBlock",
    "ThinkingDelta",
    "ThinkingDisabled",
    "ThinkingEnabled",
    "TokenCount",
    "Tool",
    "ToolChoiceAny",
    "ToolChoiceAuto",
    "ToolChoiceNone",
    "ToolChoiceTool",
    "ToolResultBlock",
    "ToolUseBlock",
    "URLSource",
]


class _Wire(Struct, kw_only=True):
    """Base: keyword-only; ``UNSET`` fields are not encoded, every other field is."""


# ---------------------------------------------------------------- sources


class Base64Source(_Wire, tag="base64", tag_field="type"):
    media_type: str
    """``image/jpeg|png|gif|webp`` for images, ``application/pdf`` for documents."""
    data: str


class URLSource(_Wire, tag="url", tag_field="type"):
    url: str


class TextSource(_Wire, tag="text", tag_field="type"):
    """A plain-text document."""

    data: str
    media_type: str = "text/plain"


class ContentSource(_Wire, tag="content", tag_field="type"):
    """A document given as content blocks (text and images)."""

    content: str | list[Any]


class FileSource(_Wire, tag="file", tag_field="type"):
    """A file uploaded to the upstream's Files API (beta); only a native upstream can read it."""

    file_id: str


Source = Base64Source | URLSource | TextSource | ContentSource | FileSource

# ---------------------------------------------------------------- content blocks


class TextBlock(_Wire, tag="text", tag_field="type"):
    text: str
    cache_control: Any | UnsetType = UNSET
    citations: list[Any] | UnsetType | None = UNSET


class ImageBlock(_Wire, tag="image", tag_field="type"):
    source: Source
    cache_control: Any | UnsetType = UNSET


class DocumentBlock(_Wire, tag="document", tag_field="type"):
    source: Source
    title: str | UnsetType | None = UNSET
    context: str | UnsetType | None = UNSET
    citations: Any | UnsetType = UNSET
    cache_control: Any | UnsetType = UNSET


class ToolUseBlock(_Wire, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: dict[str, Any]
    """The tool's arguments as a JSON object (parsed, unlike OpenAI's ``arguments`` string)."""
    cache_control: Any | UnsetType = UNSET


class ToolResultBlock(_Wire, tag="tool_result", tag_field="type"):
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock | DocumentBlock] | UnsetType = UNSET
    is_error: bool | UnsetType = UNSET
    cache_control: Any | UnsetType = UNSET


class ThinkingBlock(_Wire, tag="thinking", tag_field="type"):
    thinking: str
    signature: str
    """Opaque; must go back unchanged with the next turn (empty when the upstream gave none)."""


class RedactedThinkingBlock(_Wire, tag="redacted_thinking", tag_field="type"):
    data: str


ContentBlock = (
    TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock
)
"""A block of a request message (``text``, ``image``, ``document``, ``tool_use``, ``tool_result``,
``thinking``, ``redacted_thinking``)."""

# ---------------------------------------------------------------- request


class MessageParam(_Wire):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class Tool(_Wire):
    """A client tool (``input_schema``); a server tool (``type`` like ``web_search_20250305``) is
    kept as given and only a native upstream can run it."""

    name: str
    description: str | UnsetType = UNSET
    input_schema: dict[str, Any] | UnsetType = UNSET
    type: str | UnsetType | None = UNSET
    cache_control: Any | UnsetType = UNSET


class ToolChoiceAuto(_Wire, tag="auto", tag_field="type"):
    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceAny(_Wire, tag="any", tag_field="type"):
    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceTool(_Wire, tag="tool", tag_field="type"):
    name: str
    disable_parallel_tool_use: bool | UnsetType = UNSET


class ToolChoiceNone(_Wire, tag="none", tag_field="type"):
    pass


class ThinkingEnabled(_Wire, tag="enabled", tag_field="type"):
    budget_tokens: int
    display: str | UnsetType | None = UNSET


class ThinkingDisabled(_Wire, tag="disabled", tag_field="type"):
    pass


class ThinkingAdaptive(_Wire, tag="adaptive", tag_field="type"):
    display: str | UnsetType | None = UNSET


class OutputConfig(_Wire):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | UnsetType | None = UNSET
    format: Any | UnsetType = UNSET


class Metadata(_Wire):
    user_id: str | UnsetType | None = UNSET


class CountTokensRequest(_Wire):
    """``POST /v1/messages/count_tokens`` body."""

    model: ModelName
    messages: list[MessageParam]
    system: str | list[TextBlock] | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone | UnsetType = UNSET
    thinking: ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive | UnsetType = UNSET
    output_config: OutputConfig | UnsetType = UNSET


class MessagesRequest(_Wire):
    """``POST /v1/messages`` body (``max_tokens`` required, as Anthropic requires it)."""

    model: ModelName
    max_tokens: int
    messages: list[MessageParam]
    system: str | list[TextBlock] | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone | UnsetType = UNSET
    thinking: ThinkingEnabled | ThinkingDisabled | ThinkingAdaptive | UnsetType = UNSET
    output_config: OutputConfig | UnsetType = UNSET
    stop_sequences: list[str] | UnsetType = UNSET
    stream: bool | UnsetType = UNSET
    temperature: float | UnsetType = UNSET
    top_p: float | UnsetType = UNSET
    top_k: int | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    service_tier: str | UnsetType = UNSET


class TokenCount(_Wire):
    """``count_tokens`` answer."""

    input_tokens: int


# ---------------------------------------------------------------- response


class MessageUsage(_Wire):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class Message(_Wire):
    """A complete answer (and, with empty ``content``, the ``message`` of ``message_start``)."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock]
    stop_reason: str | None
    """``end_turn | max_tokens | stop_sequence | tool_use | refusal | pause_turn`` (null in ``message_start``)."""
    stop_sequence: str | None
    usage: MessageUsage


# ---------------------------------------------------------------- stream


class TextDelta(_Wire, tag="text_delta", tag_field="type"):
    text: str


class InputJSONDelta(_Wire, tag="input_json_delta", tag_field="type"):
    partial_json: str


class ThinkingDelta(_Wire, tag="thinking_delta", tag_field="type"):
    thinking: str


class SignatureDelta(_Wire, tag="signature_delta", tag_field="type"):
    signature: str


class MessageStart(_Wire, tag="message_start", tag_field="type"):
    message: Message


class ContentBlockStart(_Wire, tag="content_block_start", tag_field="type"):
    index: int
    content_block: TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock


class Ping(_Wire, tag="ping", tag_field="type"):
    pass


class ContentBlockDelta(_Wire, tag="content_block_delta", tag_field="type"):
    index: int
    delta: TextDelta | InputJSONDelta | ThinkingDelta | SignatureDelta


class ContentBlockStop(_Wire, tag="content_block_stop", tag_field="type"):
    index: int


class MessageDeltaBody(_Wire):
    stop_reason: str | None
    stop_sequence: str | None


class DeltaUsage(_Wire):
    """Cumulative figures at the end of the stream."""

    output_tokens: int
    input_tokens: int | UnsetType | None = UNSET
    cache_creation_input_tokens: int | UnsetType | None = UNSET
    cache_read_input_tokens: int | UnsetType | None = UNSET


class MessageDelta(_Wire, tag="message_delta", tag_field="type"):
    delta: MessageDeltaBody
    usage: DeltaUsage


class MessageStop(_Wire, tag="message_stop", tag_field="type"):
    pass


class ErrorEvent(_Wire, tag="error", tag_field="type"):
    """A failure after the stream started; ``error`` is ``{"type": ..., "message": ...}``."""

    error: Any = field(default_factory=dict)


StreamEvent = (
    MessageStart
    | ContentBlockStart
    | Ping
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
    | ErrorEvent
)
