"""OpenAI Responses API on the wire (``POST /v1/responses``): request, response object, stream events.

Shapes follow openai-python ``types/responses/*`` (``response_create_params.py``, ``response.py``,
``response_stream_event.py``) and the captures in ``../shared/fixtures/vercel-ai/openai--responses--*``
(upstreams.md §8). Optional keys default to ``UNSET``; keys OpenAI always sends, even as null
(``error``, ``incomplete_details``, ``usage`` …), are fields with a ``None`` default.

Items and tools are tagged unions on ``type``. The Responses API grows new item and tool kinds
often (web search, MCP, shell …); hexgate models the ones it can bridge to Chat Completions
(messages, function calls and their outputs, reasoning, item references; function tools) and
keeps every other kind as :class:`OtherItem` / :class:`OtherTool` holding the item's own JSON,
so a native upstream still receives it unchanged. Use :func:`decode_request` (not a bare
``msgspec`` decoder) to read a request body: it also accepts messages written without
``"type": "message"``, as OpenAI does.

Stream events: each carries ``sequence_number``; :data:`ResponseStreamEvent` is their tagged
union. A native pass-through relays upstream events as :class:`RawEvent` (the upstream's JSON
kept byte for byte) and a native non-streamed answer as :class:`NativeResponse`.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType, field

from hexgate.schemas.models import ModelName

__all__ = [
    "ContentPart",
    "ErrorDetail",
    "ErrorEvent",
    "FunctionCallArgumentsDeltaEvent",
    "FunctionCallArgumentsDoneEvent",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "FunctionTool",
    "IncompleteDetails",
    "InputAudio",
    "InputAudioPart",
    "InputFile",
    "InputImage",
    "InputItem",
    "InputText",
    "InputTokensDetails",
    "ItemReference",
    "Message",
    "NativeResponse",
    "OtherItem",
    "OtherTool",
    "OutputItem",
    "OutputItemAddedEvent",
    "OutputItemDoneEvent",
    "OutputText",
    "OutputTextDeltaEvent",
    "OutputTextDoneEvent",
    "OutputTokensDetails",
    "RawEvent",
    "ReasoningConfig",
    "ReasoningItem",
    "ReasoningSummaryPartAddedEvent",
    "ReasoningSummaryPartDoneEvent",
    "ReasoningSummaryTextDeltaEvent",
    "ReasoningSummaryTextDoneEvent",
    "ReasoningText",
    "ReasoningTextDeltaEvent",
    "ReasoningTextDoneEvent",
    "Refusal",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "Response",
    "ResponseCompletedEvent",
    "ResponseCreatedEvent",
    "ResponseError",
    "ResponseFailedEvent",
    "ResponseInProgressEvent",
    "ResponseIncompleteEvent",
    "ResponseQueuedEvent",
    "ResponseRequest",
    "ResponseStreamEvent",
    "ResponseUsage",
    "StreamOptions",
    "SummaryText",
    "TextConfig",
    "TextFormat",
    "Tool",
    "ToolChoice",
    "ToolChoiceSpec",
    "decode_items",
    "decode_request",
    "event_type",
    "item_type",
]


class _Wire(Struct, kw_only=True):
    """Base: keyword-only; ``UNSET`` fields are not encoded, every other field is."""


class _Tagged(_Wire, tag_field="type"):
    """Base of the tagged unions: ``type`` is the class's tag."""


# ---------------------------------------------------------------- content parts


class InputText(_Tagged, tag="input_text"):
    text: str


class InputImage(_Tagged, tag="input_image"):
    image_url: str | UnsetType | None = UNSET
    """An ``http(s)://`` or ``data:`` URL."""
    file_id: str | UnsetType | None = UNSET
    detail: Literal["auto", "low", "high", "original"] | UnsetType = UNSET


class InputFile(_Tagged, tag="input_file"):
    file_data: str | UnsetType | None = UNSET
    file_id: str | UnsetType | None = UNSET
    file_url: str | UnsetType | None = UNSET
    filename: str | UnsetType | None = UNSET


class InputAudio(_Wire):
    data: str
    format: str


class InputAudioPart(_Tagged, tag="input_audio"):
    input_audio: InputAudio


class OutputText(_Tagged, tag="output_text"):
    text: str
    annotations: list[Any] = field(default_factory=list)
    logprobs: list[Any] | UnsetType = UNSET


class Refusal(_Tagged, tag="refusal"):
    refusal: str


ContentPart = InputText | InputImage | InputFile | InputAudioPart | OutputText | Refusal
"""A part of a message's ``content``; ``output_text`` and ``refusal`` appear in assistant messages."""


