"""The edges rig: hexgate in-process under uvicorn (so ``caplog`` sees its logs), a StubUpstream
that speaks just enough of each upstream's wire format (OpenAI, Anthropic, Gemini, Hexin, Puter),
and two real proxies on 127.0.0.1 written here with asyncio: an HTTP proxy (``CONNECT`` tunnels
and absolute-form forwarding, Basic ``Proxy-Authorization``) and a SOCKS5 proxy (RFC 1928, with
RFC 1929 username/password). Each proxy records what it was asked to reach.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import tempfile
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn
from litestar.exceptions import LitestarDeprecationWarning

from hexgate.app import create_app
from hexgate.registry import Registry
from hexgate.settings import load_settings
from hexgate.testing import RecordedRequest, Reply, StubUpstream, free_port

JSON = {"content-type": "application/json", "connection": "close"}


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), headers={**JSON, **(headers or {})})


def openai_completion(text: str = "hi", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-edge",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text, **message}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def upstream_answer(request: RecordedRequest) -> Reply:
    """One answer per upstream family, chosen by path."""
    path = request.path.partition("?")[0]
    if path == "/auth":  # Hexin's token endpoint
        return _json({"success": True, "data": {"user_id": 7, "token": "tok-1", "expires_in": 600}})
    if path.endswith("/chat/completions"):  # OpenAI-compatible, and Hexin's chatgpt route
        return _json(openai_completion("hi from openai"))
    if path == "/v1/messages" and request.json().get("stream"):
        events = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_edge",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude-test",
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 3, "output_tokens": 0},
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "hi from anthropic"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 2},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        frames = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
        return Reply(200, frames, headers={"content-type": "text/event-stream", "connection": "close"})
    if path == "/v1/messages":
        return _json(
            {
                "id": "msg_edge",
                "type": "message",
                "role": "assistant",
                "model": "claude-test",
                "content": [{"type": "text", "text": "hi from anthropic"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 2},
            }
        )
    if path.endswith(":generateContent"):
        return _json(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": "hi from gemini"}]}, "finishReason": "STOP"}
                ],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
            }
        )
    if path == "/drivers/call":
        return _json({"success": True, "result": {"message": {"role": "assistant", "content": "hi from puter"}}})
    return _json({"error": {"message": f"no route {path}"}}, status=404)


def five_providers(url: str, extra: str = "") -> str:
    """``[providers.*]`` tables for the five plugins that use the core's HTTP client, all on ``url``;
    ``extra`` is added to each table."""
    return f"""
[providers.oa]
plugin = "openai"
base_url = "{url}/v1"
api_key = "sk-test"
{extra}
[providers.an]
plugin = "anthropic"
base_url = "{url}"
api_key = "sk-ant-test"
{extra}
[providers.ge]
plugin = "gemini"
base_url = "{url}"
api_key = "AIza-test"
{extra}
[providers.hx]
plugin = "hexin"
app_id = "app"
app_secret = "secret"
app_url = "{url}/auth"
base_url = "{url}/hexin"
response_url = "{url}/responses"
{extra}
[providers.pu]
plugin = "puter"
base_url = "{url}"
auth_token = "puter-token"
{extra}
"""


FIVE_MODELS = {
    "oa/gpt-4o": "hi from openai",
    "an/claude-test": "hi from anthropic",
    "ge/gemini-2.5-flash": "hi from gemini",
    "hx/gpt-4o": "hi from openai",
    "pu/gpt-5-nano": "hi from puter",
}


# ---------------------------------------------------------------- proxies


@dataclass
class ProxyServer:
    """A running proxy: ``url`` (with the credentials it wants, if any), what it was asked to reach."""

    scheme: str
    port: int
    user: str | None = None
    password: str | None = None
    seen: list[str] = field(default_factory=list)
    """``CONNECT host:port``, ``GET http://…`` (forwarded) or ``SOCKS <atyp> host:port``."""
    refused: int = 0
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def url(self, scheme: str | None = None, *, password: str | None = None) -> str:
        creds = ""
        if self.user is not None:
            pw = self.password if password is None else password
            creds = f"{urllib.parse.quote(self.user)}:{urllib.parse.quote(pw or '')}@"
        return f"{scheme or self.scheme}://{creds}127.0.0.1:{self.port}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter], b: tuple[asyncio.StreamReader, asyncio.StreamWriter]
) -> None:
    try:
        await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))
    finally:
        a[1].close()
        b[1].close()


