"""The Hexin provider against a local server speaking the backend's documented wire format
(``conftest.HexinBackend``), through a real ``httpx.AsyncClient``: the token (exchange, cache,
expiry, refusal), chat, streams, Responses, embeddings, and in-body failures."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hexgate_hexin import HexinProvider

from hexgate.errors import (
    HexgateError,
    Unsupported,
    UpstreamAuthError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
)
from hexgate.protocol import CallContext
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest
from hexgate.schemas.responses import NativeResponse, RawEvent, decode_request
from hexgate.testing import Reply

SSE = {"content-type": "text/event-stream"}
CAPTURE = Path(__file__).parent / "fixtures" / "openai--responses--reasoning-summary-stream.chunks.txt"


def _capture() -> list[str]:
    return [line for line in CAPTURE.read_text().splitlines() if line.strip()]


def ctx(model: str, body: bytes | None = None) -> CallContext:
    return CallContext(request_id="req_1", model=model, timeout=30, body=body)


def chat(**fields: Any) -> ChatCompletionRequest:
    return msgspec.convert(
        {"model": "hexin/x", "messages": [{"role": "user", "content": "hi"}], **fields}, ChatCompletionRequest
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def provider(backend: Any, http: httpx.AsyncClient) -> HexinProvider:
    return HexinProvider(backend.settings(), http=http)


async def test_token_is_exchanged_once_and_sent_on_every_call(backend: Any, provider: HexinProvider) -> None:
    for _ in range(3):
        answer = await provider.chat(chat(), ctx("gpt-4o"))
        assert answer.choices[0].message.content == "hi"
    assert provider.auth.exchanges == 1
    (auth,) = backend.calls("/auth")
    assert auth.json() == {"app_id": "app-test-000", "app_secret": "secret-test-000"}
    for call in backend.calls("/vtuber/ai_access/chatgpt/v3/chat/completions"):
        assert (call.headers["userid"], call.headers["token"]) == ("4242", "tok-1")


async def test_token_is_refreshed_before_it_expires(backend: Any, provider: HexinProvider) -> None:
    now = [1000.0]
    provider.auth.clock = lambda: now[0]
    backend.expires_in = 600
    await provider.chat(chat(), ctx("gpt-4o"))
    now[0] += 550  # inside the 300 s margin (at most half the lifetime): due for a new one
    await provider.chat(chat(), ctx("gpt-4o"))
    now[0] += 100
    await provider.chat(chat(), ctx("gpt-4o"))
    assert backend.issued == ["tok-1", "tok-2"]
    assert [q.headers["token"] for q in backend.calls("/vtuber/ai_access/chatgpt/v3/chat/completions")] == [
        "tok-1",
        "tok-2",
        "tok-2",
    ]


async def test_without_an_expiry_the_configured_ttl_applies(backend: Any, http: httpx.AsyncClient) -> None:
    backend.expires_in = None
    provider = HexinProvider(backend.settings(token_ttl=120, refresh_margin=10), http=http)
    now = [0.0]
    provider.auth.clock = lambda: now[0]
    await provider.chat(chat(), ctx("gpt-4o"))
    now[0] = 100.0
    await provider.chat(chat(), ctx("gpt-4o"))
    now[0] = 111.0
    await provider.chat(chat(), ctx("gpt-4o"))
    assert backend.issued == ["tok-1", "tok-2"]


@pytest.mark.parametrize("refusal", ["http", "body"])
async def test_a_refused_token_is_fetched_again_once(backend: Any, provider: HexinProvider, refusal: str) -> None:
    backend.refusal = refusal
    await provider.chat(chat(), ctx("gpt-4o"))
    backend.revoke()  # the backend forgot our token before its expiry
    answer = await provider.chat(chat(), ctx("gpt-4o"))
    assert answer.choices[0].message.content == "hi"
    assert backend.issued == ["tok-1", "tok-2"]

    backend.revoke()
    events = await provider.respond(decode_request(b'{"model":"hexin/o3","input":"go","stream":true}'), ctx("o3"))
    assert not isinstance(events, NativeResponse)
    assert len([e async for e in events]) == 56
    assert backend.issued == ["tok-1", "tok-2", "tok-3"]


async def test_a_token_refused_twice_is_a_502(backend: Any, provider: HexinProvider) -> None:
    backend.chat = lambda _: Reply(body=json.dumps({"success": False, "status_code": 403, "status_msg": "no"}).encode())
    with pytest.raises(UpstreamAuthError) as info:
        await provider.chat(chat(), ctx("gpt-4o"))
    assert info.value.status == 502
    assert provider.auth.exchanges == 2


async def test_a_refused_secret_is_a_502_without_the_secret(backend: Any, http: httpx.AsyncClient) -> None:
    provider = HexinProvider(backend.settings(app_secret="wrong-secret-123"), http=http)
    with pytest.raises(UpstreamAuthError) as info:
        await provider.chat(chat(), ctx("gpt-4o"))
    assert info.value.status == 502
    assert "app_id or app_secret is wrong" in info.value.message
    assert "wrong-secret-123" not in info.value.message


async def test_chat_with_tools_routes_by_model_and_reads_wrapped_answers(backend: Any, provider: HexinProvider) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "price", "arguments": {"symbol": "600519"}}}
    answer = backend.completion(None, reasoning_content="Look it up.", tool_calls=[call])
    backend.chat = lambda _: Reply(body=json.dumps({"success": True, "data": answer}).encode())
    tools = [{"type": "function", "function": {"name": "price", "parameters": {"type": "object"}}}]
    completion = await provider.chat(chat(tools=tools, max_tokens=99, temperature=0.3), ctx("deepseek-reasoner"))
    message = completion.choices[0].message
    assert message.reasoning_content == "Look it up." and message.content is None
    assert message.tool_calls and message.tool_calls[0].function.arguments == '{"symbol": "600519"}'
    assert completion.choices[0].finish_reason == "tool_calls"
    sent = backend.calls("/vtuber/ai_access/doubao/v3/chat/completions")[-1].json()
    assert sent["model"] == "ep-20250410145517-rpbrz"
    assert (sent["max_tokens"], sent["temperature"], sent["tools"]) == (99, 0.3, tools)

    await provider.chat(chat(max_tokens=5, temperature=0.3), ctx("o3"))
    sent = backend.calls("/vtuber/ai_access/chatgpt/v3/chat/completions")[-1].json()
    assert sent["max_completion_tokens"] == 5 and "temperature" not in sent and "max_tokens" not in sent


async def test_stream_from_sse_and_from_one_json_body(backend: Any, provider: HexinProvider) -> None:
    backend.chat = lambda _: Reply(
        body=backend.chat_frames({"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}),
        headers=SSE,
    )
    chunks = [c async for c in provider.stream_chat(chat(stream=True), ctx("gpt-4o"))]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "Hello"
    assert chunks[-1].usage and chunks[-1].usage.total_tokens == 8
    assert backend.calls("/vtuber/ai_access/chatgpt/v3/chat/completions")[-1].json()["stream"] is True

    call = {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    backend.chat = lambda _: Reply(body=json.dumps(backend.completion("Sure.", tool_calls=[call])).encode())
    chunks = [c async for c in provider.stream_chat(chat(stream=True), ctx("gpt-4o"))]
    first, last = chunks
    assert first.choices[0].delta.content == "Sure."
    assert first.choices[0].delta.tool_calls and first.choices[0].delta.tool_calls[0].id == "call_9"
    assert last.choices[0].finish_reason == "tool_calls" and last.usage and last.usage.total_tokens == 18


@pytest.mark.parametrize(
    ("status", "answer", "error", "code"),
    [
        (200, {"success": False, "status_code": 429, "status_msg": "too many"}, UpstreamRateLimited, 429),
        (200, {"success": False, "status_code": 400, "status_msg": "bad messages"}, UpstreamRejected, 400),
        (200, {"success": False, "status_code": "E1001", "status_msg": "engine error"}, UpstreamError, 502),
        (200, {"success": False, "status_code": 503, "status_msg": "busy"}, UpstreamOverloaded, 503),
        (200, {"error": {"type": "rate_limit_error", "message": "slow down"}}, UpstreamRateLimited, 429),
        (200, {"error": {"type": "invalid_request_error", "message": "bad"}}, UpstreamRejected, 400),
        (200, {"error": {"code": "model_not_found", "message": "no such model"}}, UpstreamRejected, 404),
        (200, {"error": {"type": "server_overloaded", "message": "busy"}}, UpstreamOverloaded, 503),
        (200, {"data": {"success": False, "status_code": 429, "status_msg": "x"}}, UpstreamError, 502),
        (500, {"error": {"type": "server_error", "message": "boom"}}, UpstreamError, 502),
        (429, {"error": {"type": "rate_limit_error", "message": "slow"}}, UpstreamRateLimited, 429),
    ],
)
async def test_in_body_failures_map_to_their_status(
    backend: Any, provider: HexinProvider, status: int, answer: dict[str, Any], error: type[HexgateError], code: int
) -> None:
    backend.chat = lambda _: Reply(status, json.dumps(answer).encode())
    for call in (provider.chat(chat(), ctx("gpt-4o")), _drain(provider.stream_chat(chat(stream=True), ctx("gpt-4o")))):
        with pytest.raises(error) as info:
            await call
        assert info.value.status == code
    assert provider.auth.exchanges == 1


async def _drain(chunks: AsyncIterator[Any]) -> list[Any]:
    return [c async for c in chunks]


async def test_streamed_responses_are_relayed_as_sent(backend: Any, provider: HexinProvider) -> None:
    body = b'{"model":"hexin/o3","input":"12+7?","reasoning":{"effort":"high","summary":"detailed"},"stream":true}'
    events = await provider.respond(decode_request(body), ctx("o3", body))
    assert not isinstance(events, NativeResponse)
    got = [e async for e in events]
    lines = _capture()
    assert all(isinstance(e, RawEvent) for e in got)
    assert [json.loads(bytes(e.data)) for e in got if isinstance(e, RawEvent)] == [json.loads(x) for x in lines]
    kinds = [e.event for e in got if isinstance(e, RawEvent)]
    assert kinds.count("response.reasoning_summary_text.delta") == 32
    (sent,) = backend.calls("/responses")
    assert sent.json() == {**json.loads(body), "model": "o3"}
    assert sent.headers["arsenal-openai-hash"] == sent.headers["x-trace-id"] == "req_1"
    assert sent.headers["token"] == "tok-1" and sent.headers["accept"] == "text/event-stream"


async def test_non_streamed_responses_unwrap_data(backend: Any, provider: HexinProvider) -> None:
    inner = json.loads(_capture()[-1])["response"]
    backend.responses = lambda _: Reply(body=json.dumps({"success": True, "data": inner}).encode())
    answer = await provider.respond(decode_request(b'{"model":"hexin/o3","input":"go"}'), ctx("o3"))
    assert isinstance(answer, NativeResponse)
    assert json.loads(bytes(answer.raw)) == inner and answer.id == inner["id"]

    backend.responses = lambda _: Reply(body=b'{"success":false,"status_code":429,"status_msg":"quota"}')
    with pytest.raises(UpstreamRateLimited):
        await provider.respond(decode_request(b'{"model":"hexin/o3","input":"go","stream":true}'), ctx("o3"))


async def test_without_a_response_url_responses_are_bridged(backend: Any, http: httpx.AsyncClient) -> None:
    provider = HexinProvider(backend.settings(response_url=None), http=http)
    with pytest.raises(Unsupported):
        await provider.respond(decode_request(b'{"model":"hexin/o3","input":"go"}'), ctx("o3"))


async def test_embeddings_are_form_encoded_one_input_each(backend: Any, provider: HexinProvider) -> None:
    request = msgspec.convert({"model": "hexin/text-embedding-3-small", "input": ["a", "bbb"]}, EmbeddingRequest)
    answer = await provider.embed(request, ctx("text-embedding-3-small"))
    assert [(e.index, e.embedding) for e in answer.data] == [(0, [1.0, 0.5, -0.25]), (1, [3.0, 0.5, -0.25])]
    assert answer.usage.prompt_tokens == 4
    sent = backend.calls("/vtuber/ai_access/chatgpt/v1/embeddings")
    forms = sorted((urllib.parse.parse_qs(q.body.decode()) for q in sent), key=lambda f: f["input"])
    assert forms == [
        {"input": ["a"], "model": ["text-embedding-3-small"]},
        {"input": ["bbb"], "model": ["text-embedding-3-small"]},
    ]

    backend.embedding_answer = lambda text, i: {"object": "list", "data": [{"embedding": [0.1], "index": 0}]}
    answer = await provider.embed(request, ctx("text-embedding-3-small"))
    assert [e.embedding for e in answer.data] == [[0.1], [0.1]]
    backend.embedding_answer = lambda text, i: {"success": False, "status_code": 400, "status_msg": "input too long"}
    with pytest.raises(UpstreamRejected, match="input too long"):
        await provider.embed(request, ctx("text-embedding-3-small"))


async def test_claude_models_say_what_to_do(provider: HexinProvider) -> None:
    with pytest.raises(Unsupported, match="routes"):
        await provider.chat(chat(), ctx("claude-sonnet-4-5"))


async def test_models_are_the_configured_list(backend: Any, http: httpx.AsyncClient) -> None:
    provider = HexinProvider(backend.settings(models=["gpt-4o", "text-embedding-3-small"]), http=http)
    models = await provider.list_models()
    assert [m.id for m in models] == ["gpt-4o", "text-embedding-3-small"]
    assert models[1].capabilities and models[1].capabilities.embeddings is True


@pytest.mark.parametrize(
    ("change", "message"),
    [({"app_id": ""}, "app_id is empty"), ({"base_url": "ftp://x"}, "base_url must start")],
)
def test_bad_settings_fail_at_start(
    backend: Any, http: httpx.AsyncClient, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        HexinProvider(backend.settings(**change), http=http)
    with pytest.raises(msgspec.ValidationError, match="app_ud"):
        HexinProvider({**backend.settings(), "app_ud": "x"}, http=http)
