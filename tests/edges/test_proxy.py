"""Upstream proxies: every provider kind that uses the core's HTTP client (openai, anthropic through
its SDK, gemini through google-genai, hexin, puter) reaches its upstream through a real HTTP or
SOCKS5 proxy on 127.0.0.1, set per provider, by ``[server] upstream_proxy``, or by the standard
environment variables; the proxy's password never shows in a log line or an error body."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import openai
import pytest

pytestmark = pytest.mark.e2e

PASSWORD = "pr0xy-s3cret-pw"


async def _ask_all(rig: Any, gateway: Any) -> None:
    for model, text in rig.FIVE_MODELS.items():
        done = await gateway.client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hello"}]
        )
        assert done.choices[0].message.content == text, model


@pytest.mark.parametrize(
    ("kind", "scheme", "host"),
    [
        ("http", "http", "127.0.0.1"),
        ("socks5", "socks5", "127.0.0.1"),
        ("socks5", "socks5h", "localhost"),
    ],
)
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_every_provider_kind_goes_through_the_server_proxy(
    rig: Any,
    stub: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    scheme: str,
    host: str,
    transport: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HEXGATE_HTTP_TRANSPORT", transport)
    url = stub.url.replace("127.0.0.1", host)
    async with rig.running_proxy(kind, user="gw", password=PASSWORD) as proxy:
        config = f'[server]\nupstream_proxy = "{proxy.url(scheme)}"\n' + rig.five_providers(url)
        async with rig.serve(config) as gateway:
            await _ask_all(rig, gateway)
    port = stub.url.rpartition(":")[2]
    assert proxy.seen and all(port in seen for seen in proxy.seen), proxy.seen
    if scheme == "socks5h":  # the name goes to the proxy, which resolves it
        assert all(seen.startswith("SOCKS domain localhost:") for seen in proxy.seen), proxy.seen
    elif scheme == "socks5":  # resolved here, the proxy gets an address
        assert all(seen.startswith("SOCKS ipv4 127.0.0.1:") for seen in proxy.seen), proxy.seen
    paths = {r.path.partition("?")[0] for r in stub.requests}
    assert {
        "/v1/chat/completions",
        "/v1/messages",
        "/drivers/call",
        "/auth",
        "/hexin/chatgpt/v3/chat/completions",
    } <= paths
    assert any(p.endswith(":generateContent") for p in paths)
    assert proxy.refused == 0
    assert PASSWORD not in caplog.text


async def test_a_provider_proxy_wins_over_the_server_default(rig: Any, stub: Any) -> None:
    async with rig.running_proxy("http") as default, rig.running_proxy("socks5") as own:
        config = f"""
[server]
upstream_proxy = "{default.url()}"

[providers.direct]
plugin = "openai"
base_url = "{stub.url}/v1"
api_key = "k"
proxy = "{own.url()}"

[providers.viadefault]
plugin = "openai"
base_url = "{stub.url}/v1"
api_key = "k"
"""
        async with rig.serve(config) as gateway:
            for model in ("direct/m", "viadefault/m"):
                await gateway.client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert len(own.seen) == 1 and own.seen[0].startswith("SOCKS ")
    assert len(default.seen) == 1 and default.seen[0].startswith("POST http://127.0.0.1:")
    assert len(stub.requests) == 2


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_environment_proxy_and_no_proxy(
    rig: Any, stub: Any, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.setenv("HEXGATE_HTTP_TRANSPORT", transport)
    async with rig.running_proxy("http", user="env", password=PASSWORD) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", "localhost")
        config = f"""
[providers.viaenv]
plugin = "openai"
base_url = "{stub.url}/v1"
api_key = "k"

[providers.bypass]
plugin = "openai"
base_url = "{stub.url.replace("127.0.0.1", "localhost")}/v1"
api_key = "k"
"""
        async with rig.serve(config) as gateway:
            for model in ("viaenv/m", "bypass/m"):
                await gateway.client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert len(proxy.seen) == 1 and "127.0.0.1" in proxy.seen[0]  # localhost went direct (NO_PROXY)
    assert len(stub.requests) == 2


@pytest.mark.parametrize(
    ("kind", "transport"),
    # not socks5 under HEXGATE_HTTP_TRANSPORT=httpx: httpcore 1.0.9 never closes its socket to a SOCKS
    # proxy whose handshake failed (AsyncSocks5Connection.handle_async_request), which this suite's
    # ResourceWarning check reports; the default aiohttp transport closes it
    [("http", "aiohttp"), ("socks5", "aiohttp"), ("http", "httpx")],
)
async def test_a_refusing_proxy_is_a_502_that_never_shows_the_password(
    rig: Any,
    stub: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    transport: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HEXGATE_HTTP_TRANSPORT", transport)
    async with rig.running_proxy(kind, user="gw", password="the-right-one") as proxy:
        config = "[routing]\nretries = 0\n" + rig.five_providers(
            stub.url, extra=f'proxy = "{proxy.url(password=PASSWORD)}"\n'
        )
        async with rig.serve(config) as gateway:
            for model in rig.FIVE_MODELS:
                async with httpx.AsyncClient(base_url=gateway.base, timeout=30) as raw:
                    answer = await raw.post(
                        "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "x"}]}
                    )
                assert answer.status_code >= 500, (model, answer.text)
                assert PASSWORD not in answer.text, (model, answer.text)
                assert answer.json()["error"]["message"], model
            with pytest.raises(openai.APIStatusError):
                await gateway.client.chat.completions.create(model="oa/m", messages=[{"role": "user", "content": "x"}])
    assert proxy.refused >= 5
    assert not stub.requests
    assert PASSWORD not in caplog.text


async def test_a_bad_proxy_url_fails_at_start_without_its_password(rig: Any) -> None:
    from hexgate.registry import build_registry
    from hexgate.settings import ConfigError, load_settings

    config = (
        f'[providers.oa]\nplugin = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nproxy = "ftp://u:{PASSWORD}@h:1"\n'
    )
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(config)
        with pytest.raises(ConfigError) as caught:
            await build_registry(load_settings(path, env={}), start=False)
    assert "providers.oa: proxy" in str(caught.value) and "socks5h://" in str(caught.value)
    assert PASSWORD not in str(caught.value)
