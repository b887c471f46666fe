"""``/v1/messages`` and ``/v1/messages/count_tokens`` end to end with the official ``anthropic`` client,
against a scripted OpenAI-compatible upstream (StubUpstream) behind a running hexgate, so that every
call goes through the core's Messages ⇄ Chat bridge.

The stub answers ``POST /v1/chat/completions`` with a chat stream chosen by the last message: a
user text starting with a keyword (``tool``, ``think``, ``stop``, ``long``, ``slow``, ``fail <status>``)
picks a script; a ``tool`` message (a tool result) gets a text answer that quotes it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream, running_gateway

ADMIN = "messages-admin-key-000"
STATIC = "messages-static-key-000"
SSE = {"content-type": "text/event-stream"}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "stub-model",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n".encode()


USAGE = {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28, "prompt_tokens_details": {"cached_tokens": 5}}


def _text(*pieces: str, finish: str = "stop", usage: bool = True) -> list[bytes]:
    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": p}) for p in pieces]
    frames.append(chunk({}, finish))
    if usage:
        frames.append(chunk(None, usage=USAGE))
    return [*frames, b"data: [DONE]\n\n"]


def script(request: RecordedRequest) -> Reply:
    body = request.json()
    last = body["messages"][-1]
    if last["role"] == "tool":
        return Reply(body=_text("The tool said: ", str(last["content"])), headers=SSE)
    content = last.get("content")
    text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content or [])
    word = text.split(" ", 1)[0]
    if word == "fail":
        status = int(text.split()[1])
        headers = {"content-type": "application/json", "retry-after": "7"}
        return Reply(status, json.dumps({"error": {"message": f"stub failure {status}"}}).encode(), headers=headers)
    if word == "tool":
        frames = [
            chunk({"role": "assistant", "content": "Let me check."}),
            chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                   "function": {"name": "get_weather", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
            chunk({}, "tool_calls"),
            b"data: [DONE]\n\n",
        ]  # fmt: skip
        return Reply(body=frames, headers=SSE)
    if word == "think":
        frames = [
            chunk({"role": "assistant", "reasoning_content": "Let me "}),
            chunk({"reasoning_content": "think."}),
            chunk({"reasoning_details": [{"type": "reasoning.text", "signature": "sig-123", "index": 0}]}),
            chunk({"content": "Answer."}),
            chunk({}, "stop"),
            b"data: [DONE]\n\n",
        ]
        return Reply(body=frames, headers=SSE)
    if word == "stop":
        return Reply(body=_text("one tw", "o ST", "OP three", " four"), headers=SSE)
    if word == "long":
        return Reply(body=_text("a b c d", finish="length"), headers=SSE)
    if word == "break":  # a started stream whose connection drops
        return Reply(body=[chunk({"role": "assistant", "content": "partial"})], headers=SSE, reset=True)
    if word == "slow":
        return Reply(body=_text(*(f"w{i} " for i in range(200)), usage=False), headers=SSE, delay=0.05)
    return Reply(body=_text("Hello", " world"), headers=SSE)


@pytest.fixture(scope="session")
def stub() -> Iterator[StubUpstream]:
    with StubUpstream({"POST /v1/chat/completions": script}) as upstream:
        yield upstream


def gateway_config(stub: StubUpstream, *, extra: str = "") -> str:
    return f"""
[server]
admin_key = "{ADMIN}"
api_keys = ["{STATIC}"]
max_body_size = 200000

[routing]
retries = 0

[providers.up]
plugin = "openai"
base_url = "{stub.url}/v1"
api_key = "upstream-key"

[models."claude-*"]
target = "up/stub-model"

