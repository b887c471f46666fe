"""Shared helpers for the hexgate-openai tests: the captures in ``fixtures/`` and how to read streams back.

``stub``, ``gateway`` and ``client`` come from :mod:`hexgate.testing.fixtures`; this file gives the
gateway its config (one ``openai`` provider, ``up``, pointed at the stub).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from hexgate.testing import Captures as CaptureFiles
from hexgate.testing import StubUpstream

FIXTURES = Path(__file__).parent / "fixtures"


class Captures:
    """Read the recorded upstream traffic in ``fixtures/`` (see its README for the framing) by
    capture name (``<name>.chunks.txt`` / ``<name>.json``, through :class:`hexgate.testing.Captures`)."""

    def __init__(self) -> None:
        self.files = CaptureFiles(FIXTURES)

    def lines(self, name: str) -> list[str]:
        return self.files.lines(f"{name}.chunks.txt")

    def json(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = self.files.json(f"{name}.json")
        return data

    def raw(self, name: str) -> bytes:
        return self.files.raw(f"{name}.json")

    def frames(self, name: str, *, keepalive: bool = False) -> list[bytes]:
        """SSE frames as the service sent them, ``data: [DONE]`` last; with ``keepalive`` a
        ``: keep-alive`` comment and blank padding before every frame (DeepSeek under load)."""
        frames = self.files.frames(f"{name}.chunks.txt", style="data", done=True)
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


@pytest.fixture(scope="session")
def gateway_config(stub: StubUpstream) -> str:
    """One ``openai`` provider, ``up``, pointed at the stub (``hexgate.testing.fixtures``' ``gateway``)."""
    return f"""
[providers.up]
plugin = "openai"
base_url = "{stub.url}/v1"
api_key = "${{UPSTREAM_KEY}}"
"""


@pytest.fixture(scope="session")
def gateway_env() -> dict[str, str]:
    return {"UPSTREAM_KEY": "test-key"}
