"""``/v1/responses`` through the whole app (in-process) with the official ``openai`` client, served by
the echo provider (chat only, so every call goes through the core's bridge): create and stream,
the stored-response endpoints, ``previous_response_id``, and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from hexgate.testing import INPROCESS_BASE_URL, inprocess_client

SDK_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
CONFIG = """
[providers.echo]
plugin = "echo"

[models.e]
target = "echo/echo"
"""


@pytest.fixture(scope="module")
def base() -> Iterator[httpx.Client]:
    with inprocess_client(CONFIG) as client:
        yield client


@pytest.fixture
def client(base: httpx.Client) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key="unused", max_retries=0, http_client=base)


def sse(base: httpx.Client, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    with base.stream("POST", "/v1/responses", json=body) as response:
        assert response.status_code == 200
        text = response.read().decode()
    assert "[DONE]" not in text
    events = []
    for frame in text.split("\n\n"):
        if frame:
            event_line, data_line = frame.split("\n")
            events.append((event_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))))
    return events


def envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


def test_create_through_the_bridge(client: openai.OpenAI) -> None:
    response = client.responses.create(model="echo/echo", input="hello brave new world", instructions="Echo it.")
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.output_text == "hello brave new world"
    assert response.instructions == "Echo it."
    assert response.usage is not None and response.usage.output_tokens == 4
    assert response.output[0].type == "message" and response.output[0].id.startswith("msg_")


def test_stream_events_are_openai_shaped(base: httpx.Client, client: openai.OpenAI) -> None:
    events = sse(base, {"model": "e", "input": "one two three", "stream": True})
    for name, data in events:
        assert name == data["type"]
        SDK_EVENT.validate_python(data)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert [n for n, _ in events if not n.endswith(".delta")] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]

    with client.responses.stream(model="e", input="streamed through the sdk") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) == 4
    assert final.output_text == "".join(deltas) == "streamed through the sdk"
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_two_turns_by_previous_response_id(client: openai.OpenAI) -> None:
    first = client.responses.create(model="echo/echo", input="alpha beta")
    second = client.responses.create(model="echo/echo", input="gamma", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert second.output_text == "gamma"
    # echo counts one prompt token per word of every message it was sent: both turns were there
    assert second.usage is not None and second.usage.input_tokens == 5  # alpha beta, alpha beta, gamma
    items = list(client.responses.input_items.list(second.id, order="asc"))
    assert [(i.type, i.role) for i in items] == [("message", "user"), ("message", "assistant"), ("message", "user")]
    assert [i.content[0].text for i in items] == ["alpha beta", "alpha beta", "gamma"]  # type: ignore[union-attr]
    assert len({i.id for i in items}) == 3
    page = client.responses.input_items.list(second.id, limit=1)
    assert [i.id for i in page.data] == [items[-1].id] and page.has_more


def test_stored_response_endpoints(base: httpx.Client, client: openai.OpenAI) -> None:
    created = client.responses.create(model="e", input="keep me")
    got = base.get(f"/v1/responses/{created.id}")
    assert got.status_code == 200 and got.json()["output"][0]["content"][0]["text"] == "keep me"
    deleted = base.delete(f"/v1/responses/{created.id}")
    assert deleted.json() == {"id": created.id, "object": "response", "deleted": True}
    for method, path in (
        ("GET", f"/v1/responses/{created.id}"),
        ("DELETE", f"/v1/responses/{created.id}"),
        ("GET", f"/v1/responses/{created.id}/input_items"),
    ):
        error = envelope(base.request(method, path), 404)
        assert created.id in error["message"]
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_unknown")


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    response = client.responses.create(model="e", input="forget me", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="e", input="again", previous_response_id=response.id)
    assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert info.value.body["code"] == "previous_response_not_found"  # type: ignore[index]


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_error_before_the_first_event_is_an_error_answer(base: httpx.Client, stream: bool) -> None:
    answer = base.post("/v1/responses", json={"model": "e", "input": "!fail 429", "stream": stream})
    error = envelope(answer, 429)
    assert error["type"] == "rate_limit_error"
    assert answer.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": "hi"}, 400, "model"),
        ({"model": "e", "input": [{"role": "wizard", "content": "hi"}]}, 400, "input[0].role"),
        ({"model": "e", "input": [{"type": "message", "role": "user", "content": 3}]}, 400, "input[0].content"),
        ({"model": "e", "input": "hi", "tools": [{"type": "web_search"}]}, 400, "tools[0]"),
        ({"model": "e", "input": "hi", "temperature": "hot"}, 400, "temperature"),
        ({"model": "nope/x", "input": "hi"}, 404, "model"),
    ],
)
def test_bad_requests(base: httpx.Client, body: dict[str, Any], status: int, param: str) -> None:
    error = envelope(base.post("/v1/responses", json=body), status)
    assert error["param"] == param


def test_openapi_documents_the_body(base: httpx.Client) -> None:
    schema = base.get("/schema/openapi.json").json()
    body = schema["paths"]["/v1/responses"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ResponseRequest"}
    assert "input" in schema["components"]["schemas"]["ResponseRequest"]["properties"]
