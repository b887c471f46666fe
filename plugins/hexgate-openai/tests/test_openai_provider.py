"""The provider against replayed upstream traffic: pytest-httpx for captures and error shapes,
StubUpstream on 127.0.0.1 with the gateway's real transports for connection failures."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest
from hexgate_openai import OpenAIProvider
from pytest_httpx import HTTPXMock, IteratorStream

from hexgate.clients import make_http_client
from hexgate.errors import (
    UpstreamAuthError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from hexgate.protocol import CallContext, Provider
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest
from hexgate.testing import Reply, StubUpstream, check_stream, free_port

if TYPE_CHECKING:
    from conftest import Captures

BASE = "https://upstream.test/v1"
KEY = "test-key-0001"
SSE = {"content-type": "text/event-stream"}


def provider(http: httpx.AsyncClient, **settings: Any) -> OpenAIProvider:
    return OpenAIProvider({"base_url": BASE, "api_key": KEY, **settings}, http=http)


def chat_call(*, stream: bool, **extra: Any) -> tuple[ChatCompletionRequest, CallContext]:
    body = {"model": "up/some-model", "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}
    raw = json.dumps(body).encode()
    request = msgspec.json.decode(raw, type=ChatCompletionRequest)
    return request, CallContext(request_id="req-1", model="some-model", timeout=30.0, body=raw)


async def collect(p: OpenAIProvider, **extra: Any) -> list[dict[str, Any]]:
    request, ctx = chat_call(stream=True, **extra)
    return [msgspec.to_builtins(c) async for c in p.stream_chat(request, ctx)]


def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
    """One OpenAI-style ``data:`` frame with a single choice."""
    payload = {"id": "a", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def usage_numbers(usage: dict[str, Any] | None) -> dict[str, Any]:
    assert usage is not None
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    numbers = {k: usage[k] for k in keys}
    numbers["reasoning_tokens"] = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return numbers


# ---------------------------------------------------------------- streamed captures

STREAMS = [
    "openai--chat--openai-text",
    "deepseek--chat--deepseek-reasoning",
    "deepseek--chat--deepseek-text",
    "deepseek--chat--deepseek-tool-call",
]


@pytest.mark.parametrize("name", STREAMS)
async def test_stream_capture_reassembles_to_what_the_upstream_sent(
    name: str, captures: Captures, http: httpx.AsyncClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/chat/completions", headers=SSE, stream=IteratorStream(captures.frames(name, keepalive=True))
    )
    chunks = await collect(provider(http))
    expected = captures.reassemble([json.loads(line) for line in captures.lines(name)])
    got = captures.reassemble(chunks)
    assert got["text"] == expected["text"]
    assert got["reasoning"] == expected["reasoning"]
    assert got["tool_calls"] == expected["tool_calls"]
    assert got["finish"] == expected["finish"]
    assert usage_numbers(got["usage"]) == usage_numbers(expected["usage"])
    assert not check_stream(chunks)
    if "reasoning" in name:
        assert got["reasoning"].startswith("We need") or got["reasoning"]
    sent = httpx_mock.get_requests()[0]
    assert json.loads(sent.content)["stream_options"] == {"include_usage": True}


def test_capture_sanity(captures: Captures) -> None:
    """The numbers the replays are held to, read straight from the captures."""
    reasoning = captures.reassemble([json.loads(x) for x in captures.lines("deepseek--chat--deepseek-reasoning")])
    assert reasoning["usage"]["completion_tokens"] == 219 and reasoning["reasoning"] and reasoning["text"]
    tool = captures.reassemble([json.loads(x) for x in captures.lines("deepseek--chat--deepseek-tool-call")])
    assert tool["tool_calls"][0]["name"] == "weather"
    assert json.loads(tool["tool_calls"][0]["arguments"]) == {"location": "San Francisco"}


@pytest.mark.parametrize("name", STREAMS)
async def test_json_capture_reads_back(
    name: str, captures: Captures, http: httpx.AsyncClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{BASE}/chat/completions", content=captures.raw(name))
    request, ctx = chat_call(stream=False)
    completion = await provider(http).chat(request, ctx)
    source = captures.json(name)
    message = source["choices"][0]["message"]
    got = completion.choices[0].message
    assert got.content == message["content"]
    assert (got.reasoning_content or None) == (message.get("reasoning_content") or None)
    calls = [(c.id, c.function.name, c.function.arguments) for c in got.tool_calls or []]
    assert calls == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls", [])
    ]
    assert completion.choices[0].finish_reason == source["choices"][0]["finish_reason"]
    assert usage_numbers(msgspec.to_builtins(completion.usage)) == usage_numbers(source["usage"])
    assert completion.id == source["id"] and completion.model == source["model"]


# ---------------------------------------------------------------- what goes upstream


async def test_request_carries_key_headers_and_the_clients_unknown_fields(
    http: httpx.AsyncClient, httpx_mock: HTTPXMock, captures: Captures
) -> None:
    httpx_mock.add_response(url=f"{BASE}/chat/completions", content=captures.raw("openai--chat--openai-text"))
    p = provider(http, headers={"X-HF-Bill-To": "my-org"})
    request, ctx = chat_call(stream=False, verbosity="low", prediction={"type": "content", "content": "x"})
    await p.chat(request, ctx)
    sent = httpx_mock.get_requests()[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-hf-bill-to"] == "my-org"
    body = json.loads(sent.content)
    assert body["model"] == "some-model"
    assert body["verbosity"] == "low" and body["prediction"] == {"type": "content", "content": "x"}
    assert "stream" not in body


async def test_stream_usage_off_drops_stream_options(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    frames = [frame({"role": "assistant", "content": "x"}, "stop")]
    httpx_mock.add_response(url=f"{BASE}/chat/completions", headers=SSE, stream=IteratorStream(frames))
    await collect(provider(http, stream_usage=False), stream_options={"include_usage": True})
    assert "stream_options" not in json.loads(httpx_mock.get_requests()[0].content)


async def test_no_api_key_sends_no_authorization(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/models", json={"object": "list", "data": [{"id": "llama3.2"}]})
    p = OpenAIProvider({"base_url": BASE + "/"}, http=http)
    assert [m.id for m in await p.list_models()] == ["llama3.2"]
    assert "authorization" not in httpx_mock.get_requests()[0].headers


# ---------------------------------------------------------------- errors


async def test_429_passes_retry_after_and_message(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/chat/completions",
        status_code=429,
        headers={"retry-after": "7"},
        json={
            "error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}
        },
    )
    request, ctx = chat_call(stream=True)
    with pytest.raises(UpstreamRateLimited) as info:
        await anext(provider(http).stream_chat(request, ctx))
    assert info.value.retry_after == 7.0 and info.value.headers == {"retry-after": "7"}
    assert "Rate limit reached" in info.value.message and info.value.code == "rate_limit_exceeded"


async def test_503_with_retry_after_ms(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/chat/completions", status_code=503, headers={"retry-after-ms": "1500"}, json={"error": "busy"}
    )
    request, ctx = chat_call(stream=False)
    with pytest.raises(UpstreamOverloaded) as info:
        await provider(http).chat(request, ctx)
    assert info.value.retry_after == 1.5 and info.value.headers == {"retry-after": "2"}


async def test_401_never_echoes_our_key(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/chat/completions",
        status_code=401,
        json={"error": {"message": f"Incorrect API key provided: {KEY}.", "type": "invalid_request_error"}},
    )
    request, ctx = chat_call(stream=False)
    with pytest.raises(UpstreamAuthError) as info:
        await provider(http).chat(request, ctx)
    assert KEY not in info.value.message and info.value.status == 502


async def test_json_error_body_with_200_instead_of_a_stream(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/chat/completions", json={"error": {"message": "quota exceeded", "type": "insufficient_quota"}}
    )
    with pytest.raises(UpstreamRateLimited, match="quota exceeded"):
        await collect(provider(http))


async def test_error_frame_mid_stream(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    frames = [
        frame({"role": "assistant", "content": "Hel"}),
        b'data: {"error":{"message":"Overloaded","type":"overloaded_error"}}\n\n',
        frame({"content": "lo"}, "stop"),
    ]
    httpx_mock.add_response(url=f"{BASE}/chat/completions", headers=SSE, stream=IteratorStream(frames))
    request, ctx = chat_call(stream=True)
    seen = []
    with pytest.raises(UpstreamOverloaded, match="Overloaded"):
        async for chunk in provider(http).stream_chat(request, ctx):
            seen.append(chunk)
    assert [c.choices[0].delta.content for c in seen] == ["Hel"]


async def test_minimax_base_resp_errors(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    minimax = {
        "id": "",
        "choices": None,
        "base_resp": {"status_code": 1004, "status_msg": "login fail: token not match"},
    }
    httpx_mock.add_response(url=f"{BASE}/chat/completions", json=minimax)
    request, ctx = chat_call(stream=False)
    with pytest.raises(UpstreamAuthError, match="token not match"):
        await provider(http).chat(request, ctx)
    frame = b'data: {"choices":[],"base_resp":{"status_code":1002,"status_msg":"rate limit exceeded"}}\n\n'
    httpx_mock.add_response(url=f"{BASE}/chat/completions", headers=SSE, stream=IteratorStream([frame]))
    with pytest.raises(UpstreamRateLimited, match="rate limit exceeded"):
        await collect(provider(http))


async def test_unreadable_answer_is_a_502(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/chat/completions", headers=SSE, stream=IteratorStream([b"data: {nope\n\n"]))
    with pytest.raises(UpstreamError, match="unreadable stream chunk") as info:
        await collect(provider(http))
    assert info.value.status == 502


# ---------------------------------------------------------------- variants


async def test_upstream_that_ignores_stream_true(
    http: httpx.AsyncClient, httpx_mock: HTTPXMock, captures: Captures
) -> None:
    httpx_mock.add_response(url=f"{BASE}/chat/completions", content=captures.raw("deepseek--chat--deepseek-tool-call"))
    chunks = await collect(provider(http))
    assert not check_stream(chunks)
    got = captures.reassemble(chunks)
    assert got["tool_calls"][0]["name"] == "weather" and got["usage"]["prompt_tokens"] == 339


async def test_minimax_think_tags(http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    message = {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello!"}
    httpx_mock.add_response(
        url=f"{BASE}/chat/completions",
        json={
            "id": "m1",
            "created": 1,
            "model": "MiniMax-M2",
            "choices": [{"index": 0, "message": message}],
            "base_resp": {"status_code": 0, "status_msg": ""},
        },
    )
    request, ctx = chat_call(stream=False)
    completion = await provider(http, think_tags=True).chat(request, ctx)
    assert completion.choices[0].message.content == "Hello!"
    assert completion.choices[0].message.reasoning_content == "The user greets me.\n"
    assert completion.choices[0].finish_reason == "stop"


async def test_embeddings_capture(captures: Captures, http: httpx.AsyncClient, httpx_mock: HTTPXMock) -> None:
    source = captures.json("openai--embedding--openai-embedding")
    raw = b'{"model":"up/text-embedding-3-small","input":["sunny day","rainy day"],"encoding_format":"base64"}'
    request = msgspec.json.decode(raw, type=EmbeddingRequest)
    ctx = CallContext(request_id="r", model="text-embedding-3-small", timeout=30.0, body=raw)
    for floats_only in (False, True):
        httpx_mock.add_response(url=f"{BASE}/embeddings", content=captures.raw("openai--embedding--openai-embedding"))
        result = await provider(http, embeddings_base64=not floats_only).embed(request, ctx)
        # each vector is the upstream's own JSON, forwarded without parsing (msgspec.Raw)
        assert all(isinstance(e.embedding, msgspec.Raw) for e in result.data)
        assert [msgspec.json.decode(e.embedding) for e in result.data] == [d["embedding"] for d in source["data"]]
        assert result.usage.prompt_tokens == 12 and result.model == "text-embedding-3-small"
        sent = json.loads(httpx_mock.get_requests()[-1].content)
        assert sent["model"] == "text-embedding-3-small"
        assert sent.get("encoding_format") == (None if floats_only else "base64")


async def test_static_model_list(http: httpx.AsyncClient) -> None:
    p = provider(http, models=["deepseek-chat", "deepseek-reasoner"])
    assert [m.id for m in await p.list_models()] == ["deepseek-chat", "deepseek-reasoner"]


def test_is_a_provider(http: httpx.AsyncClient) -> None:
    assert isinstance(provider(http), Provider)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"base_url": BASE, "api_kye": "x"}, msgspec.ValidationError),
        ({"api_key": "x"}, msgspec.ValidationError),
        ({"base_url": "api.openai.com/v1"}, ValueError),
        ({"base_url": BASE, "timeout": 0}, ValueError),
        ({"base_url": BASE, "stream_usage": "yes"}, msgspec.ValidationError),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], error: type[Exception], http: httpx.AsyncClient) -> None:
    with pytest.raises(error):
        OpenAIProvider(settings, http=http)


# ---------------------------------------------------------------- real transports, real sockets

TRANSPORTS = [pytest.param({}, id="aiohttp"), pytest.param({"HEXGATE_HTTP_TRANSPORT": "httpx"}, id="httpx")]


@pytest.mark.parametrize("env", TRANSPORTS)
async def test_refused_connection(env: dict[str, str]) -> None:
    client = make_http_client(timeout=5.0, env=env)
    try:
        p = OpenAIProvider({"base_url": f"http://127.0.0.1:{free_port()}/v1"}, http=client)
        request, ctx = chat_call(stream=False)
        with pytest.raises(UpstreamConnectError, match="could not connect"):
            await p.chat(request, ctx)
    finally:
        await client.aclose()


def _slow(_: Any) -> Reply:
    time.sleep(1.5)
    return Reply(body=b"{}")


@pytest.mark.parametrize("env", TRANSPORTS)
async def test_upstream_too_slow_is_a_timeout(env: dict[str, str]) -> None:
    client = make_http_client(timeout=30.0, env=env)
    try:
        with StubUpstream({"POST /v1/chat/completions": _slow}) as stub:
            p = OpenAIProvider({"base_url": f"{stub.url}/v1", "timeout": 0.3}, http=client)
            request, ctx = chat_call(stream=False)
            with pytest.raises(UpstreamTimeout) as info:
                await p.chat(request, ctx)
            assert info.value.status == 504
    finally:
        await client.aclose()


@pytest.mark.parametrize("env", TRANSPORTS)
async def test_reset_mid_stream_is_not_a_connect_error(env: dict[str, str]) -> None:
    frames = [
        frame({"role": "assistant", "content": "Hel"}),
        frame({"content": "lo"}),
    ]
    client = make_http_client(timeout=5.0, env=env)
    try:
        reply = Reply(body=frames, headers=SSE, delay=0.05, reset=True)
        with StubUpstream({"POST /v1/chat/completions": reply}) as stub:
            p = OpenAIProvider({"base_url": f"{stub.url}/v1"}, http=client)
            request, ctx = chat_call(stream=True)
            seen = []
            with pytest.raises(UpstreamError) as info:
                async for chunk in p.stream_chat(request, ctx):
                    seen.append(chunk)
            assert type(info.value) is UpstreamError, "a connection lost mid-answer must not read as 'nothing sent'"
            assert "broke mid-answer" in info.value.message
            assert "".join(str(c.choices[0].delta.content) for c in seen) == "Hello"
    finally:
        await client.aclose()
