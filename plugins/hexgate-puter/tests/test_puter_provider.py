"""The provider against httpx.MockTransport: paths the running stub does not reach (transport
failures, a stream answered in one JSON piece, the model-list fallback, a missing token)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import msgspec
import pytest
from hexgate_puter import PuterProvider

from hexgate.errors import (
    AuthenticationFailed,
    UpstreamConnectError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from hexgate.protocol import CallContext, ImageProvider, Provider
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.schemas.images import ImageGenerationRequest

CTX = CallContext(request_id="req_1", model="gpt-5-nano", timeout=30.0)
REQUEST = msgspec.convert(
    {"model": "puter/gpt-5-nano", "messages": [{"role": "user", "content": "hi"}]}, ChatCompletionRequest
)


def provider(handler: Callable[[httpx.Request], httpx.Response], **settings: object) -> PuterProvider:
    settings.setdefault("auth_token", "test-token")
    settings.setdefault("base_url", "http://puter.test")
    return PuterProvider(settings, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def test_is_a_provider_with_images() -> None:
    p = provider(lambda r: httpx.Response(500))
    assert isinstance(p, Provider) and isinstance(p, ImageProvider)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("refused"), UpstreamConnectError),
        (httpx.ConnectTimeout("slow"), UpstreamTimeout),
        (httpx.ReadTimeout("slow"), UpstreamTimeout),
        (httpx.RemoteProtocolError("garbage"), UpstreamError),
    ],
)
async def test_transport_failures(exc: Exception, kind: type[Exception]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(kind):
        await provider(fail).chat(REQUEST, CTX)
    with pytest.raises(kind):
        async for _ in provider(fail).stream_chat(REQUEST, CTX):
            pass


async def test_stream_answered_as_one_json_envelope() -> None:
    body = {
        "success": True,
        "result": {"message": {"content": "whole"}, "usage": {"input_tokens": 1, "output_tokens": 1}},
    }
    p = provider(lambda r: httpx.Response(200, json=body))
    chunks = [c async for c in p.stream_chat(REQUEST, CTX)]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "whole"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage


async def test_stream_success_false_envelope_and_unreadable_line() -> None:
    failing = provider(lambda r: httpx.Response(200, json={"success": False, "error": {"code": "insufficient_funds"}}))
    with pytest.raises(UpstreamRateLimited):
        async for _ in failing.stream_chat(REQUEST, CTX):
            pass
    garbled = provider(
        lambda r: httpx.Response(
            200, content=b'{"type":"text","text":"a"}\nnot json\n', headers={"content-type": "application/x-ndjson"}
        )
    )
    seen = []
    with pytest.raises(UpstreamError, match="not JSON"):
        async for chunk in garbled.stream_chat(REQUEST, CTX):
            seen.append(chunk)
    assert seen[0].choices[0].delta.content == "a"


async def test_plain_answer_that_is_not_json() -> None:
    with pytest.raises(UpstreamError, match="envelope"):
        await provider(lambda r: httpx.Response(200, text="<html>")).chat(REQUEST, CTX)


async def test_no_token_anywhere_is_a_401() -> None:
    p = provider(lambda r: httpx.Response(500), auth_token="")
    with pytest.raises(AuthenticationFailed):
        await p.chat(REQUEST, CTX)
    with pytest.raises(AuthenticationFailed):
        await p.generate_image(ImageGenerationRequest(prompt="x"), CTX)


async def test_test_mode_and_backend_reach_the_driver_call() -> None:
    seen: list[dict[str, object]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"success": True, "result": {"message": {"content": "ok"}}})

    await provider(record, test_mode=True, backend="openrouter").chat(REQUEST, CTX)
    assert seen[0]["test_mode"] is True
    assert seen[0]["args"]["provider"] == "openrouter"  # type: ignore[index]


async def test_models_fall_back_to_the_plain_list() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/puterai/chat/models/details":
            return httpx.Response(404)
        return httpx.Response(200, json={"models": ["a", "b", "a"]})

    models = await provider(answer, image_models=["img"]).list_models()
    assert [m.id for m in models] == ["a", "b", "img"]


async def test_models_failure_raises() -> None:
    with pytest.raises(UpstreamError):
        await provider(lambda r: httpx.Response(500, text="down")).list_models()
    with pytest.raises(UpstreamError, match="model list"):
        await provider(lambda r: httpx.Response(200, text="[{")).list_models()


async def test_image_answer_that_is_not_an_image() -> None:
    p = provider(lambda r: httpx.Response(200, json={"success": True, "result": {"odd": 1}}))
    with pytest.raises(UpstreamError, match="not an image"):
        await p.generate_image(ImageGenerationRequest(prompt="x"), CTX)


async def test_one_failed_image_fails_the_request() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 2:
            return httpx.Response(
                429, json={"success": False, "error": {"code": "rate_limit_exceeded"}}, headers={"retry-after": "2"}
            )
        return httpx.Response(200, content=b"\x89PNG\r\n\x1a\nxx", headers={"content-type": "image/png"})

    with pytest.raises(UpstreamRateLimited) as caught:
        await provider(answer).generate_image(ImageGenerationRequest(prompt="x", n=3), CTX)
    assert caught.value.headers == {"retry-after": "2"}
