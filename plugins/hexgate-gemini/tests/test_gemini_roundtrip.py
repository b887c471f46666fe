"""A Gemini 3 tool call, its result, and the next turn: the thought signature the capture holds goes
out to the client inside an OpenAI-shaped answer, comes back in the history the client sends, and
reaches the upstream on the ``functionCall`` part (ai.google.dev/gemini-api/docs/thought-signatures)."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import openai
import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream

if TYPE_CHECKING:
    from conftest import Captures

pytestmark = pytest.mark.e2e

SSE = {"content-type": "text/event-stream"}
MODEL = "gemini/gemini-3-pro-preview"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
]


def b64bytes(text: str) -> bytes:
    """Gemini sends standard base64; google-genai re-encodes bytes URL-safe (both are valid proto JSON)."""
    return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))


def scripted(stub: StubUpstream, captures: Captures, first: str) -> None:
    """First call answers with capture ``first`` (the tool call), every later one with plain text."""

    def answer(request: RecordedRequest) -> Reply:
        streamed = ":streamGenerateContent" in request.path
        if len(stub.requests) == 1:
            return Reply(body=captures.frames(first), headers=SSE) if streamed else Reply(body=captures.raw(first))
        return (
            Reply(body=captures.frames("google-text"), headers=SSE)
            if streamed
            else Reply(body=captures.raw("google-text"))
        )

    stub.routes["POST *"] = answer


def assistant_turn(client: openai.OpenAI, *, stream: bool) -> dict[str, Any]:
    """What an application keeps of the answer: only OpenAI's own fields, as a plain dict."""
    question = [{"role": "user", "content": "What is the weather in San Francisco?"}]
    if not stream:
        message = client.chat.completions.create(model=MODEL, messages=question, tools=TOOLS).choices[0].message  # type: ignore[arg-type]
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in message.tool_calls or []
            if c.type == "function"
        ]
        return {"role": "assistant", "content": message.content, "tool_calls": calls}
    calls_by_index: dict[int, dict[str, Any]] = {}
    for chunk in client.chat.completions.create(model=MODEL, messages=question, tools=TOOLS, stream=True):  # type: ignore[arg-type]
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls_by_index.setdefault(call.index, {"type": "function", "function": {"arguments": ""}})
            if call.id:
                entry["id"] = call.id
            if call.function and call.function.name:
                entry["function"]["name"] = call.function.name
            if call.function and call.function.arguments:
                entry["function"]["arguments"] += call.function.arguments
    return {"role": "assistant", "content": None, "tool_calls": [calls_by_index[i] for i in sorted(calls_by_index)]}


@pytest.mark.parametrize("stream", [False, True])
def test_signature_round_trip(client: openai.OpenAI, stub: StubUpstream, captures: Captures, stream: bool) -> None:
    capture = "google-tool-call-gemini3"
    scripted(stub, captures, capture)
    turn = assistant_turn(client, stream=stream)
    [call] = turn["tool_calls"]
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in San Francisco?"},
        turn,
        {"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"temperature": 21, "unit": "C"})},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == captures.text("google-text", stream=False)

    sent = stub.requests[1].json()
    assert sent["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    user, model, result = sent["contents"]
    assert user == {"role": "user", "parts": [{"text": "What is the weather in San Francisco?"}]}
    assert model["role"] == "model"
    [part] = model["parts"]
    assert part["functionCall"] == {"name": "weather", "args": {"location": "San Francisco"}}
    [(_, _, signature)] = captures.calls(capture, stream=stream)
    assert b64bytes(part["thoughtSignature"]) == signature
    assert result == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "weather", "response": {"temperature": 21, "unit": "C"}}}],
    }


def test_text_signature_round_trip(client: openai.OpenAI, stub: StubUpstream, captures: Captures) -> None:
    """A text part's signature travels in ``reasoning_details`` and goes back onto the text part."""
    scripted(stub, captures, "google-reasoning-gemini3")
    question = {"role": "user", "content": "How many r's are in strawberry?"}
    first = client.chat.completions.create(model=MODEL, messages=[question]).choices[0].message
    kept = first.to_dict()  # the whole message, reasoning_details included, as OpenRouter-aware clients keep it
    client.chat.completions.create(model=MODEL, messages=[question, kept, {"role": "user", "content": "Sure?"}])  # type: ignore[list-item]
    model_turn = stub.requests[1].json()["contents"][1]
    [part] = model_turn["parts"]
    assert part["text"] == captures.text("google-reasoning-gemini3", stream=False)
    want = captures.json("google-reasoning-gemini3")["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    assert b64bytes(part["thoughtSignature"]) == b64bytes(want)


def test_history_without_signature_gets_the_documented_stand_in(
    client: openai.OpenAI, stub: StubUpstream, captures: Captures
) -> None:
    """A Gemini 3 history whose tool call came from elsewhere (no signature) is sent with Google's
    documented dummy signature instead of being rejected upstream."""
    stub.routes["POST *"] = Reply(body=captures.raw("google-text"))
    history: list[Any] = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "toolu_01", "type": "function", "function": {"name": "weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
    ]
    client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS)
    model_turn = stub.requests[0].json()["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert model_turn["parts"][0]["functionCall"] == {"id": "toolu_01", "name": "weather", "args": {}}
    result = stub.requests[0].json()["contents"][2]["parts"][0]["functionResponse"]
    assert result == {"id": "toolu_01", "name": "weather", "response": {"output": "sunny"}}
