"""Shared helpers for the hexgate-openai tests: the captures in ``fixtures/`` and how to read streams back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from hexgate.testing import replay_frames

FIXTURES = Path(__file__).parent / "fixtures"


class Captures:
    """Read the recorded upstream traffic in ``fixtures/`` (see its README for the framing)."""

    def lines(self, name: str) -> list[str]:
        return [line for line in (FIXTURES / f"{name}.chunks.txt").read_text().splitlines() if line.strip()]

    def json(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
        return data

    def raw(self, name: str) -> bytes:
        return (FIXTURES / f"{name}.json").read_bytes()

    def frames(self, name: str, *, keepalive: bool = False) -> list[bytes]:
        """SSE frames as the service sent them, ``data: [DONE]`` last; with ``keepalive`` a
        ``: keep-alive`` comment and blank padding before every frame (DeepSeek under load)."""
        frames = replay_frames(self.lines(name), style="data", done=True)
        if keepalive:
            frames = [piece for frame in frames for piece in (b": keep-alive\n\n", b"\n\n", frame)]
        return frames

    @staticmethod
    def reassemble(chunks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """What a client makes of a chat stream (chunk dicts): text, reasoning, tool calls
        (``{index: {id, name, arguments}}``), the last finish_reason and the last usage seen."""
        text, reasoning, finish, usage = "", "", None, None
        calls: dict[int, dict[str, str]] = {}
        for chunk in chunks:
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                text += delta.get("content") or ""
                reasoning += delta.get("reasoning_content") or ""
                for call in delta.get("tool_calls") or []:
                    slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                    slot["id"] = call.get("id") or slot["id"]
                    function = call.get("function") or {}
                    slot["name"] = function.get("name") or slot["name"]
                    slot["arguments"] += function.get("arguments") or ""
                finish = choice.get("finish_reason") or finish
        return {"text": text, "reasoning": reasoning, "tool_calls": calls, "finish": finish, "usage": usage}


@pytest.fixture
def captures() -> Captures:
    return Captures()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain client (httpx's own transport, which pytest-httpx intercepts)."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client