[prices."up/*"]
input = 1
output = 1
{extra}
"""


@pytest.fixture(scope="session")
def base(stub: StubUpstream) -> Iterator[str]:
    with running_gateway(gateway_config(stub)) as url:
        yield url


pytestmark = pytest.mark.e2e


@pytest.fixture
def client(base: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=base, api_key=STATIC, max_retries=0, timeout=30) as c:
        yield c


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def last_upstream(stub: StubUpstream) -> dict[str, Any]:
    body: dict[str, Any] = stub.requests[-1].json()
    return body


# ---------------------------------------------------------------- text, stops, system


def test_create_text_with_usage_and_system(client: anthropic.Anthropic, stub: StubUpstream) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=50, system="Be brief.", messages=user("hi"), temperature=0.2
    )
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.model == "claude-sonnet-4-5"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello world"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (16, 7)  # 21 prompt - 5 cached
    assert message.usage.cache_read_input_tokens == 5
    sent = last_upstream(stub)
    assert sent["model"] == "stub-model" and sent["max_tokens"] == 50 and sent["temperature"] == 0.2
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


def test_system_as_blocks(client: anthropic.Anthropic, stub: StubUpstream) -> None:
    client.messages.create(
        model="up/stub-model",
        max_tokens=20,
        system=[{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}],
        messages=user("hi"),
    )
    assert last_upstream(stub)["messages"][0] == {"role": "system", "content": "Rule one.\n\nRule two."}


def raw_events(base: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The SSE frames of a streamed call as (event, data) pairs (the SDK hides ``ping``)."""
    with httpx.stream(
        "POST", f"{base}/v1/messages", headers={"x-api-key": STATIC}, json={**body, "stream": True}, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = []
    for frame in text.split("\n\n"):
        if frame:
            event_line, data_line = frame.split("\n")
            data = json.loads(data_line.removeprefix("data: "))
            assert event_line == f"event: {data['type']}"
            events.append((data["type"], data))
    return events


def test_stream_text_in_anthropic_order(client: anthropic.Anthropic, base: str) -> None:
    kinds = [k for k, _ in raw_events(base, {"model": "claude-x", "max_tokens": 50, "messages": user("hi")})]
    assert kinds == [
        "message_start", "ping",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=user("hi")) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Hello world"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 7 and final.usage.input_tokens == 16


def test_max_tokens_stop(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="claude-x", max_tokens=4, messages=user("long text please"))
    assert message.stop_reason == "max_tokens"
    with client.messages.stream(model="claude-x", max_tokens=4, messages=user("long text please")) as stream:
        assert stream.get_final_message().stop_reason == "max_tokens"


def test_stop_sequence_is_named_and_text_cut_there(client: anthropic.Anthropic, stub: StubUpstream) -> None:
    message = client.messages.create(
        model="claude-x", max_tokens=50, messages=user("stop please"), stop_sequences=["never", "STOP"]
    )
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "STOP"
    assert message.content[0].text == "one two "  # type: ignore[union-attr]
    assert "stop" not in last_upstream(stub)  # hexgate watches for them itself
    with client.messages.stream(
        model="claude-x", max_tokens=50, messages=user("stop please"), stop_sequences=["STOP"]
    ) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "STOP")
    assert final.content[0].text == "one two "  # type: ignore[union-attr]


# ---------------------------------------------------------------- images


def test_images_base64_and_url(client: anthropic.Anthropic, stub: StubUpstream) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    client.messages.create(
        model="claude-x",
        max_tokens=20,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                    {"type": "text", "text": "what is this?"},
                ],
            }
        ],
    )
    parts = last_upstream(stub)["messages"][-1]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    assert parts[2] == {"type": "text", "text": "what is this?"}


# ---------------------------------------------------------------- tools

TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def test_tool_use_then_tool_result_turn(client: anthropic.Anthropic, stub: StubUpstream) -> None:
    first = client.messages.create(
        model="claude-x",
        max_tokens=100,
        messages=user("tool weather in Paris?"),
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    sent = last_upstream(stub)
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]
    assert sent["tool_choice"] == "auto" and sent["parallel_tool_calls"] is False
    assert first.stop_reason == "tool_use"
    assert [b.type for b in first.content] == ["text", "tool_use"]
    call = first.content[1]
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "Paris"}
    second = client.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=TOOLS,  # type: ignore[arg-type]
        messages=[
            *user("tool weather in Paris?"),
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 24 C"}],
            },
        ],
    )
    assert second.content[0].text == "The tool said: sunny, 24 C"  # type: ignore[union-attr]
    history = last_upstream(stub)["messages"]
    assert history[1]["role"] == "assistant" and history[1]["content"] == "Let me check."
    assert history[1]["tool_calls"][0]["id"] == call.id
    assert json.loads(history[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert history[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"}


def test_tool_result_error_and_blocks(client: anthropic.Anthropic, stub: StubUpstream) -> None:
    client.messages.create(
        model="claude-x",
        max_tokens=100,
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[
            *user("tool weather?"),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "is_error": True,
                     "content": [{"type": "text", "text": "city missing"}]},
                ],
            },
        ],
    )  # fmt: skip
    sent = last_upstream(stub)
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["messages"][-1] == {"role": "tool", "tool_call_id": "t1", "content": "Error: city missing"}


def test_streamed_input_json_delta_parses(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-x",
        max_tokens=100,
        messages=user("tool weather in Paris?"),
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "any"},
    ) as stream:
        deltas = [
            e.delta.partial_json
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        ]  # type: ignore[union-attr]
        final = stream.get_final_message()
    assert "".join(deltas) == '{"city": "Paris"}'
    assert final.stop_reason == "tool_use"
    tool = final.content[1]
    assert tool.type == "tool_use" and tool.input == {"city": "Paris"}


