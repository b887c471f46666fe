"""hexgate-openai inside a running gateway, the official ``openai`` client in front and a scripted
upstream (StubUpstream on 127.0.0.1) behind: captures replayed, streams relayed as they arrive,
client disconnects cancelling the upstream request, upstream errors reaching the client."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import openai
import pytest

from hexgate.testing import Reply, StubUpstream, check_stream

if TYPE_CHECKING:
    from conftest import Captures

pytestmark = pytest.mark.e2e

SSE = {"content-type": "text/event-stream"}
ROUTE = "POST /v1/chat/completions"


def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "stub-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def test_replayed_reasoning_stream_through_the_gateway(
    client: openai.OpenAI, stub: StubUpstream, captures: Captures
) -> None:
    name = "deepseek--chat--deepseek-reasoning"
    stub.routes[ROUTE] = Reply(body=captures.frames(name, keepalive=True), headers=SSE)
    stream = client.chat.completions.create(
        model="up/deepseek-reasoner",
        messages=[{"role": "user", "content": "How many 'r's are in the word 'strawberry'?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c.to_dict() for c in stream]
    expected = captures.reassemble([json.loads(line) for line in captures.lines(name)])
    got = captures.reassemble(chunks)
    assert (got["text"], got["reasoning"], got["finish"]) == (expected["text"], expected["reasoning"], "stop")
    assert chunks[-1]["choices"] == []
    assert {k: chunks[-1]["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")} == {
        "prompt_tokens": 18,
        "completion_tokens": 219,
        "total_tokens": 237,
    }
    assert not check_stream(chunks)
    sent = stub.requests[0]
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.json()["model"] == "deepseek-reasoner"


def test_replayed_tool_call_through_the_gateway(client: openai.OpenAI, stub: StubUpstream, captures: Captures) -> None:
    stub.routes[ROUTE] = Reply(body=captures.raw("deepseek--chat--deepseek-tool-call"))
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    completion = client.chat.completions.create(
        model="up/deepseek-reasoner", messages=[{"role": "user", "content": "Weather in SF?"}], tools=tools
    )
    call = (completion.choices[0].message.tool_calls or [])[0]
    assert call.id == "call_00_9V0vrf86Pc9aelHCJMZqnJBo" and call.type == "function"
    assert call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"location": "San Francisco"}
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.total_tokens == 431
    assert stub.requests[0].json()["tools"] == tools


def test_embeddings_base64_default_through_the_gateway(
    client: openai.OpenAI, stub: StubUpstream, captures: Captures
) -> None:
    stub.routes["POST /v1/embeddings"] = Reply(body=captures.raw("openai--embedding--openai-embedding"))
    result = client.embeddings.create(model="up/text-embedding-3-small", input=["sunny day", "rainy day"])
    source = captures.json("openai--embedding--openai-embedding")
    for got, want in zip(result.data, source["data"], strict=True):
        assert got.embedding == pytest.approx(want["embedding"], rel=1e-6)
    assert result.usage.prompt_tokens == 12
    assert stub.requests[0].json()["encoding_format"] == "base64"


def test_stream_is_relayed_as_it_arrives_not_buffered(client: openai.OpenAI, stub: StubUpstream) -> None:
    words = [f"w{i} " for i in range(10)]
    frames = [frame({"role": "assistant", "content": ""})] + [frame({"content": w}) for w in words]
    frames += [frame({}, "stop"), b"data: [DONE]\n\n"]
    stub.routes[ROUTE] = Reply(body=frames, headers=SSE, delay=0.3)
    stream = client.chat.completions.create(
        model="up/stub-model", messages=[{"role": "user", "content": "count"}], stream=True
    )
    text = ""
    completed_at_first_content = None
    for chunk in stream:
        piece = chunk.choices[0].delta.content if chunk.choices else None
        if piece and completed_at_first_content is None:
            completed_at_first_content = stub.completed
        text += piece or ""
    assert completed_at_first_content == 0, "the first chunk must reach the client before the upstream finished"
    assert text == "".join(words)
    assert stub.wait_for(lambda: stub.completed == 1)


def test_client_disconnect_cancels_the_upstream_request(client: openai.OpenAI, stub: StubUpstream) -> None:
    frames = [frame({"role": "assistant", "content": ""})] + [frame({"content": f"t{i} "}) for i in range(100)]
    stub.routes[ROUTE] = Reply(body=frames, headers=SSE, delay=0.1)
    stream = client.chat.completions.create(
        model="up/stub-model", messages=[{"role": "user", "content": "go on"}], stream=True
    )
    iterator = iter(stream)
    received = [next(iterator), next(iterator)]
    stream.close()
    assert len(received) == 2
    assert stub.wait_for(lambda: stub.disconnects == 1), "the upstream never saw the gateway go away"
    assert stub.completed == 0


def test_upstream_429_reaches_the_client_with_retry_after(client: openai.OpenAI, stub: StubUpstream) -> None:
    body = b'{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}'
    # 30 s: longer than the gateway would wait to retry, so the client gets the upstream's answer at once
    headers = {"content-type": "application/json", "retry-after": "30"}
    stub.routes[ROUTE] = Reply(status=429, body=body, headers=headers)
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(
                model="up/stub-model", messages=[{"role": "user", "content": "hi"}], stream=stream
            )
        assert info.value.status_code == 429
        assert info.value.response.headers["retry-after"] == "30"
        error = info.value.response.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        assert "Rate limit reached" in error["message"]


def test_error_frame_mid_stream_raises_in_the_client(client: openai.OpenAI, stub: StubUpstream) -> None:
    frames = [
        frame({"role": "assistant", "content": "Hel"}),
        b'data: {"error":{"message":"Overloaded","type":"overloaded_error"}}\n\n',
    ]
    stub.routes[ROUTE] = Reply(body=frames, headers=SSE)
    stream = client.chat.completions.create(
        model="up/stub-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen = []
    with pytest.raises(openai.APIError, match="Overloaded"):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["Hel"]


def test_json_error_with_status_200_is_an_error_answer(client: openai.OpenAI, stub: StubUpstream) -> None:
    minimax = b'{"choices":null,"base_resp":{"status_code":1002,"status_msg":"rate limit exceeded (RPM)"}}'
    stub.routes[ROUTE] = Reply(body=minimax)
    with pytest.raises(openai.RateLimitError, match="rate limit exceeded"):
        client.chat.completions.create(model="up/MiniMax-M2", messages=[{"role": "user", "content": "hi"}])
