"""How to test a provider directly, beside the conformance suite (``test_conformance.py``): build it
as the core does (``factory(settings, http=client)``), call its methods with the core's Structs and
assert on what comes back. A plugin with an upstream hands in
``httpx.AsyncClient(transport=httpx.MockTransport(handler))`` or points at a ``StubUpstream``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from hexgate_echo import EchoProvider

from hexgate.errors import ModelNotFound, UpstreamAuthError, UpstreamRateLimited
from hexgate.protocol import CallContext, Provider
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest
from hexgate.testing import check_stream


@pytest.fixture
async def echo() -> AsyncIterator[EchoProvider]:
    async with httpx.AsyncClient() as http:
        yield EchoProvider({"models": ["echo"], "dimensions": 4}, http=http)


def ctx(model: str = "echo") -> CallContext:
    return CallContext(request_id="req-1", model=model, timeout=10.0)


def chat(text: str) -> ChatCompletionRequest:
    return msgspec.convert({"model": "e/echo", "messages": [{"role": "user", "content": text}]}, ChatCompletionRequest)


def test_it_is_a_provider(echo: EchoProvider) -> None:
    assert isinstance(echo, Provider)


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(msgspec.ValidationError, match="delay"):
        EchoProvider({"delay": "slow"}, http=httpx.AsyncClient())


async def test_chat_and_stream(echo: EchoProvider) -> None:
    answer = await echo.chat(chat("one two three"), ctx())
    assert answer.choices[0].message.content == "one two three"
    chunks = [msgspec.to_builtins(c) async for c in echo.stream_chat(chat("one two three"), ctx())]
    assert check_stream(chunks) == []
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "one two three"


@pytest.mark.parametrize(("status", "error"), [(401, UpstreamAuthError), (429, UpstreamRateLimited)])
async def test_errors_are_hexgate_errors(echo: EchoProvider, status: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        await echo.chat(chat(f"!fail {status}"), ctx())


async def test_unknown_model(echo: EchoProvider) -> None:
    with pytest.raises(ModelNotFound, match="nope"):
        await echo.chat(chat("hi"), ctx("nope"))


async def test_embeddings_are_unit_vectors(echo: EchoProvider) -> None:
    request = msgspec.convert({"model": "e/echo", "input": ["a", "b"]}, EmbeddingRequest)
    result = await echo.embed(request, ctx())
    for item in result.data:
        assert isinstance(item.embedding, list) and len(item.embedding) == 4
        assert math.isclose(math.fsum(v * v for v in item.embedding), 1.0)
