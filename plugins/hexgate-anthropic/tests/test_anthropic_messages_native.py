"""Native Messages pass-through end to end: the official ``anthropic`` client → ``hexgate serve``
(``/v1/messages``) → this plugin → a StubUpstream replaying Anthropic's captured answers. What the
client gets is what Anthropic sent, byte for byte; what the upstream gets is the client's body with
the upstream's model id, the client's version and beta headers, and the gateway's key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from hexgate.testing import Reply, StubUpstream, running_gateway

pytestmark = pytest.mark.e2e

MODEL = "claude/claude-sonnet-4-5"
SSE_CAPTURES = ["basic_response.sse", "tool_use_response.sse", "thinking-stream-a-refusal.sse", "refusal_response.sse"]


@pytest.fixture
def sdk(gateway: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway, api_key="client-key", max_retries=0, timeout=30) as client:
        yield client


HI = [{"role": "user", "content": "hi"}]


def post(gateway: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{gateway}/v1/messages", json=body, headers={"x-api-key": "client-key", **headers}, timeout=30)


@pytest.mark.parametrize("name", SSE_CAPTURES)
def test_stream_is_byte_faithful(gateway: str, upstream: StubUpstream, captures: Any, name: str) -> None:
    upstream.routes["POST /v1/messages"] = captures.stream_reply(name)
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    answer = post(gateway, body)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    raw = (captures.dir / name).read_bytes()
    if not raw.endswith(b"\n\n"):  # the capture file lost the blank line that ends its last frame
        raw = raw.rstrip(b"\n") + b"\n\n"
    assert answer.content == raw


@pytest.mark.parametrize("name", SSE_CAPTURES)
def test_sdk_stream_accumulates_a_capture(
    sdk: anthropic.Anthropic, upstream: StubUpstream, captures: Any, name: str
) -> None:
    upstream.routes["POST /v1/messages"] = captures.stream_reply(name)
    with sdk.messages.stream(model=MODEL, max_tokens=100, messages=HI) as s:  # type: ignore[arg-type]
        final = s.get_final_message()
    want = captures.expected(name)
    text = "".join(b.text for b in final.content if b.type == "text")
    assert text == want["text"] and final.stop_reason == want["stop_reason"]


def test_json_answer_is_byte_faithful_and_request_passes_through(
    gateway: str, upstream: StubUpstream, captures: Any
) -> None:
    upstream.routes["POST /v1/messages"] = captures.json_reply("anthropic--anthropic-text.json")
    client_body = (
        b'{"model": "claude/claude-sonnet-4-5", "max_tokens": 64, "future_field": {"x": [1, 2.50]},'
        b' "messages": [{"role": "user", "content": [{"type": "text", "text": "hi",'
        b' "cache_control": {"type": "ephemeral"}}]}]}'
    )
    answer = httpx.post(
        f"{gateway}/v1/messages",
        content=client_body,
        headers={
            "content-type": "application/json",
            "x-api-key": "client-key",
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "prompt-caching-2024-07-31",
        },
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.content == (captures.dir / "anthropic--anthropic-text.json").read_bytes()
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test-000"  # the gateway's key, never the client's
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent.body == (  # each value's bytes as the client sent them; only the model changed
        b'{"model":"claude-sonnet-4-5","max_tokens":64,"future_field":{"x": [1, 2.50]},'
        b'"messages":[{"role": "user", "content": [{"type": "text", "text": "hi",'
        b' "cache_control": {"type": "ephemeral"}}]}]}'
    )
    assert json.loads(sent.body)["future_field"] == {"x": [1, 2.5]}


def test_count_tokens_is_the_upstream_count(gateway: str, upstream: StubUpstream) -> None:
    upstream.routes["POST /v1/messages/count_tokens"] = Reply(body=b'{"input_tokens":4242}')
    with anthropic.Anthropic(base_url=gateway, api_key="client-key", max_retries=0) as client:
        count = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert count.input_tokens == 4242
    assert json.loads(upstream.requests[-1].body)["model"] == "claude-sonnet-4-5"


def test_upstream_errors_in_the_dialect(gateway: str, upstream: StubUpstream) -> None:
    overloaded = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    upstream.routes["POST /v1/messages"] = Reply(529, overloaded)
    with anthropic.Anthropic(base_url=gateway, api_key="client-key", max_retries=0) as client:
        with pytest.raises(anthropic.OverloadedError) as caught:
            client.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        bad = b'{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}'
        upstream.routes["POST /v1/messages"] = Reply(400, bad)
        with pytest.raises(anthropic.BadRequestError, match="roles must alternate"):
            client.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}])


def test_an_error_object_in_a_200_gets_its_status(gateway: str, upstream: StubUpstream) -> None:
    overloaded = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    upstream.routes["POST /v1/messages"] = Reply(200, overloaded)
    client = anthropic.Anthropic(base_url=gateway, api_key="client-key", max_retries=0)
    with client, pytest.raises(anthropic.OverloadedError) as caught:
        client.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_mid_stream_error_event_passes_through(sdk: anthropic.Anthropic, upstream: StubUpstream, captures: Any) -> None:
    start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
             "model": "claude-sonnet-4-5", "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": 3, "output_tokens": 1}}}  # fmt: skip
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    upstream.routes["POST /v1/messages"] = Reply(
        body=captures.frames(start, error), headers={"content-type": "text/event-stream"}
    )
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        sdk.messages.stream(model=MODEL, max_tokens=5, messages=HI) as s,  # type: ignore[arg-type]
    ):
        s.until_done()


@pytest.fixture(scope="module")
def mixed(stub: StubUpstream) -> Iterator[str]:
    """A gateway whose ``claude-*`` names try Anthropic first, then an OpenAI-compatible upstream."""
    config = f"""
[providers.claude]
plugin = "anthropic"
api_key = "sk-ant-test-000"
base_url = "{stub.url}"

[providers.oa]
plugin = "openai"
base_url = "{stub.url}/v1"
api_key = "oa-key"

[models."claude-*"]
targets = ["claude/claude-sonnet-4-5", "oa/fallback-model"]

[routing]
retries = 0
"""
    with running_gateway(config) as base:
        yield base


def test_an_overloaded_native_target_falls_back_to_a_bridged_one(mixed: str, upstream: StubUpstream) -> None:
    upstream.routes["POST /v1/messages"] = Reply(
        529, b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'
    )
    choice = {"index": 0, "delta": {"role": "assistant", "content": "from the fallback"}, "finish_reason": "stop"}
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fallback-model", "choices": [choice]}
    frames = [f"data: {json.dumps(chunk)}\n\n".encode(), b"data: [DONE]\n\n"]
    upstream.routes["POST /v1/chat/completions"] = Reply(body=frames, headers={"content-type": "text/event-stream"})
    with anthropic.Anthropic(base_url=mixed, api_key="client-key", max_retries=0, timeout=30) as client:
        raw = client.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=20, messages=HI)  # type: ignore[arg-type]
    message = raw.parse()
    assert message.content[0].text == "from the fallback"  # type: ignore[union-attr]
    assert raw.headers["x-hexgate-attempts"] == "2" and raw.headers["x-hexgate-provider"] == "oa"
    assert [r.path for r in upstream.requests] == ["/v1/messages", "/v1/chat/completions"]
