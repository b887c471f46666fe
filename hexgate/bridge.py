"""Responses ⇄ Chat Completions, for providers without a native ``respond``: pure functions, no I/O.

Requests (upstreams.md §8, the pattern LiteLLM's ``litellm_completion_transformation`` follows):
``instructions`` → a leading system message; a string ``input`` → a user message; items → chat
messages (``function_call`` → the assistant's ``tool_calls``, ``function_call_output`` → a ``tool``
message, ``reasoning`` → the next assistant message's ``reasoning_content`` and, for state hexgate
made itself, its ``reasoning_details``); flat function tools → nested chat tools; ``tool_choice``,
``text.format`` → ``response_format``, ``reasoning.effort`` → ``reasoning_effort``,
``max_output_tokens`` → ``max_completion_tokens``; a stream always asks for usage.

Answers: :class:`EventBuilder` turns chat chunks into Responses stream events in OpenAI's order
(captures ``openai--responses--*``)::

    response.created → response.in_progress
    [reasoning]  output_item.added → reasoning_summary_part.added → reasoning_summary_text.delta*
                 → reasoning_summary_text.done → reasoning_summary_part.done → output_item.done
    [message]    output_item.added → content_part.added → output_text.delta* → output_text.done
                 → content_part.done → output_item.done
    [call]       output_item.added → function_call_arguments.delta* → function_call_arguments.done
                 → output_item.done
    response.completed | response.incomplete (finish "length" / "content_filter")
    | error → response.failed (an error after the first event)

Each kind of item opens when its first delta arrives; opening a reasoning or message item closes
whatever is open. A non-streamed completion goes through the same builder as one chunk.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import TypeVar

import msgspec
from msgspec import UNSET

from hexgate.errors import HexgateError, InvalidRequest, UpstreamRateLimited
from hexgate.schemas import chat as c
from hexgate.schemas import responses as r

__all__ = [
    "EventBuilder",
    "decode_reasoning_state",
    "encode_reasoning_state",
    "is_own_reasoning",
    "new_id",
    "response_template",
    "to_chat_request",
]

_STATE_PREFIX = "hexgate.v1."
"""Marks ``encrypted_content`` that hexgate made from a chat upstream's ``reasoning_details``."""
_details_decoder = msgspec.json.Decoder(list[c.ReasoningDetail])


def new_id(prefix: str) -> str:
    """``resp_…``, ``msg_…``, ``rs_…``, ``fc_…`` ids in OpenAI's style (prefix + 48 hex digits)."""
    return f"{prefix}_{uuid.uuid4().hex}{uuid.uuid4().hex[:16]}"


def encode_reasoning_state(details: Sequence[c.ReasoningDetail]) -> str:
    """Opaque reasoning state (thinking signatures …) as a reasoning item's ``encrypted_content``."""
    return _STATE_PREFIX + base64.urlsafe_b64encode(msgspec.json.encode(list(details))).decode("ascii")


def decode_reasoning_state(text: str | None) -> list[c.ReasoningDetail]:
    """The inverse of :func:`encode_reasoning_state`; another producer's blob (or none) gives ``[]``."""
    if not text or not text.startswith(_STATE_PREFIX):
        return []
    try:
        return _details_decoder.decode(base64.urlsafe_b64decode(text[len(_STATE_PREFIX) :]))
    except (ValueError, msgspec.DecodeError):
        return []


def is_own_reasoning(item: r.InputItem) -> bool:
    """A reasoning item hexgate's bridge produced (its ``encrypted_content`` is hexgate's, or none)."""
    return isinstance(item, r.ReasoningItem) and (
        not isinstance(item.encrypted_content, str) or item.encrypted_content.startswith(_STATE_PREFIX)
    )


# ---------------------------------------------------------------- request


def _unset(value: object) -> bool:
    return value is UNSET or value is None