class SummaryText(_Tagged, tag="summary_text"):
    text: str


class ReasoningText(_Tagged, tag="reasoning_text"):
    text: str


# ---------------------------------------------------------------- items


class Message(_Tagged, tag="message"):
    """A message in ``input`` (``content`` a string or parts) or in ``output`` (assistant, with
    ``id``, ``status`` and ``output_text`` / ``refusal`` parts)."""

    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[ContentPart]
    id: str | UnsetType = UNSET
    status: Literal["in_progress", "completed", "incomplete"] | UnsetType = UNSET
    phase: str | UnsetType | None = UNSET

    def text(self) -> str:
        """The message's text: the string itself, or its text parts joined."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, InputText | OutputText))


class FunctionCallItem(_Tagged, tag="function_call"):
    """The model asked to call a function; ``arguments`` is JSON text."""

    call_id: str
    name: str
    arguments: str
    id: str | UnsetType = UNSET
    status: Literal["in_progress", "completed", "incomplete"] | UnsetType = UNSET


class FunctionCallOutputItem(_Tagged, tag="function_call_output"):
    """The client's result for a function call, matched by ``call_id``."""

    call_id: str
    output: str | list[ContentPart]
    id: str | UnsetType | None = UNSET
    status: Literal["in_progress", "completed", "incomplete"] | UnsetType | None = UNSET

    def text(self) -> str:
        if isinstance(self.output, str):
            return self.output
        return "".join(p.text for p in self.output if isinstance(p, InputText | OutputText))


class ReasoningItem(_Tagged, tag="reasoning"):
    """Reasoning the model did: readable ``summary`` (and ``content`` text where the model shows it);
    ``encrypted_content`` is opaque state to send back on the next turn."""

    summary: list[SummaryText] = field(default_factory=list)
    id: str | UnsetType = UNSET
    content: list[ReasoningText] | UnsetType | None = UNSET
    encrypted_content: str | UnsetType | None = UNSET
    status: Literal["in_progress", "completed", "incomplete"] | UnsetType | None = UNSET


class ItemReference(_Tagged, tag="item_reference"):
    id: str


class OtherItem(_Tagged, tag="hexgate.other"):
    """An item of a kind hexgate does not model (built-in tool calls and their outputs …).

    Never sent as such: ``raw`` is the item's own JSON, which a native upstream receives as it
    came. The Chat bridge cannot express these and says so."""

    kind: str
    raw: Raw


InputItem = Message | FunctionCallItem | FunctionCallOutputItem | ReasoningItem | ItemReference | OtherItem
OutputItem = Message | FunctionCallItem | ReasoningItem | OtherItem

_ITEM_TAGS = frozenset({"message", "function_call", "function_call_output", "reasoning", "item_reference"})

# ---------------------------------------------------------------- tools and options


class FunctionTool(_Tagged, tag="function"):
    """A function tool, flat as the Responses API writes it (Chat nests it under ``function``)."""

    name: str
    description: str | UnsetType | None = UNSET
    parameters: dict[str, Any] | UnsetType | None = UNSET
    strict: bool | UnsetType | None = UNSET


class OtherTool(_Tagged, tag="hexgate.other"):
    """A built-in tool (``web_search``, ``file_search``, ``mcp`` …) kept as its own JSON in ``raw``."""

    kind: str
    raw: Raw


Tool = FunctionTool | OtherTool


class ToolChoiceSpec(_Wire):
    """``{"type": "function", "name": ...}``, ``{"type": "allowed_tools", "mode", "tools"}`` or a
    built-in tool's ``{"type": ...}``."""

    type: str
    name: str | UnsetType = UNSET
    mode: Literal["auto", "required"] | UnsetType = UNSET
    tools: list[dict[str, Any]] | UnsetType = UNSET


ToolChoice = Literal["none", "auto", "required"] | ToolChoiceSpec


class ReasoningConfig(_Wire):
    effort: str | None = None
    """``none | minimal | low | medium | high | xhigh | max``."""
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: str | UnsetType | None = UNSET


