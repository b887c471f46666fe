"""Anthropic Messages API responses and stream events as msgspec Structs (what we decode ourselves).

The official SDK builds and sends the request and raises on a non-2xx status; the body it
receives is decoded here, once, with msgspec (no pydantic on the hot path). Shapes follow
anthropic-sdk-python ``types/message.py``, ``types/raw_message_stream_event.py``,
``types/usage.py`` and the captures in ``tests/fixtures/``.

Every Struct is deliberately loose: unknown keys are ignored and every field but ``type`` has a
default, so a block or event type this plugin does not know (server tools, citations, new
event kinds) decodes and is then skipped, as Anthropic's versioning policy asks of clients.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ContentBlock",
    "ErrorBody",
    "ErrorObject",
    "EventDelta",
    "Message",
    "OutputTokensDetails",
    "StreamEvent",
    "Usage",
    "decode_error",
    "decode_event",
    "decode_message",
]


class OutputTokensDetails(msgspec.Struct, kw_only=True):
    thinking_tokens: int | None = None


class Usage(msgspec.Struct, kw_only=True):
    """``usage`` of a Message or a ``message_delta`` (where counts are cumulative)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: OutputTokensDetails | None = None


class ContentBlock(msgspec.Struct, kw_only=True):
    """One ``content`` block: ``text``, ``thinking``, ``redacted_thinking``, ``tool_use`` or another kind."""

    type: str
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None
    """``redacted_thinking``: the encrypted reasoning, echoed back verbatim."""
    id: str | None = None
    name: str | None = None
    input: Any = None


class ErrorObject(msgspec.Struct, kw_only=True):
    """``{"type": "overloaded_error", "message": "Overloaded"}``."""

    type: str = "api_error"
    message: str = ""


class Message(msgspec.Struct, kw_only=True):
    """A non-streamed answer, and ``message_start.message`` (content empty there). ``type`` is
    ``"message"``; a 200 whose body is an error object decodes with ``type == "error"`` and ``error``
    set (see :func:`hexgate_anthropic.translate.message_error`)."""

    type: str = "message"
    error: ErrorObject | None = None
    id: str = ""
    model: str = ""
    content: list[ContentBlock] = msgspec.field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage | None = None


class EventDelta(msgspec.Struct, kw_only=True):
    """``content_block_delta.delta`` (``text_delta``, ``input_json_delta``, ``thinking_delta``,
    ``signature_delta``, ``citations_delta``) or ``message_delta.delta`` (``stop_reason``)."""

    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    signature: str | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None


class StreamEvent(msgspec.Struct, kw_only=True):
    """One SSE ``data:`` payload; ``type`` equals the ``event:`` name."""

    type: str
    message: Message | None = None
    index: int | None = None
    content_block: ContentBlock | None = None
    delta: EventDelta | None = None
    usage: Usage | None = None
    error: ErrorObject | None = None


class ErrorBody(msgspec.Struct, kw_only=True):
    """An error answer's body: ``{"type": "error", "error": {...}, "request_id": ...}``."""

    error: ErrorObject | None = None


_message = msgspec.json.Decoder(Message)
_event = msgspec.json.Decoder(StreamEvent)
_error = msgspec.json.Decoder(ErrorBody)


def decode_message(body: bytes | str) -> Message:
    """Decode a ``POST /v1/messages`` JSON body. Raises ``msgspec.DecodeError`` / ``ValidationError``."""
    return _message.decode(body)


def decode_event(data: bytes | str) -> StreamEvent:
    """Decode one stream event payload. Raises ``msgspec.DecodeError`` / ``ValidationError``."""
    return _event.decode(data)


def decode_error(body: bytes | str) -> ErrorObject | None:
    """The ``error`` object of an error body, or None when the body is not Anthropic's error JSON."""
    try:
        return _error.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
