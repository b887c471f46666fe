"""The provider with the real SDK over a mocked or local transport: image fetching, ``n``, settings,
Vertex mode, and the upstream connection released when a stream is abandoned."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest
from hexgate_gemini import GeminiProvider

from hexgate.clients import make_http_client
from hexgate.errors import InvalidRequest, Unsupported
from hexgate.protocol import CallContext
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.testing import Reply, StubUpstream, check_stream

if TYPE_CHECKING:
    from conftest import Captures

CTX = CallContext(request_id="r", model="gemini-2.5-flash", timeout=30)
SSE = {"content-type": "text/event-stream"}


def chat(**fields: Any) -> ChatCompletionRequest:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return msgspec.convert({"model": "gemini/x", **fields}, ChatCompletionRequest)


def answer(text: str, *, prompt: int = 2, completion: int = 3) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": completion},
        "modelVersion": "gemini-2.5-flash",
    }


class Upstream:
    """A MockTransport that plays Gemini (host ``gemini.test``) and an image server (``images.test``)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.images: dict[str, Callable[[], httpx.Response]] = {}
        self.reply: Callable[[httpx.Request], httpx.Response] = lambda _: httpx.Response(200, json=answer("ok"))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "images.test":
            return self.images[request.url.path]()
        return self.reply(request)

    def gemini_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.host == "gemini.test"]


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


def make(upstream: Upstream, **settings: Any) -> GeminiProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    return GeminiProvider({"api_key": "test-key", "base_url": "http://gemini.test", **settings}, http=http)


async def pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def image_request(url: str) -> ChatCompletionRequest:
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    return chat(messages=[{"role": "user", "content": content}])


# ---------------------------------------------------------------- images


async def test_http_image_is_fetched_and_inlined(upstream: Upstream) -> None:
    upstream.images["/cat"] = lambda: httpx.Response(302, headers={"location": "/cat.png"})
    upstream.images["/cat.png"] = lambda: httpx.Response(200, content=b"PNGDATA", headers={"content-type": "image/png"})
    p = make(upstream, image_fetch_private=True)
    await p.chat(image_request("http://images.test/cat"), CTX)
    [sent] = upstream.gemini_bodies()
    inline = sent["contents"][0]["parts"][1]["inlineData"]
    # google-genai sends this object's keys in snake_case; the API's JSON parser takes either spelling
    assert inline["mime_type"] == "image/png"
    assert base64.urlsafe_b64decode(inline["data"]) == b"PNGDATA"


IMAGE_FAILURES = [
    pytest.param(
        lambda: httpx.Response(200, content=b"x" * 11, headers={"content-type": "image/png"}),
        "larger than 10",
        id="too-large",
    ),
    pytest.param(
        lambda: httpx.Response(200, content=pieces(b"x" * 6, b"x" * 6), headers={"content-type": "image/png"}),
        "larger than 10",
        id="too-large-streamed",
    ),
    pytest.param(lambda: httpx.Response(404), "status 404", id="missing"),
    pytest.param(
        lambda: httpx.Response(200, content=b"<html>", headers={"content-type": "text/html"}), "not an image", id="html"
    ),
    pytest.param(lambda: httpx.Response(302, headers={"location": "/pic"}), "redirects more than", id="redirect-loop"),
]


@pytest.mark.parametrize(("reply", "message"), IMAGE_FAILURES)
async def test_image_fetch_failures_are_400s(
    upstream: Upstream, reply: Callable[[], httpx.Response], message: str
) -> None:
    upstream.images["/pic"] = reply
    p = make(upstream, image_fetch_private=True, image_max_bytes=10)
    with pytest.raises(InvalidRequest, match=message):
        await p.chat(image_request("http://images.test/pic"), CTX)
    assert upstream.gemini_bodies() == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x.png", "http://[::1]/x.png", "http://10.0.0.7/x.png", "http://169.254.169.254/latest"]
)
async def test_private_image_hosts_are_refused_by_default(upstream: Upstream, url: str) -> None:
    with pytest.raises(InvalidRequest, match="not a public address"):
        await make(upstream).chat(image_request(url), CTX)
    assert upstream.requests == []


# ---------------------------------------------------------------- n, parallel tool calls


