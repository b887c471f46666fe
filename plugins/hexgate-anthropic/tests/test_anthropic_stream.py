"""Anthropic stream events → OpenAI chunks (stream.StreamTranslator), over every captured stream
and over hand-written event sequences for the cases the captures lack."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hexgate_anthropic import wire
from hexgate_anthropic.stream import StreamTranslator
from hexgate_anthropic.translate import REASONING_FORMAT

from hexgate.errors import UpstreamError, UpstreamOverloaded, UpstreamRateLimited
from hexgate.testing import check_stream

STREAMS = [
    "basic_response.sse",
    "tool_use_response.sse",
    "thinking-stream-a-refusal.sse",
    "refusal_response.sse",
    "anthropic--anthropic-text.chunks.txt",
    "anthropic--anthropic-clear-thinking.1.chunks.txt",
    "anthropic--anthropic-json-tool.1.chunks.txt",
    "anthropic--anthropic-json-tool.2.chunks.txt",
    "anthropic--anthropic-refusal.chunks.txt",
    "anthropic--anthropic-tool-no-args.chunks.txt",
]

FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "refusal": "content_filter"}


def run(events: list[dict[str, Any]], *, end: bool = True, **kw: Any) -> list[dict[str, Any]]:
    translator = StreamTranslator(model="claude-test", created=1, **kw)
    chunks = []
    for e in events:
        chunks += translator.feed(wire.decode_event(json.dumps(e)))
    if end:
        chunks += translator.end()
    return [msgspec.to_builtins(c) for c in chunks]


def start(msg_id: str = "msg_1", **usage: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {"input_tokens": 10, "output_tokens": 1, **usage},
        },
    }


def block(index: int, **content_block: Any) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def delta(index: int, **d: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": d}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(reason: str, **usage: Any) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None}, "usage": usage}


END = {"type": "message_stop"}


@pytest.mark.parametrize("name", STREAMS)
def test_captured_streams(captures: Any, name: str) -> None:
    chunks = run(captures.events(name))
    assert check_stream(chunks) == []
    want = captures.expected(name)
    got = captures.reassemble(chunks)
    assert got["text"] == want["text"]
    assert got["reasoning"] == want["reasoning"]
    assert [(i, n) for i, n, _ in got["tool_calls"]] == [(i, n) for i, n, _ in want["tool_calls"]]
    for (_, _, args), (_, _, raw) in zip(got["tool_calls"], want["tool_calls"], strict=True):
        assert json.loads(args) == json.loads(raw or "{}")
    assert got["finish_reason"] == FINISH[want["stop_reason"]]
    usage = got["usage"]
    assert usage["prompt_tokens"] == want["prompt_tokens"]
    assert usage["completion_tokens"] == want["completion_tokens"]
    assert usage["total_tokens"] == want["prompt_tokens"] + want["completion_tokens"]
    if want["reasoning_tokens"] is not None:
        assert usage["completion_tokens_details"] == {"reasoning_tokens": want["reasoning_tokens"]}
    # usage rides on the last chunk only; the first chunk carries the role
    assert all("usage" not in c for c in chunks[:-1])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    ids = {c["id"] for c in chunks}
    msg_id = captures.events(name)[0]["message"]["id"]
    assert ids == {f"chatcmpl-{msg_id}"}


def test_tool_call_deltas_follow_openai(captures: Any) -> None:
    chunks = run(captures.events("tool_use_response.sse"))
    calls = [call for c in chunks for ch in c["choices"] for call in ch["delta"].get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    # then argument fragments only, none empty (the capture's leading "" fragment is dropped)
    assert calls[1:] == [{"index": 0, "function": {"arguments": a}} for a in ['{"locati', 'on": "P', "ar", 'is"}']]


def test_tool_without_arguments_gets_empty_object(captures: Any) -> None:
    chunks = run(captures.events("anthropic--anthropic-tool-no-args.chunks.txt"))
    calls = [call for c in chunks for ch in c["choices"] for call in ch["delta"].get("tool_calls", [])]
    assert calls == [
        {
            "index": 0,
            "id": "toolu_01QE1WLsSVp5hy5Q3GmGTmjP",
            "type": "function",
            "function": {"name": "updateIssueList", "arguments": ""},
        },
        {"index": 0, "function": {"arguments": "{}"}},
    ]


def test_several_tool_calls_count_calls_not_blocks() -> None:
    events = [
        start(),
        block(0, type="text", text=""),
        delta(0, type="text_delta", text="Two calls."),
        stop(0),
        block(1, type="tool_use", id="toolu_a", name="f", input={}),
        delta(1, type="input_json_delta", partial_json=""),
        delta(1, type="input_json_delta", partial_json='{"x": 1}'),
        stop(1),
        block(2, type="tool_use", id="toolu_b", name="g", input={}),
        delta(2, type="input_json_delta", partial_json='{"y":'),
        delta(2, type="input_json_delta", partial_json=" 2}"),
        stop(2),
        message_delta("tool_use", output_tokens=40),
        END,
    ]
    chunks = run(events)
    assert check_stream(chunks) == []
    calls = [call for c in chunks for ch in c["choices"] for call in ch["delta"].get("tool_calls", [])]
    assert [(c["index"], c.get("id")) for c in calls] == [
        (0, "toolu_a"),
        (0, None),
        (1, "toolu_b"),
        (1, None),
        (1, None),
    ]
    assert [json.loads(a) for _, _, a in run_reassembled(chunks)] == [{"x": 1}, {"y": 2}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def run_reassembled(chunks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    calls: dict[int, list[str]] = {}
    for c in chunks:
        for call in c["choices"][0]["delta"].get("tool_calls", []):
            slot = calls.setdefault(call["index"], ["", "", ""])
            slot[0] = call.get("id", slot[0])
            slot[1] += call.get("function", {}).get("name", "")
            slot[2] += call.get("function", {}).get("arguments", "")
    return [(a, b, c) for a, b, c in (calls[i] for i in sorted(calls))]


def test_tool_calls_win_over_end_turn() -> None:
    events = [start(), block(0, type="tool_use", id="t", name="f", input={}), stop(0), message_delta("end_turn"), END]
    assert run(events)[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_whole_input_at_block_start() -> None:
    events = [
        start(),
        block(0, type="tool_use", id="t", name="f", input={"a": 1}),
        stop(0),
        message_delta("tool_use"),
        END,
    ]
    calls = [call for c in run(events) for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[1:] == [{"index": 0, "function": {"arguments": '{"a":1}'}}]


def test_thinking_signature_becomes_a_reasoning_detail(captures: Any) -> None:
    chunks = run(captures.events("anthropic--anthropic-clear-thinking.1.chunks.txt"))
    got = captures.reassemble(chunks)
    signature = next(
        e["delta"]["signature"]
        for e in captures.events("anthropic--anthropic-clear-thinking.1.chunks.txt")
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "signature_delta"
    )
    assert got["reasoning_details"] == [
        {
            "type": "reasoning.text",
            "text": got["reasoning"],
            "signature": signature,
            "format": REASONING_FORMAT,
            "index": 0,
        }
    ]
    # the detail comes after the last reasoning delta and before the first text delta
    kinds = [
        k
        for c in chunks
        for k in c["choices"][0]["delta"]
        if k in ("reasoning_content", "reasoning_details", "content")
    ]
    first_text = kinds.index("content", 1)
    assert kinds[first_text - 1] == "reasoning_details"


def test_redacted_thinking_and_unknown_blocks() -> None:
    events = [
        start(),
        {"type": "ping"},
        block(0, type="redacted_thinking", data="EmwKAhgB"),
        stop(0),
        block(1, type="server_tool_use", id="srvtoolu_1", name="web_search", input={}),
        delta(1, type="input_json_delta", partial_json='{"query": "x"}'),
        stop(1),
        block(2, type="web_search_tool_result", tool_use_id="srvtoolu_1", content=[]),
        stop(2),
        block(3, type="text", text=""),
        delta(3, type="citations_delta", citation={"type": "web_search_result_location"}),
        delta(3, type="text_delta", text="Found it."),
        stop(3),
        {"type": "brand_new_event", "payload": 1},
        message_delta("end_turn", output_tokens=9),
        END,
    ]
    chunks = run(events)
    assert check_stream(chunks) == []
    got_text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert got_text == "Found it."
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks)
    details = [d for c in chunks for d in c["choices"][0]["delta"].get("reasoning_details", [])]
    assert details == [{"type": "reasoning.encrypted", "data": "EmwKAhgB", "format": REASONING_FORMAT, "index": 0}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_usage_is_cumulative_and_cache_counts_as_prompt() -> None:
    events = [
        start(cache_read_input_tokens=100, cache_creation_input_tokens=5),
        block(0, type="text", text="Hi"),
        stop(0),
        message_delta("end_turn", output_tokens=3),
        message_delta("end_turn", output_tokens=8, input_tokens=12),
        END,
    ]
    chunks = run(events)
    assert chunks[1]["choices"][0]["delta"] == {"content": "Hi"}
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 12 + 100 + 5,
        "completion_tokens": 8,
        "total_tokens": 125,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_error_event_raises() -> None:
    translator = StreamTranslator(model="m", created=1)
    out = translator.feed(wire.decode_event(json.dumps(start())))
    out += translator.feed(wire.decode_event(json.dumps(block(0, type="text", text=""))))
    out += translator.feed(wire.decode_event(json.dumps(delta(0, type="text_delta", text="partial"))))
    assert len(out) == 2
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(UpstreamOverloaded) as err:
        translator.feed(wire.decode_event(json.dumps(error)))
    assert "Overloaded" in err.value.message
    with pytest.raises(UpstreamRateLimited):
        StreamTranslator(model="m", created=1).feed(
            wire.decode_event('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}')
        )


def test_truncated_stream_raises() -> None:
    translator = StreamTranslator(model="m", created=1)
    translator.feed(wire.decode_event(json.dumps(start())))
    translator.feed(wire.decode_event(json.dumps(delta(0, type="text_delta", text="cut"))))
    with pytest.raises(UpstreamError, match="truncated"):
        translator.end()


def test_missing_message_stop_still_finishes() -> None:
    chunks = run(
        [
            start(),
            block(0, type="text", text=""),
            delta(0, type="text_delta", text="x"),
            stop(0),
            message_delta("max_tokens", output_tokens=1),
        ]
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 1


def test_fixed_chunk_id_and_choice_index() -> None:
    chunks = run([start(), message_delta("end_turn"), END], chunk_id="chatcmpl-shared", choice_index=2)
    assert {c["id"] for c in chunks} == {"chatcmpl-shared"}
    assert {c["choices"][0]["index"] for c in chunks} == {2}
