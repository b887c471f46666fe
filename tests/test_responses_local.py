"""``/v1/responses`` over the embedded local model (``local/smollm2-135m-instruct``, llama.cpp in the
gateway process; chat only, so bridged), end to end with the official ``openai`` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from hexgate.testing import running_gateway

pytestmark = pytest.mark.e2e

MODEL = "local/smollm2-135m-instruct"
SDK_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
QUESTION = "What is the capital of France? Answer in one word."


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_gateway('[providers.local]\nplugin = "local"\n') as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120) as client:
        yield client


def test_create(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=QUESTION, max_output_tokens=64, temperature=0)
    assert response.status == "completed"
    assert "Paris" in response.output_text
    assert response.usage is not None and response.usage.output_tokens > 0 and response.usage.input_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_stream(base: str, client: openai.OpenAI) -> None:
    body = {"model": MODEL, "input": QUESTION, "max_output_tokens": 64, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{base}/v1/responses", json=body, timeout=120) as answer:
        frames = [f for f in answer.read().decode().split("\n\n") if f]
    wire = [json.loads(f.split("\ndata: ")[1]) for f in frames]
    for event in wire:  # the SDK's own strict models accept every event as sent
        SDK_EVENT.validate_python(event)
    assert wire[-1]["type"] == "response.completed"

    with client.responses.stream(model=MODEL, input=QUESTION, max_output_tokens=64, temperature=0) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 1  # token by token, not one block
    assert final.output_text == "".join(deltas)
    assert "Paris" in final.output_text


def test_output_limit_is_incomplete(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(
            model=MODEL, input="Write a long story about a dragon.", max_output_tokens=8, temperature=0, stream=True
        )
    )
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "max_output_tokens"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert last.response.output[0].content[0].text == text  # type: ignore[union-attr]
