"""hexgate.testing's in-process seams: ``mock_client`` (httpx MockTransport) and ``inprocess_gateway``
(the app on httpx's ASGI transport, lifespan run), driven by the official ``openai`` client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from hexgate.settings import ConfigError
from hexgate.testing import INPROCESS_BASE_URL, Captures, inprocess_gateway, mock_client

ECHO = """
[providers.e]
plugin = "echo"
models = ["echo"]
"""


async def test_mock_client_answers_from_a_sync_or_async_handler() -> None:
    seen: list[httpx.Request] = []

    def sync(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"path": request.url.path})

    async def later(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": "3"}, text="slow down")

    async with mock_client(sync, base_url="http://upstream.test/v1/") as http:
        reply = await http.post("chat/completions", json={"model": "m"})
    assert reply.json() == {"path": "/v1/chat/completions"}
    assert json.loads(seen[0].content) == {"model": "m"}
    async with mock_client(later) as http:
        reply = await http.get("http://upstream.test/")
    assert (reply.status_code, reply.headers["retry-after"], reply.text) == (429, "3", "slow down")


async def test_mock_client_raises_what_the_handler_raises() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with mock_client(down) as http:
        with pytest.raises(httpx.ConnectError, match="refused"):
            await http.get("http://upstream.test/")


async def test_inprocess_gateway_serves_chat_streams_and_models() -> None:
    async with inprocess_gateway(ECHO) as http:
        client = openai.AsyncOpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key="k", max_retries=0, http_client=http)
        reply = await client.chat.completions.create(
            model="e/echo", messages=[{"role": "user", "content": "one two three"}]
        )
        assert reply.choices[0].message.content == "one two three"
        stream = await client.chat.completions.create(
            model="e/echo", messages=[{"role": "user", "content": "four five"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "four five"
        assert "e/echo" in [m.id async for m in client.models.list()]
        assert (await http.get("/health")).status_code == 200


async def test_inprocess_gateway_answers_errors_in_the_client_dialect() -> None:
    async with inprocess_gateway(ECHO) as http:
        client = openai.AsyncOpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key="k", max_retries=0, http_client=http)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="nope/x", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body is not None


async def test_inprocess_gateway_fills_env_and_refuses_a_bad_config() -> None:
    keyed = '[server]\napi_keys = ["${GW_TEST_KEY}"]\n' + ECHO
    async with inprocess_gateway(keyed, env={"GW_TEST_KEY": "sk-in-process"}) as http:
        body = {"model": "e/echo", "messages": [{"role": "user", "content": "hi"}]}
        assert (await http.post("/v1/chat/completions", json=body)).status_code == 401
        ok = await http.post("/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-in-process"})
        assert ok.status_code == 200
    with pytest.raises(ConfigError, match="providers"):
        async with inprocess_gateway("[providers.x]\nplugin = 3\n"):
            pass


def test_captures_read_every_format(tmp_path: Path) -> None:
    (tmp_path / "p--a.chunks.txt").write_text('{"type":"x","n":1}\n\n{"type":"y","n":2}\n')
    (tmp_path / "p--b.sse").write_bytes(b'event: x\ndata: {"n":1}\n\nevent: y\ndata: {"n":2}\n\n')
    (tmp_path / "p--c.json").write_text('{"ok": true}')
    captures = Captures(tmp_path, prefix="p--")
    assert captures.events("a.chunks.txt") == [{"type": "x", "n": 1}, {"type": "y", "n": 2}]
    assert captures.events("b.sse") == [{"n": 1}, {"n": 2}]
    assert captures.frames("a.chunks.txt", style="event") == [
        b'event: x\ndata: {"type":"x","n":1}\n\n',
        b'event: y\ndata: {"type":"y","n":2}\n\n',
    ]
    assert captures.frames("a.chunks.txt", done=True)[-1] == b"data: [DONE]\n\n"
    assert captures.frames("b.sse") == [b'event: x\ndata: {"n":1}\n\n', b'event: y\ndata: {"n":2}\n\n']
    assert captures.reply("c.json").body == b'{"ok": true}'
    assert captures.reply("b.sse").headers["content-type"] == "text/event-stream"
