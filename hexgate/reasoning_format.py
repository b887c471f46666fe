"""Reasoning in the client's dialect: where chat answers carry the model's reasoning text.

hexgate keeps one internal form (``reasoning_content`` beside ``content``, and
``reasoning_details`` for opaque state such as Anthropic thinking signatures) and renders it at
the edge, when the chat route writes an answer or a chunk:

``reasoning_content``  DeepSeek's field (LobeChat, most SDK wrappers); the default.
``reasoning``          OpenRouter's and new vLLM's field name.
``think_tags``         inline ``<think>…</think>`` at the start of ``content`` (Open WebUI's default
                       parser, UIs with no reasoning field). In a stream ``<think>`` opens the first
                       reasoning delta and ``</think>`` comes before the first content delta (or in
                       the delta that carries the choice's tool calls or ``finish_reason``).
``none``               no reasoning text.

``reasoning_details`` is left as it is in every format, so signatures keep round-tripping.
The format is chosen by, first to last: the request's ``x-hexgate-reasoning-format`` header, the
virtual key's ``reasoning_format``, the alias's, ``[server] reasoning_format``.
"""

from __future__ import annotations

from typing import cast

from msgspec import UNSET

from hexgate.errors import InvalidRequest
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta
from hexgate.settings import REASONING_FORMATS, ReasoningFormat

__all__ = ["CLOSE", "HEADER", "OPEN", "StreamRenderer", "choose", "render_completion"]

HEADER = "x-hexgate-reasoning-format"
OPEN = "<think>"
CLOSE = "</think>"


def choose(header: str | None, *, key: str | None, alias: str | None, server: ReasoningFormat) -> ReasoningFormat:
    """The format for one request (the most specific one given). Raises :class:`InvalidRequest`
    (400) for a header value outside ``reasoning_content | reasoning | think_tags | none``."""
    if header is not None:
        value = header.strip().lower()
        if value not in REASONING_FORMATS:
            raise InvalidRequest(
                f"header {HEADER}: {header[:40]!r} is not one of {', '.join(REASONING_FORMATS)}", param=HEADER
            )
        return cast(ReasoningFormat, value)
    for choice in (key, alias):
        if choice is not None:
            return cast(ReasoningFormat, choice)
    return server


def render_completion(completion: ChatCompletion, fmt: ReasoningFormat) -> None:
    """Move each choice's ``reasoning_content`` where ``fmt`` says, in place."""
    if fmt == "reasoning_content":
        return
    for choice in completion.choices:
        message = choice.message
        text = message.reasoning_content
        if not isinstance(text, str):
            continue
        message.reasoning_content = UNSET
        if fmt == "reasoning":
            message.reasoning = text
        elif fmt == "think_tags" and text:
            message.content = f"{OPEN}{text}{CLOSE}{message.content or ''}"


class StreamRenderer:
    """Renders one stream's deltas; keeps which choices have an open ``<think>`` (at most ``n``)."""

    __slots__ = ("_fmt", "_open")

    def __init__(self, fmt: ReasoningFormat) -> None:
        self._fmt = fmt
        self._open: set[int] = set()

    @property
    def active(self) -> bool:
        return self._fmt != "reasoning_content"

    def chunk(self, chunk: ChatCompletionChunk) -> None:
        """Render ``chunk``'s deltas in place."""
        fmt = self._fmt
        for choice in chunk.choices:
            delta = choice.delta
            text = delta.reasoning_content
            if isinstance(text, str):
                delta.reasoning_content = UNSET
                if fmt == "reasoning":
                    delta.reasoning = text
            if fmt != "think_tags":
                continue
            self._tags(choice.index, delta, text if isinstance(text, str) else "", choice.finish_reason is not None)

    def _tags(self, index: int, delta: Delta, reasoning: str, finished: bool) -> None:
        content = delta.content if isinstance(delta.content, str) else ""
        head = ""
        if reasoning:
            if index not in self._open:
                self._open.add(index)
                head = OPEN
            head += reasoning
        if index in self._open and (content or delta.tool_calls or finished):
            self._open.discard(index)
            head += CLOSE
        if head:
            delta.content = head + content

    def close(self, chunk: ChatCompletionChunk) -> ChatCompletionChunk | None:
        """A last chunk (built on ``chunk``'s id and model) closing ``<think>`` in the choices
        where the stream ended inside it; None when none is open."""
        if not self._open:
            return None
        choices = [ChunkChoice(index=i, delta=Delta(content=CLOSE)) for i in sorted(self._open)]
        self._open.clear()
        return ChatCompletionChunk(id=chunk.id, created=chunk.created, model=chunk.model, choices=choices)
