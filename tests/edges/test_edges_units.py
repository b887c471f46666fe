"""Small pieces of the edges, directly: proxy URL checks and redaction, NO_PROXY matching, a key
pool swapping its placeholder in a URL query, the think-tag renderer on interleaved reasoning."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hexgate.clients import _bypass, check_proxy, redact
from hexgate.keypool import KeyPool
from hexgate.reasoning_format import StreamRenderer
from hexgate.schemas.chat import ChatCompletionChunk, ChunkChoice, Delta
from hexgate.settings import ConfigError, load_settings


def test_redact_and_check_proxy() -> None:
    assert redact("socks5h://me:p%40ss@proxy.local:1080") == "socks5h://***@proxy.local:1080"
    assert redact("http://proxy:3128") == "http://proxy:3128"
    for good in ("http://h:1", "https://u:p@h:443", "socks5://h:1080", "socks5h://h:1080"):
        assert check_proxy(good) == good
    for bad in ("ftp://u:hunter22@h:1", "h:3128", "http://:1", "http://h:99999"):
        with pytest.raises(ValueError) as caught:
            check_proxy(bad)
        assert "hunter22" not in str(caught.value)


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("api.example.com", 443, "example.com", True),
        ("example.com", 443, ".example.com", True),
        ("badexample.com", 443, "example.com", False),
        ("localhost", 8080, "localhost:8080", True),
        ("localhost", 8081, "localhost:8080", False),
        ("anything", None, "*", True),
        ("10.0.0.1", None, "10.0.0.2, 10.0.0.1", True),
    ],
)
def test_no_proxy(host: str, port: int | None, no_proxy: str, bypass: bool) -> None:
    entries = [e.strip() for e in no_proxy.split(",")]
    assert _bypass(host, port, entries) is bypass


async def test_key_pool_swaps_the_placeholder_in_a_query_and_leaves_other_requests_alone() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200)

    pool = KeyPool(["key-one-1111", "key-two-2222"], placeholder="hexgate-key-pool-x", provider_id="x")
    transport = httpx.MockTransport(handler)
    for _ in range(2):
        await pool.send(transport, httpx.Request("GET", "http://up/v1/models?key=hexgate-key-pool-x"))
    await pool.send(transport, httpx.Request("GET", "http://images/cat.png"))
    assert seen == [
        "http://up/v1/models?key=key-one-1111",
        "http://up/v1/models?key=key-two-2222",
        "http://images/cat.png",
    ]
    assert [s.requests for s in pool.states()] == [1, 1]


def _chunk(**delta: str) -> ChatCompletionChunk:
    return ChatCompletionChunk(id="c", created=1, model="m", choices=[ChunkChoice(index=0, delta=Delta(**delta))])


def test_think_tags_close_before_a_tool_call_or_the_end_and_reopen_for_interleaved_reasoning() -> None:
    renderer = StreamRenderer("think_tags")
    pieces = [
        _chunk(reasoning_content="a"),
        _chunk(content="b"),
        _chunk(reasoning_content="c"),
        _chunk(reasoning_content="d"),
    ]
    out = []
    for chunk in pieces:
        renderer.chunk(chunk)
        out.append(chunk.choices[0].delta.content)
    closing = renderer.close(pieces[-1])
    assert closing is not None
    out.append(closing.choices[0].delta.content)
    assert "".join(str(t) for t in out) == "<think>a</think>b<think>cd</think>"
    assert renderer.close(pieces[-1]) is None


def test_settings_take_the_core_keys_out_of_a_provider_table(tmp_path: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[server]
upstream_proxy = "socks5h://proxy:1080"
reasoning_format = "think_tags"
strict_params = true

[providers.oa]
plugin = "openai"
proxy = "http://corp:3128"
api_key = ["${K1}", "", "${K1}", "k2"]

[models.r]
target = "oa/m"
reasoning_format = "none"
"""
    )
    s = load_settings(path, env={"K1": "k1"})
    table = s.providers["oa"]
    assert table.proxy == "http://corp:3128" and table.api_keys == ["k1", "k2"]  # empty and repeated left out
    assert table.settings == {"api_key": "hexgate-key-pool-oa"}
    assert (s.server.upstream_proxy, s.server.reasoning_format, s.server.strict_params) == (
        "socks5h://proxy:1080",
        "think_tags",
        True,
    )
    assert s.models["r"].reasoning_format == "none"
    path.write_text('[providers.oa]\nplugin = "openai"\n[models.r]\ntarget = "oa/m"\nreasoning_format = "xml"\n')
    with pytest.raises(ConfigError, match=r"models\.r\.reasoning_format"):
        load_settings(path, env={})


async def test_a_plugin_that_opens_its_own_connections_is_handed_the_proxy(tmp_path: Any) -> None:
    from hexgate.registry import build_registry

    path = tmp_path / "config.toml"
    path.write_text('[server]\nupstream_proxy = "socks5://127.0.0.1:1080"\n[providers.gr]\nplugin = "gradio"\n')
    registry = await build_registry(load_settings(path, env={}), start=False)
    try:
        assert registry.providers["gr"].settings.proxy == "socks5://127.0.0.1:1080"  # type: ignore[attr-defined]
    finally:
        await registry.aclose()
