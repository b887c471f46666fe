"""The default configuration end to end: ``hexgate serve`` with no config file serves the embedded
``local`` provider (SmolLM2-135M-Instruct through llama.cpp, all-MiniLM-L6-v2 through onnxruntime),
and the official ``openai`` client chats, streams, embeds and lists models through it. One gateway
process for the module."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from hexgate.testing import check_stream, running_gateway

pytestmark = pytest.mark.e2e

CHAT = "local/smollm2-135m-instruct"
EMBED = "local/all-minilm-l6-v2"
QUESTION: Any = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_gateway(None) as url:
        yield url


@pytest.fixture(scope="module")
def client(base: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def norm(vector: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


def test_models_list(client: OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert CHAT in models and EMBED in models
    extra: dict[str, Any] = models[EMBED].model_extra or {}
    assert extra.get("embedding_dimensions") == 384
    assert (models[CHAT].model_extra or {}).get("context_window") == 2048


def test_chat(client: OpenAI) -> None:
    out = client.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=40)
    assert out.object == "chat.completion"
    choice = out.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert out.usage is not None
    assert out.usage.prompt_tokens > 0 and out.usage.completion_tokens > 0
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


def test_stream_with_usage_matches_the_plain_answer(client: OpenAI) -> None:
    fixed: dict[str, Any] = {"model": CHAT, "messages": QUESTION, "max_tokens": 40, "temperature": 0, "seed": 7}
    plain = client.chat.completions.create(**fixed)
    chunks = list(client.chat.completions.create(**fixed, stream=True, stream_options={"include_usage": True}))
    dicts = [c.model_dump(exclude_none=True) for c in chunks]
    assert check_stream(dicts) == []
    assert chunks[0].choices[0].delta.role == "assistant"
    *body, last = chunks
    assert last.choices == [] and last.usage is not None  # the usage chunk comes last
    assert all(c.usage is None for c in body)
    text = "".join(c.choices[0].delta.content or "" for c in body)
    assert text.strip()
    assert len([c for c in body if c.choices[0].delta.content]) > 1  # token by token
    # same seed, greedy: the stream carries exactly the plain answer and its usage
    assert plain.choices[0].message.content == text
    assert body[-1].choices[0].finish_reason == plain.choices[0].finish_reason
    assert plain.usage is not None
    assert last.usage.model_dump() == plain.usage.model_dump()
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


@pytest.mark.parametrize("batch", [False, True])
def test_embeddings_base64_and_float_agree(client: OpenAI, batch: bool) -> None:
    texts = ["The cat sits on the mat.", "hexgate is a gateway", "A feline rests on a rug."]
    given: str | list[str] = texts if batch else texts[0]
    default = client.embeddings.create(model=EMBED, input=given)  # the SDK asks for base64
    floats = client.embeddings.create(model=EMBED, input=given, encoding_format="float")
    assert len(default.data) == len(floats.data) == (3 if batch else 1)
    for a, b in zip(default.data, floats.data, strict=True):
        assert a.index == b.index
        assert len(a.embedding) == len(b.embedding) == 384
        assert math.isclose(norm(b.embedding), 1.0, abs_tol=1e-4)
        assert max(abs(x - y) for x, y in zip(a.embedding, b.embedding, strict=True)) < 1e-6
    assert default.usage.prompt_tokens == floats.usage.prompt_tokens == default.usage.total_tokens
    assert default.usage.prompt_tokens > 0
    if batch:
        cat, _, feline = (d.embedding for d in floats.data)
        assert math.fsum(x * y for x, y in zip(cat, feline, strict=True)) > 0.3


def test_embeddings_reject_other_dimensions(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=EMBED, input="x", dimensions=256)
    assert "384" in info.value.message


def test_tools_are_a_clear_400(client: OpenAI) -> None:
    tool: Any = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=CHAT, messages=QUESTION, tools=[tool])
    assert info.value.param == "tools"
    assert "tool" in info.value.message


def test_other_requests_are_served_while_a_completion_streams(client: OpenAI, base: str) -> None:
    story: Any = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]
    events: list[str] = []
    with client.chat.completions.create(
        model=CHAT, messages=story, max_tokens=200, temperature=0, stream=True
    ) as stream:
        chunks = iter(stream)
        next(chunks)
        events.append("stream started")
        assert httpx.get(base + "/health", timeout=30).status_code == 200
        events.append("health answered")
        emb = client.embeddings.create(model=EMBED, input="while the model is talking")
        assert len(emb.data[0].embedding) == 384
        events.append("embedding answered")
        rest = list(chunks)
        if any(c.choices and c.choices[0].delta.content for c in rest):
            events.append("stream still sending")
        finish = [c.choices[0].finish_reason for c in rest if c.choices and c.choices[0].finish_reason]
    assert events == ["stream started", "health answered", "embedding answered", "stream still sending"]
    assert finish in (["length"], ["stop"])
