"""Messages ⇄ Chat: the Messages dialect over any provider's ``chat`` / ``stream_chat``.

Request (:func:`to_chat_request`; Messages API reference → OpenAI Chat Completions):

- ``system`` (string or text blocks) → one ``system`` message; ``text`` → text parts; ``image``
  (base64 → a ``data:`` URL, url → the URL) → ``image_url`` parts; ``document`` (base64 PDF → a
  ``file`` part; plain text and content sources → text); ``tool_use`` → ``tool_calls`` (``input``
  encoded as ``arguments``); ``tool_result`` → a ``tool`` message (``is_error`` prefixes ``Error:``),
  its images after it in a user message; ``thinking`` → ``reasoning_content`` plus a
  ``reasoning.text`` detail with its ``signature``; ``redacted_thinking`` → a ``reasoning.encrypted``
  detail.
- ``tools`` → functions (``input_schema`` → ``parameters``); ``tool_choice`` auto / any / tool /
  none → ``auto`` / ``required`` / the named function / ``none``; ``disable_parallel_tool_use`` →
  ``parallel_tool_calls: false``.
- ``thinking``: ``disabled`` → ``reasoning_effort: none``; ``enabled`` → an effort from
  ``budget_tokens`` (the inverse of the budgets plugins give each effort: under 1024 ``minimal``,
  under 2048 ``low``, under 8192 ``medium``, under 24576 ``high``, else ``xhigh``); ``adaptive`` →
  ``output_config.effort`` (``max`` → ``xhigh``), else ``medium``.
- ``max_tokens``, ``temperature``, ``top_p``, ``top_k`` as they are; ``metadata.user_id`` → ``user``.
- ``stop_sequences`` are not sent upstream: the bridge watches the text itself (:class:`_StopScanner`),
  so that it knows which one matched (``stop_reason: stop_sequence`` with ``stop_sequence``); the
  upstream call is then closed. The upstream is always asked for a stream with usage.

Answer (:class:`MessageStream`): chat chunks → Messages events in Anthropic's order
(``message_start``, ``ping``, per block ``content_block_start`` / deltas / ``content_block_stop``,
``message_delta``, ``message_stop``): ``reasoning_content`` → a ``thinking`` block,
``reasoning_details`` signatures → ``signature_delta``, encrypted details → ``redacted_thinking``,
``content`` → ``text``, ``tool_calls`` → ``tool_use`` with ``input_json_delta``. ``finish_reason``
stop / length / tool_calls / content_filter → ``end_turn`` / ``max_tokens`` / ``tool_use`` /
``refusal``. Usage: the upstream's (``input_tokens`` without cached tokens, which go to
``cache_read_input_tokens``), else hexgate's count.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import msgspec
from msgspec import UNSET

from hexgate.errors import InvalidRequest, Unsupported, UpstreamError
from hexgate.schemas import chat as c
from hexgate.schemas import messages as m

__all__ = ["MessageStream", "effort_for", "to_chat_request"]

_encoder = msgspec.json.Encoder()
_object = msgspec.json.Decoder(dict[str, object])
_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use"}
_FINISH_REFUSAL = "content_filter"
_BUDGET_EFFORTS = ((1024, "minimal"), (2048, "low"), (8192, "medium"), (24576, "high"))
_ADAPTIVE = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}


# ---------------------------------------------------------------- request


def effort_for(thinking: m.ThinkingEnabled | m.ThinkingDisabled | m.ThinkingAdaptive, config: object) -> str:
    """The chat ``reasoning_effort`` for a ``thinking`` setting (table in the module docstring)."""
    if isinstance(thinking, m.ThinkingDisabled):
        return "none"
    if isinstance(thinking, m.ThinkingEnabled):
        for limit, effort in _BUDGET_EFFORTS:
            if thinking.budget_tokens < limit:
                return effort
        return "xhigh"
    wanted = config.effort if isinstance(config, m.OutputConfig) else None
    return _ADAPTIVE.get(wanted, "medium") if isinstance(wanted, str) else "medium"


def to_chat_request(req: m.MessagesRequest | m.CountTokensRequest, *, stream: bool = True) -> c.ChatCompletionRequest:
    """The chat request for a Messages request (or a ``count_tokens`` body, for estimates).

    Raises :class:`InvalidRequest` naming the field for blocks in the wrong place and
    :class:`Unsupported` for what only a native upstream can take (server tools, file and URL
    document sources).
    """
    messages: list[c.ChatMessage] = []
    if isinstance(req.system, str) and req.system:
        messages.append(c.ChatMessage(role="system", content=req.system))
    elif isinstance(req.system, list) and req.system:
        messages.append(c.ChatMessage(role="system", content="\n\n".join(b.text for b in req.system)))
    for i, message in enumerate(req.messages):
        where = f"messages[{i}]"
        if message.role == "assistant":
            messages.append(_assistant(message.content, where))
        else:
            messages.extend(_user(message.content, where))
    chat = c.ChatCompletionRequest(model=req.model, messages=messages)
    if isinstance(req.tools, list) and req.tools:
        chat.tools = [_tool(t, f"tools[{i}]") for i, t in enumerate(req.tools)]
        _tool_choice(chat, req.tool_choice)
    if not isinstance(req.thinking, type(UNSET)):
        chat.reasoning_effort = effort_for(req.thinking, req.output_config)
    if isinstance(req, m.MessagesRequest):
        chat.max_tokens = req.max_tokens
        chat.temperature = req.temperature
        chat.top_p = req.top_p
        chat.top_k = req.top_k
        if isinstance(req.metadata, m.Metadata) and isinstance(req.metadata.user_id, str):
            chat.user = req.metadata.user_id
    if stream:
        chat.stream = True
        chat.stream_options = c.StreamOptions(include_usage=True)
    return chat


def _tool(tool: m.Tool, where: str) -> c.Tool:
    if tool.type not in (UNSET, None, "custom") or isinstance(tool.input_schema, type(UNSET)):
        raise Unsupported(
            f"tool {tool.name!r} is a server tool ({tool.type}); only a native Messages upstream runs those",
            param=where,
        )
    function = c.FunctionDefinition(name=tool.name, parameters=tool.input_schema)
    if isinstance(tool.description, str):
        function.description = tool.description
    return c.Tool(function=function)


def _tool_choice(chat: c.ChatCompletionRequest, choice: object) -> None:
    if isinstance(choice, m.ToolChoiceAuto):
        chat.tool_choice = "auto"
    elif isinstance(choice, m.ToolChoiceAny):
        chat.tool_choice = "required"
    elif isinstance(choice, m.ToolChoiceTool):
        chat.tool_choice = c.ToolChoiceObject(function=c.FunctionName(name=choice.name))
    elif isinstance(choice, m.ToolChoiceNone):
        chat.tool_choice = "none"
    if getattr(choice, "disable_parallel_tool_use", None) is True:
        chat.parallel_tool_calls = False


def _source_url(source: m.Source, where: str) -> str:
    if isinstance(source, m.Base64Source):
        return f"data:{source.media_type};base64,{source.data}"
    if isinstance(source, m.URLSource):
        return source.url
    raise Unsupported(f"a {type(source).__name__} needs a native Messages upstream", param=f"{where}.source")


def _document(block: m.DocumentBlock, where: str) -> list[c.ContentPart]:
    source = block.source
    title = block.title if isinstance(block.title, str) else None
    if isinstance(source, m.TextSource):
        return [c.TextPart(text=f"{title}\n\n{source.data}" if title else source.data)]
    if isinstance(source, m.ContentSource):
        if isinstance(source.content, str):
            return [c.TextPart(text=source.content)]
        parts: list[c.ContentPart] = []
        for item in source.content:
            if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
                parts.append(c.TextPart(text=item["text"]))
        return parts
    if isinstance(source, m.Base64Source):
        name = title or "document.pdf"
        data = f"data:{source.media_type};base64,{source.data}"
        return [c.FilePart(file=c.FileData(file_data=data, filename=name))]
    raise Unsupported("a document from a URL or the Files API needs a native Messages upstream", param=where)


def _parts(block: m.ContentBlock, where: str) -> list[c.ContentPart]:
    if isinstance(block, m.TextBlock):
        return [c.TextPart(text=block.text)]
    if isinstance(block, m.ImageBlock):
        return [c.ImagePart(image_url=c.ImageURL(url=_source_url(block.source, where)))]
    if isinstance(block, m.DocumentBlock):
        return _document(block, where)
    raise InvalidRequest(f"a {_kind(block)} block cannot be used here", param=f"{where}.type")


def _kind(block: m.ContentBlock) -> str:
    return str(type(block).__struct_config__.tag)


def _user(content: str | list[m.ContentBlock], where: str) -> list[c.ChatMessage]:
    if isinstance(content, str):
        return [c.ChatMessage(role="user", content=content)]
    out: list[c.ChatMessage] = []
    parts: list[c.ContentPart] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        if isinstance(block, m.ToolResultBlock):
            text, images = _tool_result(block, at)
            out.append(c.ChatMessage(role="tool", tool_call_id=block.tool_use_id, content=text))
            parts.extend(images)
        elif isinstance(block, m.ThinkingBlock | m.RedactedThinkingBlock | m.ToolUseBlock):
            raise InvalidRequest(f"a {_kind(block)} block belongs in an assistant message", param=f"{at}.type")
        else:
            parts.extend(_parts(block, at))
    if parts:
        only_text = all(isinstance(p, c.TextPart) for p in parts)
        joined = "".join(p.text for p in parts if isinstance(p, c.TextPart)) if len(parts) == 1 else None
        out.append(c.ChatMessage(role="user", content=joined if only_text and joined is not None else parts))
    return out


def _tool_result(block: m.ToolResultBlock, where: str) -> tuple[str, list[c.ContentPart]]:
    texts: list[str] = []
    images: list[c.ContentPart] = []
    if isinstance(block.content, str):
        texts.append(block.content)
    elif isinstance(block.content, list):
        for k, item in enumerate(block.content):
            for part in _parts(item, f"{where}.content[{k}]"):
                if isinstance(part, c.TextPart):
                    texts.append(part.text)
                else:
                    images.append(part)
    text = "\n".join(texts)
    if block.is_error is True:
        text = f"Error: {text}" if text else "Error"
    return text, images


def _assistant(content: str | list[m.ContentBlock], where: str) -> c.ChatMessage:
    message = c.ChatMessage(role="assistant")
    if isinstance(content, str):
        message.content = content
        return message
    texts: list[str] = []
    calls: list[c.ToolCall] = []
    thinking: list[str] = []
    details: list[c.ReasoningDetail] = []
    for j, block in enumerate(content):
        if isinstance(block, m.TextBlock):
            texts.append(block.text)
        elif isinstance(block, m.ToolUseBlock):
            arguments = _encoder.encode(block.input).decode()
            calls.append(c.ToolCall(id=block.id, function=c.FunctionCall(name=block.name, arguments=arguments)))
        elif isinstance(block, m.ThinkingBlock):
            thinking.append(block.thinking)
            detail = c.ReasoningDetail(type="reasoning.text", text=block.thinking, index=len(details))
            if block.signature:
                detail.signature = block.signature
            details.append(detail)
        elif isinstance(block, m.RedactedThinkingBlock):
            details.append(c.ReasoningDetail(type="reasoning.encrypted", data=block.data, index=len(details)))
        else:
            at = f"{where}.content[{j}].type"
            raise InvalidRequest(f"a {_kind(block)} block belongs in a user message", param=at)
    message.content = "".join(texts) if texts or not calls else None
    if calls:
        message.tool_calls = calls
    if thinking:
        message.reasoning_content = "".join(thinking)
    if details:
        message.reasoning_details = details
    return message


# ---------------------------------------------------------------- answer


class _StopScanner:
    """Finds the first stop sequence in streamed text; holds back a tail that may start one."""

    __slots__ = ("held", "hold", "stops")

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.held = ""

    def feed(self, text: str) -> tuple[str, str | None]:
        """Text safe to send now, and the stop sequence that matched (then nothing more is sent)."""
        if not self.stops:
            return text, None
        buffer = self.held + text
        best: tuple[int, str] | None = None
        for stop in self.stops:
            at = buffer.find(stop)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, stop)
        if best is not None:
            self.held = ""
            return buffer[: best[0]], best[1]
        cut = max(len(buffer) - self.hold, 0)
        self.held = buffer[cut:]
        return buffer[:cut], None

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


class _Block:
    __slots__ = ("arguments", "data", "id", "kind", "name", "signature", "text")

    def __init__(self, kind: str, *, id: str = "", name: str = "", data: str = "") -> None:
        self.kind = kind
        self.text = ""
        self.signature = ""
        self.arguments = ""
        self.id = id
        self.name = name
        self.data = data


class MessageStream:
    """Chat chunks in, Messages events out (the order in the module docstring).

    :meth:`start` gives ``message_start`` and ``ping``; :meth:`feed` the events for one chunk;
    :meth:`finish` closes the open block and gives ``message_delta`` and ``message_stop``;
    :attr:`stopped` turns true when a stop sequence matched (the caller closes the upstream and calls
    :meth:`finish`); :meth:`message` is the whole answer for a non-streamed call.
    """

    def __init__(self, req: m.MessagesRequest, *, prompt_tokens: int, message_id: str | None = None) -> None:
        self.id = message_id or f"msg_{uuid.uuid4().hex[:24]}"
        self.model = req.model
        self.blocks: list[_Block] = []
        self.stopped = False
        self._open = False
        self._scanner = _StopScanner(req.stop_sequences if isinstance(req.stop_sequences, list) else [])
        self._tools: dict[int, int] = {}
        self._finish: str | None = None
        self._stop_sequence: str | None = None
        self._usage: c.Usage | None = None
        self._prompt_estimate = prompt_tokens
        self.pieces = 0
        """Content deltas seen: the output count when the upstream reports no usage."""

    # ------------------------------------------------------------ events

    def start(self) -> list[m.StreamEvent]:
        usage = m.MessageUsage(input_tokens=self._prompt_estimate, output_tokens=1)
        head = m.Message(
            id=self.id,
            type="message",
            role="assistant",
            model=self.model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=usage,
        )
        return [m.MessageStart(message=head), m.Ping()]

    def feed(self, chunk: c.ChatCompletionChunk) -> list[m.StreamEvent]:
        if chunk.usage:
            self._usage = chunk.usage
        events: list[m.StreamEvent] = []
        if self.stopped:
            return events
        for choice in chunk.choices[:1]:
            delta = choice.delta
            if isinstance(delta.reasoning_content, str) and delta.reasoning_content:
                self.pieces += 1
                events += self._into("thinking")
                self.blocks[-1].text += delta.reasoning_content
                events.append(self._delta(m.ThinkingDelta(thinking=delta.reasoning_content)))
            if isinstance(delta.reasoning_details, list):
                events += self._details(delta.reasoning_details)
            if isinstance(delta.content, str) and delta.content:
                self.pieces += 1
                events += self._text(delta.content)
                if self.stopped:
                    return events
            if isinstance(delta.tool_calls, list):
                for call in delta.tool_calls:
                    events += self._tool(call)
            if choice.finish_reason:
                self._finish = choice.finish_reason
        return events

    def finish(self) -> list[m.StreamEvent]:
        events: list[m.StreamEvent] = []
        held = self._scanner.flush()
        if held and not self.stopped:
            events += self._into("text")
            self.blocks[-1].text += held
            events.append(self._delta(m.TextDelta(text=held)))
        events += self._close()
        usage = self.usage()
        body = m.MessageDeltaBody(stop_reason=self.stop_reason(), stop_sequence=self._stop_sequence)
        delta_usage = m.DeltaUsage(
            output_tokens=usage.output_tokens,
            input_tokens=usage.input_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
        )
        events += [m.MessageDelta(delta=body, usage=delta_usage), m.MessageStop()]
        return events

    # ------------------------------------------------------------ results

    def stop_reason(self) -> str:
        if self._stop_sequence is not None:
            return "stop_sequence"
        if self._finish == _FINISH_REFUSAL:
            return "refusal"
        if self._finish == "length":
            return "max_tokens"
        if any(b.kind == "tool_use" for b in self.blocks):
            return "tool_use"
        return _FINISH.get(self._finish or "stop", "end_turn")

    def usage(self) -> m.MessageUsage:
        """The upstream's figures when it sent them, else hexgate's count."""
        usage = self._usage
        if usage is None:
            return m.MessageUsage(input_tokens=self._prompt_estimate, output_tokens=self.pieces)
        cached = 0
        details = usage.prompt_tokens_details
        if isinstance(details, c.PromptTokensDetails) and isinstance(details.cached_tokens, int):
            cached = details.cached_tokens
        return m.MessageUsage(
            input_tokens=max(usage.prompt_tokens - cached, 0),
            output_tokens=usage.completion_tokens,
            cache_read_input_tokens=cached if cached else None,
        )

    def message(self) -> m.Message:
        """The whole answer; raises :class:`UpstreamError` for tool arguments that are not a JSON object."""
        content: list[m.TextBlock | m.ToolUseBlock | m.ThinkingBlock | m.RedactedThinkingBlock] = []
        for block in self.blocks:
            if block.kind == "text":
                content.append(m.TextBlock(text=block.text))
            elif block.kind == "thinking":
                content.append(m.ThinkingBlock(thinking=block.text, signature=block.signature))
            elif block.kind == "redacted_thinking":
                content.append(m.RedactedThinkingBlock(data=block.data))
            else:
                content.append(m.ToolUseBlock(id=block.id, name=block.name, input=_arguments(block)))
        return m.Message(
            id=self.id,
            type="message",
            role="assistant",
            model=self.model,
            content=content,
            stop_reason=self.stop_reason(),
            stop_sequence=self._stop_sequence,
            usage=self.usage(),
        )

    # ------------------------------------------------------------ internals

    def _delta(self, delta: m.TextDelta | m.InputJSONDelta | m.ThinkingDelta | m.SignatureDelta) -> m.StreamEvent:
        return m.ContentBlockDelta(index=len(self.blocks) - 1, delta=delta)

    def _close(self) -> list[m.StreamEvent]:
        if not self._open:
            return []
        self._open = False
        return [m.ContentBlockStop(index=len(self.blocks) - 1)]

    def _into(self, kind: str) -> list[m.StreamEvent]:
        """Make the open block one of ``kind`` (text or thinking), opening a new one if needed."""
        if self._open and self.blocks[-1].kind == kind:
            return []
        events = self._close()
        self.blocks.append(_Block(kind))
        self._open = True
        start: m.TextBlock | m.ThinkingBlock = (
            m.TextBlock(text="") if kind == "text" else m.ThinkingBlock(thinking="", signature="")
        )
        events.append(m.ContentBlockStart(index=len(self.blocks) - 1, content_block=start))
        return events

    def _text(self, text: str) -> list[m.StreamEvent]:
        safe, stop = self._scanner.feed(text)
        events: list[m.StreamEvent] = []
        if safe:
            events += self._into("text")
            self.blocks[-1].text += safe
            events.append(self._delta(m.TextDelta(text=safe)))
        if stop is not None:
            self._stop_sequence = stop
            self.stopped = True
        return events

    def _details(self, details: list[c.ReasoningDetail]) -> list[m.StreamEvent]:
        events: list[m.StreamEvent] = []
        for detail in details:
            if detail.type == "reasoning.encrypted" and isinstance(detail.data, str):
                events += self._close()
                self.blocks.append(_Block("redacted_thinking", data=detail.data))
                index = len(self.blocks) - 1
                events += [
                    m.ContentBlockStart(index=index, content_block=m.RedactedThinkingBlock(data=detail.data)),
                    m.ContentBlockStop(index=index),
                ]
            elif isinstance(detail.signature, str) and detail.signature:
                if not (self._open and self.blocks[-1].kind == "thinking") and isinstance(detail.text, str):
                    events += self._into("thinking")
                    if detail.text:
                        self.blocks[-1].text += detail.text
                        events.append(self._delta(m.ThinkingDelta(thinking=detail.text)))
                events += self._into("thinking")
                self.blocks[-1].signature += detail.signature
                events.append(self._delta(m.SignatureDelta(signature=detail.signature)))
        return events

    def _tool(self, call: c.ToolCallDelta) -> list[m.StreamEvent]:
        events: list[m.StreamEvent] = []
        function = call.function if isinstance(call.function, c.FunctionCallDelta) else None
        position = self._tools.get(call.index)
        if position is None:
            events += self._close()
            name = function.name if function is not None and isinstance(function.name, str) else ""
            tool_id = call.id if isinstance(call.id, str) and call.id else f"toolu_{uuid.uuid4().hex[:24]}"
            self.blocks.append(_Block("tool_use", id=tool_id, name=name))
            self._open = True
            position = self._tools[call.index] = len(self.blocks) - 1
            start = m.ToolUseBlock(id=tool_id, name=name, input={})
            events.append(m.ContentBlockStart(index=position, content_block=start))
        arguments = function.arguments if function is not None and isinstance(function.arguments, str) else ""
        if arguments:
            self.pieces += 1
            block = self.blocks[position]
            block.arguments += arguments
            events.append(m.ContentBlockDelta(index=position, delta=m.InputJSONDelta(partial_json=arguments)))
        return events


def _arguments(block: _Block) -> dict[str, object]:
    if not block.arguments.strip():
        return {}
    try:
        value = _object.decode(block.arguments)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise UpstreamError(
            f"the upstream called tool {block.name!r} with arguments that are not a JSON object: "
            f"{block.arguments[:200]}"
        ) from None
    return value


def iter_events(stream: MessageStream, chunks: list[c.ChatCompletionChunk]) -> Iterator[m.StreamEvent]:
    """Every event for a finished list of chunks (tests and non-streamed calls)."""
    yield from stream.start()
    for chunk in chunks:
        yield from stream.feed(chunk)
        if stream.stopped:
            break
    yield from stream.finish()
