"""Puter's own wire format, as msgspec Structs (../shared/upstreams.md §6; Puter is AGPL-3.0,
so this re-states the documented protocol and copies no code).

Outgoing: a driver call, ``POST {base}/drivers/call`` with ``Content-Type: text/plain;actually=json``
and the body ``{"interface", "driver", "method", "args", "test_mode", "auth_token"}``. Chat args
carry OpenAI-like messages (``role``, ``content`` as a string or parts, ``tool_calls``,
``tool_call_id``; image parts with ``vision: true``).

Incoming: ``{"success": true, "result": {...}}`` or ``{"success": false, "error": {"code", "message"}}``
(the latter sometimes with HTTP 200); streams are NDJSON lines typed ``text``, ``reasoning``,
``tool_use``, ``usage``, ``error`` (and ``extra_content``, ``compaction``, ignored). Incoming
Structs are lenient (``Any`` where the upstream's shape varies) because a stricter decoder would
turn a harmless upstream change into a failed request.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, Struct, UnsetType, field

from hexgate.schemas.chat import Tool, ToolCall

__all__ = [
    "ChatArgs",
    "ChatEnvelope",
    "ChatResult",
    "DriverCall",
    "ImageArgs",
    "ImagePart",
    "ImageRef",
    "Message",
    "ModelEntry",
    "ModelsAnswer",
    "Part",
    "Ratio",
    "ResultMessage",
    "ResultToolCall",
    "StreamLine",
    "TextPart",
]

# ---------------------------------------------------------------- outgoing


class TextPart(Struct, tag="text", tag_field="type"):
    text: str


class ImageRef(Struct):
    url: str


class ImagePart(Struct, tag="image_url", tag_field="type"):
    image_url: ImageRef


Part = TextPart | ImagePart


class Message(Struct, kw_only=True):
    role: str
    content: str | list[Part] | None = None
    tool_calls: list[ToolCall] | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET


class ChatArgs(Struct, kw_only=True):
    """``args`` of ``puter-chat-completion`` / ``complete``."""

    messages: list[Message]
    model: str
    stream: bool = False
    temperature: float | UnsetType = UNSET
    max_tokens: int | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    reasoning_effort: str | UnsetType = UNSET
    provider: str | UnsetType = UNSET
    """Which of Puter's backends serves the model (e.g. ``openrouter``)."""
    vision: bool | UnsetType = UNSET
    """True when a message holds an image part."""


class Ratio(Struct):
    w: int
    h: int


class ImageArgs(Struct, kw_only=True):
    """``args`` of ``puter-image-generation`` / ``generate``."""

    prompt: str
    model: str | UnsetType = UNSET
    quality: str | UnsetType = UNSET
    ratio: Ratio | UnsetType = UNSET


class DriverCall(Struct, kw_only=True):
    interface: str
    driver: str
    method: str
    args: ChatArgs | ImageArgs
    test_mode: bool = False
    auth_token: str | UnsetType = UNSET


# ---------------------------------------------------------------- incoming


class ResultFunction(Struct, kw_only=True):
    name: str = ""
    arguments: Any = None
    """JSON text as OpenAI sends it, or an already-parsed object."""


class ResultToolCall(Struct, kw_only=True):
    id: str = ""
    type: str = "function"
    function: ResultFunction = field(default_factory=ResultFunction)


class ResultMessage(Struct, kw_only=True):
    role: str = "assistant"
    content: Any = None
    """A string, or a list of parts (``{"type": "text", "text"}``, ``{"type": "tool_use", ...}``)."""
    tool_calls: list[ResultToolCall] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class ChatResult(Struct, kw_only=True):
    message: ResultMessage | None = None
    usage: Any = None
    finish_reason: str | None = None


class ChatEnvelope(Struct, kw_only=True):
    """``{"success": bool, "result" | "error"}``; a bare error body (``{"error": ...}`` or
    ``{"code", "message"}``) decodes too, with ``success`` left True and ``result`` None."""

    success: bool = True
    result: ChatResult | None = None
    error: Any = None
    code: Any = None
    message: Any = None


class StreamLine(Struct, kw_only=True):
    """One NDJSON line of a streamed chat answer; which keys are set depends on ``type``."""

    type: str = ""
    text: Any = None
    reasoning: Any = None
    id: Any = None
    name: Any = None
    input: Any = None
    usage: Any = None
    message: Any = None
    code: Any = None
    error: Any = None
    metadata: Any = None
    success: bool | None = None


class ModelEntry(Struct, kw_only=True):
    id: str
    name: Any = None
    provider: Any = None
    context: Any = None
    max_tokens: Any = None


class ModelsAnswer(Struct, kw_only=True):
    models: list[ModelEntry | str] = field(default_factory=list)