def _http_handler(proxy: ProxyServer) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        auth = next((h.partition(":")[2].strip() for h in headers if h.lower().startswith("proxy-authorization:")), "")
        if proxy.user is not None:
            want = "Basic " + base64.b64encode(f"{proxy.user}:{proxy.password}".encode()).decode()
            if auth != want:
                proxy.refused += 1
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                await writer.drain()
                writer.close()
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            proxy.seen.append(f"CONNECT {target}")
            upstream = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _splice((reader, writer), upstream)
            return
        url = urllib.parse.urlsplit(target)
        proxy.seen.append(f"{method} {target}")
        upstream = await asyncio.open_connection(url.hostname, url.port or 80)
        kept = [h for h in headers if not h.lower().startswith(("proxy-", "connection:"))]
        path = url.path + (f"?{url.query}" if url.query else "")
        upstream[1].write(
            "\r\n".join([f"{method} {path} {version}", *kept, "connection: close", "", ""]).encode("latin-1")
        )
        await _splice((reader, writer), upstream)

    return handle


def _socks_handler(proxy: ProxyServer) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            version, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            want = 0x02 if proxy.user is not None else 0x00
            if version != 5 or want not in methods:
                writer.write(b"\x05\xff")
                proxy.refused += 1
                writer.close()
                return
            writer.write(bytes([5, want]))
            if want == 0x02:
                _, ulen = await reader.readexactly(2)
                user = (await reader.readexactly(ulen)).decode()
                (plen,) = await reader.readexactly(1)
                password = (await reader.readexactly(plen)).decode()
                if (user, password) != (proxy.user, proxy.password):
                    proxy.refused += 1
                    writer.write(b"\x01\x01")
                    await writer.drain()
                    writer.close()
                    return
                writer.write(b"\x01\x00")
            _, _command, _, atyp = await reader.readexactly(4)
            if atyp == 1:
                host = ".".join(str(b) for b in await reader.readexactly(4))
                kind = "ipv4"
            elif atyp == 3:
                (length,) = await reader.readexactly(1)
                host = (await reader.readexactly(length)).decode()
                kind = "domain"
            else:
                raw = await reader.readexactly(16)
                host = ":".join(raw[i : i + 2].hex() for i in range(0, 16, 2))
                kind = "ipv6"
            port = int.from_bytes(await reader.readexactly(2), "big")
            proxy.seen.append(f"SOCKS {kind} {host}:{port}")
            upstream = await asyncio.open_connection(host, port)
            writer.write(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        await _splice((reader, writer), upstream)

    return handle


@contextlib.asynccontextmanager
async def running_proxy(
    scheme: str, *, user: str | None = None, password: str | None = None
) -> AsyncIterator[ProxyServer]:
    """An HTTP (``scheme="http"``) or SOCKS5 (``"socks5"``) proxy on 127.0.0.1 in this event loop."""
    proxy = ProxyServer(scheme=scheme, port=0, user=user, password=password)
    inner = _http_handler(proxy) if scheme == "http" else _socks_handler(proxy)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        proxy.tasks.add(task)
        proxy.writers.append(writer)
        try:
            await inner(reader, writer)
        finally:
            proxy.tasks.discard(task)

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        for writer in proxy.writers:  # tunnels the gateway kept alive end with the test
            writer.close()
        for task in list(proxy.tasks):
            task.cancel()
        await asyncio.gather(*proxy.tasks, return_exceptions=True)
        await server.wait_closed()


# ---------------------------------------------------------------- gateway


class Gateway:
    def __init__(self, base: str, app: Any) -> None:
        self.base = base
        self.app = app
        self.client = openai.AsyncOpenAI(
            base_url=f"{base}/v1",
            api_key="unused",
            max_retries=0,
            timeout=30,
            http_client=openai.DefaultAsyncHttpxClient(trust_env=False),  # the test's proxy env is the gateway's
        )

    @property
    def registry(self) -> Registry:
        registry: Registry = self.app.state.registry
        return registry


@contextlib.asynccontextmanager
async def serve(config: str, env: dict[str, str] | None = None) -> AsyncIterator[Gateway]:
    """hexgate for ``config`` (TOML text) under uvicorn in this event loop."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(config, encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LitestarDeprecationWarning)
            app = create_app(load_settings(path, env=env or {}))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False)
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        gateway = Gateway(f"http://127.0.0.1:{port}", app)
        try:
            yield gateway
        finally:
            await gateway.client.close()
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def stub() -> Any:
    with StubUpstream({"POST *": upstream_answer, "GET *": upstream_answer}) as s:
        yield s


@pytest.fixture
def rig() -> Any:
    """This module's helpers (pytest's importlib mode cannot import a conftest)."""
    return sys.modules[__name__]
