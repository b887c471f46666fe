"""Anthropic stream events → OpenAI ``chat.completion.chunk``s: a pure state machine (no I/O).

Event flow (docs.anthropic.com/en/api/messages-streaming; captures in ``tests/fixtures/``):
``message_start`` → per block ``content_block_start`` / ``content_block_delta``* /
``content_block_stop`` → ``message_delta`` (stop reason, cumulative usage) → ``message_stop``;
``ping`` anywhere; ``error`` after the 200. What :class:`StreamTranslator` emits:

- ``message_start`` → ``delta: {role: assistant, content: ""}``; id, model, input usage kept.
- ``text_delta`` → ``delta.content``; ``thinking_delta`` → ``delta.reasoning_content``.
- a thinking block's stop (after its ``signature_delta``) → ``delta.reasoning_details:
  [{type: reasoning.text, text, signature, format, index}]`` holding the whole block, so a
  client that appends the items it receives holds what a non-streamed message carries.
- a ``redacted_thinking`` block's start → ``delta.reasoning_details: [{type:
  reasoning.encrypted, data, format, index}]``.
- a ``tool_use`` block's start → ``tool_calls: [{index: k, id, type: function, function:
  {name, arguments: ""}}]``, ``k`` counting tool calls, not content blocks.
- ``input_json_delta`` (non-empty) → ``tool_calls: [{index: k, function: {arguments}}]`` only.
- a tool block's stop with no arguments sent → ``{index: k, function: {arguments: "{}"}}``.
- ``message_stop`` → ``delta: {}``, ``finish_reason`` (``tool_calls`` when calls were made)
  and ``usage`` (``message_delta`` counts are cumulative: the last one wins).
- ``error`` → raises the mapped :mod:`hexgate.errors` exception (the core sends an error frame).
- ``ping``, unknown events and unknown block kinds → nothing.

Empty ``input_json_delta`` fragments are dropped: OpenAI never sends an empty arguments delta
after a call's first one, and strict clients reject it (PEERS.md, bifrost#3443).
"""

from __future__ import annotations

import msgspec

from hexgate.errors import UpstreamError
from hexgate.schemas.chat import ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta
from hexgate_anthropic import wire
from hexgate_anthropic.translate import error_from_type, finish_reason, reasoning_detail, to_usage

__all__ = ["StreamTranslator"]


