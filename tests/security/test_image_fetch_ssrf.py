"""Issue 12, finding 4: the Gemini provider's image fetch cannot be led into the gateway's network.

A resolver that answers a public address first and 127.0.0.1 next (DNS rebinding) must not make the
gateway connect to 127.0.0.1: a listener there must see no connection. Every redirect is checked the
same way; one request fetches a bounded number of images, a bounded number at a time, and the first
failure cancels the other fetches.

The provider's client has a transport that plays the public host in-process (so no packet leaves
127.0.0.1) and hands every other request to a real httpx transport, which connects where the
(patched) resolver says.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hexgate_gemini import GeminiProvider

from hexgate.errors import InvalidRequest
from hexgate.protocol import CallContext
from hexgate.schemas.chat import ChatCompletionRequest

CTX = CallContext(request_id="r", model="gemini-2.5-flash", timeout=30)
PUBLIC_IP = "93.184.216.34"
PNG = b"\x89PNG\r\n\x1a\nIMAGE"
GEMINI_ANSWER = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "a cat"}]}, "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 2},
}


class Listener:
    """A TCP listener on 127.0.0.1 counting the connections it accepts (and closing them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch, listener: Listener) -> list[str]:
    """``socket.getaddrinfo`` for ``*.rebind.test``: the public address on the first lookup, 127.0.0.1 after;
    ``loopback.test`` is 127.0.0.1 always. Returns the log of lookups."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.endswith("rebind.test") or name == "loopback.test":
            first = name.endswith("rebind.test") and name not in lookups
            lookups.append(name)
            address = PUBLIC_IP if first else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return lookups


class Network(httpx.AsyncBaseTransport):
    """Gemini and the public image host in-process; anything else through a real transport."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.public: list[httpx.Request] = []
        self.gemini: list[bytes] = []
        self.routes: dict[str, httpx.Response] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "gemini.test":
            self.gemini.append(await request.aread())
            return httpx.Response(200, json=GEMINI_ANSWER)
        if request.url.host == PUBLIC_IP:
            self.public.append(request)
            return self.routes.get(request.url.path) or httpx.Response(
                200, content=PNG, headers={"content-type": "image/png"}
            )
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


@pytest.fixture
async def network() -> Any:
    net = Network()
    yield net
    await net.aclose()


def provider(network: httpx.AsyncBaseTransport, **settings: Any) -> GeminiProvider:
    http = httpx.AsyncClient(transport=network)
    return GeminiProvider({"api_key": "test-key", "base_url": "http://gemini.test", **settings}, http=http)


def image_request(*urls: str) -> ChatCompletionRequest:
    content: list[dict[str, Any]] = [{"type": "text", "text": "what is this?"}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return msgspec.convert(
        {"model": "gemini/x", "messages": [{"role": "user", "content": content}]}, ChatCompletionRequest
    )


async def test_a_rebinding_host_is_fetched_from_the_checked_address(
    network: Network, listener: Listener, rebinding: list[str]
) -> None:
    url = f"http://cat.rebind.test:{listener.port}/cat.png"
    answer = await provider(network).chat(image_request(url), CTX)
    assert answer.choices[0].message.content == "a cat"
    await asyncio.sleep(0.3)
    assert listener.connections == 0, "the gateway connected to 127.0.0.1"
    [fetched] = network.public
    assert fetched.headers["host"] == f"cat.rebind.test:{listener.port}"
    assert fetched.extensions.get("sni_hostname") == "cat.rebind.test"
    [sent] = network.gemini
    assert base64.urlsafe_b64encode(PNG).decode() in sent.decode()


async def test_a_redirect_to_a_rebinding_or_private_host_is_refused(
    network: Network, listener: Listener, rebinding: list[str]
) -> None:
    targets = [f"http://loopback.test:{listener.port}/x.png", f"http://127.0.0.1:{listener.port}/x.png"]
    for n, target in enumerate(targets):
        network.routes[f"/hop{n}"] = httpx.Response(302, headers={"location": target})
        url = f"http://hop{n}.rebind.test:{listener.port}/hop{n}"
        with pytest.raises(InvalidRequest, match="not a public address"):
            await provider(network).chat(image_request(url), CTX)
    await asyncio.sleep(0.3)
    assert listener.connections == 0


async def test_images_per_request_are_capped(network: Network) -> None:
    urls = [f"http://{PUBLIC_IP}/{n}.png" for n in range(17)]
    with pytest.raises(InvalidRequest, match="at most 16"):
        await provider(network).chat(image_request(*urls), CTX)
    assert network.public == []
    await provider(network, image_max_count=17).chat(image_request(*urls), CTX)
    assert len(network.public) == 17


class Slow(httpx.AsyncBaseTransport):
    """Image URLs under /slow take 30 s (and note a cancellation); /bad fails at once; counts fetches in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.cancelled = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "gemini.test":
            return httpx.Response(200, json=GEMINI_ANSWER)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            if request.url.path.startswith("/bad"):
                await asyncio.sleep(0.2)
                return httpx.Response(404)
            await asyncio.sleep(30 if request.url.path.startswith("/slow") else 0.1)
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1


async def test_fetches_run_a_few_at_a_time() -> None:
    slow = Slow()
    urls = [f"http://{PUBLIC_IP}/{n}.png" for n in range(12)]
    await provider(slow, image_fetch_concurrency=3).chat(image_request(*urls), CTX)
    assert slow.most == 3


async def test_the_first_failure_cancels_the_other_fetches() -> None:
    slow = Slow()
    urls = [f"http://{PUBLIC_IP}/slow{n}.png" for n in range(3)] + [f"http://{PUBLIC_IP}/bad.png"]
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="status 404"):
        await provider(slow).chat(image_request(*urls), CTX)
    assert time.monotonic() - started < 5
    await asyncio.sleep(0.1)
    assert slow.cancelled == 3 and slow.in_flight == 0
