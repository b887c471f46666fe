"""Real Gemini captures replayed through the real google-genai SDK inside a running gateway, with the
official openai client in front: what the client reassembles equals what the capture holds."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import openai
import pytest
from hexgate_gemini import signatures
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from hexgate.testing import RecordedRequest, Reply, StubUpstream, check_stream

if TYPE_CHECKING:
    from conftest import Captures

pytestmark = pytest.mark.e2e

SSE = {"content-type": "text/event-stream"}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Current weather in a place",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
        },
    }
]
STREAM_CASES = [
    "google-text",
    "google-tool-call",
    "google-reasoning",
    "google-reasoning-gemini3",
    "google-tool-call-gemini3",
    "google-stream-tool-call-arguments",
]
JSON_CASES = [c for c in STREAM_CASES if c != "google-stream-tool-call-arguments"]
# Vertex streams this capture's two calls in pieces (partialArgs); these are the calls it spells out.
PIECEWISE_CALLS = [("getWeather", {"location": "Boston"}), ("getWeather", {"location": "San Francisco"})]


def _model_and_method(request: RecordedRequest) -> tuple[str, str]:
    last = request.path.split("?", 1)[0].rsplit("/", 1)[1]
    model, _, method = last.partition(":")
    return model, method


def replaying(stub: StubUpstream, captures: Captures) -> None:
    """Answer ``models/<capture name>:generateContent`` / ``:streamGenerateContent`` with that capture."""

    def answer(request: RecordedRequest) -> Reply:
        model, method = _model_and_method(request)
        if method == "streamGenerateContent":
            return Reply(body=captures.frames(model), headers=SSE)
        return Reply(body=captures.raw(model))

    stub.routes["POST *"] = answer


def reassemble_calls(chunks: list[ChatCompletionChunk]) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                if call.id:
                    entry["id"] = call.id
                if call.function and call.function.name:
                    entry["name"] = call.function.name
                if call.function and call.function.arguments:
                    entry["arguments"] += call.function.arguments
    return [calls[i] for i in sorted(calls)]


def expected_calls(captures: Captures, name: str, *, stream: bool) -> list[tuple[str, dict[str, Any]]]:
    if name == "google-stream-tool-call-arguments":
        return PIECEWISE_CALLS
    return [(n, args) for n, args, _ in captures.calls(name, stream=stream)]


@pytest.mark.parametrize("name", STREAM_CASES)
def test_stream_replay(client: openai.OpenAI, stub: StubUpstream, captures: Captures, name: str) -> None:
    replaying(stub, captures)
    stream = client.chat.completions.create(
        model=f"gemini/{name}",
        messages=[{"role": "user", "content": "How many r's are in strawberry? Or: weather in San Francisco?"}],
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    raw = [c.to_dict() for c in chunks]
    for item in raw:
        ChatCompletionChunk.model_validate(item)  # the openai SDK's own types accept every chunk, strictly
    assert check_stream(raw) == []
    assert _model_and_method(stub.requests[0]) == (name, "streamGenerateContent")
    assert stub.requests[0].headers["x-goog-api-key"] == "test-key"

    content = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in content) == captures.text(name, stream=True)
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in content)
    assert reasoning == captures.reasoning(name, stream=True)
    details = [item["data"] for d in content for item in (getattr(d, "reasoning_details", None) or [])]
    assert details == captures.text_signatures(name, stream=True)

    calls = reassemble_calls(chunks)
    want = expected_calls(captures, name, stream=True)
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == want
    assert len({c["id"] for c in calls}) == len(calls)
    assert all(c["id"].startswith("call_") for c in calls)
    if name != "google-stream-tool-call-arguments":
        signed = [sig for _, _, sig in captures.calls(name, stream=True)]
        assert [signatures.split_id(c["id"])[1] for c in calls] == signed

    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls" if want else "stop"]

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    usage = captures.usage(name, stream=True)
    assert last.usage.prompt_tokens == usage["prompt_tokens"]
    assert last.usage.completion_tokens == usage["completion_tokens"]
    assert last.usage.total_tokens == usage["total_tokens"]
    assert last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == usage["reasoning_tokens"]
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == usage["cached_tokens"]


@pytest.mark.parametrize("name", JSON_CASES)
def test_json_replay(client: openai.OpenAI, stub: StubUpstream, captures: Captures, name: str) -> None:
    replaying(stub, captures)
    completion = client.chat.completions.create(
        model=f"gemini/{name}",
        messages=[{"role": "user", "content": "How many r's are in strawberry? Or: weather in San Francisco?"}],
        tools=TOOLS,
    )
    ChatCompletion.model_validate(completion.to_dict())
    assert _model_and_method(stub.requests[0]) == (name, "generateContent")
    body = captures.json(name)
    assert completion.id == f"chatcmpl-{body['responseId']}"
    assert completion.model == body["modelVersion"]
    [choice] = completion.choices
    message = choice.message
    assert (message.content or "") == captures.text(name, stream=False)
    assert (getattr(message, "reasoning_content", None) or "") == captures.reasoning(name, stream=False)
    details = [item["data"] for item in (getattr(message, "reasoning_details", None) or [])]
    assert details == captures.text_signatures(name, stream=False)

    want = captures.calls(name, stream=False)
    calls = message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [(n, a) for n, a, _ in want]
    assert [signatures.split_id(c.id)[1] for c in calls] == [sig for _, _, sig in want]
    assert choice.finish_reason == ("tool_calls" if want else "stop")
    if want:
        assert message.content is None

    usage = captures.usage(name, stream=False)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == usage["prompt_tokens"]
    assert completion.usage.completion_tokens == usage["completion_tokens"]
    assert completion.usage.total_tokens == usage["total_tokens"]
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == usage["reasoning_tokens"]


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limit_reaches_the_client_with_retry_after(
    client: openai.OpenAI, stub: StubUpstream, captures: Captures, stream: bool
) -> None:
    stub.routes["POST *"] = Reply(429, captures.raw("google-429-retry-info"))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "35"  # "retryDelay": "34.4s", rounded up
    assert "You exceeded your current quota" in error.message
    assert "test-key" not in error.response.text
    assert len(stub.requests) == 1


def test_thought_parts_become_reasoning_content(client: openai.OpenAI, stub: StubUpstream) -> None:
    """A constructed stream in the captures' shape with ``thought: true`` parts (the captures have none)."""
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 7, "totalTokenCount": 15}
    bodies = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Count the r", "thought": True}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "s: three.", "thought": True}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "3"}]}, "finishReason": "STOP"}]},
    ]
    bodies[-1]["usageMetadata"] = usage
    stub.routes["POST *"] = Reply(body=[f"data: {json.dumps(b)}\n\n".encode() for b in bodies], headers=SSE)
    chunks = list(
        client.chat.completions.create(
            model="gemini/gemini-2.5-flash",
            messages=[{"role": "user", "content": "r in strawberry?"}],
            reasoning_effort="low",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert check_stream([c.to_dict() for c in chunks]) == []
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "Count the rs: three."
    assert "".join(d.content or "" for d in deltas) == "3"
    sent = stub.requests[0].json()["generationConfig"]["thinkingConfig"]
    # the SDK sends this object's keys in snake_case; the API's JSON parser takes either spelling
    assert {k.replace("_", ""): v for k, v in sent.items()} == {"includethoughts": True, "thinkingbudget": 1024}
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 10


def test_mid_stream_error_raises_in_the_client(client: openai.OpenAI, stub: StubUpstream, captures: Captures) -> None:
    error = {
        "error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}
    }
    frames = [*captures.frames("google-text")[:1], f"data: {json.dumps(error)}\n\n".encode()]
    stub.routes["POST *"] = Reply(body=frames, headers=SSE)
    stream = client.chat.completions.create(
        model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received = ""
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert received == "There are **3**"
    assert "overloaded" in caught.value.message


def test_logprobs_reach_the_client_in_openai_shape(client: openai.OpenAI, stub: StubUpstream) -> None:
    """A constructed answer in Gemini's documented ``logprobsResult`` shape (no capture has one)."""
    chosen = [{"token": "Hi", "logProbability": -0.25}]
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hi"}]},
                "finishReason": "STOP",
                "index": 0,
                "logprobsResult": {"chosenCandidates": chosen, "topCandidates": [{"candidates": chosen}]},
            }
        ]
    }
    stub.routes["POST *"] = Reply(body=json.dumps(body).encode())
    completion = client.chat.completions.create(
        model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], logprobs=True, top_logprobs=1
    )
    ChatCompletion.model_validate(completion.to_dict())
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [(t.token, t.logprob, [a.token for a in t.top_logprobs]) for t in logprobs.content] == [
        ("Hi", -0.25, ["Hi"])
    ]
    sent = stub.requests[0].json()["generationConfig"]
    assert (sent["responseLogprobs"], sent["logprobs"]) == (True, 1)


def test_client_disconnect_cancels_the_upstream_stream(
    client: openai.OpenAI, stub: StubUpstream, captures: Captures
) -> None:
    stub.routes["POST *"] = Reply(body=captures.frames("google-text")[:1], hang=20, headers=SSE)
    stream = client.chat.completions.create(
        model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    first = next(iter(stream))
    assert first.choices[0].delta.content == "There are **3**"
    stream.close()
    assert stub.wait_for(lambda: stub.disconnects == 1, timeout=10)
