"""Pure parts of the Messages dialect: the request table of the bridge, the stream translator's
event order, stop sequences across chunk borders, thinking → effort, the error mapping and its ASGI
rewrite, and alias patterns in the registry."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from hexgate import messages_bridge as mb
from hexgate.errors import InvalidRequest, Unsupported, messages_error
from hexgate.registry import Registry
from hexgate.schemas import chat as c
from hexgate.schemas import messages as m
from hexgate.settings import load_settings


def request(**body: Any) -> m.MessagesRequest:
    body.setdefault("model", "claude-x")
    body.setdefault("max_tokens", 100)
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return msgspec.json.decode(msgspec.json.encode(body), type=m.MessagesRequest)


def chunk(**delta: Any) -> c.ChatCompletionChunk:
    finish = delta.pop("finish", None)
    payload = {
        "id": "x",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return msgspec.json.decode(msgspec.json.encode(payload), type=c.ChatCompletionChunk)


def run(req: m.MessagesRequest, *chunks: c.ChatCompletionChunk) -> tuple[list[dict[str, Any]], mb.MessageStream]:
    stream = mb.MessageStream(req, prompt_tokens=10)
    events = list(mb.iter_events(stream, list(chunks)))
    return [msgspec.to_builtins(e) for e in events], stream


# ---------------------------------------------------------------- request


@pytest.mark.parametrize(
    ("thinking", "config", "effort"),
    [
        ({"type": "disabled"}, None, "none"),
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 4000}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 10000}, None, "high"),
        ({"type": "enabled", "budget_tokens": 31999}, None, "xhigh"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "adaptive"}, {"effort": "max"}, "xhigh"),
        ({"type": "adaptive"}, {"effort": "low"}, "low"),
    ],
)
def test_thinking_to_effort(thinking: dict[str, Any], config: dict[str, Any] | None, effort: str) -> None:
    extra = {"output_config": config} if config else {}
    assert mb.to_chat_request(request(thinking=thinking, **extra)).reasoning_effort == effort


def test_request_table() -> None:
    chat = mb.to_chat_request(
        request(
            system=[{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
            metadata={"user_id": "u-1"},
            top_k=5,
            stop_sequences=["END"],
            tool_choice={"type": "none"},
            tools=[{"name": "f", "input_schema": {"type": "object"}}],
            messages=[
                {"role": "user", "content": [
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                     "title": "T"},
                ]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [
                        {"type": "text", "text": "done"},
                        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                    ]},
                    {"type": "text", "text": "and?"},
                ]},
            ],
        )
    )  # fmt: skip
    out = msgspec.to_builtins(chat)
    assert out["messages"][0] == {"role": "system", "content": "S"}
    assert out["messages"][1]["content"][0] == {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "document.pdf"},
    }
    assert out["messages"][1]["content"][1] == {"type": "text", "text": "T\n\nnotes"}
    assert out["messages"][2]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert out["messages"][2]["content"] is None
    assert out["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "done"}
    assert out["messages"][4]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {"type": "text", "text": "and?"},
    ]
    assert out["user"] == "u-1" and out["top_k"] == 5 and out["tool_choice"] == "none"
    assert "stop" not in out and out["stream"] is True and out["stream_options"] == {"include_usage": True}


def test_blocks_in_the_wrong_place_and_server_tools_are_refused() -> None:
    with pytest.raises(InvalidRequest) as wrong:
        mb.to_chat_request(request(messages=[{"role": "user", "content": [
            {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]))  # fmt: skip
    assert wrong.value.param == "messages[0].content[0].type"
    with pytest.raises(Unsupported):
        mb.to_chat_request(request(tools=[{"type": "web_search_20250305", "name": "web_search"}]))
    with pytest.raises(Unsupported):
        mb.to_chat_request(request(messages=[{"role": "user", "content": [
            {"type": "document", "source": {"type": "file", "file_id": "file_1"}}]}]))  # fmt: skip


# ---------------------------------------------------------------- answer


def test_event_order_for_thinking_text_and_two_tools() -> None:
    events, stream = run(
        request(),
        chunk(role="assistant", reasoning_content="hm"),
        chunk(reasoning_details=[{"type": "reasoning.text", "signature": "s1"}]),
        chunk(content="Hi"),
        chunk(tool_calls=[{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]),
        chunk(tool_calls=[{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": ""}}]),
        chunk(tool_calls=[{"index": 1, "function": {"arguments": '{"x":'}}]),
        chunk(tool_calls=[{"index": 1, "function": {"arguments": "2}"}}]),
        chunk(finish="tool_calls"),
    )
    flat = [(e["type"], e.get("index"), (e.get("delta") or e.get("content_block") or {}).get("type")) for e in events]
    assert flat == [
        ("message_start", None, None), ("ping", None, None),
        ("content_block_start", 0, "thinking"), ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"), ("content_block_stop", 0, None),
        ("content_block_start", 1, "text"), ("content_block_delta", 1, "text_delta"), ("content_block_stop", 1, None),
        ("content_block_start", 2, "tool_use"), ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("content_block_start", 3, "tool_use"), ("content_block_delta", 3, "input_json_delta"),
        ("content_block_delta", 3, "input_json_delta"), ("content_block_stop", 3, None),
        ("message_delta", None, None), ("message_stop", None, None),
    ]  # fmt: skip
    assert events[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    message = msgspec.to_builtins(stream.message())
    assert message["content"][3] == {"type": "tool_use", "id": "b", "name": "g", "input": {"x": 2}}
    assert message["content"][0] == {"type": "thinking", "thinking": "hm", "signature": "s1"}
    assert message["usage"] == {
        "input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": None, "cache_read_input_tokens": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("pieces", "text", "stop"),
    [
        (["abc", "EN", "Dxyz"], "abc", "END"),
        (["abcE", "ND"], "abc", "END"),
        (["no stop here"], "no stop here", None),
        (["aXb"], "a", "X"),
        (["E", "N", "E", "N", "D"], "EN", "END"),
    ],
)
def test_stop_sequences_across_chunks(pieces: list[str], text: str, stop: str | None) -> None:
    events, stream = run(
        request(stop_sequences=["END", "X"]), *(chunk(content=p) for p in pieces), chunk(finish="stop")
    )
    streamed = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert streamed == text and stream.message().content[0].text == text  # type: ignore[union-attr]
    assert stream.message().stop_sequence == stop
    assert stream.message().stop_reason == ("stop_sequence" if stop else "end_turn")


def test_finish_reasons_and_cached_usage() -> None:
    _, length = run(request(), chunk(content="a"), chunk(finish="length"))
    assert length.stop_reason() == "max_tokens"
    _, refusal = run(request(), chunk(content="a"), chunk(finish="content_filter"))
    assert refusal.stop_reason() == "refusal"
    usage = {"prompt_tokens": 100, "completion_tokens": 3, "total_tokens": 103,
             "prompt_tokens_details": {"cached_tokens": 60}}  # fmt: skip
    with_usage = msgspec.json.decode(
        msgspec.json.encode({"id": "x", "created": 1, "model": "m", "choices": [], "usage": usage}),
        type=c.ChatCompletionChunk,
    )
    events, _ = run(request(), chunk(content="a"), with_usage)
    assert events[-2]["usage"] == {"output_tokens": 3, "input_tokens": 40, "cache_read_input_tokens": 60}


def test_redacted_thinking_and_bad_tool_arguments() -> None:
    events, stream = run(
        request(),
        chunk(reasoning_details=[{"type": "reasoning.encrypted", "data": "opaque"}]),
        chunk(
            tool_calls=[{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]
        ),
    )
    assert events[2]["content_block"] == {"type": "redacted_thinking", "data": "opaque"}
    with pytest.raises(Exception, match="not a JSON object"):
        stream.message()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "code", "want"),
    [
        (400, None, (400, "invalid_request_error")),
        (401, None, (401, "authentication_error")),
        (403, "model_not_allowed", (403, "permission_error")),
        (404, "model_not_found", (404, "not_found_error")),
        (408, "request_timeout", (408, "invalid_request_error")),
        (413, None, (413, "request_too_large")),
        (429, "rate_limit_exceeded", (429, "rate_limit_error")),
        (500, None, (500, "api_error")),
        (502, None, (502, "api_error")),
        (503, "upstream_overloaded", (529, "overloaded_error")),
        (503, "store_unavailable", (503, "api_error")),
        (504, None, (504, "timeout_error")),
    ],
)
def test_error_mapping(status: int, code: str | None, want: tuple[int, str]) -> None:
    got, body = messages_error(status, "why sk-ant-api03-secretsecret", code=code)
    assert (got, body.error.type) == want
    assert msgspec.to_builtins(body) == {"type": "error", "error": {"type": want[1], "message": "why [redacted]"}}


# ---------------------------------------------------------------- alias patterns


def test_alias_patterns(tmp_path: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[providers.a]
plugin = "echo"
[providers.b]
plugin = "echo"
[models."claude-haiku-*"]
target = "b/small"
[models."claude-*"]
target = "a/big"
[models."claude-exact"]
target = "b/exact"
""",
        encoding="utf-8",
    )
    settings = load_settings(path)
    registry = Registry(settings, {"a": object(), "b": object()}, [])  # type: ignore[dict-item]
    assert registry.resolve("claude-haiku-4-5").target == "b/small"  # the first pattern in file order
    assert registry.resolve("claude-sonnet-4-5").target == "a/big"
    assert registry.resolve("claude-exact").target == "b/exact"  # exact names before patterns
    assert registry.resolve("a/claude-x").target == "a/claude-x"  # provider names before patterns
    assert registry.plan("claude-opus-4").routes[0].target == "a/big"
    assert registry.plan("claude-opus-4").name == "claude-opus-4"
    with pytest.raises(Exception, match="not configured"):
        registry.resolve("gpt-4o")


async def test_patterns_are_not_listed_as_models(tmp_path: Any) -> None:
    class Listing:
        async def list_models(self) -> list[Any]:
            return []

    path = tmp_path / "config.toml"
    path.write_text(
        '[providers.a]\nplugin = "echo"\n[models."claude-*"]\ntarget = "a/big"\n[models.short]\ntarget = "a/big"\n',
        encoding="utf-8",
    )
    registry = Registry(load_settings(path), {"a": Listing()}, [])  # type: ignore[dict-item]
    assert [model.id for model in await registry.list_models()] == ["short"]
