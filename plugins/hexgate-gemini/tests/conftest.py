"""Shared helpers for the hexgate-gemini tests: the captures in ``fixtures/`` and what they hold."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from hexgate.testing import StubUpstream, replay_frames, running_gateway

FIXTURES = Path(__file__).parent / "fixtures"


class Captures:
    """Read the recorded Gemini traffic in ``fixtures/`` and compute what an OpenAI client should see."""

    def lines(self, name: str) -> list[dict[str, Any]]:
        text = (FIXTURES / f"google--{name}.chunks.txt").read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def json(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((FIXTURES / f"google--{name}.json").read_text())
        return data

    def raw(self, name: str) -> bytes:
        return (FIXTURES / f"google--{name}.json").read_bytes()

    def frames(self, name: str) -> list[bytes]:
        """``data: <line>\\n\\n`` frames, no terminator: Gemini's ``?alt=sse`` framing."""
        return replay_frames((FIXTURES / f"google--{name}.chunks.txt").read_text().splitlines(), style="data")

    def bodies(self, name: str, *, stream: bool) -> list[dict[str, Any]]:
        return self.lines(name) if stream else [self.json(name)]

    @staticmethod
    def parts(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for b in bodies for c in b.get("candidates", []) for p in c.get("content", {}).get("parts", [])]

    def text(self, name: str, *, stream: bool) -> str:
        parts = self.parts(self.bodies(name, stream=stream))
        return "".join(p.get("text", "") for p in parts if not p.get("thought"))

    def reasoning(self, name: str, *, stream: bool) -> str:
        parts = self.parts(self.bodies(name, stream=stream))
        return "".join(p.get("text", "") for p in parts if p.get("thought"))

    def calls(self, name: str, *, stream: bool) -> list[tuple[str, dict[str, Any], bytes | None]]:
        """Whole function calls: (name, args, signature bytes)."""
        found = []
        for p in self.parts(self.bodies(name, stream=stream)):
            call = p.get("functionCall")
            if call and "args" in call:
                sig = p.get("thoughtSignature")
                found.append((call["name"], call["args"], base64.b64decode(sig) if sig else None))
        return found

    def text_signatures(self, name: str, *, stream: bool) -> list[str]:
        parts = self.parts(self.bodies(name, stream=stream))
        return [p["thoughtSignature"] for p in parts if "thoughtSignature" in p and "functionCall" not in p]

    def usage(self, name: str, *, stream: bool) -> dict[str, int]:
        """The last counted usageMetadata as OpenAI usage numbers (it is cumulative)."""
        bodies = self.bodies(name, stream=stream)
        metas = [b["usageMetadata"] for b in bodies if "promptTokenCount" in b.get("usageMetadata", {})]
        meta = metas[-1]
        prompt = meta["promptTokenCount"]
        thoughts = meta.get("thoughtsTokenCount", 0)
        completion = meta.get("candidatesTokenCount", 0) + thoughts
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "reasoning_tokens": thoughts,
            "cached_tokens": meta.get("cachedContentTokenCount", 0),
        }


@pytest.fixture(scope="session")
def captures() -> Captures:
    return Captures()


@pytest.fixture(scope="session")
def stub() -> Iterator[StubUpstream]:
    """The Gemini stand-in on 127.0.0.1; each test sets ``stub.routes``."""
    with StubUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="session")
def gateway(stub: StubUpstream) -> Iterator[str]:
    """``hexgate serve`` with one Gemini provider pointed at :func:`stub`."""
    config = f"""
[providers.gemini]
plugin = "gemini"
api_key = "${{GEMINI_TEST_KEY}}"
base_url = "{stub.url}"
"""
    with running_gateway(config, env={"GEMINI_TEST_KEY": "test-key"}) as base:
        yield base


@pytest.fixture
def client(gateway: str, stub: StubUpstream) -> Iterator[openai.OpenAI]:
    """The official openai client in front of the gateway; the stub starts each test empty."""
    stub.reset()
    with openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=30.0) as c:
        yield c
