"""Pure mapping tables of the Hexin plugin (upstreams.md §7, after ``hexin-server`` 0.1.23)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hexgate_hexin.translate import (
    RouteOverride,
    backend_route,
    body_error,
    chat_body,
    chunk_from_wire,
    completion_from_wire,
    scrub,
    status_error,
    token_expiry,
    unwrap,
)
from hexgate_hexin.wire import WireAuthData, WireCompletion, WireEnvelope

from hexgate.errors import (
    HexgateError,
    Unsupported,
    UpstreamAuthError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from hexgate.schemas.chat import ChatCompletionRequest


@pytest.mark.parametrize(
    ("model", "path", "backend", "completion_tokens", "temperature"),
    [
        ("deepseek-reasoner", "/doubao/v3/chat/completions", "ep-20250410145517-rpbrz", False, True),
        ("doubao-deepseek-r1", "/doubao/v3/chat/completions", "ep-20250410145517-rpbrz", False, True),
        ("deepseek-chat", "/doubao/v3/chat/completions", "ep-20250410151344-fzm9z", False, True),
        ("doubao-deepseek-v3", "/doubao/v3/chat/completions", "ep-20250410151344-fzm9z", False, True),
        ("ep-20250204210426-gclbn", "/doubao/v3/chat/completions", "ep-20250204210426-gclbn", False, True),
        ("r1-qianfan", "/qianfan/v3/chat/completions", "deepseek-r1", False, True),
        ("gemini", "/gemini/v3/chat/completions", "gemini-2.5-pro-preview-03-25", False, True),
        ("qwen-max", "/qianwen/v1/chat/completions", "qwen-max", False, True),
        ("gpt-4o-mini", "/chatgpt/v3/chat/completions", "gpt-4o-mini", True, True),
        ("o3", "/chatgpt/v3/chat/completions", "o3", True, False),
        ("o4-mini", "/chatgpt/v3/chat/completions", "o4-mini", True, False),
        ("something-else", "/chatgpt/v3/chat/completions", "something-else", False, True),
    ],
)
def test_models_route_as_the_reference_client_does(
    model: str, path: str, backend: str, completion_tokens: bool, temperature: bool
) -> None:
    route = backend_route(model, {})
    assert (route.path, route.model, route.max_completion_tokens, route.temperature) == (
        path,
        backend,
        completion_tokens,
        temperature,
    )


def test_routes_table_overrides_and_claude_is_unsupported() -> None:
    overrides = {"claude-sonnet-4-5": RouteOverride(symbol="claude", version="v1", model="sonnet")}
    assert backend_route("claude-sonnet-4-5", overrides).path == "/claude/v1/chat/completions"
    with pytest.raises(Unsupported):
        backend_route("claude-sonnet-4-5", {})


def test_chat_body() -> None:
    request = msgspec.convert(
        {
            "model": "hexin/o3",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": "ok",
                    "reasoning_content": "r",
                    "reasoning_details": [{"type": "reasoning.text", "text": "r", "signature": "s"}],
                },
            ],
            "max_completion_tokens": 10,
            "temperature": 0.5,
            "stop": ["x"],
            "reasoning_effort": "high",
        },
        ChatCompletionRequest,
    )
    body = chat_body(request, backend_route("o3", {}), stream=True, extra={"thinking": {"type": "enabled"}})
    assert body == {
        "model": "o3",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "ok", "reasoning_content": "r"},
        ],
        "stream": True,
        "max_completion_tokens": 10,
        "stop": ["x"],
        "reasoning_effort": "high",
        "thinking": {"type": "enabled"},
    }


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        ({"success": False, "status_code": 401, "status_msg": "token expired"}, UpstreamAuthError, 502),
        ({"success": False, "status_code": "429", "status_msg": "limit"}, UpstreamRateLimited, 429),
        ({"success": False, "status_code": 413, "status_msg": "too big"}, UpstreamRejected, 413),
        ({"success": False, "status_code": 504, "status_msg": "slow"}, UpstreamTimeout, 504),
        ({"success": False, "status_code": -1}, UpstreamError, 502),
        ({"error": {"type": "authentication_error", "message": "bad token"}}, UpstreamAuthError, 502),
        ({"error": {"code": "insufficient_quota", "message": "pay"}}, UpstreamRateLimited, 429),
        ({"error": {"type": "context_length_exceeded", "message": "long"}}, UpstreamRejected, 400),
        ({"error": {"type": "timeout", "message": "t"}}, UpstreamTimeout, 504),
        ({"error": {"type": "whatever", "code": 400, "message": "m"}}, UpstreamRejected, 400),
        ({"error": "plain text failure"}, UpstreamError, 502),
    ],
)
def test_in_body_failures(answer: dict[str, Any], error: type[HexgateError], status: int) -> None:
    found = body_error(msgspec.convert(answer, WireEnvelope))
    assert type(found) is error and found.status == status


SERVER = {"error": {"type": "server_error", "message": "backend says no"}}
RATE = {"error": {"type": "rate_limit_error", "message": "slow down"}}
LONG = {"error": {"type": "context_length_exceeded", "message": "too long"}}


@pytest.mark.parametrize(
    ("status", "answer", "error", "expected"),
    [
        (404, SERVER, UpstreamRejected, 404),  # the status is more specific than the type
        (503, SERVER, UpstreamOverloaded, 503),
        (529, SERVER, UpstreamOverloaded, 503),
        (429, SERVER, UpstreamRateLimited, 429),
        (504, SERVER, UpstreamTimeout, 504),
        (408, SERVER, UpstreamTimeout, 504),
        (401, SERVER, UpstreamAuthError, 502),
        (413, SERVER, UpstreamRejected, 413),
        (500, SERVER, UpstreamError, 502),
        (500, RATE, UpstreamRateLimited, 429),  # a generic status: the type decides
        (502, RATE, UpstreamRateLimited, 429),
        (400, LONG, UpstreamRejected, 400),
        (400, {"error": {"type": "authentication_error", "message": "m"}}, UpstreamAuthError, 502),
        (404, None, UpstreamRejected, 404),  # not the backend's JSON: the status alone
        (503, None, UpstreamOverloaded, 503),
    ],
)
def test_http_status_wins_where_more_specific(
    status: int, answer: dict[str, Any] | None, error: type[HexgateError], expected: int
) -> None:
    raw = msgspec.json.encode(answer) if answer is not None else b"<html>gateway says no</html>"
    found = status_error(status, raw, retry_after=2)
    assert type(found) is error and found.status == expected
    if answer is not None:
        assert answer["error"]["message"] in found.message
    if expected == 404:
        assert found.code == "model_not_found"
    if expected == 503:
        assert found.headers["retry-after"] == "2"


SECRET = "hx-app-secret-4242"


@pytest.mark.parametrize(
    "answer",
    [
        {"error": {"type": "authentication_error", "message": f"bad app_secret {SECRET}"}},
        {"error": {"type": "server_error", "message": f"echo {SECRET}"}},
        {"error": f"secret {SECRET} refused"},
        {"success": False, "status_code": 401, "status_msg": f"token tok-{SECRET}"},
        {"success": False, "status_code": -7, "status_msg": SECRET},
    ],
)
@pytest.mark.parametrize("status", [401, 404, 500, 503])
def test_backend_texts_are_scrubbed_of_secrets(answer: dict[str, Any], status: int) -> None:
    raw = msgspec.json.encode(answer)
    found = status_error(status, raw, secrets=("", SECRET))
    assert SECRET not in found.message and "[redacted]" in found.message
    in_body = body_error(msgspec.convert(answer, WireEnvelope), secrets=(SECRET,))
    assert in_body is not None and SECRET not in in_body.message
    unreadable = status_error(status, f"<p>{SECRET}</p>".encode(), secrets=(SECRET,))
    assert SECRET not in unreadable.message


def test_scrub() -> None:
    assert scrub("a s3cr3t b s3cr3t", ("s3cr3t", "")) == "a [redacted] b [redacted]"
    assert scrub("nothing", ()) == "nothing"


@pytest.mark.parametrize("answer", [{"success": True, "data": {"choices": []}}, {"choices": []}, {"data": [1]}])
def test_successes_are_not_errors(answer: dict[str, Any]) -> None:
    raw = msgspec.json.encode(answer)
    envelope = msgspec.json.decode(raw, type=WireEnvelope)
    assert body_error(envelope) is None
    assert msgspec.json.decode(unwrap(envelope, raw)) == (
        answer["data"] if "choices" in answer.get("data", []) else answer
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"expires_in": 600}, 1600.0),
        ({"expire_time": 1_760_000_500}, 1500.0),
        ({"expires_at": "1760000500000"}, 1500.0),  # milliseconds
        ({"expire": "not a time"}, 4600.0),
        ({}, 4600.0),
    ],
)
def test_token_expiry(data: dict[str, Any], expected: float) -> None:
    auth = msgspec.convert({"user_id": 1, "token": "t", **data}, WireAuthData)
    assert token_expiry(auth, now=1000.0, wall=1_760_000_000.0, default_ttl=3600) == expected


def test_answers_keep_reasoning_apart_and_arguments_as_text() -> None:
    wire = msgspec.convert(
        {
            "choices": [
                {
                    "message": {
                        "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
                        "reasoning": "why",
                        "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}],
                    }
                },
                {"text": "legacy", "finish_reason": "length"},
            ]
        },
        WireCompletion,
    )
    completion = completion_from_wire(wire, model="m")
    first, second = completion.choices
    assert (first.message.content, first.message.reasoning_content) == ("AB", "why")
    assert first.message.tool_calls and first.message.tool_calls[0].function.arguments == '{"x": 1}'
    assert first.message.tool_calls[0].id == "call_0"
    assert first.finish_reason == "tool_calls"
    assert (second.message.content, second.finish_reason) == ("legacy", "length")
    assert completion.model == "m" and completion.id

    chunk = chunk_from_wire(
        msgspec.convert(
            {"choices": [{"delta": {"tool_calls": [{"index": 2, "function": {"arguments": "{"}}]}}]}, WireCompletion
        ),
        model="m",
    )
    assert chunk is not None and chunk.choices[0].delta.tool_calls
    call = chunk.choices[0].delta.tool_calls[0]
    assert (call.index, call.id, call.function.arguments) == (2, msgspec.UNSET, "{")  # type: ignore[union-attr]
    assert chunk_from_wire(WireCompletion(), model="m") is None