def _chat_parts(parts: list[r.ContentPart], where: str) -> list[c.ContentPart]:
    out: list[c.ContentPart] = []
    for j, part in enumerate(parts):
        if isinstance(part, r.InputText | r.OutputText):
            out.append(c.TextPart(text=part.text))
        elif isinstance(part, r.InputImage):
            if not isinstance(part.image_url, str):
                raise InvalidRequest(
                    "an input_image needs 'image_url' here: file ids need a provider with a native Responses API",
                    param=f"{where}.content[{j}]",
                )
            detail = part.detail if part.detail in ("auto", "low", "high") else UNSET
            out.append(c.ImagePart(image_url=c.ImageURL(url=part.image_url, detail=detail)))
        elif isinstance(part, r.InputFile):
            if isinstance(part.file_url, str):
                raise InvalidRequest(
                    "an input_file by 'file_url' needs a provider with a native Responses API; send 'file_data'",
                    param=f"{where}.content[{j}]",
                )
            out.append(
                c.FilePart(
                    file=c.FileData(
                        file_data=part.file_data if isinstance(part.file_data, str) else UNSET,
                        file_id=part.file_id if isinstance(part.file_id, str) else UNSET,
                        filename=part.filename if isinstance(part.filename, str) else UNSET,
                    )
                )
            )
        elif isinstance(part, r.InputAudioPart):
            out.append(
                c.InputAudioPart(input_audio=c.InputAudio(data=part.input_audio.data, format=part.input_audio.format))
            )
        else:
            out.append(c.TextPart(text=part.refusal))
    return out


def _attach_reasoning(message: c.ChatMessage, pending: list[r.ReasoningItem]) -> None:
    if not pending:
        return
    texts = [s.text for item in pending for s in item.summary]
    texts += [t.text for item in pending if isinstance(item.content, list) for t in item.content]
    details = [d for item in pending for d in decode_reasoning_state(_str(item.encrypted_content))]
    if texts:
        message.reasoning_content = "\n\n".join(texts)
    if details:
        message.reasoning_details = details
    pending.clear()


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _messages(items: Iterable[tuple[str, r.InputItem]], *, strict: set[str]) -> list[c.ChatMessage]:
    """Chat messages from ``(path, item)`` pairs; items whose path is in ``strict`` must be expressible."""
    messages: list[c.ChatMessage] = []
    pending: list[r.ReasoningItem] = []
    for where, item in items:
        if isinstance(item, r.ReasoningItem):
            pending.append(item)
        elif isinstance(item, r.Message):
            if item.role == "assistant":
                refusal = (
                    "".join(p.refusal for p in item.content if isinstance(p, r.Refusal))
                    if isinstance(item.content, list)
                    else ""
                )
                message = c.ChatMessage(role="assistant", content=item.text() or None)
                if refusal:
                    message.refusal = refusal
                _attach_reasoning(message, pending)
                messages.append(message)
            else:
                role = "system" if item.role == "developer" else item.role
                content: str | list[c.ContentPart]
                if isinstance(item.content, str):
                    content = item.content
                else:
                    content = _chat_parts(item.content, where)
                    if role == "system" and all(isinstance(p, c.TextPart) for p in content):
                        content = "".join(p.text for p in content if isinstance(p, c.TextPart))
                messages.append(c.ChatMessage(role=role, content=content))
        elif isinstance(item, r.FunctionCallItem):
            call = c.ToolCall(id=item.call_id, function=c.FunctionCall(name=item.name, arguments=item.arguments))
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and not pending:
                last.tool_calls = [*(last.tool_calls or []), call]
            else:
                message = c.ChatMessage(role="assistant", content=None, tool_calls=[call])
                _attach_reasoning(message, pending)
                messages.append(message)
        elif isinstance(item, r.FunctionCallOutputItem):
            messages.append(c.ChatMessage(role="tool", tool_call_id=item.call_id, content=item.text()))
        elif where in strict:
            kind = r.item_type(item)
            raise InvalidRequest(
                f"input item type {kind!r} needs a provider with a native Responses API; this model is served "
                "through Chat Completions (messages, function_call, function_call_output and reasoning items work)",
                param=where,
            )
    return messages


