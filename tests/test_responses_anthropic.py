"""``/v1/responses`` over the Anthropic plugin (chat only, so bridged), end to end: the official ``openai``
client against a running hexgate whose ``anthropic`` provider talks to a :class:`StubUpstream` replaying
Anthropic's own captures (the Anthropic plugin's ``tests/fixtures/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from hexgate.testing import RecordedRequest, Reply, StubUpstream, running_gateway

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parents[1] / "plugins" / "hexgate-anthropic" / "tests" / "fixtures"
SDK_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
SSE = {"content-type": "text/event-stream"}


class Messages:
    """``POST /v1/messages``: the SSE capture ``stream`` when streamed, else the JSON capture."""

    def __init__(self) -> None:
        self.stream = "basic_response.sse"

    def __call__(self, request: RecordedRequest) -> Reply:
        if request.json().get("stream"):
            return Reply(body=[(FIXTURES / self.stream).read_bytes()], headers=SSE)
        return Reply(body=(FIXTURES / "anthropic--anthropic-text.json").read_bytes())


@pytest.fixture(scope="module")
def messages() -> Messages:
    return Messages()


@pytest.fixture(scope="module")
def upstream(messages: Messages) -> Iterator[StubUpstream]:
    with StubUpstream({"POST /v1/messages": messages}) as stub:
        yield stub


@pytest.fixture(scope="module")
def base(upstream: StubUpstream) -> Iterator[str]:
    config = f"""
[providers.anthropic]
plugin = "anthropic"
api_key = "sk-ant-test-000"
base_url = "{upstream.url}"
"""
    with running_gateway(config) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.fixture(autouse=True)
def _reset(messages: Messages) -> None:
    messages.stream = "basic_response.sse"


def test_create(client: openai.OpenAI, upstream: StubUpstream) -> None:
    response = client.responses.create(model="anthropic/claude-sonnet-4-5", input="How are you?", max_output_tokens=300)
    assert response.status == "completed"
    assert (
        response.output_text
        == json.loads((FIXTURES / "anthropic--anthropic-text.json").read_text())["content"][0]["text"]
    )
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens) == (12, 29)
    sent = upstream.requests[-1].json()
    assert sent["model"] == "claude-sonnet-4-5" and sent["max_tokens"] == 300
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "How are you?"}]}]


def test_stream_events_and_final_text(base: str, client: openai.OpenAI) -> None:
    body = {"model": "anthropic/claude-3-opus-latest", "input": "Hi", "stream": True}
    with httpx.stream("POST", f"{base}/v1/responses", json=body, timeout=30) as answer:
        frames = [f for f in answer.read().decode().split("\n\n") if f]
    wire = [json.loads(f.split("\ndata: ")[1]) for f in frames]
    for event in wire:  # the SDK's own strict models accept every event as sent
        SDK_EVENT.validate_python(event)
    assert [e["sequence_number"] for e in wire] == list(range(len(wire)))

    with client.responses.stream(model="anthropic/claude-3-opus-latest", input="Hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Hello", " there", "!"]
    assert final.output_text == "".join(deltas) == "Hello there!"
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (11, 6)


def test_thinking_signature_survives_a_second_turn(
    client: openai.OpenAI, messages: Messages, upstream: StubUpstream
) -> None:
    messages.stream = "thinking-stream-a-refusal.sse"
    events = list(
        client.responses.create(
            model="anthropic/claude-fable-5",
            input="what's an eclipse, claudius?",
            reasoning={"effort": "low"},
            stream=True,
        )
    )
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary.startswith("Simple educational question")
    last = events[-1]
    assert last.type == "response.incomplete"  # Anthropic's refusal stop reason: content_filter
    assert last.response.incomplete_details is not None and last.response.incomplete_details.reason == "content_filter"
    reasoning = last.response.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content

    messages.stream = "basic_response.sse"
    client.responses.create(model="anthropic/claude-fable-5", input="Go on.", previous_response_id=last.response.id)
    sent = upstream.requests[-1].json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    thinking = sent[1]["content"][0]
    assert thinking["type"] == "thinking"
    assert thinking["signature"] == "c3ludGhldGljLXNpZ25hdHVyZS1maXh0dXJlLWEtbm90LWEtcmVhbC1zaWduYXR1cmU="
    assert thinking["thinking"] == summary


def test_upstream_refusal_of_the_request_keeps_its_status(base: str, upstream: StubUpstream) -> None:
    original = upstream.routes["POST /v1/messages"]
    upstream.routes["POST /v1/messages"] = Reply(
        429,
        b'{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your '
        b'per-minute rate limit"}}',
        headers={"content-type": "application/json", "retry-after": "30"},
    )
    try:
        answer = httpx.post(
            f"{base}/v1/responses",
            json={"model": "anthropic/claude-sonnet-4-5", "input": "hi", "stream": True},
            timeout=30,
        )
    finally:
        upstream.routes["POST /v1/messages"] = original
    assert answer.status_code == 429 and answer.headers["retry-after"] == "30"
    assert answer.json()["error"]["type"] == "rate_limit_error"
