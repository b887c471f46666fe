"""A stub of Puter's documented wire format (../shared/upstreams.md §6) and a gateway in front of it.

The stub answers ``POST /drivers/call`` (``puter-chat-completion`` as NDJSON or one JSON envelope,
``puter-image-generation`` as a binary PNG), ``POST /puterai/openai/v1/chat/completions`` (SSE)
and ``GET /puterai/chat/models/details``. What it answers is chosen by the last user message
(or the image prompt), one scenario per word in ``SCENARIOS`` below. It accepts only the token
``TOKEN``; any other gets Puter's 401 envelope.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream, running_gateway

TOKEN = "test-puter-token-000"
CLIENT_TOKEN = "client-puter-token-000"
NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid truecolour PNG of one colour."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


IMAGES = {"red": png(3, 2, (255, 0, 0)), "blue": png(2, 3, (0, 0, 255))}

USAGE = {"input_tokens": 12, "output_tokens": 5}

# Streamed NDJSON lines per scenario (driver API, stream: true).
STREAMS: dict[str, list[dict[str, Any]]] = {
    "hello": [
        {"type": "text", "text": "Hel"},
        {"type": "text", "text": "lo"},
        {"type": "extra_content", "extra_content": {"x": 1}},
        {"type": "text", "text": " there"},
        {"type": "usage", "usage": USAGE},
    ],
    "think": [
        {"type": "reasoning", "reasoning": "The user "},
        {"type": "reasoning", "reasoning": "greets me."},
        {"type": "text", "text": "Hi!"},
        {"type": "usage", "usage": {"input_tokens": 7, "output_tokens": 9}},
    ],
    "weather": [
        {"type": "text", "text": "Checking."},
        {
            "type": "tool_use",
            "id": "call_w1",
            "name": "get_weather",
            "input": {"city": "Paris", "unit": "c"},
            "text": "",
        },
        {"type": "tool_use", "id": "call_w2", "name": "get_time", "input": {"tz": "Europe/Paris"}, "text": ""},
        {"type": "usage", "usage": USAGE},
    ],
    "broke": [
        {"type": "error", "message": "You do not have enough funds", "error": {"code": "insufficient_funds"}},
    ],
    "limited": [
        {"type": "error", "message": "Usage limit reached", "metadata": {"usage_limited": True}},
    ],
    "midfail": [
        {"type": "text", "text": "Start"},
        {"type": "error", "message": "upstream model crashed"},
    ],
}

# Non-streamed results per scenario (driver API, stream: false).
RESULTS: dict[str, dict[str, Any]] = {
    "hello": {"message": {"role": "assistant", "content": "Hello there"}, "usage": USAGE, "finish_reason": "stop"},
    "think": {
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi!"}], "reasoning": "Greeting."},
        "usage": [{"type": "prompt", "amount": 7}, {"type": "completion", "amount": 9}],
    },
    "weather": {
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        "usage": USAGE,
    },
}

# Failures per scenario: (HTTP status, body, extra headers), the same for chat and images.
FAILURES: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "broke": (200, {"success": False, "error": {"code": "insufficient_funds", "message": "Not enough funds"}}, {}),
    "badauth": (
        200,
        {"success": False, "error": {"code": "token_auth_failed", "message": "Authentication failed"}},
        {},
    ),
    "http401": (
        401,
        {"success": False, "error": {"code": "token_auth_failed", "message": "Authentication failed"}},
        {},
    ),
    "ratelimit": (
        429,
        {"success": False, "error": {"code": "rate_limit_exceeded", "message": "Slow down"}},
        {"retry-after": "30"},
    ),
    "badparam": (
        400,
        {"success": False, "error": {"code": "field_invalid", "message": "Invalid value for max_tokens"}},
        {},
    ),
    "crash": (500, {"success": False, "error": {"code": "internal_error", "message": "Something broke"}}, {}),
    "overloaded": (503, {"success": False, "error": {"code": "unavailable", "message": "Try later"}}, {}),
    "weird": (200, {"success": False, "error": {"code": "something_new", "message": "A new failure"}}, {}),
}

MODELS = {
    "models": [
        {"id": "gpt-5-nano", "name": "GPT-5 nano", "provider": "openai", "context": 400000, "max_tokens": 128000},
        {"id": "claude-sonnet-4-5", "provider": "anthropic", "context": 200000},
        "deepseek-chat",
    ]
}


def _ndjson(lines: list[dict[str, Any]], piece: int = 0) -> list[bytes]:
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    if not piece:
        return [json.dumps(line).encode() + b"\n" for line in lines]
    return [data[i : i + piece] for i in range(0, len(data), piece)]


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _envelope(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body).encode(), {**JSON, **(headers or {})})


def _driver(req: RecordedRequest) -> Reply:
    call = req.json()
    if call.get("auth_token") not in (TOKEN, CLIENT_TOKEN):
        return _envelope(401, {"success": False, "error": {"code": "token_auth_failed", "message": "Bad token"}})
    args = call["args"]
    if call["interface"] == "puter-image-generation":
        word = args["prompt"].split()[0]
        if word in FAILURES:
            return _envelope(*FAILURES[word])
        return Reply(200, IMAGES.get(word, IMAGES["red"]), {"content-type": "image/png"})
    word = _last_user_text(args["messages"]).split()[0]
    if args.get("stream"):
        if word in STREAMS:
            return Reply(200, _ndjson(STREAMS[word], piece=7 if word == "hello" else 0), NDJSON)
        if word == "slow":
            return Reply(200, _ndjson([{"type": "text", "text": "tick "}] * 3), NDJSON, delay=0.05, hang=30)
    if word in FAILURES:
        return _envelope(*FAILURES[word])
    if word in RESULTS:
        return _envelope(200, {"success": True, "result": RESULTS[word]})
    return _envelope(200, {"success": True, "result": {"message": {"role": "assistant", "content": "?"}}})


def _openai(req: RecordedRequest) -> Reply:
    if req.headers.get("authorization") != f"Bearer {TOKEN}":
        return _envelope(401, {"error": {"message": "noUserSession", "code": "token_auth_failed"}})
    body = req.json()
    word = _last_user_text(body["messages"]).split()[0]
    if word in FAILURES:
        return _envelope(*FAILURES[word])
    base = {"id": "chatcmpl-puter1", "created": 1700000000, "model": body["model"]}
    usage = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    if not body.get("stream"):
        message = {"role": "assistant", "content": "Hello from OpenAI mode", "reasoning": "Mode check."}
        return _envelope(
            200,
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            },
        )
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"reasoning": "Mode check."}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "Hello from "}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "OpenAI mode"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": usage},
    ]
    if word == "midfail":
        chunks[3:] = [{"error": {"message": "upstream model crashed", "code": "internal_error"}}]
    frames = [f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', **c})}\n\n".encode() for c in chunks]
    return Reply(200, [*frames, b"data: [DONE]\n\n"], {"content-type": "text/event-stream"})


def make_stub() -> StubUpstream:
    return StubUpstream(
        {
            "POST /drivers/call": _driver,
            "POST /puterai/openai/v1/chat/completions": _openai,
            "GET /puterai/chat/models/details": Reply(200, json.dumps(MODELS).encode(), JSON),
        }
    )


@dataclass(frozen=True)
class PuterWire:
    token: str
    client_token: str
    images: dict[str, bytes]


@pytest.fixture(scope="session")
def puter_wire() -> PuterWire:
    """The stub's token, the client token it also accepts, and the images it serves by prompt word."""
    return PuterWire(token=TOKEN, client_token=CLIENT_TOKEN, images=IMAGES)


@pytest.fixture(scope="session")
def puter_stub() -> Iterator[StubUpstream]:
    with make_stub() as stub:
        yield stub


@pytest.fixture(scope="session")
def puter_gateway(puter_stub: StubUpstream) -> Iterator[str]:
    """``puter`` (driver mode, token from config via env), ``puteroai`` (OpenAI-compatible mode),
    ``puterbyo`` (no token configured: the client's bearer key is passed on), ``echo``."""
    config = f"""
[providers.puter]
plugin = "puter"
base_url = "{puter_stub.url}"
auth_token = "${{PUTER_TEST_TOKEN}}"

[providers.puteroai]
plugin = "puter"
base_url = "{puter_stub.url}/"
auth_token = "${{PUTER_TEST_TOKEN}}"
mode = "openai"
models = ["gpt-5-nano"]

[providers.puterbyo]
plugin = "puter"
base_url = "{puter_stub.url}"
models = ["gpt-5-nano"]
image_models = []

[providers.echo]
plugin = "echo"
"""
    with running_gateway(config, env={"PUTER_TEST_TOKEN": TOKEN, "NO_PROXY": "127.0.0.1,localhost"}) as base:
        yield base
