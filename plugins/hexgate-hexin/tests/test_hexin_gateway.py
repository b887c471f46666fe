"""The Hexin provider end to end: the official ``openai`` client against a running hexgate whose
``[providers.hexin]`` table takes its secrets from the environment (``HITHINK_*``), the backend a
local server speaking its documented wire format (``conftest.HexinBackend``)."""

from __future__ import annotations

import base64
import json
from array import array
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from hexgate.testing import Reply, running_gateway

pytestmark = pytest.mark.e2e

SSE = {"content-type": "text/event-stream"}
CONFIG = """
[providers.hexin]
plugin = "hexin"
app_id = "${HITHINK_APP_ID}"
app_secret = "${HITHINK_APP_SECRET}"
app_url = "${HITHINK_APP_URL}"
response_url = "${HITHINK_RESPONSE_URL}"
base_url = "${HEXIN_TEST_BASE_URL}"
"""


@pytest.fixture(scope="module")
def base(module_backend: Any) -> Iterator[str]:
    url = module_backend.stub.url
    env = {
        "HITHINK_APP_ID": "app-test-000",
        "HITHINK_APP_SECRET": "secret-test-000",
        "HITHINK_APP_URL": f"{url}/auth",
        "HITHINK_RESPONSE_URL": f"{url}/responses",
        "HEXIN_TEST_BASE_URL": f"{url}/vtuber/ai_access",
    }
    with running_gateway(CONFIG, env=env) as gateway:
        yield gateway


@pytest.fixture
def client(base: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.fixture
def backend(module_backend: Any) -> Any:
    """The module's backend, its scripted answers reset for each test."""
    fresh = type(module_backend)()
    module_backend.chat, module_backend.responses = fresh.chat, fresh.responses
    module_backend.embedding_answer, module_backend.refusal = fresh.embedding_answer, "http"
    return module_backend


def test_streamed_responses_with_reasoning_summary(client: openai.OpenAI, backend: Any) -> None:
    with client.responses.stream(
        model="hexin/o3",
        input="Compute (12 + 7) * 3 * 10 with the calculator.",
        reasoning={"effort": "high", "summary": "detailed"},
    ) as stream:
        summary = [e.delta for e in stream if e.type == "response.reasoning_summary_text.delta"]
        final = stream.get_final_response()
    reasoning, call = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "".join(summary)
    assert summary[0] == "**Calcul" and len(summary) == 32  # streamed as the backend sent them, not at the end
    assert call.type == "function_call" and json.loads(call.arguments) == {"a": 12, "b": 7, "op": "add"}
    sent = backend.calls("/responses")[-1]
    assert sent.json()["reasoning"] == {"effort": "high", "summary": "detailed"}
    assert sent.json()["model"] == "o3" and sent.json()["stream"] is True
    assert sent.headers["userid"] == "4242" and sent.headers["token"].startswith("tok-")

    # the next turn continues by id: hexgate sends the history itself (the backend's state is per node)
    client.responses.create(
        model="hexin/o3",
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "19"}],
        previous_response_id=final.id,
        stream=True,
    ).close()
    follow = backend.calls("/responses")[-1].json()
    assert "previous_response_id" not in follow
    assert [item.get("type", "message") for item in follow["input"]] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
    ]


def test_responses_json_answer(client: openai.OpenAI, backend: Any) -> None:
    answer = {
        "id": "resp_hexin_1",
        "object": "response",
        "created_at": 1760000000,
        "status": "completed",
        "model": "o3",
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "570", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    backend.responses = lambda _: Reply(body=json.dumps({"success": True, "data": answer}).encode())
    response = client.responses.create(model="hexin/o3", input="what is it?")
    assert response.output_text == "570" and response.id == "resp_hexin_1"
    assert client.responses.retrieve("resp_hexin_1").output_text == "570"


def test_chat_stream_with_tools(client: openai.OpenAI, backend: Any) -> None:
    call = {"index": 0, "id": "call_7", "type": "function", "function": {"name": "quote", "arguments": ""}}
    backend.chat = lambda _: Reply(
        body=backend.chat_frames(
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"tool_calls": [{"index": 0, "function": {"arguments": '{"symbol":'}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": ' "600519"}'}}]},
            finish="tool_calls",
        ),
        headers=SSE,
    )
    tools: Any = [{"type": "function", "function": {"name": "quote", "parameters": {"type": "object"}}}]
    stream = client.chat.completions.create(
        model="hexin/gpt-4o", messages=[{"role": "user", "content": "quote"}], tools=tools, stream=True
    )
    arguments, finish = "", None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                arguments += (delta.function.arguments if delta.function else None) or ""
            finish = choice.finish_reason or finish
    assert json.loads(arguments) == {"symbol": "600519"} and finish == "tool_calls"
    assert backend.calls("/vtuber/ai_access/chatgpt/v3/chat/completions")[-1].json()["tools"] == tools


def test_embeddings(client: openai.OpenAI, backend: Any) -> None:
    answer = client.embeddings.create(model="hexin/text-embedding-3-small", input=["one", "three"])
    assert [d.embedding for d in answer.data] == [backend.vector("one"), backend.vector("three")]
    raw = client.embeddings.create(model="hexin/text-embedding-3-small", input="x", encoding_format="base64")
    packed = array("f")
    packed.frombytes(base64.b64decode(raw.data[0].embedding))  # type: ignore[arg-type]
    assert packed.tolist() == backend.vector("x")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"success": False, "status_code": 429, "status_msg": "quota used up"}, openai.RateLimitError),
        ({"error": {"type": "invalid_request_error", "message": "messages malformed"}}, openai.BadRequestError),
        ({"success": False, "status_code": "E42", "status_msg": "engine fault"}, openai.InternalServerError),
    ],
)
def test_in_body_failures_reach_the_client_with_their_status(
    client: openai.OpenAI, backend: Any, answer: dict[str, Any], error: type[openai.APIStatusError]
) -> None:
    backend.chat = lambda _: Reply(body=json.dumps(answer).encode())
    with pytest.raises(error) as info:
        client.chat.completions.create(model="hexin/gpt-4o", messages=[{"role": "user", "content": "hi"}])
    message = answer.get("status_msg") or answer["error"]["message"]
    assert message in str(info.value)


def test_a_revoked_token_is_replaced_transparently(client: openai.OpenAI, backend: Any) -> None:
    client.chat.completions.create(model="hexin/gpt-4o", messages=[{"role": "user", "content": "hi"}])
    before = len(backend.issued)
    backend.revoke()
    backend.refusal = "body"
    answer = client.chat.completions.create(model="hexin/gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "hi"
    assert len(backend.issued) == before + 1


def test_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"hexin/o3", "hexin/deepseek-reasoner", "hexin/text-embedding-3-small"} <= ids