# ---------------------------------------------------------------- thinking


def test_thinking_from_a_reasoning_upstream(client: anthropic.Anthropic, stub: StubUpstream) -> None:
    message = client.messages.create(
        model="claude-x",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=user("think hard"),
    )
    assert last_upstream(stub)["reasoning_effort"] == "medium"
    assert [b.type for b in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "Let me think." and thinking.signature == "sig-123"
    with client.messages.stream(
        model="claude-x", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024}, messages=user("think")
    ) as stream:
        kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in stream]
        final = stream.get_final_message()
    assert ("content_block_delta", "thinking_delta") in kinds and ("content_block_delta", "signature_delta") in kinds
    assert final.content[0].signature == "sig-123"  # type: ignore[union-attr]
    client.messages.create(model="claude-x", max_tokens=100, thinking={"type": "disabled"}, messages=user("hi"))
    assert last_upstream(stub)["reasoning_effort"] == "none"


def test_thinking_blocks_go_back_as_reasoning(client: anthropic.Anthropic, stub: StubUpstream) -> None:
    client.messages.create(
        model="claude-x",
        max_tokens=100,
        messages=[
            *user("hi"),
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig-9"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Hello"},
            ]},
            *user("again"),
        ],
    )  # fmt: skip
    assistant = last_upstream(stub)["messages"][1]
    assert assistant["reasoning_content"] == "hmm" and assistant["content"] == "Hello"
    assert assistant["reasoning_details"][0]["signature"] == "sig-9"
    assert assistant["reasoning_details"][1] == {"type": "reasoning.encrypted", "data": "opaque", "index": 1}


# ---------------------------------------------------------------- count_tokens and OpenAPI