def _tools(request: r.ResponseRequest) -> list[c.Tool] | None:
    if not isinstance(request.tools, list) or not request.tools:
        return None
    tools = []
    for i, tool in enumerate(request.tools):
        if not isinstance(tool, r.FunctionTool):
            raise InvalidRequest(
                f"tool type {tool.kind!r} needs a provider with a native Responses API; this model is served "
                "through Chat Completions, where only function tools work",
                param=f"tools[{i}]",
            )
        tools.append(
            c.Tool(
                function=c.FunctionDefinition(
                    name=tool.name,
                    description=tool.description if isinstance(tool.description, str) else UNSET,
                    parameters=tool.parameters if isinstance(tool.parameters, dict) else UNSET,
                    strict=tool.strict if isinstance(tool.strict, bool) else UNSET,
                )
            )
        )
    return tools


def _tool_choice(choice: object) -> c.ToolChoiceObject | str | None:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, r.ToolChoiceSpec):
        if choice.type == "function" and isinstance(choice.name, str):
            return c.ToolChoiceObject(function=c.FunctionName(name=choice.name))
        if choice.type == "allowed_tools" and isinstance(choice.mode, str):
            return choice.mode
        raise InvalidRequest(
            f"tool_choice of type {choice.type!r} needs a provider with a native Responses API", param="tool_choice"
        )
    return None


def _response_format(text: object) -> c.ResponseFormat | None:
    if not isinstance(text, r.TextConfig):
        return None
    fmt = text.format
    if fmt.type == "json_object":
        return c.ResponseFormat(type="json_object")
    if fmt.type == "json_schema":
        if not isinstance(fmt.name, str):
            raise InvalidRequest("text.format of type 'json_schema' needs a 'name'", param="text.format.name")
        return c.ResponseFormat(
            type="json_schema",
            json_schema=c.JSONSchemaFormat(
                name=fmt.name,
                schema=fmt.schema,
                description=fmt.description if isinstance(fmt.description, str) else UNSET,
                strict=fmt.strict,
            ),
        )
    return None


def to_chat_request(
    request: r.ResponseRequest, *, history: Sequence[r.InputItem] = (), stream: bool
) -> c.ChatCompletionRequest:
    """The chat request that answers ``request`` after ``history`` (items of earlier turns, from the store).

    Raises :class:`InvalidRequest` (400, ``param`` naming the item or tool) for what Chat Completions
    cannot express: built-in tools, item kinds other than messages, function calls and their outputs
    and reasoning, file ids. Items of that kind in ``history`` (a native turn's web searches …) are left out.
    """
    messages: list[c.ChatMessage] = []
    if isinstance(request.instructions, str) and request.instructions:
        messages.append(c.ChatMessage(role="system", content=request.instructions))
    current = [(f"input[{i}]", item) for i, item in enumerate(request.items())]
    pairs = [(f"history[{i}]", item) for i, item in enumerate(history)] + current
    messages += _messages(pairs, strict={where for where, _ in current})
    if not any(m.role != "system" for m in messages):
        raise InvalidRequest("'input' must hold at least one message or item", param="input")
    chat = c.ChatCompletionRequest(model=request.model, messages=messages, stream=stream)
    if stream:
        chat.stream_options = c.StreamOptions(include_usage=True)
    tools = _tools(request)
    if tools:
        chat.tools = tools
        choice = _tool_choice(request.tool_choice)
        if choice is not None:
            chat.tool_choice = choice  # type: ignore[assignment]
        if isinstance(request.parallel_tool_calls, bool):
            chat.parallel_tool_calls = request.parallel_tool_calls
    fmt = _response_format(request.text)
    if fmt is not None:
        chat.response_format = fmt
    if isinstance(request.reasoning, r.ReasoningConfig) and request.reasoning.effort:
        chat.reasoning_effort = request.reasoning.effort
    if isinstance(request.max_output_tokens, int):
        chat.max_completion_tokens = request.max_output_tokens
    if not _unset(request.temperature):
        chat.temperature = request.temperature
    if not _unset(request.top_p):
        chat.top_p = request.top_p
    user = _str(request.user) or _str(request.safety_identifier)
    if user:
        chat.user = user
    return chat


