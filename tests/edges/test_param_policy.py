"""The parameter policy, through the official ``openai`` client: a parameter the provider drops is
named in ``x-hexgate-dropped-params`` (``seed`` on Anthropic), or refused with strict_params; one it
emulates in ``x-hexgate-emulated-params`` (``n`` on Anthropic, by one call per choice); one it
rejects is a 400 naming it before any upstream call (``logit_bias`` on Gemini)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from hexgate.testing import StubUpstream

pytestmark = pytest.mark.e2e

MESSAGES: Any = [{"role": "user", "content": "hello"}]


def _config(url: str, strict: bool = False) -> str:
    server = "[server]\nstrict_params = true\n" if strict else ""
    return f"""{server}
[providers.an]
plugin = "anthropic"
base_url = "{url}"
api_key = "k"

[providers.ge]
plugin = "gemini"
base_url = "{url}"
api_key = "k"

[providers.oa]
plugin = "openai"
base_url = "{url}/v1"
api_key = "k"

[models.mixed]
targets = ["oa/gpt-4o", "an/claude-test"]
"""


async def test_seed_on_anthropic_is_named_as_dropped(rig: Any) -> None:
    with StubUpstream({"POST *": rig.upstream_answer}) as stub:
        async with rig.serve(_config(stub.url)) as gateway:
            raw = await gateway.client.chat.completions.with_raw_response.create(
                model="an/claude-test", messages=MESSAGES, seed=7, temperature=0.2
            )
            assert raw.headers["x-hexgate-dropped-params"] == "seed"
            assert "x-hexgate-emulated-params" not in raw.headers
            assert raw.parse().choices[0].message.content == "hi from anthropic"
            streamed = await gateway.client.chat.completions.with_raw_response.create(
                model="an/claude-test", messages=MESSAGES, seed=7, stream=True
            )
            assert streamed.headers["x-hexgate-dropped-params"] == "seed"
            text = "".join([c.choices[0].delta.content or "" async for c in streamed.parse() if c.choices])
            assert text == "hi from anthropic"
            # the same request to a provider that takes it: nothing to say
            plain = await gateway.client.chat.completions.with_raw_response.create(
                model="oa/gpt-4o", messages=MESSAGES, seed=7
            )
            assert "x-hexgate-dropped-params" not in plain.headers
    assert "seed" not in stub.requests[0].json()


async def test_strict_params_turns_a_drop_into_a_400_naming_it(rig: Any) -> None:
    with StubUpstream({"POST *": rig.upstream_answer}) as stub:
        async with rig.serve(_config(stub.url, strict=True)) as gateway:
            with pytest.raises(openai.BadRequestError) as caught:
                await gateway.client.chat.completions.create(model="an/claude-test", messages=MESSAGES, seed=7)
            assert caught.value.param == "seed"
            assert "strict_params" in caught.value.message
            # an alias that may reach a provider dropping it is refused as well
            with pytest.raises(openai.BadRequestError):
                await gateway.client.chat.completions.create(model="mixed", messages=MESSAGES, seed=7)
            done = await gateway.client.chat.completions.create(model="oa/gpt-4o", messages=MESSAGES, seed=7)
            assert done.choices[0].message.content == "hi from openai"
    assert len(stub.requests) == 1


async def test_logit_bias_on_gemini_is_refused_before_any_upstream_call(rig: Any) -> None:
    with StubUpstream({"POST *": rig.upstream_answer}) as stub:
        async with rig.serve(_config(stub.url)) as gateway:
            with pytest.raises(openai.BadRequestError) as caught:
                await gateway.client.chat.completions.create(
                    model="ge/gemini-2.5-flash", messages=MESSAGES, logit_bias={"50256": -100}
                )
    assert caught.value.param == "logit_bias"
    assert "'ge'" in caught.value.message
    assert not stub.requests


async def test_n_on_anthropic_is_emulated_by_fan_out_and_named(rig: Any) -> None:
    with StubUpstream({"POST *": rig.upstream_answer}) as stub:
        async with rig.serve(_config(stub.url)) as gateway:
            raw = await gateway.client.chat.completions.with_raw_response.create(
                model="an/claude-test", messages=MESSAGES, n=3
            )
            one = await gateway.client.chat.completions.with_raw_response.create(
                model="an/claude-test", messages=MESSAGES, n=1
            )
    assert raw.headers["x-hexgate-emulated-params"] == "n"
    assert [c.index for c in raw.parse().choices] == [0, 1, 2]
    assert "x-hexgate-emulated-params" not in one.headers
    assert len(stub.requests) == 4  # one upstream call per choice, then one
