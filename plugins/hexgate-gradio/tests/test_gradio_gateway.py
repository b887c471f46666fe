"""End to end: the official openai client → a running hexgate → the gradio plugin → a real Gradio
server (tests/gradio_app.py) on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from hexgate.testing import check_stream, running_gateway

pytestmark = pytest.mark.e2e

CONFIG = """
[server]
request_timeout = 12

[providers.spaces]
plugin = "gradio"
poll_interval = 0.01

[providers.spaces.models]
plain = "{base}/plain"
quota = "{base}/quota"
broken = "{base}/broken"

[providers.spaces.models.chat]
space = "{base}/chat"
display_name = "Echo chat"
context_window = 8192

[providers.solo]
plugin = "gradio"
max_sessions = 1
poll_interval = 0.01

[providers.solo.models]
chat = "{base}/chat"
"""


@pytest.fixture(scope="module")
def gateway(gradio_app: str, quiet_env: dict[str, str]) -> Iterator[str]:
    with running_gateway(CONFIG.format(base=gradio_app), env=quiet_env) as base:
        yield base


@pytest.fixture
def client(gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="test-key", max_retries=0, timeout=30)


def header(system: str = "You are a friendly Chatbot.", max_tokens: int = 512, t: str = "0.7", p: str = "0.95") -> str:
    return f"[system={system} max_tokens={max_tokens} temperature={t} top_p={p} history=0]"


def test_stream_chat_interface_with_mapped_parameters(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="spaces/chat",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there general kenobi"},
        ],
        max_tokens=64,
        temperature=0.3,
        top_p=0.5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    dumped: list[dict[str, Any]] = [c.model_dump(exclude_unset=True) for c in chunks]
    assert check_stream(dumped) == []
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == header("Be brief.", 64, "0.3", "0.5") + " echo: hello there general kenobi"
    assert len(pieces) >= 3  # streamed as the app yields, not in one piece
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_chat_interface_not_streamed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="spaces/chat",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0,  # below the slider's minimum: clamped to 0.1
        max_tokens=100_000,  # above its maximum: clamped to 2048
    )
    assert completion.choices[0].message.content == header(max_tokens=2048, t="0.1") + " echo: hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_history_goes_into_the_message_in_a_fresh_session(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello!"},
        {"role": "user", "content": "and now?"},
    ]
    for _ in range(2):  # the same session would show the first call's history to the second
        completion = client.chat.completions.create(model="spaces/chat", messages=messages)
        assert completion.choices[0].message.content == (
            header() + " echo: User: hi\n\nAssistant: hello!\n\nUser: and now?"
        )


def test_plain_interface_streams_in_one_piece(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="spaces/plain", messages=[{"role": "user", "content": "what?"}], stream=True
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == ["plain answer to: what?"]
    assert check_stream([c.model_dump(exclude_unset=True) for c in chunks]) == []
    completion = client.chat.completions.create(model="spaces/plain", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "plain answer to: x"


@pytest.mark.parametrize("stream", [False, True])
def test_zerogpu_quota_is_429_with_retry_after(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        result = client.chat.completions.create(
            model="spaces/quota", messages=[{"role": "user", "content": "x"}], stream=stream
        )
        if stream:
            list(result)  # type: ignore[arg-type]
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "588"
    body = info.value.response.json()["error"]
    assert body["type"] == "rate_limit_error"
    assert "exceeded your GPU quota" in body["message"] and "retry in 0:09:48" in body["message"]


def test_app_error_is_502_with_the_apps_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="spaces/broken", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    error = info.value.response.json()["error"]
    assert error["type"] == "upstream_error"
    assert "the model crashed while loading" in error["message"]


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="spaces/nope", messages=[{"role": "user", "content": "x"}])
    assert "known: ['broken', 'chat', 'plain', 'quota']" in info.value.response.json()["error"]["message"]


def test_models_list_with_metadata(gateway: str) -> None:
    data = httpx.get(f"{gateway}/v1/models", timeout=10).json()["data"]
    by_id = {m["id"]: m for m in data}
    assert {"spaces/chat", "spaces/plain", "spaces/quota", "solo/chat"} <= set(by_id)
    chat = by_id["spaces/chat"]
    assert chat["display_name"] == "Echo chat" and chat["context_window"] == 8192
    assert chat["capabilities"]["chat"] is True and chat["capabilities"]["streaming"] is True
    assert chat["owned_by"] == "127.0.0.1"


def test_embeddings_unsupported(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="spaces/chat", input="x")
    assert info.value.response.json()["error"]["code"] == "unsupported"


async def test_concurrent_requests_keep_their_own_sessions(gateway: str) -> None:
    aclient = openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key="test-key", max_retries=0, timeout=30)

    async def ask(word: str) -> str:
        stream = await aclient.chat.completions.create(
            model="spaces/chat", messages=[{"role": "user", "content": word}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    words = ["alpha", "beta", "gamma", "delta"]
    answers = await asyncio.gather(*(ask(w) for w in words))
    assert answers == [header() + f" echo: {w}" for w in words]
    await aclient.close()


def test_disconnect_cancels_the_job(client: openai.OpenAI) -> None:
    """solo/ has one session: the second request gets it within the 12 s deadline only if leaving
    the first stream cancelled its job (which would otherwise run 300 x 0.1 s = 30 s)."""
    long_message = " ".join(f"w{i}" for i in range(300))
    stream = client.chat.completions.create(
        model="solo/chat", messages=[{"role": "user", "content": long_message}], stream=True
    )
    received = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
            if received == 3:
                break
    stream.close()
    completion = client.chat.completions.create(model="solo/chat", messages=[{"role": "user", "content": "ping"}])
    assert completion.choices[0].message.content == header() + " echo: ping"