# ---------------------------------------------------------------- answer


def response_template(
    request: r.ResponseRequest, *, response_id: str, model: str, created_at: int | None = None
) -> r.Response:
    """An ``in_progress`` response object echoing the request's settings, as OpenAI's carries them."""
    reasoning = request.reasoning if isinstance(request.reasoning, r.ReasoningConfig) else r.ReasoningConfig()
    return r.Response(
        id=response_id,
        created_at=int(time.time()) if created_at is None else created_at,
        model=model,
        status="in_progress",
        instructions=_str(request.instructions),
        max_output_tokens=request.max_output_tokens if isinstance(request.max_output_tokens, int) else None,
        max_tool_calls=request.max_tool_calls if isinstance(request.max_tool_calls, int) else None,
        parallel_tool_calls=request.parallel_tool_calls is not False,
        previous_response_id=_str(request.previous_response_id),
        reasoning=msgspec.structs.replace(reasoning, generate_summary=UNSET),
        store=request.stores(),
        temperature=request.temperature if isinstance(request.temperature, float | int) else 1.0,
        text=request.text if isinstance(request.text, r.TextConfig) else r.TextConfig(),
        tool_choice=request.tool_choice if isinstance(request.tool_choice, str | r.ToolChoiceSpec) else "auto",
        tools=list(request.tools) if isinstance(request.tools, list) else [],
        top_logprobs=request.top_logprobs if isinstance(request.top_logprobs, int) else 0,
        top_p=request.top_p if isinstance(request.top_p, float | int) else 1.0,
        truncation=request.truncation if isinstance(request.truncation, str) else "disabled",
        user=_str(request.user),
        metadata=dict(request.metadata) if isinstance(request.metadata, dict) else {},
    )


class _Reasoning:
    kind = "reasoning"

    def __init__(self, index: int) -> None:
        self.index = index
        self.id = new_id("rs")
        self.text = ""
        self.details: list[c.ReasoningDetail] = []
        self.part_open = False

    def item(self, *, done: bool) -> r.ReasoningItem:
        summary = [r.SummaryText(text=self.text)] if done and self.text else []
        state = encode_reasoning_state(self.details) if self.details else None
        return r.ReasoningItem(id=self.id, summary=summary, encrypted_content=state)


class _Message:
    kind = "message"

    def __init__(self, index: int) -> None:
        self.index = index
        self.id = new_id("msg")
        self.parts: list[list[str]] = []
        self.kinds: list[str] = []

    def part(self, kind: str) -> int:
        """The content index of the open part of ``kind``, or -1."""
        return len(self.kinds) - 1 if self.kinds and self.kinds[-1] == kind else -1

    def content(self) -> list[r.ContentPart]:
        return [
            r.OutputText(text="".join(t), logprobs=[]) if k == "output_text" else r.Refusal(refusal="".join(t))
            for k, t in zip(self.kinds, self.parts, strict=True)
        ]

    def item(self, *, status: str) -> r.Message:
        content = self.content() if status != "in_progress" else []
        return r.Message(id=self.id, role="assistant", status=status, content=content)  # type: ignore[arg-type]


class _Call:
    kind = "function_call"

    def __init__(self, index: int, call_id: str, name: str) -> None:
        self.index = index
        self.id = new_id("fc")
        self.call_id = call_id
        self.name = name
        self.arguments: list[str] = []

    def item(self, *, status: str) -> r.FunctionCallItem:
        arguments = "".join(self.arguments) if status != "in_progress" else ""
        return r.FunctionCallItem(
            id=self.id,
            call_id=self.call_id,
            name=self.name,
            arguments=arguments,
            status=status,  # type: ignore[arg-type]
        )


