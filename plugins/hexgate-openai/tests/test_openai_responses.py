"""``/v1/responses`` through an OpenAI-compatible provider, end to end: the official ``openai`` client
against a running hexgate, upstreams replaced by :class:`StubUpstream` replaying real captures
(``fixtures/``).

- An upstream that serves ``/responses``: the answer passes through byte-faithful in content (every
  event's JSON equal to the capture's), the SDK accepts every event, errors surface as OpenAI sends them.
- An upstream without it (404): hexgate bridges over chat, and ``previous_response_id`` continues
  a conversation from hexgate's own store, even one that began on another provider.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream, replay_frames, running_gateway

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"
REASONING = "openai--responses--openai-reasoning-encrypted-content.1"
JSON_ANSWER = json.loads((FIXTURES / f"{REASONING}.json").read_text())["output"][1]["content"][0]["text"]
SSE = {"content-type": "text/event-stream"}
TOOLS = [
    {
        "type": "function",
        "name": "calculator",
        "description": "A minimal calculator for basic arithmetic. Call it once per step.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}, "op": {"type": "string"}},
            "required": ["a", "b", "op"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]


def lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / f"{name}.chunks.txt").read_text().splitlines() if line.strip()]


def streams(name: str) -> list[list[str]]:
    """A capture file holding several streams, split where each starts (``response.created``)."""
    out: list[list[str]] = []
    for line in lines(name):
        if json.loads(line)["type"] == "response.created":
            out.append([])
        out[-1].append(line)
    return out


def sse_events(base: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """``(event, data)`` pairs of a streamed answer, read off the wire."""
    events: list[tuple[str, str]] = []
    with httpx.stream("POST", f"{base}/v1/responses", json=body, timeout=30) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        name, data = "", ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif not line and data:
                events.append((name, data))
                name, data = "", ""
    return events


@pytest.fixture(scope="module")
def native() -> Iterator[StubUpstream]:
    with StubUpstream() as stub:
        yield stub


def chat_answer(request: RecordedRequest) -> Reply:
    """The chat capture, streamed or not as asked."""
    if request.json().get("stream"):
        return Reply(body=replay_frames(lines("openai--chat--openai-text"), style="data", done=True), headers=SSE)
    return Reply(body=(FIXTURES / "openai--chat--openai-text.json").read_bytes())


@pytest.fixture(scope="module")
def chat_only() -> Iterator[StubUpstream]:
    with StubUpstream({"POST /v1/chat/completions": chat_answer}) as stub:
        yield stub


@pytest.fixture(scope="module")
def flaky() -> Iterator[StubUpstream]:
    """A chat upstream whose stream breaks off after five chunks (connection reset)."""
    frames = replay_frames(lines("openai--chat--openai-text"), style="data")[:5]
    with StubUpstream({"POST /v1/chat/completions": Reply(body=frames, headers=SSE, reset=True)}) as stub:
        yield stub


@pytest.fixture(scope="module")
def base(native: StubUpstream, chat_only: StubUpstream, flaky: StubUpstream) -> Iterator[str]:
    config = f"""
[providers.flaky]
plugin = "openai"
base_url = "{flaky.url}/v1"
[providers.oa]
plugin = "openai"
base_url = "{native.url}/v1"
api_key = "test-key"