def test_count_tokens(client: anthropic.Anthropic) -> None:
    small = client.messages.count_tokens(model="claude-x", messages=user("hi"))
    big = client.messages.count_tokens(
        model="claude-x",
        messages=user("hi " * 400),
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert 0 < small.input_tokens < big.input_tokens


def test_openapi_lists_both_routes(base: str) -> None:
    schema = httpx.get(f"{base}/schema/openapi.json", timeout=10).json()
    for path, body in (("/v1/messages", "MessagesRequest"), ("/v1/messages/count_tokens", "CountTokensRequest")):
        ref = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith(f"/{body}")
    assert "max_tokens" in schema["components"]["schemas"]["MessagesRequest"]["required"]


# ---------------------------------------------------------------- errors, as the SDK raises them


def _error_body(exc: anthropic.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    return body["error"]  # type: ignore[no-any-return]


def test_400_invalid_request(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="claude-x", messages=user("hi"), max_tokens="many")  # type: ignore[arg-type]
    assert _error_body(caught.value)["type"] == "invalid_request_error"
    response = httpx.post(
        f"{client.base_url}/v1/messages",
        headers={"x-api-key": STATIC},
        json={"model": "claude-x", "messages": user("hi")},
        timeout=10,
    )
    assert response.status_code == 400 and "max_tokens" in response.json()["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):  # the upstream refused the request
        client.messages.create(model="claude-x", max_tokens=5, messages=user("fail 400"))


def test_401_authentication(base: str) -> None:
    with (
        anthropic.Anthropic(base_url=base, api_key="wrong", max_retries=0) as bad,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        bad.messages.create(model="claude-x", max_tokens=5, messages=user("hi"))
    assert _error_body(caught.value)["type"] == "authentication_error"
    with anthropic.Anthropic(base_url=base, auth_token=STATIC, max_retries=0) as bearer:  # ANTHROPIC_AUTH_TOKEN
        assert bearer.messages.create(model="claude-x", max_tokens=5, messages=user("hi")).content


def _key(base: str, **spec: Any) -> str:
    response = httpx.post(
        f"{base}/admin/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"name": "m", **spec}, timeout=10
    )
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def test_403_model_not_allowed_for_a_virtual_key(base: str) -> None:
    key = _key(base, models=["claude-haiku-*"])
    with anthropic.Anthropic(base_url=base, api_key=key, max_retries=0) as keyed:
        assert keyed.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=user("hi")).content
        with pytest.raises(anthropic.PermissionDeniedError) as caught:
            keyed.messages.create(model="claude-opus-4", max_tokens=5, messages=user("hi"))
        assert keyed.messages.count_tokens(model="claude-haiku-4-5", messages=user("hi")).input_tokens > 0
        with pytest.raises(anthropic.PermissionDeniedError):
            keyed.messages.count_tokens(model="claude-opus-4", messages=user("hi"))
    assert _error_body(caught.value)["type"] == "permission_error"


def test_429_rate_limit_from_key_limits_and_upstream(base: str, client: anthropic.Anthropic) -> None:
    key = _key(base, rpm=1)
    with anthropic.Anthropic(base_url=base, api_key=key, max_retries=0) as keyed:
        keyed.messages.create(model="claude-x", max_tokens=5, messages=user("hi"))
        with pytest.raises(anthropic.RateLimitError) as caught:
            keyed.messages.create(model="claude-x", max_tokens=5, messages=user("hi"))
    assert _error_body(caught.value)["type"] == "rate_limit_error"
    assert caught.value.response.headers.get("retry-after")
    with pytest.raises(anthropic.RateLimitError) as upstream:
        client.messages.create(model="claude-x", max_tokens=5, messages=user("fail 429"))
    assert upstream.value.response.headers["retry-after"] == "7"


def test_usage_and_budget_charged_to_the_key(base: str) -> None:
    created = httpx.post(
        f"{base}/admin/keys",
        headers={"authorization": f"Bearer {ADMIN}"},
        json={"name": "budget", "budget": 10.0, "tpm": 100_000},
        timeout=10,
    ).json()
    with anthropic.Anthropic(base_url=base, api_key=created["key"], max_retries=0) as keyed:
        keyed.messages.create(model="claude-x", max_tokens=5, messages=user("hi"))
        with keyed.messages.stream(model="claude-x", max_tokens=5, messages=user("hi")) as stream:
            stream.until_done()
    record = httpx.get(
        f"{base}/admin/keys/{created['id']}", headers={"authorization": f"Bearer {ADMIN}"}, timeout=10
    ).json()
    assert record["tokens_this_minute"] == 2 * 28  # the upstream's 21 + 7 tokens, twice
    assert record["spent"] == pytest.approx(2 * 28 / 1e6)  # at $1 per million


def test_404_unknown_model(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="gpt-nothing", max_tokens=5, messages=user("hi"))
    assert _error_body(caught.value)["type"] == "not_found_error"


def test_413_request_too_large(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RequestTooLargeError) as caught:
        client.messages.create(model="claude-x", max_tokens=5, messages=user("x" * 300_000))
    assert _error_body(caught.value)["type"] == "request_too_large"


def test_500_api_error_and_529_overloaded(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(model="claude-x", max_tokens=5, messages=user("fail 500"))
    assert _error_body(caught.value)["type"] == "api_error"
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        client.messages.create(model="claude-x", max_tokens=5, messages=user("fail 503"))
    assert overloaded.value.status_code == 529
    assert _error_body(overloaded.value)["type"] == "overloaded_error"


def test_431_headers_in_the_dialect(base: str) -> None:
    response = httpx.post(
        f"{base}/v1/messages", headers={"x-api-key": STATIC, "x-big": "a" * 40_000}, json={}, timeout=10
    )
    assert response.status_code == 431 and response.json()["type"] == "error"


# ---------------------------------------------------------------- disconnect


def test_client_disconnect_cancels_the_upstream(base: str, stub: StubUpstream) -> None:
    before = stub.disconnects
    with httpx.stream(
        "POST",
        f"{base}/v1/messages",
        headers={"x-api-key": STATIC, "anthropic-version": "2023-06-01"},
        json={"model": "claude-x", "max_tokens": 500, "stream": True, "messages": user("slow please")},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        for line in lines:
            if "text_delta" in line:
                break
    assert stub.wait_for(lambda: stub.disconnects > before, timeout=15)


def test_failure_after_the_start_is_an_error_event(client: anthropic.Anthropic, base: str) -> None:
    events = raw_events(base, {"model": "claude-x", "max_tokens": 50, "messages": user("break now")})
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["message_start", "ping"] and kinds[-1] == "error"
    assert events[-1][1]["error"]["type"] == "api_error" and events[-1][1]["error"]["message"]
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(model="claude-x", max_tokens=50, messages=user("break now")) as stream,  # type: ignore[arg-type]
    ):
        stream.until_done()


def test_client_disconnect_cancels_a_non_streamed_call(base: str, stub: StubUpstream) -> None:
    before = stub.disconnects
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{base}/v1/messages",
            headers={"x-api-key": STATIC},
            json={"model": "claude-x", "max_tokens": 500, "messages": user("slow please")},
            timeout=httpx.Timeout(10, read=1.0),
        )
    assert stub.wait_for(lambda: stub.disconnects > before, timeout=15)
