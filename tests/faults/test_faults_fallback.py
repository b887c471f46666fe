"""Fallback, retries, circuit breaking and the x-hexgate-* headers, with the openai client against
hexgate in front of scripted OpenAI-compatible upstreams."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from hexgate.testing import Reply

CHAT = "POST /v1/chat/completions"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
FAST = "[routing]\nbackoff = 0.01\nbackoff_max = 0.05\n\n"


def posts(stub: Any) -> int:
    return sum(1 for r in stub.requests if r.method == "POST")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_falls_back_to_the_next_target(rig: Any, stubs: Any, status: int) -> None:
    a = stubs({CHAT: rig.error(status)})
    b = stubs({CHAT: rig.ok("from b")})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\n'
    async with rig.serve(config) as gw:
        raw = await gw.client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == "from b"
        assert raw.headers["x-hexgate-provider"] == "b"
        assert raw.headers["x-hexgate-attempts"] == "2"
        assert raw.headers["x-request-id"]
        assert (posts(a), posts(b)) == (1, 1)
        assert a.requests[0].json()["model"] == "m" and b.requests[0].json()["model"] == "m"
        assert await rig.settle(lambda: a.open_connections == b.open_connections == 0)


async def test_every_target_failing_retries_each_then_answers_with_the_last_error(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.error(502, "a is down")})
    b = stubs({CHAT: rig.error(503, "b is overloaded")})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\nretries = 2\n'
    async with rig.serve(config) as gw:
        with pytest.raises(openai.APIStatusError) as info:
            await gw.client.chat.completions.create(model="m", messages=MESSAGES)
        exc = info.value
        assert exc.status_code == 503
        assert exc.body == {
            "message": "b is overloaded",
            "type": "upstream_error",
            "param": None,
            "code": "upstream_overloaded",
        }
        assert exc.response.headers["x-hexgate-attempts"] == "6"
        assert exc.response.headers["x-hexgate-provider"] == "b"
        assert (posts(a), posts(b)) == (3, 3)


async def test_429_with_retry_after_is_retried_after_the_wait(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.sequence(rig.error(429, "slow down", {"retry-after-ms": "50"}), rig.ok("second try"))})
    config = FAST + rig.providers(a=a)
    async with rig.serve(config) as gw:
        raw = await gw.client.chat.completions.with_raw_response.create(model="a/m", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == "second try"
        assert raw.headers["x-hexgate-attempts"] == "2"
        assert posts(a) == 2


async def test_429_asking_for_a_long_wait_is_passed_on_not_waited_for(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.error(429, "quota exhausted", {"retry-after": "120"})})
    config = FAST + rig.providers(a=a)
    async with rig.serve(config) as gw:
        with pytest.raises(openai.RateLimitError) as info:
            await gw.client.chat.completions.create(model="a/m", messages=MESSAGES)
        assert info.value.response.headers["retry-after"] == "120"
        assert info.value.response.headers["x-hexgate-attempts"] == "1"
        assert info.value.body["type"] == "rate_limit_error"  # type: ignore[index]
        assert posts(a) == 1


async def test_a_rejected_request_is_not_retried_nor_sent_elsewhere(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.error(400, "bad temperature")})
    b = stubs({CHAT: rig.ok()})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\n'
    async with rig.serve(config) as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await gw.client.chat.completions.create(model="m", messages=MESSAGES)
        assert "bad temperature" in info.value.message
        assert (posts(a), posts(b)) == (1, 0)


async def test_upstream_auth_failure_falls_back_but_is_not_retried(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.error(401, "invalid api key")})
    b = stubs({CHAT: rig.error(500)})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\nretries = 1\n'
    async with rig.serve(config) as gw:
        with pytest.raises(openai.InternalServerError) as info:
            await gw.client.chat.completions.create(model="m", messages=MESSAGES)
        assert info.value.status_code == 502
        assert (posts(a), posts(b)) == (1, 2)


async def test_stream_falls_back_before_its_first_chunk_and_carries_the_headers(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.error(503)})
    b = stubs({CHAT: rig.ok_stream()})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\n'
    async with rig.serve(config) as gw:
        async with gw.client.chat.completions.with_streaming_response.create(
            model="m", messages=MESSAGES, stream=True
        ) as raw:
            assert raw.headers["x-hexgate-provider"] == "b"
            assert raw.headers["x-hexgate-attempts"] == "2"
            text = "".join([c.choices[0].delta.content or "" async for c in await raw.parse() if c.choices])
        assert text == "one two three"
        assert (posts(a), posts(b)) == (1, 1)


async def test_weighted_targets_of_one_rank_share_the_load(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.ok("a")})
    b = stubs({CHAT: rig.ok("b")})
    c = stubs({CHAT: rig.ok("c")})
    config = (
        FAST
        + rig.providers(a=a, b=b, c=c)
        + '[models.m]\ntargets = [{ target = "a/m", rank = 1, weight = 3 }, { target = "b/m", rank = 1 }, "c/m"]\n'
    )
    async with rig.serve(config) as gw:
        gw.registry.random.seed(7)
        for _ in range(40):
            await gw.client.chat.completions.create(model="m", messages=MESSAGES)
    assert posts(c) == 0
    assert posts(a) + posts(b) == 40
    assert posts(a) > posts(b) > 0


async def test_a_failing_target_is_taken_out_then_tried_again_after_its_cooldown(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.error(500)})
    b = stubs({CHAT: rig.ok("b")})
    config = (
        "[routing]\nretries = 0\nfailure_threshold = 2\ncooldown = 600\n\n"
        + rig.providers(a=a, b=b)
        + '[models.m]\ntargets = ["a/m", "b/m"]\n'
    )
    async with rig.serve(config) as gw:
        for expected_attempts in ("2", "2", "1", "1"):
            raw = await gw.client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
            assert raw.headers["x-hexgate-attempts"] == expected_attempts
        assert posts(a) == 2  # open after two failures: the next requests went straight to b
        breaker = gw.registry.breakers["a/m"]
        assert breaker.failures == 2
        breaker.open_until = 0.0  # the cooldown is over
        a.routes[CHAT] = rig.ok("a again")
        raw = await gw.client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == "a again"
        assert posts(a) == 3
        assert breaker.failures == 0


async def test_when_every_circuit_is_open_the_targets_are_still_tried(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: rig.sequence(rig.error(500), rig.error(500), rig.ok("recovered"))})
    config = "[routing]\nretries = 0\nfailure_threshold = 2\ncooldown = 600\n\n" + rig.providers(a=a)
    async with rig.serve(config) as gw:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await gw.client.chat.completions.create(model="a/m", messages=MESSAGES)
        breaker = gw.registry.breakers["a/m"]
        assert breaker.failures == 2 and breaker.is_open(time.monotonic())
        done = await gw.client.chat.completions.create(model="a/m", messages=MESSAGES)
        assert done.choices[0].message.content == "recovered"


async def test_embeddings_fall_back_too(rig: Any, stubs: Any) -> None:
    body = json.dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
            "model": "e",
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
    ).encode()
    a = stubs({"POST /v1/embeddings": rig.error(502, "bad gateway")})
    b = stubs({"POST /v1/embeddings": Reply(200, body, headers=dict(rig.JSON))})
    config = FAST + rig.providers(a=a, b=b) + '[models.e]\ntargets = ["a/e", "b/e"]\n'
    async with rig.serve(config) as gw:
        raw = await gw.client.embeddings.with_raw_response.create(model="e", input="x", encoding_format="float")
        assert raw.parse().data[0].embedding == [0.5, 0.25]
        assert raw.headers["x-hexgate-provider"] == "b"
        assert raw.headers["x-hexgate-attempts"] == "2"
