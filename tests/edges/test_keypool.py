"""Upstream key pools: ``api_key = [...]`` rotates; a 429 cools a key down for its retry-after and
the request goes again on the next key; a 401/403 takes a key out until reload, logged once with its
last 4 characters; ``/providers`` shows each key's state. Through the openai plugin, the anthropic
SDK and google-genai, against a stub that refuses one key with 429 and another with 401."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import openai
import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream

pytestmark = pytest.mark.e2e

KEYS = {"K1": "sk-limited-aaaa1111", "K2": "sk-revoked-bbbb2222", "K3": "sk-good-cccc3333"}

# where each plugin puts its key, and the answer its upstream gives
PLUGINS: dict[str, tuple[str, str, str]] = {
    "openai": ("authorization", "oa/gpt-4o", "hi from openai"),
    "anthropic": ("x-api-key", "oa/claude-test", "hi from anthropic"),
    "gemini": ("x-goog-api-key", "oa/gemini-2.5-flash", "hi from gemini"),
}


def _key_of(request: RecordedRequest, header: str) -> str:
    return request.headers.get(header, "").removeprefix("Bearer ")


def _refusing(rig: Any, header: str) -> Any:
    def answer(request: RecordedRequest) -> Reply:
        key = _key_of(request, header)
        if request.path.partition("?")[0].endswith("/models"):
            return Reply(200, json.dumps({"object": "list", "data": []}).encode(), headers=dict(rig.JSON))
        if key == KEYS["K1"]:
            return Reply(429, b'{"error": {"message": "slow down"}}', headers={**rig.JSON, "retry-after": "30"})
        if key == KEYS["K2"]:
            return Reply(401, b'{"error": {"message": "invalid key"}}', headers=dict(rig.JSON))
        if key != KEYS["K3"]:
            return Reply(400, b'{"error": {"message": "unexpected key"}}', headers=dict(rig.JSON))
        return rig.upstream_answer(request)  # type: ignore[no-any-return]

    return answer


def _table(plugin: str, url: str) -> str:
    base = f"{url}/v1" if plugin == "openai" else url
    return f"""
[routing]
retries = 0

[providers.oa]
plugin = "{plugin}"
base_url = "{base}"
api_key = ["${{K1}}", "${{K2}}", "${{K3}}"]
"""


@pytest.mark.parametrize("plugin", list(PLUGINS))
async def test_429_cools_a_key_401_takes_it_out_and_the_request_succeeds_on_the_next(
    rig: Any, caplog: pytest.LogCaptureFixture, plugin: str
) -> None:
    caplog.set_level(logging.DEBUG)
    header, model, text = PLUGINS[plugin]
    with StubUpstream({"POST *": _refusing(rig, header), "GET *": _refusing(rig, header)}) as stub:
        async with rig.serve(_table(plugin, stub.url), env=KEYS) as gateway:
            for _ in range(3):
                done = await gateway.client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hello"}]
                )
                assert done.choices[0].message.content == text
            async with httpx.AsyncClient(base_url=gateway.base) as raw:
                report = (await raw.get("/providers")).json()
    sent = [_key_of(r, header) for r in stub.requests if not r.path.partition("?")[0].endswith("/models")]
    # the first request: the limited key, the revoked key, then the good one; after that only the good one
    assert sent == [KEYS["K1"], KEYS["K2"], KEYS["K3"], KEYS["K3"], KEYS["K3"]]
    keys = {k["key"]: k for k in report["providers"][0]["keys"]}
    assert set(keys) == {"…1111", "…2222", "…3333"}
    assert keys["…1111"]["state"] == "cooling" and 25 < keys["…1111"]["cooldown"] <= 30
    assert keys["…2222"]["state"] == "disabled" and keys["…2222"]["requests"] == 1
    assert keys["…3333"]["state"] == "active" and keys["…3333"]["requests"] >= 3
    refusals = [r.getMessage() for r in caplog.records if "out of the pool" in r.getMessage()]
    assert refusals == ["provider oa: upstream refused key …2222 with 401; it is out of the pool until reload"]
    for key in KEYS.values():
        assert key not in caplog.text
        assert key not in json.dumps(report)


async def test_keys_take_turns(rig: Any) -> None:
    with StubUpstream({"POST *": rig.upstream_answer}) as stub:
        config = f'[providers.oa]\nplugin = "anthropic"\nbase_url = "{stub.url}"\napi_keys = ["${{K1}}", "${{K3}}"]\n'
        async with rig.serve(config, env=KEYS) as gateway:
            for _ in range(4):
                await gateway.client.chat.completions.create(model="oa/c", messages=[{"role": "user", "content": "x"}])
    assert [r.headers["x-api-key"] for r in stub.requests] == [KEYS["K1"], KEYS["K3"]] * 2


async def test_when_every_key_is_limited_the_client_gets_the_429_with_its_retry_after(rig: Any) -> None:
    def limited(request: RecordedRequest) -> Reply:
        return Reply(429, b'{"error": {"message": "slow down"}}', headers={**rig.JSON, "retry-after": "7"})

    with StubUpstream({"POST *": limited}) as stub:
        config = (
            f'[routing]\nretries = 0\n[providers.oa]\nplugin = "openai"\nbase_url = "{stub.url}/v1"\n'
            'api_key = ["${K1}", "${K3}"]\n'
        )
        async with rig.serve(config, env=KEYS) as gateway:
            with pytest.raises(openai.RateLimitError) as caught:
                await gateway.client.chat.completions.create(model="oa/m", messages=[{"role": "user", "content": "x"}])
            assert caught.value.response.headers["retry-after"] == "7"
            # both keys cool down now: the next request takes the one free first, without a wasted retry
            with pytest.raises(openai.RateLimitError):
                await gateway.client.chat.completions.create(model="oa/m", messages=[{"role": "user", "content": "x"}])
    sent = [r.headers["authorization"].removeprefix("Bearer ") for r in stub.requests]
    assert sent == [KEYS["K1"], KEYS["K3"], KEYS["K1"]]


def test_a_pool_and_api_keys_together_is_a_config_error(tmp_path: Any) -> None:
    from hexgate.settings import ConfigError, load_settings

    path = tmp_path / "config.toml"
    path.write_text('[providers.oa]\nplugin = "openai"\napi_key = ["a"]\napi_keys = ["b"]\n')
    with pytest.raises(ConfigError, match=r"providers\.oa: give 'api_key' or 'api_keys', not both"):
        load_settings(path, env={})
    path.write_text('[providers.oa]\nplugin = "openai"\napi_keys = ["${NOPE:-}"]\n')
    with pytest.raises(ConfigError, match="the key pool is empty"):
        load_settings(path, env={})
