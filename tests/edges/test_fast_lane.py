"""The direct aiohttp lane (``UpstreamClient.open_direct``, :func:`hexgate.plugin_kit.send`): the
openai plugin's upstream calls skip the httpx layer on a plain direct connection and behave as they
did through httpx. A real aiohttp.web upstream on 127.0.0.1 and the gateway under uvicorn (the
``rig`` helpers); nothing mocked."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from aiohttp import web

from hexgate.clients import CONNECT_TIMEOUT, DirectResponse, UpstreamClients, apply_connect_timeout
from hexgate.plugin_kit import send
from hexgate.testing import free_port

pytestmark = pytest.mark.timeout(30)

COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
}


def _chunk(text: str, finish: str | None = None) -> bytes:
    delta = {"content": text} if text else {}
    if text == "he":
        delta["role"] = "assistant"
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class Upstream:
    """An OpenAI-compatible upstream whose behaviour the test picks with ``mode``:

    - ``ok``: a completion, or (``stream: true``) three events and ``[DONE]``; after the first event it
      waits (≤ 10 s) for ``gate``, so a gateway that held events back would leave ``gated`` False;
    - ``endless``: events every 20 ms until a write fails (``closed`` is set then);
    - ``stall``: waits for ``gate`` (≤ 10 s) before answering;
    - ``limited``: a 429 with OpenAI's error body and ``retry-after: 7``;
    - ``cookie``: the completion with a ``set-cookie``;
    - ``gzip``: the completion, gzip-encoded.
    """

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, str]] = []
        self.gate = asyncio.Event()
        self.gated = False
        self.closed = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append({k.lower(): v for k, v in request.headers.items()})
        if self.mode == "stall":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gate.wait(), 10)
        if self.mode == "limited":
            error = {"error": {"message": "slow down, please", "type": "requests", "code": "rate_limit_exceeded"}}
            return web.json_response(error, status=429, headers={"retry-after": "7"})
        if self.mode == "gzip":
            raw = gzip.compress(json.dumps(COMPLETION).encode())
            return web.Response(body=raw, headers={"content-type": "application/json", "content-encoding": "gzip"})
        if not json.loads(body or b"{}").get("stream"):
            headers = {"set-cookie": "session=alice; Path=/"} if self.mode == "cookie" else {}
            return web.json_response(COMPLETION, headers=headers)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        if self.mode == "endless":
            try:
                while True:
                    await response.write(_chunk("x"))
                    await asyncio.sleep(0.02)
            except (ConnectionError, asyncio.CancelledError):
                self.closed.set()
                raise
        await response.write(_chunk("he"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.gate.wait(), 10)
            self.gated = True
        await response.write(_chunk("llo"))
        await response.write(_chunk("", "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", up.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        up.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield up
    finally:
        up.gate.set()
        await runner.cleanup()
        sock.close()


def config(base: str, extra: str = "") -> str:
    return f'[routing]\nretries = 0\n\n[providers.up]\nplugin = "openai"\nbase_url = "{base}/v1"\n{extra}'


def direct_sends(gateway: Any) -> int:
    sends: int = gateway.registry.providers["up"].http.direct_sends
    return sends


HI = [{"role": "user", "content": "hi"}]


async def test_chat_and_stream_take_the_direct_lane(rig: Any) -> None:
    async with upstream() as up, rig.serve(config(up.url, 'api_key = "sk-secret"\n')) as gateway:
        reply = await gateway.client.chat.completions.create(model="up/m", messages=HI)
        assert reply.choices[0].message.content == "hello"
        texts = []
        stream = await gateway.client.chat.completions.create(model="up/m", messages=HI, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)
                up.gate.set()  # the first event came through before the upstream sent the next
        assert "".join(texts) == "hello"
        assert up.gated
        assert direct_sends(gateway) == 2
    sent = up.requests[-1]
    assert sent["authorization"] == "Bearer sk-secret"
    assert sent["content-type"] == "application/json"
    assert sent["accept"] == "text/event-stream"
    assert json.loads(json.dumps(sent))  # plain strings
    assert "cookie" not in sent


@pytest.mark.parametrize("case", ["proxy", "keypool", "httpx"])
async def test_proxies_key_pools_and_the_httpx_switch_go_through_httpx(
    rig: Any, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    async with upstream() as up, rig.running_proxy("http") as proxy:
        up.gate.set()
        extra = {
            "proxy": f'proxy = "{proxy.url()}"\n',
            "keypool": 'api_keys = ["k1", "k2"]\n',
            "httpx": "",
        }[case]
        if case == "httpx":
            monkeypatch.setenv("HEXGATE_HTTP_TRANSPORT", "httpx")
        async with rig.serve(config(up.url, extra)) as gateway:
            reply = await gateway.client.chat.completions.create(model="up/m", messages=HI)
            assert reply.choices[0].message.content == "hello"
            assert direct_sends(gateway) == 0
    assert len(proxy.seen) == (1 if case == "proxy" else 0)
    if case == "keypool":
        assert up.requests[-1]["authorization"] == "Bearer k1"


async def test_a_refused_connection_is_a_502_in_openais_envelope(rig: Any) -> None:
    async with rig.serve(config(f"http://127.0.0.1:{free_port()}")) as gateway:
        with pytest.raises(openai.APIStatusError) as caught:
            await gateway.client.chat.completions.create(model="up/m", messages=HI)
        assert direct_sends(gateway) == 1
    assert caught.value.status_code == 502
    error = caught.value.response.json()["error"]
    assert error["message"].startswith("could not connect to the upstream at http://127.0.0.1:")
    assert error["type"]


async def test_an_upstream_that_does_not_answer_is_a_504(rig: Any) -> None:
    async with upstream() as up, rig.serve(config(up.url, "timeout = 0.3\n")) as gateway:
        up.mode = "stall"
        with pytest.raises(openai.APIStatusError) as caught:
            await gateway.client.chat.completions.create(model="up/m", messages=HI)
        assert direct_sends(gateway) == 1
    assert caught.value.status_code == 504
    assert "did not answer in time" in caught.value.response.json()["error"]["message"]


async def test_a_client_that_leaves_mid_stream_closes_the_upstream_connection(rig: Any) -> None:
    async with upstream() as up, rig.serve(config(up.url)) as gateway:
        up.mode = "endless"
        stream = await gateway.client.chat.completions.create(model="up/m", messages=HI, stream=True)
        async for _ in stream:
            break
        await stream.close()
        await asyncio.wait_for(up.closed.wait(), 10)
        assert direct_sends(gateway) == 1


async def test_an_upstream_error_keeps_its_message_and_retry_after(rig: Any) -> None:
    async with upstream() as up, rig.serve(config(up.url)) as gateway:
        up.mode = "limited"
        with pytest.raises(openai.RateLimitError) as caught:
            await gateway.client.chat.completions.create(model="up/m", messages=HI)
        assert direct_sends(gateway) == 1
    assert "slow down, please" in caught.value.response.json()["error"]["message"]
    assert caught.value.response.headers["retry-after"] == "7"


async def test_no_upstream_cookie_is_sent_back(rig: Any) -> None:
    async with upstream() as up:
        base = up.url.replace("127.0.0.1", "localhost")  # aiohttp's own jar keeps cookies of host names only
        async with rig.serve(config(base)) as gateway:
            up.mode = "cookie"
            for _ in range(3):
                await gateway.client.chat.completions.create(model="up/m", messages=HI)
            assert direct_sends(gateway) == 3
    assert [r.get("cookie") for r in up.requests] == [None, None, None]


# ---------------------------------------------------------------- the lane itself


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A port whose listen queue is full: a connect there hangs until its timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fill = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fill.append(s)
    try:
        yield port
    finally:
        for s in [*fill, server]:
            s.close()


async def test_the_attempts_connect_timeout_applies() -> None:
    clients = UpstreamClients(env={})
    http = clients.client(timeout=60, connect_timeout=60)
    http.event_hooks["request"].append(apply_connect_timeout)
    token = CONNECT_TIMEOUT.set(0.3)
    try:
        with unanswered_port() as port, pytest.raises(httpx.ConnectTimeout):
            await send(http, "GET", f"http://127.0.0.1:{port}/v1/models", headers={})
        assert http.direct_sends == 1
    finally:
        CONNECT_TIMEOUT.reset(token)
        await clients.aclose()


async def test_other_event_hooks_keep_a_client_on_httpx() -> None:
    seen: list[int] = []

    async def hook(response: httpx.Response) -> None:
        seen.append(response.status_code)

    clients = UpstreamClients(env={})
    http = clients.client(timeout=5)
    http.event_hooks["request"].append(apply_connect_timeout)
    http.event_hooks["response"].append(hook)
    try:
        async with upstream() as up:
            response = await send(http, "POST", f"{up.url}/v1/chat/completions", headers={}, content=b"{}")
            assert isinstance(response, httpx.Response)
            assert json.loads(await response.aread()) == COMPLETION
            await response.aclose()
        assert seen == [200]
        assert http.direct_sends == 0
    finally:
        await clients.aclose()


async def test_a_compressed_answer_is_decoded_and_a_whole_read_is_kept() -> None:
    clients = UpstreamClients(env={})
    http = clients.client(timeout=5)
    try:
        async with upstream() as up:
            up.mode = "gzip"
            response = await send(http, "GET", f"{up.url}/v1/x", headers={"X-Extra": "1"}, stream=False)
            assert isinstance(response, DirectResponse)
            assert response.is_success and response.headers.get("Content-Encoding") == "gzip"
            assert json.loads(await response.aread()) == COMPLETION
            assert json.loads(b"".join([p async for p in response.aiter_bytes()])) == COMPLETION
            await response.aclose()
        assert up.requests[0]["x-extra"] == "1"
        assert "gzip" in up.requests[0]["accept-encoding"]
        assert up.requests[0]["user-agent"].startswith("python-httpx/")
    finally:
        await clients.aclose()
