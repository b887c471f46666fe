"""End to end: the official ``openai`` client → ``hexgate serve`` → this plugin → the real
``anthropic`` SDK → a StubUpstream on 127.0.0.1 replaying Anthropic's captured answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from hexgate.testing import Reply, StubUpstream, check_stream

pytestmark = pytest.mark.e2e

MODEL = "claude/claude-sonnet-4-5"
USER = [{"role": "user", "content": "hi"}]

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
BODIES = [
    "anthropic--anthropic-text.json",
    "anthropic--anthropic-clear-thinking.1.json",
    "anthropic--anthropic-json-tool.1.json",
    "anthropic--anthropic-refusal.json",
    "anthropic--anthropic-refusal-no-details.json",
    "anthropic--anthropic-tool-no-args.json",
]
FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "refusal": "content_filter"}


def stream_dicts(client: openai.OpenAI, **kw: Any) -> list[dict[str, Any]]:
    """Stream with the openai client; every chunk re-validated strictly by its own type."""
    chunks = []
    for chunk in client.chat.completions.create(model=MODEL, stream=True, **kw):
        raw = chunk.to_dict()
        ChatCompletionChunk.model_validate(raw, strict=False)
        chunks.append(raw)
    return chunks


@pytest.mark.parametrize("name", STREAMS)
def test_replayed_streams(client: openai.OpenAI, upstream: StubUpstream, captures: Any, name: str) -> None:
    upstream.routes["POST /v1/messages"] = captures.stream_reply(name)
    chunks = stream_dicts(client, messages=USER, stream_options={"include_usage": True})
    assert check_stream(chunks) == []
    want, got = captures.expected(name), captures.reassemble(chunks)
    assert got["text"] == want["text"]
    assert got["reasoning"] == want["reasoning"]
    assert [(i, n) for i, n, _ in got["tool_calls"]] == [(i, n) for i, n, _ in want["tool_calls"]]
    for (_, _, args), (_, _, raw) in zip(got["tool_calls"], want["tool_calls"], strict=True):
        assert json.loads(args) == json.loads(raw or "{}")
    assert got["finish_reason"] == FINISH[want["stop_reason"]]
    # the core's final usage chunk carries the capture's numbers
    assert chunks[-1]["choices"] == []
    usage = chunks[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (want["prompt_tokens"], want["completion_tokens"])
    assert usage["total_tokens"] == want["prompt_tokens"] + want["completion_tokens"]
    if want["reasoning_tokens"] is not None:
        assert usage["completion_tokens_details"]["reasoning_tokens"] == want["reasoning_tokens"]
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test-000"
    assert sent.json()["stream"] is True
    assert sent.json()["model"] == "claude-sonnet-4-5"


def test_stream_without_usage_request_has_no_usage(
    client: openai.OpenAI, upstream: StubUpstream, captures: Any
) -> None:
    upstream.routes["POST /v1/messages"] = captures.stream_reply("basic_response.sse")
    chunks = stream_dicts(client, messages=USER)
    assert all(not c.get("usage") for c in chunks)
    assert captures.reassemble(chunks)["text"] == "Hello there!"


@pytest.mark.parametrize("name", BODIES)
def test_replayed_bodies(client: openai.OpenAI, upstream: StubUpstream, captures: Any, name: str) -> None:
    upstream.routes["POST /v1/messages"] = captures.json_reply(name)
    done = client.chat.completions.create(model=MODEL, messages=USER)
    ChatCompletion.model_validate(done.to_dict())
    body = json.loads(captures.text(name))
    msg = done.choices[0].message
    texts = [b["text"] for b in body["content"] if b["type"] == "text"]
    assert msg.content == ("".join(texts) if texts else None)
    uses = [b for b in body["content"] if b["type"] == "tool_use"]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls or []] == [
        (u["id"], u["name"], u["input"]) for u in uses
    ]
    thinking = "".join(b["thinking"] for b in body["content"] if b["type"] == "thinking")
    assert (msg.model_extra or {}).get("reasoning_content") == (thinking or None)
    assert done.choices[0].finish_reason == ("tool_calls" if uses else FINISH[body["stop_reason"]])
    assert done.usage is not None
    assert done.usage.prompt_tokens == body["usage"]["input_tokens"]
    assert done.usage.completion_tokens == body["usage"]["output_tokens"]
    assert done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == body["usage"]["cache_read_input_tokens"]
    assert "stream" not in upstream.requests[-1].json()


# ---------------------------------------------------------------- round trip with a signature

SIGNATURE = "EqQBCkYIBxgCKkDfixture-signature-round-trip=="
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
TURN_ONE = {
    "id": "msg_01RoundTrip",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "The user wants Paris weather; call the tool.", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgyRedacted"},
        {"type": "tool_use", "id": "toolu_01Paris", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 50, "output_tokens": 40, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
}
TURN_TWO = {
    **TURN_ONE,
    "id": "msg_02",
    "content": [{"type": "text", "text": "It is 18C in Paris."}],
    "stop_reason": "end_turn",
}


def _check_second_request(sent: dict[str, Any]) -> None:
    """Anthropic's documented shape for a tool-result turn with extended thinking: the assistant
    turn replays the thinking blocks verbatim (signature included) before its tool_use, and the
    next user turn holds the tool_result with the matching tool_use_id."""
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "thinking",
                    "thinking": "The user wants Paris weather; call the tool.",
                    "signature": SIGNATURE,
                },
                {"type": "redacted_thinking", "data": "EmwKAhgBEgyRedacted"},
                {"type": "tool_use", "id": "toolu_01Paris", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01Paris", "content": "18C, sunny"}]},
    ]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["tools"][0]["name"] == "get_weather"


def test_round_trip_carries_the_signature(client: openai.OpenAI, upstream: StubUpstream) -> None:
    replies = iter([Reply(body=json.dumps(TURN_ONE).encode()), Reply(body=json.dumps(TURN_TWO).encode())])
    upstream.routes["POST /v1/messages"] = lambda r: next(replies)
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS, reasoning_effort="low")
    assistant = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert assistant.tool_calls and assistant.tool_calls[0].id == "toolu_01Paris"
    # as a client sends back the message it received: the whole dump, extra fields included
    history.append(assistant.model_dump(exclude_none=True))
    history.append({"role": "tool", "tool_call_id": assistant.tool_calls[0].id, "content": "18C, sunny"})
    second = client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS, reasoning_effort="low")
    assert second.choices[0].message.content == "It is 18C in Paris."
    _check_second_request(upstream.requests[1].json())


def test_streamed_round_trip_carries_the_signature(
    client: openai.OpenAI, upstream: StubUpstream, captures: Any
) -> None:
    thinking = TURN_ONE["content"][0]["thinking"]
    turn_one = captures.frames(
        {"type": "message_start", "message": {**TURN_ONE, "content": [], "stop_reason": None}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": thinking[:20]}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": thinking[20:]}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgyRedacted"},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_01Paris", "name": "get_weather", "input": {}},
        },
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 40},
        },
        {"type": "message_stop"},
    )
    replies = iter(
        [Reply(body=turn_one, headers={"content-type": "text/event-stream"}), Reply(body=json.dumps(TURN_TWO).encode())]
    )
    upstream.routes["POST /v1/messages"] = lambda r: next(replies)
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    chunks = stream_dicts(client, messages=history, tools=TOOLS, reasoning_effort="low")
    assert check_stream(chunks) == []
    got = captures.reassemble(chunks)
    assert got["reasoning"] == thinking
    assert got["finish_reason"] == "tool_calls"
    [(call_id, name, args)] = got["tool_calls"]
    # the message a streaming client assembles from the deltas, reasoning_details items appended
    history.append(
        {
            "role": "assistant",
            "content": got["text"] or None,
            "reasoning_content": got["reasoning"],
            "reasoning_details": got["reasoning_details"],
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}],
        }
    )
    history.append({"role": "tool", "tool_call_id": call_id, "content": "18C, sunny"})
    second = client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS, reasoning_effort="low")
    assert second.choices[0].message.content == "It is 18C in Paris."
    _check_second_request(upstream.requests[1].json())


# ---------------------------------------------------------------- errors


def test_mid_stream_error_reaches_the_client(client: openai.OpenAI, upstream: StubUpstream, captures: Any) -> None:
    frames = captures.frames(
        {
            "type": "message_start",
            "message": {
                "id": "msg_err",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "The first half of"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    upstream.routes["POST /v1/messages"] = Reply(body=frames, headers={"content-type": "text/event-stream"})
    text = ""
    with pytest.raises(openai.APIError) as err:
        for chunk in client.chat.completions.create(model=MODEL, messages=USER, stream=True):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    assert text == "The first half of"
    assert "Overloaded" in err.value.message


@pytest.mark.parametrize(
    ("status", "kind", "headers", "exc", "ours", "type_"),
    [
        (429, "rate_limit_error", {"retry-after": "12"}, openai.RateLimitError, 429, "rate_limit_error"),
        (529, "overloaded_error", {}, openai.InternalServerError, 503, "upstream_error"),
        (401, "authentication_error", {}, openai.APIStatusError, 502, "upstream_error"),
        (400, "invalid_request_error", {}, openai.BadRequestError, 400, "invalid_request_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_error_statuses(
    client: openai.OpenAI,
    upstream: StubUpstream,
    status: int,
    kind: str,
    headers: dict[str, str],
    exc: type[openai.APIStatusError],
    ours: int,
    type_: str,
    stream: bool,
) -> None:
    body = {
        "type": "error",
        "error": {"type": kind, "message": f"{kind}: x-api-key sk-ant-test-000 says no"},
        "request_id": "req_9",
    }
    upstream.routes["POST /v1/messages"] = Reply(
        status, json.dumps(body).encode(), {"content-type": "application/json", **headers}
    )
    with pytest.raises(exc) as err:
        if stream:
            list(client.chat.completions.create(model=MODEL, messages=USER, stream=True))
        else:
            client.chat.completions.create(model=MODEL, messages=USER)
    assert err.value.status_code == ours
    envelope = err.value.response.json()["error"]
    assert envelope["type"] == type_
    assert set(envelope) == {"message", "type", "param", "code"}
    assert f"{kind}: x-api-key" in envelope["message"]
    assert "sk-ant-test-000" not in err.value.response.text
    if status == 429:
        assert err.value.response.headers["retry-after"] == "12"


def test_embeddings_say_anthropic_has_none(client: openai.OpenAI, upstream: StubUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model=MODEL, input="hello")
    assert "no embeddings API" in err.value.message
    assert upstream.requests == []


def test_models_list_carries_capabilities(gateway: str, upstream: StubUpstream) -> None:
    page = {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-5-20250929",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
            }
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-sonnet-4-5-20250929",
    }
    upstream.routes["GET /v1/models"] = Reply(body=json.dumps(page).encode())
    listing = httpx.get(f"{gateway}/v1/models", params={"refresh": "true"}, timeout=30).json()
    entry = next(m for m in listing["data"] if m["id"] == "claude/claude-sonnet-4-5-20250929")
    assert entry["context_window"] == 200_000
    assert entry["capabilities"]["tools"] is True and entry["capabilities"]["vision"] is True


def test_client_disconnect_cancels_the_upstream(gateway: str, upstream: StubUpstream, captures: Any) -> None:
    events = captures.events("anthropic--anthropic-text.chunks.txt")
    # the answer comes slowly and then hangs: only a cancelled upstream call ends it early
    upstream.routes["POST /v1/messages"] = Reply(
        body=captures.frames(*events[:4]), headers={"content-type": "text/event-stream"}, delay=0.05, hang=20
    )
    body = {"model": MODEL, "messages": USER, "stream": True}
    with httpx.stream("POST", f"{gateway}/v1/chat/completions", json=body, timeout=30) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
    assert upstream.wait_for(lambda: upstream.disconnects >= 1, timeout=15)
