"""Server-sent events: frames hexgate writes, and a parser plugins read upstream streams with.

Writing: one module-level msgspec Encoder, ``encode_into`` a buffer that already holds
the ``data: `` prefix; msgspec emits compact JSON, so a frame never holds a raw newline.

Reading (upstreams.md §10.1): named events (Anthropic, Responses), bare ``data:`` lines
(OpenAI, Gemini), ``:`` comments such as DeepSeek's ``: keep-alive``, blank-line padding,
CRLF or LF line ends, multi-line data; and NDJSON (Ollama, Puter).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import msgspec

__all__ = ["DONE", "SSEEvent", "data_frame", "event_frame", "iter_lines", "iter_sse", "iter_sse_batches"]

DONE = b"data: [DONE]\n\n"
_encoder = msgspec.json.Encoder()


def data_frame(obj: Any) -> bytes:
    """``data: <compact JSON>\\n\\n``."""
    buf = bytearray(b"data: ")
    _encoder.encode_into(obj, buf, 6)
    buf += b"\n\n"
    return bytes(buf)


def event_frame(event: str, obj: Any) -> bytes:
    """``event: <name>\\ndata: <compact JSON>\\n\\n`` (Responses streams)."""
    head = b"event: " + event.encode() + b"\ndata: "
    buf = bytearray(head)
    _encoder.encode_into(obj, buf, len(head))
    buf += b"\n\n"
    return bytes(buf)


class SSEEvent(msgspec.Struct, frozen=True):
    event: str
    """The ``event:`` name, or ``message`` when the upstream sent none."""
    data: str


async def iter_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Lines (without their LF or CRLF) from a byte stream; a last line without an end is kept."""
    pending = b""
    async for chunk in chunks:
        if pending:
            chunk = pending + chunk
        lines = chunk.split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if pending:
        yield pending[:-1] if pending.endswith(b"\r") else pending


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """Events from a ``text/event-stream`` body (WHATWG HTML, "Parsing an event stream")."""
    event = ""
    data: list[str] = []
    async for raw in iter_lines(chunks):
        if not raw:
            if data:
                yield SSEEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if raw[0] == 0x3A:  # ':' comment, e.g. ": keep-alive"
            continue
        line = raw.decode("utf-8")
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield SSEEvent(event or "message", "\n".join(data))


async def iter_sse_batches(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[tuple[str, bytes]]]:
    """The events of a ``text/event-stream`` body, as ``(event name, data)`` pairs with ``data`` as
    bytes, batched by arrival: each list holds the events one upstream read completed (never empty),
    so a relay can forward what arrived together in one write and each event as soon as it arrived.

    Same parsing as :func:`iter_sse` (WHATWG HTML, "Parsing an event stream": named events, ``:``
    comments, multi-line data, CR, LF or CRLF line ends); a lone ``data: <payload>`` block between
    LF blank lines, what OpenAI-compatible upstreams send, is taken without going line by line.
    """
    pending = b""
    event = ""
    data: list[bytes] = []

    def lines(block: bytes, batch: list[tuple[str, bytes]], *, complete: bool) -> None:
        nonlocal event, data
        for line in block.split(b"\n"):
            if not line:
                if data:
                    batch.append((event or "message", b"\n".join(data)))
                event, data = "", []
                continue
            if line[0] == 0x3A:  # ':' comment, e.g. ": keep-alive"
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode("utf-8", "replace")
        if complete:  # the block ended with a blank line: dispatch
            if data:
                batch.append((event or "message", b"\n".join(data)))
            event, data = "", []

    async for chunk in chunks:
        if pending:
            chunk = pending + chunk
        if b"\r" in chunk:  # CR or CRLF line ends: as LF (a CR last may be half of a CRLF: kept for later)
            keep = chunk.endswith(b"\r")
            chunk = (chunk[:-1] if keep else chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if keep:
                chunk += b"\r"
        blocks = chunk.split(b"\n\n")
        pending = blocks.pop()
        batch: list[tuple[str, bytes]] = []
        for block in blocks:
            if not data and block.startswith(b"data: ") and b"\n" not in block:
                batch.append((event or "message", block[6:]))
                event = ""
            else:
                lines(block, batch, complete=True)
        if batch:
            yield batch
    if pending:
        batch = []
        lines(pending.rstrip(b"\r"), batch, complete=True)
        if batch:
            yield batch