class TextFormat(_Wire):
    """``{"type": "text"}``, ``{"type": "json_object"}`` or a flat ``json_schema`` format."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | UnsetType = UNSET
    schema: dict[str, Any] | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    strict: bool | UnsetType | None = UNSET


class TextConfig(_Wire):
    format: TextFormat = field(default_factory=TextFormat)
    verbosity: str | UnsetType | None = UNSET


class StreamOptions(_Wire):
    include_obfuscation: bool | UnsetType = UNSET


# ---------------------------------------------------------------- request


class ResponseRequest(_Wire):
    """``POST /v1/responses`` body. Unknown keys are ignored here; native pass-through plugins
    send the client's body itself (``CallContext.body``)."""

    model: ModelName
    input: str | list[InputItem] = field(default_factory=list)
    instructions: str | UnsetType | None = UNSET
    tools: list[Tool] | UnsetType | None = UNSET
    tool_choice: ToolChoice | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    reasoning: ReasoningConfig | UnsetType | None = UNSET
    text: TextConfig | UnsetType | None = UNSET
    max_output_tokens: int | UnsetType | None = UNSET
    max_tool_calls: int | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    top_p: float | UnsetType | None = UNSET
    top_logprobs: int | UnsetType | None = UNSET
    store: bool | UnsetType | None = UNSET
    """Keep the response for ``GET`` and ``previous_response_id``; true when absent, as at OpenAI."""
    previous_response_id: str | UnsetType | None = UNSET
    metadata: dict[str, str] | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    stream_options: StreamOptions | UnsetType | None = UNSET
    include: list[str] | UnsetType | None = UNSET
    truncation: Literal["auto", "disabled"] | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET
    safety_identifier: str | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET
    background: bool | UnsetType | None = UNSET

    def items(self) -> list[InputItem]:
        """``input`` as items: a string is one user message."""
        if isinstance(self.input, str):
            return [Message(role="user", content=self.input)]
        return list(self.input)

    def stores(self) -> bool:
        """True unless the client sent ``store: false``."""
        return self.store is not False


# ---------------------------------------------------------------- response


class ResponseError(_Wire):
    code: str
    message: str


class IncompleteDetails(_Wire):
    reason: Literal["max_output_tokens", "content_filter"] | str


class InputTokensDetails(_Wire):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(_Wire):
    reasoning_tokens: int = 0


class ResponseUsage(_Wire):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: InputTokensDetails = field(default_factory=InputTokensDetails)
    output_tokens_details: OutputTokensDetails = field(default_factory=OutputTokensDetails)