class StreamTranslator:
    """Feed decoded events in order with :meth:`feed`; call :meth:`end` when the body ends.

    ``chunk_id`` fixes the chunk id (``n > 1`` fan-out shares one); otherwise it is
    ``chatcmpl-<message id>``. ``choice_index`` is the ``choices[].index`` of every chunk.
    """

    def __init__(self, *, model: str, created: int, chunk_id: str | None = None, choice_index: int = 0) -> None:
        self._model = model
        self._created = created
        self._id = chunk_id
        self._index = choice_index
        self._usage = wire.Usage()
        self._stop_reason: str | None = None
        self._stopped = False
        self._finished = False
        self._tools: dict[int, int] = {}
        """content block index → tool call index."""
        self._args_sent: set[int] = set()
        self._thinking: dict[int, list[str]] = {}
        self._signatures: dict[int, str] = {}
        self._details = 0

    @property
    def finished(self) -> bool:
        """True once the final chunk (``finish_reason`` + usage) has been emitted."""
        return self._finished

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self._id or "chatcmpl-anthropic",
            created=self._created,
            model=self._model,
            choices=[ChunkChoice(index=self._index, delta=delta, finish_reason=finish)],
        )

    def _merge_usage(self, usage: wire.Usage | None) -> None:
        if usage is None:
            return
        for name in wire.Usage.__struct_fields__:
            value = getattr(usage, name)
            if value is not None:
                setattr(self._usage, name, value)

    def feed(self, event: wire.StreamEvent) -> list[ChatCompletionChunk]:
        """The chunks ``event`` produces (often none). Raises a hexgate error for an ``error`` event."""
        kind = event.type
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "message_start" and event.message is not None:
            msg = event.message
            if self._id is None and msg.id:
                self._id = f"chatcmpl-{msg.id}"
            if msg.model:
                self._model = msg.model
            self._merge_usage(msg.usage)
            return [self._chunk(Delta(role="assistant", content=""))]
        if kind == "content_block_start" and event.content_block is not None and event.index is not None:
            return self._block_start(event.index, event.content_block)
        if kind == "content_block_stop" and event.index is not None:
            return self._block_stop(event.index)
        if kind == "message_delta":
            if event.delta is not None and event.delta.stop_reason is not None:
                self._stop_reason = event.delta.stop_reason
            self._merge_usage(event.usage)
            self._stopped = True
            return []
        if kind == "message_stop":
            return self._final()
        if kind == "error":
            err = event.error or wire.ErrorObject()
            raise error_from_type(err.type, err.message)
        return []

    def end(self) -> list[ChatCompletionChunk]:
        """The body ended: the final chunk if ``message_stop`` was missing but ``message_delta``
        came; raises :class:`UpstreamError` when the answer stopped before that (truncated)."""
        if self._finished:
            return []
        if self._stopped:
            return self._final()
        raise UpstreamError("Anthropic's stream ended before the message was complete; the answer is truncated")

    def _final(self) -> list[ChatCompletionChunk]:
        if self._finished:
            return []
        self._finished = True
        chunk = self._chunk(Delta(), finish_reason(self._stop_reason, tool_calls=bool(self._tools)))
        chunk.usage = to_usage(self._usage)
        return [chunk]

    def _block_start(self, index: int, block: wire.ContentBlock) -> list[ChatCompletionChunk]:
        if block.type == "text":
            return [self._chunk(Delta(content=block.text))] if block.text else []
        if block.type == "thinking":
            self._thinking[index] = [block.thinking] if block.thinking else []
            if block.signature:
                self._signatures[index] = block.signature
            return [self._chunk(Delta(reasoning_content=block.thinking))] if block.thinking else []
        if block.type == "redacted_thinking":
            detail = reasoning_detail(block, self._details)
            self._details += 1
            return [self._chunk(Delta(reasoning_details=[detail]))] if detail is not None else []
        if block.type == "tool_use":
            k = len(self._tools)
            self._tools[index] = k
            first = ToolCallDelta(
                index=k,
                id=block.id or "",
                type="function",
                function=FunctionCallDelta(name=block.name or "", arguments=""),
            )
            out = [self._chunk(Delta(tool_calls=[first]))]
            if isinstance(block.input, dict) and block.input:  # a whole input up front (no deltas follow)
                self._args_sent.add(index)
                args = msgspec.json.encode(block.input).decode()
                out.append(
                    self._chunk(Delta(tool_calls=[ToolCallDelta(index=k, function=FunctionCallDelta(arguments=args))]))
                )
            return out
        return []

    def _block_delta(self, event: wire.StreamEvent) -> list[ChatCompletionChunk]:
        delta, index = event.delta, event.index
        if delta is None or index is None:
            return []
        if delta.type == "text_delta":
            return [self._chunk(Delta(content=delta.text))] if delta.text else []
        if delta.type == "thinking_delta":
            if not delta.thinking:
                return []
            self._thinking.setdefault(index, []).append(delta.thinking)
            return [self._chunk(Delta(reasoning_content=delta.thinking))]
        if delta.type == "signature_delta":
            if delta.signature:
                self._signatures[index] = self._signatures.get(index, "") + delta.signature
            return []
        if delta.type == "input_json_delta":
            k = self._tools.get(index)
            if k is None or not delta.partial_json:
                return []
            self._args_sent.add(index)
            fragment = ToolCallDelta(index=k, function=FunctionCallDelta(arguments=delta.partial_json))
            return [self._chunk(Delta(tool_calls=[fragment]))]
        return []

    def _block_stop(self, index: int) -> list[ChatCompletionChunk]:
        k = self._tools.get(index)
        if k is not None:
            if index in self._args_sent:
                return []
            self._args_sent.add(index)
            empty = ToolCallDelta(index=k, function=FunctionCallDelta(arguments="{}"))
            return [self._chunk(Delta(tool_calls=[empty]))]
        if index in self._thinking:
            block = wire.ContentBlock(
                type="thinking",
                thinking="".join(self._thinking.pop(index)),
                signature=self._signatures.pop(index, None),
            )
            detail = reasoning_detail(block, self._details)
            self._details += 1
            if detail is not None:
                return [self._chunk(Delta(reasoning_details=[detail]))]
        return []
