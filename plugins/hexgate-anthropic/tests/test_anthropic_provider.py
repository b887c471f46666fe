"""The provider over the real ``anthropic`` SDK with ``httpx.MockTransport`` upstreams: settings,
headers, error mapping, timeouts, mid-stream errors, cancellation, ``n > 1`` fan-out, models, embeddings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import pytest
from hexgate_anthropic import AnthropicProvider

from hexgate.errors import (
    HexgateError,
    Unsupported,
    UpstreamAuthError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from hexgate.protocol import CallContext, Provider
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest
from hexgate.testing import check_stream

KEY = "sk-ant-test-000"
CTX = CallContext(request_id="req-1", model="claude-sonnet-4-5", timeout=30)
Handler = Callable[[httpx.Request], httpx.Response]


def provider(handler: Handler, **settings: Any) -> AnthropicProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AnthropicProvider({"api_key": KEY, "base_url": "http://anthropic.test", **settings}, http=http)


def request(**body: Any) -> ChatCompletionRequest:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return msgspec.convert({"model": "claude/claude-sonnet-4-5", **body}, ChatCompletionRequest)


def sse(frames: list[bytes]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(frames))


async def collect(p: AnthropicProvider, req: ChatCompletionRequest) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(c) async for c in p.stream_chat(req, CTX)]


# ---------------------------------------------------------------- settings and headers


def test_is_a_provider() -> None:
    assert isinstance(provider(lambda r: httpx.Response(500)), Provider)


@pytest.mark.parametrize(
    ("settings", "where"),
    [
        ({"api_key": KEY, "api_kee": "x"}, "api_kee"),
        ({}, "api_key"),
        ({"api_key": KEY, "thinking_budgets": {"low": 10}}, "thinking_budgets.low"),
        ({"api_key": KEY, "thinking_budgets": {"huge": 5000}}, "huge"),
        ({"api_key": KEY, "timeout": 0}, "timeout"),
    ],
)
def test_bad_settings_fail_at_start(settings: dict[str, Any], where: str) -> None:
    with pytest.raises(msgspec.ValidationError) as err:
        AnthropicProvider(settings, http=httpx.AsyncClient())
    assert where in str(err.value)


async def test_request_headers_and_body(captures: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return httpx.Response(200, content=captures.text("anthropic--anthropic-text.json"))

    p = provider(handler, anthropic_version="2023-06-01", anthropic_beta=["a-2025", "b-2026"])
    done = await p.chat(request(max_tokens=10), CTX)
    assert done.choices[0].message.content.startswith("Hello!")  # type: ignore[union-attr]
    r = seen[0]
    assert r.url == "http://anthropic.test/v1/messages"
    assert r.headers["x-api-key"] == KEY
    assert r.headers["anthropic-version"] == "2023-06-01"
    assert r.headers["anthropic-beta"] == "a-2025,b-2026"
    assert json.loads(r.content) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


# ---------------------------------------------------------------- errors

ERRORS = {
    400: ("invalid_request_error", UpstreamRejected, 400),
    401: ("authentication_error", UpstreamAuthError, 502),
    403: ("permission_error", UpstreamAuthError, 502),
    404: ("not_found_error", UpstreamRejected, 404),
    413: ("request_too_large", UpstreamRejected, 413),
    429: ("rate_limit_error", UpstreamRateLimited, 429),
    500: ("api_error", UpstreamError, 502),
    529: ("overloaded_error", UpstreamOverloaded, 503),
}


@pytest.mark.parametrize("status", sorted(ERRORS))
@pytest.mark.parametrize("stream", [False, True])
async def test_status_errors(status: int, stream: bool) -> None:
    kind, cls, ours = ERRORS[status]
    body = {
        "type": "error",
        "error": {"type": kind, "message": f"upstream {kind} for key {KEY}"},
        "request_id": "req_1",
    }
    headers = {"retry-after": "7"} if status in (429, 529) else {}
    p = provider(lambda r: httpx.Response(status, json=body, headers=headers))
    with pytest.raises(HexgateError) as err:
        if stream:
            await collect(p, request(stream=True))
        else:
            await p.chat(request(), CTX)
    assert type(err.value) is cls
    assert err.value.status == ours
    assert f"upstream {kind}" in err.value.message
    assert KEY not in err.value.message
    if status in (429, 529):
        assert err.value.headers == {"retry-after": "7"}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_key_of_any_shape_is_scrubbed_from_upstream_errors(stream: bool) -> None:
    """A compatible proxy's key is not key-shaped (the core's pattern misses it): the sent value is removed."""
    secret = "corp-proxy-key-42"
    body = {"type": "error", "error": {"type": "authentication_error", "message": f"unknown key {secret}"}}
    p = provider(lambda r: httpx.Response(401, json=body), api_key=secret)
    with pytest.raises(HexgateError) as err:
        if stream:
            await collect(p, request(stream=True))
        else:
            await p.chat(request(), CTX)
    assert secret not in err.value.message and "unknown key [redacted]" in err.value.message


async def test_retry_after_ms_wins() -> None:
    p = provider(lambda r: httpx.Response(429, json={}, headers={"retry-after-ms": "2500", "retry-after": "60"}))
    with pytest.raises(UpstreamRateLimited) as err:
        await p.chat(request(), CTX)
    assert err.value.retry_after == 2.5
    assert err.value.headers["retry-after"] == "3"


async def test_non_json_error_body() -> None:
    p = provider(lambda r: httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(UpstreamError) as err:
        await p.chat(request(), CTX)
    assert err.value.status == 502
    assert "bad gateway" in err.value.message


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ReadTimeout("slow"), UpstreamTimeout),
        (httpx.ConnectTimeout("slow"), UpstreamTimeout),
        (httpx.ConnectError("refused"), UpstreamConnectError),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_transport_failures(exc: Exception, cls: type[Exception], stream: bool) -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        raise exc

    p = provider(handler)
    with pytest.raises(cls):
        if stream:
            await collect(p, request(stream=True))
        else:
            await p.chat(request(), CTX)


async def test_unreadable_body() -> None:
    p = provider(lambda r: httpx.Response(200, content=b"not json"))
    with pytest.raises(UpstreamError, match="not a Message"):
        await p.chat(request(), CTX)


async def test_mid_stream_error_is_raised_after_the_text(captures: Any) -> None:
    frames = captures.frames(
        {
            "type": "message_start",
            "message": {"id": "msg_1", "model": "m", "content": [], "usage": {"input_tokens": 3}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Partial ans"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    p = provider(lambda r: sse(frames))
    got: list[str] = []
    with pytest.raises(UpstreamOverloaded, match="Overloaded"):
        async for chunk in p.stream_chat(request(stream=True), CTX):
            got.append(chunk.choices[0].delta.content or "")  # type: ignore[operator]
    assert "".join(got) == "Partial ans"


async def test_stream_cut_before_the_end_raises(captures: Any) -> None:
    events = captures.events("basic_response.sse")[:5]
    p = provider(lambda r: sse(captures.frames(*events)))
    with pytest.raises(UpstreamError, match="truncated"):
        await collect(p, request(stream=True))


async def test_unreadable_event_raises() -> None:
    p = provider(lambda r: sse([b"event: message_start\ndata: {not json\n\n"]))
    with pytest.raises(UpstreamError, match="unreadable"):
        await collect(p, request(stream=True))


# ---------------------------------------------------------------- streaming I/O


class _Body(httpx.AsyncByteStream):
    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.closed = False
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self.frames:
            self.sent += 1
            yield frame

    async def aclose(self) -> None:
        self.closed = True


async def test_stream_sends_stream_true_and_closes_the_body(captures: Any) -> None:
    body = _Body(captures.frames(*captures.events("tool_use_response.sse")))
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    chunks = await collect(provider(handler), request(stream=True))
    assert json.loads(seen[0].content)["stream"] is True
    assert check_stream(chunks) == []
    assert body.closed and body.sent == len(body.frames)


async def test_closing_the_stream_early_releases_the_upstream(captures: Any) -> None:
    body = _Body(captures.frames(*captures.events("anthropic--anthropic-text.chunks.txt")))
    p = provider(lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body))
    stream = p.stream_chat(request(stream=True), CTX)
    first = await anext(stream)
    assert first.choices[0].delta.role == "assistant"
    await stream.aclose()  # type: ignore[attr-defined]
    assert body.closed
    assert body.sent < len(body.frames)


# ---------------------------------------------------------------- n > 1


def _numbered(captures: Any) -> Handler:
    """Each call answers the text capture with its own message id and token counts."""
    calls = {"n": 0}

    def handler(r: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        i = calls["n"]
        stream = json.loads(r.content).get("stream")
        if not stream:
            body = json.loads(captures.text("anthropic--anthropic-text.json"))
            body["id"], body["usage"]["output_tokens"] = f"msg_{i}", 10 * i
            return httpx.Response(200, json=body)
        events = captures.events("anthropic--anthropic-text.chunks.txt")
        events[0]["message"]["id"] = f"msg_{i}"
        events[-2]["usage"]["output_tokens"] = 10 * i
        return sse(captures.frames(*events))

    return handler


async def test_n_fans_out_without_stream(captures: Any) -> None:
    done = await provider(_numbered(captures)).chat(request(n=3), CTX)
    assert [c.index for c in done.choices] == [0, 1, 2]
    assert all(c.message.content and c.message.content.startswith("Hello!") for c in done.choices)
    assert done.usage.prompt_tokens == 3 * 12  # type: ignore[union-attr]
    assert done.usage.completion_tokens == 10 + 20 + 30  # type: ignore[union-attr]


async def test_n_fans_out_in_a_stream(captures: Any) -> None:
    chunks = await collect(provider(_numbered(captures)), request(n=3, stream=True))
    assert check_stream(chunks) == []
    assert len({c["id"] for c in chunks}) == 1
    want = captures.expected("anthropic--anthropic-text.chunks.txt")["text"]
    for i in range(3):
        mine = [ch for c in chunks for ch in c["choices"] if ch["index"] == i]
        assert mine[0]["delta"]["role"] == "assistant"
        assert "".join(ch["delta"].get("content", "") for ch in mine) == want
        assert [ch["finish_reason"] for ch in mine if ch["finish_reason"]] == ["stop"]
    usage_chunks = [c for c in chunks if c.get("usage")]
    assert len(usage_chunks) == 1 and usage_chunks[0]["choices"] == []
    assert usage_chunks[0]["usage"]["completion_tokens"] == 60
    assert usage_chunks[0]["usage"]["prompt_tokens"] == 36


async def test_n_stream_error_in_one_choice_raises(captures: Any) -> None:
    calls = {"n": 0}

    def handler(r: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return httpx.Response(
                529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            )
        return sse(captures.frames(*captures.events("anthropic--anthropic-text.chunks.txt")))

    with pytest.raises(UpstreamOverloaded):
        await collect(provider(handler), request(n=2, stream=True))


# ---------------------------------------------------------------- models, embeddings, responses


async def test_list_models() -> None:
    page = {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-5-20250929",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
            },
            {
                "type": "model",
                "id": "claude-opus-4-7",
                "display_name": "Claude Opus 4.7",
                "created_at": "2026-04-01T00:00:00Z",
                "max_input_tokens": 1_000_000,
                "max_tokens": 128_000,
                "capabilities": {
                    "image_input": {"supported": True},
                    "thinking": {"supported": True, "types": {}},
                    "structured_outputs": {"supported": True},
                },
            },
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-opus-4-7",
    }
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return httpx.Response(200, json=page)

    models = await provider(handler).list_models()
    assert seen[0].url.path == "/v1/models"
    assert [m.id for m in models] == ["claude-sonnet-4-5-20250929", "claude-opus-4-7"]
    sonnet, opus = models
    assert (sonnet.display_name, sonnet.context_window, sonnet.max_output_tokens) == (
        "Claude Sonnet 4.5",
        200_000,
        64_000,
    )
    assert sonnet.created == 1759104000
    assert (opus.context_window, opus.max_output_tokens) == (1_000_000, 128_000)
    caps = opus.capabilities
    assert not isinstance(caps, msgspec.UnsetType)
    assert (caps.vision, caps.reasoning, caps.json_output, caps.tools, caps.embeddings) == (
        True,
        True,
        True,
        True,
        False,
    )


async def test_list_models_error_is_mapped() -> None:
    p = provider(
        lambda r: httpx.Response(
            401, json={"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
        )
    )
    with pytest.raises(UpstreamAuthError):
        await p.list_models()


async def test_embeddings_are_unsupported() -> None:
    with pytest.raises(Unsupported) as err:
        await provider(lambda r: httpx.Response(500)).embed(EmbeddingRequest(model="claude/x", input="hi"), CTX)
    assert err.value.status == 400
    assert "no embeddings API" in err.value.message


async def test_respond_is_left_to_the_bridge() -> None:
    with pytest.raises(Unsupported):
        await provider(lambda r: httpx.Response(500)).respond(None, CTX)  # type: ignore[arg-type]