class Response(_Wire):
    """The response object (``object: "response"``), as ``POST`` and ``GET /v1/responses/{id}`` return it
    and as lifecycle events carry it."""

    id: str
    created_at: int
    model: str
    status: Literal["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]
    output: list[OutputItem] = field(default_factory=list)
    object: Literal["response"] = "response"
    background: bool = False
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: ReasoningConfig = field(default_factory=ReasoningConfig)
    service_tier: str | None = "default"
    store: bool = True
    temperature: float | None = 1.0
    text: TextConfig = field(default_factory=TextConfig)
    tool_choice: ToolChoice = "auto"
    tools: list[Tool] = field(default_factory=list)
    top_logprobs: int | None = 0
    top_p: float | None = 1.0
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class NativeResponse(Response):
    """A native upstream's answer: the typed fields for hexgate's own use, ``raw`` (the upstream's
    JSON, byte for byte) for the client. Built with :meth:`from_json`."""

    raw: Raw = Raw(b"{}")

    @classmethod
    def from_json(cls, body: bytes) -> NativeResponse:
        """Read an upstream response object. Raises ``msgspec.DecodeError`` / ``ValidationError``
        when ``body`` is not a response object."""
        head = _head_decoder.decode(body)
        return cls(
            id=head.id,
            created_at=int(head.created_at),
            model=head.model,
            status=head.status,  # type: ignore[arg-type]
            output=list(decode_items(head.output, output=True)),  # type: ignore[arg-type]
            usage=head.usage,
            error=head.error,
            incomplete_details=head.incomplete_details,
            raw=Raw(body),
        )


class _Head(Struct, kw_only=True):
    id: str
    created_at: float = 0
    model: str = ""
    status: str = "completed"
    output: list[Raw] = field(default_factory=list)
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None


_head_decoder = msgspec.json.Decoder(_Head)


# ---------------------------------------------------------------- stream events


class _Event(_Tagged):
    sequence_number: int


class ResponseCreatedEvent(_Event, tag="response.created"):
    response: Response


class ResponseInProgressEvent(_Event, tag="response.in_progress"):
    response: Response


class ResponseQueuedEvent(_Event, tag="response.queued"):
    response: Response


class ResponseCompletedEvent(_Event, tag="response.completed"):
    response: Response


class ResponseIncompleteEvent(_Event, tag="response.incomplete"):
    response: Response


class ResponseFailedEvent(_Event, tag="response.failed"):
    response: Response


class ErrorDetail(_Wire):
    type: str
    message: str
    code: str | None = None
    param: str | None = None


class ErrorEvent(_Event, tag="error"):
    """``error``: openai-python's documented keys (``code``, ``message``, ``param``) and, as OpenAI
    sends it on the wire (``openai-error.1`` capture), the same inside ``error``, on which the
    official SDK raises ``APIError``."""

    message: str
    code: str | None = None
    param: str | None = None
    error: ErrorDetail | UnsetType = UNSET


class OutputItemAddedEvent(_Event, tag="response.output_item.added"):
    output_index: int
    item: OutputItem


class OutputItemDoneEvent(_Event, tag="response.output_item.done"):
    output_index: int
    item: OutputItem


class ContentPartAddedEvent(_Event, tag="response.content_part.added"):
    item_id: str
    output_index: int
    content_index: int
    part: OutputText | Refusal | ReasoningText


class ContentPartDoneEvent(_Event, tag="response.content_part.done"):
    item_id: str
    output_index: int
    content_index: int
    part: OutputText | Refusal | ReasoningText


class OutputTextDeltaEvent(_Event, tag="response.output_text.delta"):
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[Any] = field(default_factory=list)


class OutputTextDoneEvent(_Event, tag="response.output_text.done"):
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[Any] = field(default_factory=list)


class RefusalDeltaEvent(_Event, tag="response.refusal.delta"):
    item_id: str
    output_index: int
    content_index: int
    delta: str


class RefusalDoneEvent(_Event, tag="response.refusal.done"):
    item_id: str
    output_index: int
    content_index: int
    refusal: str


class ReasoningSummaryPartAddedEvent(_Event, tag="response.reasoning_summary_part.added"):
    item_id: str
    output_index: int
    summary_index: int
    part: SummaryText


class ReasoningSummaryPartDoneEvent(_Event, tag="response.reasoning_summary_part.done"):
    item_id: str
    output_index: int
    summary_index: int
    part: SummaryText


class ReasoningSummaryTextDeltaEvent(_Event, tag="response.reasoning_summary_text.delta"):
    item_id: str
    output_index: int
    summary_index: int
    delta: str


class ReasoningSummaryTextDoneEvent(_Event, tag="response.reasoning_summary_text.done"):
    item_id: str
    output_index: int
    summary_index: int
    text: str


class ReasoningTextDeltaEvent(_Event, tag="response.reasoning_text.delta"):
    item_id: str
    output_index: int
    content_index: int
    delta: str


class ReasoningTextDoneEvent(_Event, tag="response.reasoning_text.done"):
    item_id: str
    output_index: int
    content_index: int
    text: str


class FunctionCallArgumentsDeltaEvent(_Event, tag="response.function_call_arguments.delta"):
    item_id: str
    output_index: int
    delta: str


class FunctionCallArgumentsDoneEvent(_Event, tag="response.function_call_arguments.done"):
    item_id: str
    output_index: int
    arguments: str
    name: str | UnsetType = UNSET


class RawEvent(_Event, tag="hexgate.raw"):
    """An upstream event relayed as received (native pass-through): ``event`` is its ``type``,
    ``data`` its JSON byte for byte, ``sequence_number`` the upstream's. The gateway writes
    ``event: <event>`` / ``data: <data>``; this Struct itself never goes on the wire."""

    event: str
    data: Raw


ResponseStreamEvent = (
    ResponseCreatedEvent
    | ResponseInProgressEvent
    | ResponseQueuedEvent
    | ResponseCompletedEvent
    | ResponseIncompleteEvent
    | ResponseFailedEvent
    | ErrorEvent
    | OutputItemAddedEvent
    | OutputItemDoneEvent
    | ContentPartAddedEvent
    | ContentPartDoneEvent
    | OutputTextDeltaEvent
    | OutputTextDoneEvent
    | RefusalDeltaEvent
    | RefusalDoneEvent
    | ReasoningSummaryPartAddedEvent
    | ReasoningSummaryPartDoneEvent
    | ReasoningSummaryTextDeltaEvent
    | ReasoningSummaryTextDoneEvent
    | ReasoningTextDeltaEvent
    | ReasoningTextDoneEvent
    | FunctionCallArgumentsDeltaEvent
    | FunctionCallArgumentsDoneEvent
    | RawEvent
)
"""Every stream event hexgate emits, tagged on ``type``."""


def event_type(event: ResponseStreamEvent) -> str:
    """The ``type`` an event goes out with (a :class:`RawEvent`'s upstream type)."""
    if isinstance(event, RawEvent):
        return event.event
    return str(event.__struct_config__.tag)


def item_type(item: InputItem) -> str:
    """The ``type`` of an item (an :class:`OtherItem`'s own kind)."""
    if isinstance(item, OtherItem):
        return item.kind
    return str(item.__struct_config__.tag)


# ---------------------------------------------------------------- decoding


class _Peek(Struct):
    type: str | UnsetType = UNSET
    role: str | UnsetType = UNSET


class _LooseRequest(Struct):
    input: str | list[Raw] | UnsetType = UNSET
    tools: list[Raw] | UnsetType | None = UNSET


_peek = msgspec.json.Decoder(_Peek)
_loose = msgspec.json.Decoder(_LooseRequest)
_strict = msgspec.json.Decoder(ResponseRequest)
_item_decoder: msgspec.json.Decoder[InputItem] = msgspec.json.Decoder(InputItem)
_message_decoder = msgspec.json.Decoder(Message)
_tool_decoder = msgspec.json.Decoder(FunctionTool)
_encoder = msgspec.json.Encoder()


class ItemError(ValueError):
    """An input item or tool that cannot be read; ``path`` names it (``input[2].content``)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _where(exc: msgspec.ValidationError, prefix: str) -> tuple[str, str]:
    message, sep, where = str(exc).rpartition(" - at `")
    if not sep:
        return str(exc), prefix
    return message, prefix + where.rstrip("`").removeprefix("$")


def decode_items(raws: list[Raw], *, output: bool = False, path: str = "input") -> list[InputItem]:
    """Items from their JSON: known kinds typed, a message without ``type`` read as a message,
    anything else kept as :class:`OtherItem`. ``output`` marks output items (not validated as strictly:
    an unreadable one is kept as :class:`OtherItem`). Raises :class:`ItemError` naming the item."""
    items: list[InputItem] = []
    for i, raw in enumerate(raws):
        try:
            peek = _peek.decode(raw)
        except msgspec.ValidationError as exc:
            raise ItemError(f"input item {i} must be an object: {exc}", f"{path}[{i}]") from None
        kind = peek.type
        try:
            if isinstance(kind, UnsetType):
                if isinstance(peek.role, UnsetType):
                    raise ItemError(f"input item {i} has neither 'type' nor 'role'", f"{path}[{i}]")
                items.append(_message_decoder.decode(raw))
            elif kind in _ITEM_TAGS:
                items.append(_item_decoder.decode(raw))
            else:
                items.append(OtherItem(kind=kind, raw=raw))
        except msgspec.ValidationError as exc:
            if output:
                items.append(OtherItem(kind=str(kind or "message"), raw=raw))
                continue
            message, where = _where(exc, f"{path}[{i}]")
            raise ItemError(f"invalid value for '{where}': {message}", where) from None
    return items


def _decode_tools(raws: list[Raw]) -> list[Tool]:
    tools: list[Tool] = []
    for i, raw in enumerate(raws):
        peek = _peek.decode(raw)
        if peek.type == "function":
            try:
                tools.append(_tool_decoder.decode(raw))
            except msgspec.ValidationError as exc:
                message, where = _where(exc, f"tools[{i}]")
                raise ItemError(f"invalid value for '{where}': {message}", where) from None
        elif isinstance(peek.type, str):
            tools.append(OtherTool(kind=peek.type, raw=raw))
        else:
            raise ItemError(f"tools[{i}] has no 'type'", f"tools[{i}]")
    return tools


def decode_request(body: bytes) -> ResponseRequest:
    """Read a ``POST /v1/responses`` body.

    One strict pass in the common case; when ``input`` holds a message without ``type`` or an item
    kind hexgate does not model (or ``tools`` a built-in tool), a second pass reads those items one
    by one. Raises ``msgspec.DecodeError`` (not JSON), ``msgspec.ValidationError`` (a wrong field)
    or :class:`ItemError` (a bad item or tool, with its path).
    """
    try:
        return _strict.decode(body)
    except msgspec.ValidationError as exc:
        where = _where(exc, "")[1]
        if not where.startswith((".input[", ".tools[")):
            raise
    loose = _loose.decode(body)
    rest = msgspec.json.decode(body, type=dict[str, Raw])
    rest.pop("input", None)
    rest.pop("tools", None)
    request = _strict.decode(_encoder.encode(rest))
    if isinstance(loose.input, list):
        request.input = decode_items(loose.input)
    elif isinstance(loose.input, str):
        request.input = loose.input
    if isinstance(loose.tools, list):
        request.tools = _decode_tools(loose.tools)
    return request