[providers.plain]
plugin = "openai"
base_url = "{chat_only.url}/v1"
api_key = "test-key"
"""
    with running_gateway(config) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0) as client:
        yield client


def serve(stub: StubUpstream, captured: list[str]) -> None:
    stub.routes["POST /v1/responses"] = Reply(body=replay_frames(captured, style="event"), headers=SSE)


@pytest.mark.parametrize("turn", [0, 1, 2, 3])
def test_stream_passes_through_capture_equal(base: str, native: StubUpstream, turn: int) -> None:
    captured = streams(REASONING)[turn]
    serve(native, captured)
    body = {
        "model": "oa/gpt-5.1-codex-max",
        "input": [{"role": "user", "content": "Compute (12 + 7) * 3 * 10 with the calculator."}],
        "tools": TOOLS,
        "reasoning": {"effort": "high", "summary": "detailed"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
        "stream": True,
        "x_unknown_option": {"kept": True},
    }
    events = sse_events(base, body)
    assert [(name, json.loads(data)) for name, data in events] == [
        (json.loads(line)["type"], json.loads(line)) for line in captured
    ]
    sent = native.requests[-1]
    assert sent.path == "/v1/responses"
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.json() == {**body, "model": "gpt-5.1-codex-max"}


def test_sdk_accepts_every_event_and_rebuilds_the_answer(client: openai.OpenAI, native: StubUpstream) -> None:
    first, *_, text = streams(REASONING)
    serve(native, first)
    events = list(client.responses.create(model="oa/gpt-5.1-codex-max", input="go", tools=TOOLS, stream=True))  # type: ignore[arg-type]
    assert [e.type for e in events] == [json.loads(line)["type"] for line in first]
    for event in events:  # each parsed into the SDK's own class for its type
        assert typing.get_args(type(event).model_fields["type"].annotation) == (event.type,)
    calls = [e.item for e in events if e.type == "response.output_item.done" and e.item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("calculator", {"a": 12, "b": 7, "op": "add"})]

    serve(native, text)
    with client.responses.stream(model="oa/gpt-5.1-codex-max", input="go", tools=TOOLS) as stream:  # type: ignore[arg-type]
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas) == "The final result is **570**."
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (299, 12)
    # hexgate kept the streamed response (store defaults to true) as the upstream sent it
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_error_stream_surfaces_as_response_failed(base: str, client: openai.OpenAI, native: StubUpstream) -> None:
    captured = lines("openai--responses--openai-error.1")
    serve(native, captured)
    events = sse_events(base, {"model": "oa/gpt-5-nano", "input": "hi", "stream": True})
    assert [(name, json.loads(data)) for name, data in events] == [
        (json.loads(line)["type"], json.loads(line)) for line in captured
    ]
    name, data = events[-1]
    assert name == "response.failed"
    assert json.loads(data)["response"]["error"]["code"] == "insufficient_quota"
    with pytest.raises(openai.APIError, match="exceeded your current quota"):
        list(client.responses.create(model="oa/gpt-5-nano", input="hi", stream=True))


def test_json_answer_passes_through_and_is_stored(base: str, client: openai.OpenAI, native: StubUpstream) -> None:
    raw = (FIXTURES / f"{REASONING}.json").read_bytes()
    native.routes["POST /v1/responses"] = Reply(body=raw)
    answer = httpx.post(f"{base}/v1/responses", json={"model": "oa/gpt-5-mini", "input": "go"}, timeout=30)
    assert answer.status_code == 200
    assert answer.json() == json.loads(raw)  # billing, encrypted_content … all there
    rid = answer.json()["id"]
    assert client.responses.retrieve(rid).output_text == JSON_ANSWER

    # The upstream stored it too (store was not false): continuing there sends the id, not the history.
    native.routes["POST /v1/responses"] = Reply(body=raw)
    client.responses.create(model="oa/gpt-5-mini", input="and halve it", previous_response_id=rid)
    sent = native.requests[-1].json()
    assert sent["previous_response_id"] == rid
    assert sent["input"] == "and halve it"


def test_upstream_errors_before_the_stream_keep_their_status(client: openai.OpenAI, native: StubUpstream) -> None:
    native.routes["POST /v1/responses"] = Reply(
        429,
        b'{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}',
        headers={"content-type": "application/json", "retry-after": "3"},
    )
    with pytest.raises(openai.RateLimitError, match="slow down") as info:
        client.responses.create(model="oa/gpt-5", input="hi", stream=True)
    assert info.value.response.headers["retry-after"] == "3"
    native.routes["POST /v1/responses"] = Reply(
        404,
        b'{"error":{"message":"The model `nope` does not exist","type":"invalid_request_error",'
        b'"code":"model_not_found"}}',
    )
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.responses.create(model="oa/nope", input="hi")


def test_chat_only_upstream_is_bridged_and_continues_by_id(client: openai.OpenAI, chat_only: StubUpstream) -> None:
    expected = "".join(
        json.loads(line)["choices"][0]["delta"].get("content") or ""
        for line in lines("openai--chat--openai-text")
        if json.loads(line)["choices"]
    )
    with client.responses.stream(model="plain/gpt-4.1-nano", input="Invent a holiday.", instructions="Be brief.") as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        first = s.get_final_response()
    assert first.output_text == "".join(deltas) == expected
    assert first.usage is not None and (first.usage.input_tokens, first.usage.output_tokens) == (16, 300)

    second = client.responses.create(
        model="plain/gpt-4.1-nano", input="Shorter, please.", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    chats = [q.json() for q in chat_only.requests if q.path == "/v1/chat/completions"]
    assert chats[-1]["messages"] == [
        {"role": "user", "content": "Invent a holiday."},
        {"role": "assistant", "content": expected},
        {"role": "user", "content": "Shorter, please."},
    ]  # instructions are not carried over, as at OpenAI
    assert chats[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chats[0]["stream_options"] == {"include_usage": True}
    # the missing /responses was found once and remembered
    assert sum(q.path == "/v1/responses" for q in chat_only.requests) == 1


def test_a_conversation_moves_from_a_native_to_a_chat_only_upstream(
    base: str, client: openai.OpenAI, native: StubUpstream, chat_only: StubUpstream
) -> None:
    native.routes["POST /v1/responses"] = Reply(body=(FIXTURES / f"{REASONING}.json").read_bytes())
    rid = httpx.post(f"{base}/v1/responses", json={"model": "oa/gpt-5-mini", "input": "Compute it."}, timeout=30)
    follow = client.responses.create(
        model="plain/gpt-4.1-nano", input="Now in words.", previous_response_id=rid.json()["id"]
    )
    assert follow.status == "completed"
    messages = chat_only.requests[-1].json()["messages"]
    assert messages[0] == {"role": "user", "content": "Compute it."}
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"] == JSON_ANSWER
    assert messages[1]["reasoning_content"].startswith("**Reporting final result**")
    assert messages[2] == {"role": "user", "content": "Now in words."}


def test_a_chat_stream_that_breaks_ends_with_response_failed(base: str, client: openai.OpenAI) -> None:
    events = sse_events(base, {"model": "flaky/gpt-4.1-nano", "input": "hi", "stream": True})
    names = [name for name, _ in events]
    assert names[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "response.output_text.delta" in names
    assert names[-2:] == ["error", "response.failed"]
    failed = json.loads(events[-1][1])["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    assert [json.loads(d)["sequence_number"] for _, d in events] == list(range(len(events)))
    with pytest.raises(openai.APIError), client.responses.stream(model="flaky/gpt-4.1-nano", input="hi") as stream:
        for _ in stream:
            pass
