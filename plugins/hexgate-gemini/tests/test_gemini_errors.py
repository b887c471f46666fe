"""Gemini error answers (real SDK, mocked transport) → hexgate's error tree, per ARCHITECTURE.md."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import pytest
from hexgate_gemini import GeminiProvider
from hexgate_gemini.errors import body_error, retry_delay, sent_credentials

from hexgate.errors import (
    HexgateError,
    UpstreamAuthError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from hexgate.protocol import CallContext
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest

CTX = CallContext(request_id="r", model="gemini-2.5-flash", timeout=30)
REQUEST = msgspec.convert({"model": "gemini/x", "messages": [{"role": "user", "content": "hi"}]}, ChatCompletionRequest)
KEY = "AIzaSyD-0123456789abcdefghijklmnopqrstu"


def body(code: int, status: str, message: str, details: list[Any] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def provider(handler: Any) -> GeminiProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GeminiProvider({"api_key": KEY, "base_url": "http://gemini.test"}, http=http)


STATUS_CASES = [
    pytest.param(400, "INVALID_ARGUMENT", UpstreamRejected, 400, id="400"),
    pytest.param(401, "UNAUTHENTICATED", UpstreamAuthError, 502, id="401"),
    pytest.param(403, "PERMISSION_DENIED", UpstreamAuthError, 502, id="403"),
    pytest.param(404, "NOT_FOUND", UpstreamRejected, 404, id="404"),
    pytest.param(413, "INVALID_ARGUMENT", UpstreamRejected, 413, id="413"),
    pytest.param(429, "RESOURCE_EXHAUSTED", UpstreamRateLimited, 429, id="429"),
    pytest.param(500, "INTERNAL", UpstreamError, 502, id="500"),
    pytest.param(503, "UNAVAILABLE", UpstreamOverloaded, 503, id="503"),
    pytest.param(504, "DEADLINE_EXCEEDED", UpstreamTimeout, 504, id="504"),
]


@pytest.mark.parametrize(("status", "name", "kind", "ours"), STATUS_CASES)
@pytest.mark.parametrize("stream", [False, True])
async def test_status_mapping(status: int, name: str, kind: type[HexgateError], ours: int, stream: bool) -> None:
    message = f"something went wrong with key={KEY}"
    p = provider(lambda _: httpx.Response(status, content=body(status, name, message)))
    with pytest.raises(kind) as caught:
        if stream:
            async for _ in p.stream_chat(REQUEST, CTX):
                pass
        else:
            await p.chat(REQUEST, CTX)
    assert caught.value.status == ours
    assert "something went wrong" in caught.value.message
    assert KEY not in caught.value.message


IN_200 = [
    pytest.param({"code": 500, "status": "INTERNAL"}, UpstreamError, 502, id="500"),
    pytest.param({"code": 503, "status": "UNAVAILABLE"}, UpstreamOverloaded, 503, id="503"),
    pytest.param({"code": 429, "status": "RESOURCE_EXHAUSTED"}, UpstreamRateLimited, 429, id="429"),
    pytest.param({"code": 400, "status": "INVALID_ARGUMENT"}, UpstreamRejected, 400, id="400"),
    pytest.param({"status": "RESOURCE_EXHAUSTED"}, UpstreamRateLimited, 429, id="status-only-429"),
    pytest.param({"status": "DEADLINE_EXCEEDED"}, UpstreamTimeout, 504, id="status-only-504"),
    pytest.param({"status": "NOT_FOUND"}, UpstreamRejected, 404, id="status-only-404"),
    pytest.param({"code": 200, "status": "SOMETHING_NEW"}, UpstreamError, 502, id="unknown"),
    pytest.param({}, UpstreamError, 502, id="empty"),
]


@pytest.mark.parametrize(("error", "kind", "ours"), IN_200)
def test_error_object_bodies(error: dict[str, Any], kind: type[HexgateError], ours: int) -> None:
    found = body_error(json.dumps({"error": {**error, "message": f"failed for key={KEY}"}}).encode())
    assert type(found) is kind and found is not None and found.status == ours
    assert "failed for" in found.message and KEY not in found.message


@pytest.mark.parametrize(
    "answer", [b'{"candidates": []}', b'{"error": null}', b"[1]", b"", b'{"error": 5}', b'  {"error": "x"}']
)
def test_other_bodies_are_not_errors(answer: bytes) -> None:
    assert body_error(answer) is None


def test_retry_hints_of_an_error_body() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}]
    answer = body(429, "RESOURCE_EXHAUSTED", "quota", details)
    found = body_error(answer)
    assert isinstance(found, UpstreamRateLimited) and found.retry_after == 34.4
    found = body_error(answer, retry_after=3)
    assert isinstance(found, UpstreamRateLimited) and found.headers == {"retry-after": "3"}


@pytest.mark.parametrize(("error", "kind", "ours"), IN_200)
async def test_an_error_in_a_200_is_an_error(error: dict[str, Any], kind: type[HexgateError], ours: int) -> None:
    answer = json.dumps({"error": {**error, "message": "backend failure"}}).encode()
    p = provider(lambda _: httpx.Response(200, content=answer, headers={"content-type": "application/json"}))
    with pytest.raises(kind) as caught:
        await p.chat(REQUEST, CTX)
    assert caught.value.status == ours and "backend failure" in caught.value.message


async def test_an_error_in_a_200_to_embeddings_is_an_error() -> None:
    answer = body(503, "UNAVAILABLE", "The model is overloaded.")
    p = provider(lambda _: httpx.Response(200, content=answer, headers={"content-type": "application/json"}))
    request = msgspec.convert({"model": "gemini-embedding-001", "input": ["a"]}, EmbeddingRequest)
    with pytest.raises(UpstreamOverloaded):
        await p.embed(request, CallContext(request_id="r", model="gemini-embedding-001", timeout=30))


async def test_the_shared_client_is_left_alone_outside_gemini_calls() -> None:
    """The check is a hook on the gateway's shared httpx client: other callers' 200s pass untouched."""
    answer = body(500, "INTERNAL", "not ours")
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=answer)))
    GeminiProvider({"api_key": KEY, "base_url": "http://gemini.test"}, http=http)
    async with http:
        assert (await http.get("http://other.test/")).content == answer


ODD_KEY = "corp-proxy-key-42"  # not key-shaped: the core's pattern redaction misses it


@pytest.mark.parametrize("where", ["status", "in_200", "stream_chunk"])
async def test_a_key_of_any_shape_is_scrubbed(where: str) -> None:
    echo = body(401 if where == "status" else 500, "UNAUTHENTICATED", f"unknown key {ODD_KEY}")
    if where == "stream_chunk":
        first = json.dumps({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}]})
        sse = f"data: {first}\r\n\r\ndata: {echo.decode()}\r\n\r\n".encode()
        answer = httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})
    else:
        answer = httpx.Response(401 if where == "status" else 200, content=echo)
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: answer))
    p = GeminiProvider({"api_key": ODD_KEY, "base_url": "http://gemini.test"}, http=http)
    with pytest.raises(HexgateError) as caught:
        if where == "stream_chunk":
            async for _ in p.stream_chat(REQUEST, CTX):
                pass
        else:
            await p.chat(REQUEST, CTX)
    assert ODD_KEY not in caught.value.message and "unknown key [redacted]" in caught.value.message


def test_sent_credentials() -> None:
    assert sent_credentials(httpx.Headers({"x-goog-api-key": "k-123"})) == ("k-123",)
    assert sent_credentials(httpx.Headers({"authorization": "Bearer ya29.tok"})) == ("ya29.tok",)
    assert sent_credentials(httpx.Headers({"accept": "*/*"})) == ()
    assert sent_credentials(None) == ()


async def test_invalid_key_is_our_configuration_not_the_client() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    p = provider(lambda _: httpx.Response(400, content=body(400, "INVALID_ARGUMENT", "API key not valid.", details)))
    with pytest.raises(UpstreamAuthError) as caught:
        await p.chat(REQUEST, CTX)
    assert caught.value.status == 502


async def test_retry_after_header_wins_over_body() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}]
    answer = body(429, "RESOURCE_EXHAUSTED", "slow down", details)
    p = provider(lambda _: httpx.Response(429, content=answer, headers={"retry-after": "7"}))
    with pytest.raises(UpstreamRateLimited) as caught:
        await p.chat(REQUEST, CTX)
    assert caught.value.headers == {"retry-after": "7"}


async def test_non_json_error_body() -> None:
    p = provider(lambda _: httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(UpstreamError) as caught:
        await p.chat(REQUEST, CTX)
    assert caught.value.status == 502


TRANSPORT_CASES = [
    pytest.param(httpx.ConnectError("refused"), UpstreamConnectError, id="connect"),
    pytest.param(httpx.ReadTimeout("slow"), UpstreamTimeout, id="timeout"),
    pytest.param(httpx.RemoteProtocolError("cut"), UpstreamError, id="protocol"),
]


@pytest.mark.parametrize(("exc", "kind"), TRANSPORT_CASES)
async def test_transport_failures(exc: Exception, kind: type[HexgateError]) -> None:
    def fail(_: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(kind):
        await provider(fail).chat(REQUEST, CTX)


async def test_unreadable_answer() -> None:
    p = provider(lambda _: httpx.Response(200, content=b"<html>not json</html>"))
    with pytest.raises(UpstreamError, match="cannot read"):
        await p.chat(REQUEST, CTX)


RETRY_CASES = [
    pytest.param(
        {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}]}}, 34.4
    ),
    pytest.param(
        {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}}, 2.0
    ),
    pytest.param({"error": {"details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure"}]}}, None),
    pytest.param(
        {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "soon"}]}}, None
    ),
    pytest.param({"error": {"message": "x"}}, None),
    pytest.param("not json", None),
]


@pytest.mark.parametrize(("details", "expected"), RETRY_CASES)
def test_retry_delay(details: Any, expected: float | None) -> None:
    assert retry_delay(details) == expected
