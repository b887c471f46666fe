"""Limits on input (messages, header size, slow clients), gateway keys stored hashed, and upstream
keys that never leave the gateway."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import httpx
import openai
import pytest

CHAT = "POST /v1/chat/completions"
UPSTREAM_KEY = "sk-test-do-not-leak-0000000000"


async def test_too_many_messages_is_a_400(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.ok()})
    async with rig.serve("[server]\nmax_messages = 2\n\n" + rig.providers(a=a)) as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await gw.client.chat.completions.create(model="a/m", messages=[{"role": "user", "content": "x"}] * 3)
        assert info.value.body["param"] == "messages"  # type: ignore[index]
        assert "server.max_messages" in info.value.message
        assert a.requests == []


async def test_oversized_headers_are_a_431_envelope(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.ok()})
    async with rig.serve("[server]\nmax_header_size = 2048\n\n" + rig.providers(a=a)) as gw:
        async with httpx.AsyncClient(base_url=gw.base) as http:
            response = await http.get("/v1/models", headers={"x-padding": "p" * 4096})
        assert response.status_code == 431
        assert response.json()["error"]["code"] == "request_header_fields_too_large"
        assert response.headers["x-request-id"]


async def test_a_client_that_sends_its_body_too_slowly_gets_a_408(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.ok()})
    async with rig.serve("[server]\nclient_timeout = 0.5\n\n" + rig.providers(a=a)) as gw:
        host, port = gw.base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 200\r\n\r\n" + b'{"model": "a/m", '
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 408")
        writer.close()
        await writer.wait_closed()
        assert a.requests == []


async def test_gateway_keys_may_be_stored_as_sha256(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.ok("fine")})
    digest = hashlib.sha256(b"gw-secret-1").hexdigest()
    config = f'[server]\napi_keys = ["sha256:{digest}", "plain-key-2"]\n\n' + rig.providers(a=a)
    async with rig.serve(config) as gw:
        for key in ("gw-secret-1", "plain-key-2"):
            client = gw.client.with_options(api_key=key)
            done = await client.chat.completions.create(model="a/m", messages=[{"role": "user", "content": "x"}])
            assert done.choices[0].message.content == "fine"
        for wrong in ("gw-secret-2", digest, f"sha256:{digest}"):
            with pytest.raises(openai.AuthenticationError):
                await gw.client.with_options(api_key=wrong).models.list()


async def test_upstream_keys_stay_out_of_errors_logs_and_the_model_list(
    rig: Any, stubs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leaky = rig.error(401, f"Incorrect API key provided: {UPSTREAM_KEY}. Find yours in your account.")
    models = b'{"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "x"}]}'
    from hexgate.testing import Reply

    a = stubs({CHAT: leaky, "GET /v1/models": Reply(200, models, headers=dict(rig.JSON))})
    config = (
        f'[providers.a]\nplugin = "openai"\nbase_url = "{a.url}/v1"\napi_key = "{UPSTREAM_KEY}"\n'
        '[models.m]\ntarget = "a/m"\n'
    )
    async with rig.serve(config) as gw:
        with pytest.raises(openai.APIStatusError) as info:
            await gw.client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 502
        assert UPSTREAM_KEY not in info.value.response.text
        async with httpx.AsyncClient(base_url=gw.base) as http:
            listing = await http.get("/v1/models")
            one = await http.get("/v1/models/m")
        assert listing.status_code == one.status_code == 200
        assert UPSTREAM_KEY not in listing.text + one.text
        assert a.requests[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    for record in caplog.records:
        assert UPSTREAM_KEY not in record.getMessage()
        assert UPSTREAM_KEY not in str(getattr(record, "usage", ""))
