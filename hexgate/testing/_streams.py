"""Streams in tests: :func:`replay_frames` (a recorded capture back into SSE frames) and
:func:`check_stream` (OpenAI's chat-stream rules)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["check_stream", "replay_frames"]


def replay_frames(lines: Iterable[str], *, style: str, done: bool = False) -> list[bytes]:
    """Recorded payload lines (one JSON per line, ``*.chunks.txt``) back into SSE frames.

    ``style="event"``: ``event: <type>\\ndata: <line>\\n\\n`` (Anthropic, OpenAI Responses);
    ``style="data"``: ``data: <line>\\n\\n`` (OpenAI chat, DeepSeek, Gemini). ``done`` appends
    ``data: [DONE]``. Raw ``*.sse`` captures need no conversion: send their bytes as they are.
    """
    frames = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if style == "event":
            kind = json.loads(line).get("type", "message")
            frames.append(f"event: {kind}\ndata: {line}\n\n".encode())
        else:
            frames.append(f"data: {line}\n\n".encode())
    if done:
        frames.append(b"data: [DONE]\n\n")
    return frames


def check_stream(chunks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Problems with a decoded chat stream (list of chunk dicts, ``[DONE]`` excluded), per
    ARCHITECTURE.md "Streaming rules": the first chunk has ``delta.role``; every chunk is a
    ``chat.completion.chunk`` with one id; each tool call's first delta carries ``index``, ``id``,
    ``type`` and ``function.name`` and later ones only ``index`` and ``function.arguments``;
    some choice ends with a ``finish_reason``. An empty list means the stream is well formed."""
    problems: list[str] = []
    if not chunks:
        return ["no chunks"]
    if chunks[0]["choices"] and "role" not in chunks[0]["choices"][0]["delta"]:
        problems.append("first chunk has no delta.role")
    ids = {c.get("id") for c in chunks}
    if len(ids) != 1:
        problems.append(f"chunk ids differ: {ids}")
    seen: set[tuple[int, int]] = set()
    finished = False
    for c in chunks:
        if c.get("object") != "chat.completion.chunk":
            problems.append(f"object is {c.get('object')!r}")
        for choice in c["choices"]:
            finished |= choice.get("finish_reason") is not None
            for call in choice["delta"].get("tool_calls") or []:
                key = (choice["index"], call["index"])
                if key not in seen:
                    seen.add(key)
                    if not (call.get("id") and call.get("type") == "function" and call["function"].get("name")):
                        problems.append(f"tool call {key} starts without id/type/name: {call}")
                elif set(call) - {"index", "function"} or set(call.get("function", {})) - {"arguments"}:
                    problems.append(f"tool call {key} continuation carries more than arguments: {call}")
    if not finished:
        problems.append("no choice has a finish_reason")
    return problems
