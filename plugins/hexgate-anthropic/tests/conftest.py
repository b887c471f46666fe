"""Shared fixtures of the Anthropic plugin's tests.

``fixtures/`` holds copies of ``../shared/fixtures`` captures (MIT anthropic-sdk-python, Apache-2.0
vercel/ai; see ``fixtures/README.md``), read through :class:`hexgate.testing.Captures`. ``stub``,
``gateway`` and ``client`` come from :mod:`hexgate.testing.fixtures` (the stub shared by the session,
emptied per test; ``hexgate serve`` with ``gateway_config`` below: ``[providers.claude] plugin =
"anthropic"``; the official ``openai`` client); ``upstream`` is the stub, emptied for this test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hexgate.testing import Captures as CaptureFiles
from hexgate.testing import Reply, StubUpstream

FILES = CaptureFiles(Path(__file__).parent / "fixtures")
FIXTURES = FILES.dir
SSE = {"content-type": "text/event-stream"}

CONFIG = """
[providers.claude]
plugin = "anthropic"
api_key = "sk-ant-test-000"
base_url = "{url}"
timeout = 30
"""


class Captures:
    """Helpers over ``fixtures/`` (a fixture object, since ``--import-mode=importlib`` keeps test
    modules from importing this conftest)."""

    dir = FIXTURES

    @staticmethod
    def text(name: str) -> str:
        return FILES.text(name)

    @staticmethod
    def events(name: str) -> list[dict[str, Any]]:
        """The event payloads of a capture: ``*.sse`` (raw SSE) or ``*.chunks.txt`` (one JSON a line)."""
        events: list[dict[str, Any]] = FILES.events(name)
        return events

    @staticmethod
    def stream_reply(name: str) -> Reply:
        """A capture as the service streamed it: ``*.sse`` bytes exactly as they are (sent frame by
        frame), ``*.chunks.txt`` re-framed with ``replay_frames(style="event")``."""
        return FILES.reply(name, style="event")

    @staticmethod
    def json_reply(name: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return Reply(status=status, body=FILES.raw(name), headers=headers or {"content-type": "application/json"})

    @staticmethod
    def expected(name: str) -> dict[str, Any]:
        """What a streamed capture holds, read straight from its events: text, reasoning, tool
        calls ``(id, name, arguments text)`` in order, stop reason and final usage counts."""
        text, reasoning, calls, blocks = "", "", [], {}
        usage: dict[str, Any] = {}
        stop = None
        for e in Captures.events(name):
            if e["type"] == "message_start":
                usage.update(e["message"].get("usage") or {})
            elif e["type"] == "content_block_start":
                block = e["content_block"]
                if block["type"] == "tool_use":
                    blocks[e["index"]] = len(calls)
                    calls.append([block["id"], block["name"], ""])
            elif e["type"] == "content_block_delta":
                d = e["delta"]
                if d["type"] == "text_delta":
                    text += d["text"]
                elif d["type"] == "thinking_delta":
                    reasoning += d["thinking"]
                elif d["type"] == "input_json_delta":
                    calls[blocks[e["index"]]][2] += d["partial_json"]
            elif e["type"] == "message_delta":
                stop = e["delta"].get("stop_reason")
                usage.update(e.get("usage") or {})
        prompt = (
            usage.get("input_tokens", 0)
            + usage.get("cache_read_input_tokens", 0)
            + usage.get("cache_creation_input_tokens", 0)
        )
        return {
            "text": text,
            "reasoning": reasoning,
            "tool_calls": [tuple(c) for c in calls],
            "stop_reason": stop,
            "prompt_tokens": prompt,
            "completion_tokens": usage.get("output_tokens", 0),
            "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("thinking_tokens"),
        }

    @staticmethod
    def reassemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
        """What a client rebuilds from chunk dicts (choice 0): text, reasoning, tool calls
        ``(id, name, arguments)`` by index, reasoning_details items, finish reason, last usage."""
        text, reasoning, calls, details = "", "", {}, []
        finish, usage = None, None
        for c in chunks:
            usage = c.get("usage") or usage
            for choice in c["choices"]:
                if choice["index"] != 0:
                    continue
                d = choice["delta"]
                text += d.get("content") or ""
                reasoning += d.get("reasoning_content") or ""
                details += d.get("reasoning_details") or []
                for call in d.get("tool_calls") or []:
                    slot = calls.setdefault(call["index"], ["", "", ""])
                    slot[0] = call.get("id") or slot[0]
                    slot[1] += (call.get("function") or {}).get("name") or ""
                    slot[2] += (call.get("function") or {}).get("arguments") or ""
                finish = choice.get("finish_reason") or finish
        return {
            "text": text,
            "reasoning": reasoning,
            "tool_calls": [tuple(calls[i]) for i in sorted(calls)],
            "reasoning_details": details,
            "finish_reason": finish,
            "usage": usage,
        }

    @staticmethod
    def frames(*events: dict[str, Any]) -> list[bytes]:
        """SSE frames for hand-written events (``event: <type>`` + ``data: <json>``)."""
        return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


@pytest.fixture(scope="session")
def captures() -> type[Captures]:
    return Captures


@pytest.fixture
def upstream(stub: StubUpstream) -> StubUpstream:
    stub.reset()
    return stub


@pytest.fixture(scope="session")
def gateway_config(stub: StubUpstream) -> str:
    return CONFIG.format(url=stub.url)