_Open = _Reasoning | _Message | _Call
_T = TypeVar("_T", _Reasoning, _Message)


class EventBuilder:
    """Chat chunks in, Responses stream events out, with increasing ``sequence_number``s.

    Call :meth:`start` once, :meth:`feed` per chunk, then :meth:`finish` (or :meth:`fail` on an error
    after the start); :attr:`response` is the response object so far (final after either).
    ``prompt_tokens`` is the local estimate used when the chat stream reports no usage.
    """

    def __init__(self, response: r.Response, *, prompt_tokens: int = 0) -> None:
        self.response = response
        self.sequence = 0
        self._prompt_tokens = prompt_tokens
        self._open: list[_Open] = []
        self._done: dict[int, r.OutputItem] = {}
        self._calls: dict[int, _Call] = {}
        self._next_index = 0
        self._finish: str | None = None
        self._usage: c.Usage | None = None
        self._chars = 0

    # -- events

    def _seq(self) -> int:
        self.sequence += 1
        return self.sequence - 1

    def _snapshot(self) -> r.Response:
        return msgspec.structs.replace(self.response, output=[self._done[i] for i in sorted(self._done)])

    def start(self) -> list[r.ResponseStreamEvent]:
        return [
            r.ResponseCreatedEvent(sequence_number=self._seq(), response=self._snapshot()),
            r.ResponseInProgressEvent(sequence_number=self._seq(), response=self._snapshot()),
        ]

    def feed(self, chunk: c.ChatCompletionChunk) -> list[r.ResponseStreamEvent]:
        """Events for one chat chunk (only choice 0 counts: the Responses API has no ``n``)."""
        out: list[r.ResponseStreamEvent] = []
        if chunk.usage:
            self._usage = chunk.usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            d = choice.delta
            if d.reasoning_content or d.reasoning_details:
                reasoning = self._ensure(_Reasoning, out)
                if d.reasoning_details:
                    reasoning.details.extend(d.reasoning_details)
                if d.reasoning_content:
                    self._reasoning_delta(reasoning, d.reasoning_content, out)
            if d.content:
                self._text_delta("output_text", d.content, out)
            if d.refusal:
                self._text_delta("refusal", d.refusal, out)
            for call in d.tool_calls or []:
                self._call_delta(call, out)
            if choice.finish_reason:
                self._finish = choice.finish_reason
        return out

    def _ensure(self, kind: type[_T], out: list[r.ResponseStreamEvent]) -> _T:
        for item in self._open:
            if isinstance(item, kind):
                return item
        self._close_all("completed", out)
        opened = kind(self._next_index)
        self._next_index += 1
        self._open.append(opened)
        added = opened.item(done=False) if isinstance(opened, _Reasoning) else opened.item(status="in_progress")
        out.append(r.OutputItemAddedEvent(sequence_number=self._seq(), output_index=opened.index, item=added))
        return opened

    def _reasoning_delta(self, item: _Reasoning, text: str, out: list[r.ResponseStreamEvent]) -> None:
        if not item.part_open:
            item.part_open = True
            out.append(
                r.ReasoningSummaryPartAddedEvent(
                    sequence_number=self._seq(),
                    item_id=item.id,
                    output_index=item.index,
                    summary_index=0,
                    part=r.SummaryText(text=""),
                )
            )
        item.text += text
        self._chars += len(text)
        out.append(
            r.ReasoningSummaryTextDeltaEvent(
                sequence_number=self._seq(), item_id=item.id, output_index=item.index, summary_index=0, delta=text
            )
        )

    def _text_delta(self, kind: str, text: str, out: list[r.ResponseStreamEvent]) -> None:
        message = self._ensure(_Message, out)
        index = message.part(kind)
        if index < 0:
            self._close_part(message, out)
            message.kinds.append(kind)
            message.parts.append([])
            index = len(message.kinds) - 1
            part: r.OutputText | r.Refusal = (
                r.OutputText(text="", logprobs=[]) if kind == "output_text" else r.Refusal(refusal="")
            )
            out.append(
                r.ContentPartAddedEvent(
                    sequence_number=self._seq(),
                    item_id=message.id,
                    output_index=message.index,
                    content_index=index,
                    part=part,
                )
            )
        message.parts[index].append(text)
        self._chars += len(text)
        seq = self._seq()
        if kind == "output_text":
            out.append(
                r.OutputTextDeltaEvent(
                    sequence_number=seq, item_id=message.id, output_index=message.index, content_index=index, delta=text
                )
            )
        else:
            out.append(
                r.RefusalDeltaEvent(
                    sequence_number=seq, item_id=message.id, output_index=message.index, content_index=index, delta=text
                )
            )

    def _call_delta(self, delta: c.ToolCallDelta, out: list[r.ResponseStreamEvent]) -> None:
        call = self._calls.get(delta.index)
        fn = delta.function if isinstance(delta.function, c.FunctionCallDelta) else c.FunctionCallDelta()
        if call is not None and call not in self._open:
            # Arguments for a call closed because other output came between: no event can carry
            # them any more, but the final response object does (see finish()).
            if isinstance(fn.arguments, str):
                call.arguments.append(fn.arguments)
            return
        if call is None:
            self._close_all("completed", out, keep_calls=True)
            call = _Call(
                self._next_index,
                delta.id if isinstance(delta.id, str) and delta.id else new_id("call"),
                fn.name if isinstance(fn.name, str) else "",
            )
            self._next_index += 1
            self._calls[delta.index] = call
            self._open.append(call)
            out.append(
                r.OutputItemAddedEvent(
                    sequence_number=self._seq(), output_index=call.index, item=call.item(status="in_progress")
                )
            )
        if isinstance(fn.arguments, str) and fn.arguments:
            call.arguments.append(fn.arguments)
            self._chars += len(fn.arguments)
            out.append(
                r.FunctionCallArgumentsDeltaEvent(
                    sequence_number=self._seq(), item_id=call.id, output_index=call.index, delta=fn.arguments
                )
            )

    def _close_part(self, message: _Message, out: list[r.ResponseStreamEvent]) -> None:
        if not message.kinds:
            return
        index = len(message.kinds) - 1
        text = "".join(message.parts[index])
        part: r.OutputText | r.Refusal
        if message.kinds[index] == "output_text":
            part = r.OutputText(text=text, logprobs=[])
            out.append(
                r.OutputTextDoneEvent(
                    sequence_number=self._seq(),
                    item_id=message.id,
                    output_index=message.index,
                    content_index=index,
                    text=text,
                )
            )
        else:
            part = r.Refusal(refusal=text)
            out.append(
                r.RefusalDoneEvent(
                    sequence_number=self._seq(),
                    item_id=message.id,
                    output_index=message.index,
                    content_index=index,
                    refusal=text,
                )
            )
        out.append(
            r.ContentPartDoneEvent(
                sequence_number=self._seq(),
                item_id=message.id,
                output_index=message.index,
                content_index=index,
                part=part,
            )
        )

    def _close(self, item: _Open, status: str, out: list[r.ResponseStreamEvent]) -> None:
        done: r.OutputItem
        if isinstance(item, _Reasoning):
            if item.part_open:
                out.append(
                    r.ReasoningSummaryTextDoneEvent(
                        sequence_number=self._seq(),
                        item_id=item.id,
                        output_index=item.index,
                        summary_index=0,
                        text=item.text,
                    )
                )
                out.append(
                    r.ReasoningSummaryPartDoneEvent(
                        sequence_number=self._seq(),
                        item_id=item.id,
                        output_index=item.index,
                        summary_index=0,
                        part=r.SummaryText(text=item.text),
                    )
                )
            done = item.item(done=True)
        elif isinstance(item, _Message):
            self._close_part(item, out)
            done = item.item(status=status)
        else:
            arguments = "".join(item.arguments)
            out.append(
                r.FunctionCallArgumentsDoneEvent(
                    sequence_number=self._seq(),
                    item_id=item.id,
                    output_index=item.index,
                    arguments=arguments,
                    name=item.name,
                )
            )
            done = item.item(status=status)
        self._done[item.index] = done
        out.append(r.OutputItemDoneEvent(sequence_number=self._seq(), output_index=item.index, item=done))

    def _close_all(self, status: str, out: list[r.ResponseStreamEvent], *, keep_calls: bool = False) -> None:
        keep: list[_Open] = []
        for item in sorted(self._open, key=lambda i: i.index):
            if keep_calls and isinstance(item, _Call):
                keep.append(item)
            else:
                self._close(item, status, out)
        self._open = keep

    def usage(self) -> r.ResponseUsage:
        """Usage so far: the chat stream's when it reported one, else a local estimate."""
        u = self._usage
        if u is None:
            output = (self._chars + 3) // 4
            return r.ResponseUsage(
                input_tokens=self._prompt_tokens,
                output_tokens=output,
                total_tokens=self._prompt_tokens + output,
            )
        cached = (
            u.prompt_tokens_details.cached_tokens if isinstance(u.prompt_tokens_details, c.PromptTokensDetails) else 0
        )
        reasoning = (
            u.completion_tokens_details.reasoning_tokens
            if isinstance(u.completion_tokens_details, c.CompletionTokensDetails)
            else 0
        )
        return r.ResponseUsage(
            input_tokens=u.prompt_tokens,
            output_tokens=u.completion_tokens,
            total_tokens=u.total_tokens,
            input_tokens_details=r.InputTokensDetails(cached_tokens=cached if isinstance(cached, int) else 0),
            output_tokens_details=r.OutputTokensDetails(
                reasoning_tokens=reasoning if isinstance(reasoning, int) else 0
            ),
        )

    def finish(self) -> list[r.ResponseStreamEvent]:
        """Close what is open and end with ``response.completed``, or ``response.incomplete`` when the
        chat finish reason was ``length`` (reason ``max_output_tokens``) or ``content_filter``."""
        out: list[r.ResponseStreamEvent] = []
        if self._next_index == 0:  # an empty answer is still one (empty) message
            self._ensure(_Message, out)
        incomplete = self._finish in ("length", "content_filter")
        self._close_all("incomplete" if incomplete else "completed", out)
        for call in self._calls.values():
            done = self._done.get(call.index)
            if isinstance(done, r.FunctionCallItem):
                self._done[call.index] = call.item(status=done.status if isinstance(done.status, str) else "completed")
        self.response = msgspec.structs.replace(
            self._snapshot(), status="incomplete" if incomplete else "completed", usage=self.usage()
        )
        if incomplete:
            reason = "max_output_tokens" if self._finish == "length" else "content_filter"
            self.response.incomplete_details = r.IncompleteDetails(reason=reason)
            out.append(r.ResponseIncompleteEvent(sequence_number=self._seq(), response=self.response))
        else:
            out.append(r.ResponseCompletedEvent(sequence_number=self._seq(), response=self.response))
        return out

    def fail(self, error: HexgateError) -> list[r.ResponseStreamEvent]:
        """``error`` then ``response.failed`` (with ``response.error``), as OpenAI ends a failed stream."""
        code = error.code or ("rate_limit_exceeded" if isinstance(error, UpstreamRateLimited) else "server_error")
        self.response = msgspec.structs.replace(
            self._snapshot(),
            status="failed",
            error=r.ResponseError(code=code, message=error.message),
            usage=None,
        )
        return [
            r.ErrorEvent(
                sequence_number=self._seq(),
                message=error.message,
                code=code,
                param=error.param,
                error=r.ErrorDetail(type=error.type, code=code, message=error.message, param=error.param),
            ),
            r.ResponseFailedEvent(sequence_number=self._seq(), response=self.response),
        ]