async def test_n_as_candidate_count(upstream: Upstream) -> None:
    two = answer("a")
    two["candidates"].append(
        {"content": {"role": "model", "parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1}
    )
    upstream.reply = lambda _: httpx.Response(200, json=two)
    completion = await make(upstream).chat(chat(n=2), CTX)
    assert [c.message.content for c in completion.choices] == ["a", "b"]
    assert upstream.gemini_bodies()[0]["generationConfig"]["candidateCount"] == 2


async def test_n_by_fan_out(upstream: Upstream) -> None:
    count = iter(range(100))
    upstream.reply = lambda _: httpx.Response(200, json=answer(f"answer {next(count)}"))
    completion = await make(upstream, n_strategy="fan_out").chat(chat(n=3), CTX)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert sorted(c.message.content or "" for c in completion.choices) == ["answer 0", "answer 1", "answer 2"]
    assert completion.usage and (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (6, 9)
    assert all("candidateCount" not in b.get("generationConfig", {}) for b in upstream.gemini_bodies())


async def test_n_by_fan_out_streamed(upstream: Upstream) -> None:
    def sse(_: httpx.Request) -> httpx.Response:
        frames = [
            {"candidates": [{"content": {"role": "model", "parts": [{"text": w}]}, "index": 0}]}
            for w in ("one ", "two")
        ]
        frames[-1]["usageMetadata"] = {"promptTokenCount": 2, "candidatesTokenCount": 2}
        frames[-1]["candidates"][0]["finishReason"] = "STOP"
        return httpx.Response(200, content=b"".join(f"data: {json.dumps(f)}\n\n".encode() for f in frames), headers=SSE)

    upstream.reply = sse
    chunks = [msgspec.to_builtins(c) async for c in make(upstream, n_strategy="fan_out").stream_chat(chat(n=2), CTX)]
    chunks[0]["choices"][0]["delta"]["role"] = "assistant"  # the core's relay adds it
    assert check_stream(chunks) == []
    for index in (0, 1):
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"][0]["index"] == index)
        assert text == "one two"
    finishes = sorted(
        (c["choices"][0]["index"], c["choices"][0]["finish_reason"]) for c in chunks if c["choices"][0]["finish_reason"]
    )
    assert finishes == [(0, "stop"), (1, "stop")]
    assert [c["usage"]["total_tokens"] for c in chunks if "usage" in c] == [8]


async def test_parallel_tool_calls_false(upstream: Upstream) -> None:
    body = answer("")
    body["candidates"][0]["content"]["parts"] = [
        {"functionCall": {"name": "a", "args": {}}},
        {"functionCall": {"name": "b", "args": {}}},
    ]
    upstream.reply = lambda _: httpx.Response(200, json=body)
    tools = [{"type": "function", "function": {"name": n}} for n in ("a", "b")]
    completion = await make(upstream).chat(chat(tools=tools, parallel_tool_calls=False), CTX)
    assert [c.function.name for c in completion.choices[0].message.tool_calls or []] == ["a"]


# ---------------------------------------------------------------- settings, modes, misc


def test_settings_need_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    http = httpx.AsyncClient()
    with pytest.raises(ValueError, match="api_key is required"):
        GeminiProvider({}, http=http)
    with pytest.raises(ValueError, match="project and location"):
        GeminiProvider({"vertexai": True}, http=http)
    with pytest.raises(msgspec.ValidationError):
        GeminiProvider({"api_key": "k", "n_strategy": "sometimes"}, http=http)
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-from-env")
    assert GeminiProvider({}, http=http).settings.api_key is None


async def test_key_from_environment(upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-from-env")
    http = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    await GeminiProvider({"base_url": "http://gemini.test"}, http=http).chat(chat(), CTX)
    assert upstream.requests[0].headers["x-goog-api-key"] == "test-key-from-env"


async def test_vertex_express_mode(upstream: Upstream) -> None:
    p = make(upstream, vertexai=True)
    completion = await p.chat(chat(), CTX)
    assert completion.choices[0].message.content == "ok"
    request = upstream.requests[0]
    assert request.url.path.endswith("/publishers/google/models/gemini-2.5-flash:generateContent")
    assert request.headers["x-goog-api-key"] == "test-key"


async def test_respond_is_bridged_by_the_core(upstream: Upstream) -> None:
    with pytest.raises(Unsupported):
        await make(upstream).respond(msgspec.convert({"model": "x", "input": "hi"}, type=Any), CTX)


async def test_core_client_is_used_and_left_open(upstream: Upstream) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    p = GeminiProvider({"api_key": "test-key", "base_url": "http://gemini.test"}, http=http)
    await p.chat(chat(), CTX)
    await p.aclose()
    assert len(upstream.requests) == 1
    assert not http.is_closed


@pytest.fixture
def hanging(captures: Captures) -> Iterator[StubUpstream]:
    first = captures.frames("google-text")[:1]
    with StubUpstream({"POST *": Reply(body=first, hang=20, headers=SSE)}) as stub:
        yield stub


async def test_abandoned_stream_releases_the_upstream_connection(hanging: StubUpstream) -> None:
    http = make_http_client(timeout=30)
    p = GeminiProvider({"api_key": "test-key", "base_url": hanging.url}, http=http)
    stream = p.stream_chat(chat(stream=True), CTX)
    first = await anext(stream)
    assert first.choices[0].delta.content == "There are **3**"
    await stream.aclose()
    for _ in range(250):  # the stub notices the closed socket on its next write
        if hanging.disconnects:
            break
        await asyncio.sleep(0.02)
    assert hanging.disconnects == 1
    await p.aclose()
    await http.aclose()
