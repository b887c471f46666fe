"""Shared helpers for the hexgate-gemini tests: the captures in ``fixtures/`` and what they hold.

``stub``, ``gateway`` and ``client`` come from :mod:`hexgate.testing.fixtures`; this file gives the
gateway its config (one Gemini provider pointed at the stub).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from hexgate.testing import Captures as CaptureFiles
from hexgate.testing import StubUpstream

FIXTURES = Path(__file__).parent / "fixtures"


class Captures:
    """Read the recorded Gemini traffic in ``fixtures/`` (``google--<name>.chunks.txt`` / ``.json``,
    through :class:`hexgate.testing.Captures`) and compute what an OpenAI client should see."""

    def __init__(self) -> None:
        self.files = CaptureFiles(FIXTURES, prefix="google--")

    def lines(self, name: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.files.events(f"{name}.chunks.txt")
        return events

    def json(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = self.files.json(f"{name}.json")
        return data

    def raw(self, name: str) -> bytes:
        return self.files.raw(f"{name}.json")

    def frames(self, name: str) -> list[bytes]:
        """``data: <line>\\n\\n`` frames, no terminator: Gemini's ``?alt=sse`` framing."""
        return self.files.frames(f"{name}.chunks.txt", style="data")

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
def gateway_config(stub: StubUpstream) -> str:
    """One Gemini provider pointed at the stub (``hexgate.testing.fixtures``' ``gateway`` serves it)."""
    return f"""
[providers.gemini]
plugin = "gemini"
api_key = "${{GEMINI_TEST_KEY}}"
base_url = "{stub.url}"
"""


@pytest.fixture(scope="session")
def gateway_env() -> dict[str, str]:
    return {"GEMINI_TEST_KEY": "test-key"}
