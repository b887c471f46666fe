"""Upstreams that stall, reset, send garbage or an error event, before and after the first chunk;
and clients that leave. What the openai client sees, what the upstream saw, what was left behind."""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest

from hexgate.testing import Reply

CHAT = "POST /v1/chat/completions"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
FAST = "[routing]\nbackoff = 0.01\nbackoff_max = 0.05\n\n"


def posts(stub: Any) -> int:
    return sum(1 for r in stub.requests if r.method == "POST")


async def read_stream(gw: Any, model: str = "a/m") -> tuple[str, openai.APIError | None]:
    """The text a client got from a stream and the error that ended it, if any."""
    text = ""
    stream = await gw.client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    try:
        async for c in stream:
            if c.choices:
                text += c.choices[0].delta.content or ""
    except openai.APIError as exc:
        return text, exc
    return text, None


async def test_a_stream_that_goes_silent_ends_with_a_timeout_error_frame(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: Reply(200, [rig.chunk("", role=True), rig.chunk("partial")], headers=dict(rig.SSE), hang=30)})
    config = FAST + rig.providers(a=a) + "[providers.a.timeouts]\nidle = 0.5\n"
    async with rig.serve(config) as gw:
        text, exc = await read_stream(gw)
        assert text == "partial"
        assert exc is not None and exc.body is not None
        assert exc.body["type"] == "timeout_error"  # type: ignore[index]
        assert "silent" in exc.message
        assert posts(a) == 1  # never retried once the stream started
        assert await rig.settle(lambda: a.disconnects == 1 and a.open_connections == 0)


async def test_a_stream_longer_than_the_total_deadline_is_cut_with_an_error_frame(rig: Any, stubs: Any) -> None:
    words = [rig.chunk(f" w{i}") for i in range(40)]
    a = stubs({CHAT: Reply(200, [rig.chunk("", role=True), *words], headers=dict(rig.SSE), delay=0.1)})
    config = FAST + rig.providers(a=a) + '[models.m]\ntarget = "a/m"\ntimeouts = { total = 1.0 }\n'
    async with rig.serve(config) as gw:
        text, exc = await read_stream(gw, "m")
        assert text.startswith(" w0")
        assert exc is not None and exc.body["type"] == "timeout_error"  # type: ignore[index]
        assert await rig.settle(lambda: a.open_connections == 0)


async def test_a_reset_mid_stream_ends_with_an_error_frame_and_no_retry(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: Reply(200, [rig.chunk("", role=True), rig.chunk("partial")], headers=dict(rig.SSE), reset=True)})
    b = stubs({CHAT: rig.ok_stream()})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\n'
    async with rig.serve(config) as gw:
        text, exc = await read_stream(gw, "m")
        assert text == "partial"
        assert exc is not None and exc.body["type"] == "upstream_error"  # type: ignore[index]
        assert (posts(a), posts(b)) == (1, 0)


async def test_a_reset_before_the_first_chunk_falls_back(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: Reply(200, [], headers=dict(rig.SSE), reset=True)})
    b = stubs({CHAT: rig.ok_stream()})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\n'
    async with rig.serve(config) as gw:
        text, exc = await read_stream(gw, "m")
        assert (text, exc) == ("one two three", None)
        assert (posts(a), posts(b)) == (1, 1)


async def test_a_truncated_chunk_ends_the_stream_with_an_error_frame(rig: Any, stubs: Any) -> None:
    broken = b'data: {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "choi'
    a = stubs({CHAT: Reply(200, [rig.chunk("", role=True), rig.chunk("partial"), broken], headers=dict(rig.SSE))})
    async with rig.serve(FAST + rig.providers(a=a)) as gw:
        text, exc = await read_stream(gw)
        assert text == "partial"
        assert exc is not None and exc.body["type"] == "upstream_error"  # type: ignore[index]
        assert "unreadable" in exc.message
        assert posts(a) == 1


async def test_an_error_event_mid_stream_reaches_the_client_as_an_error_frame(rig: Any, stubs: Any) -> None:
    event = b'data: {"error": {"message": "model overloaded mid-way", "type": "server_error", "code": null}}\n\n'
    a = stubs({CHAT: Reply(200, [rig.chunk("", role=True), rig.chunk("partial"), event], headers=dict(rig.SSE))})
    async with rig.serve(FAST + rig.providers(a=a)) as gw:
        text, exc = await read_stream(gw)
        assert text == "partial"
        assert exc is not None and "model overloaded mid-way" in exc.message
        assert posts(a) == 1


async def test_an_error_event_before_any_chunk_falls_back(rig: Any, stubs: Any) -> None:
    event = b'data: {"error": {"message": "no capacity", "type": "server_error", "code": null}}\n\n'
    a = stubs({CHAT: Reply(200, [event], headers=dict(rig.SSE))})
    b = stubs({CHAT: rig.ok_stream()})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\n'
    async with rig.serve(config) as gw:
        text, exc = await read_stream(gw, "m")
        assert (text, exc) == ("one two three", None)
        assert (posts(a), posts(b)) == (1, 1)


async def test_malformed_json_is_a_502_after_the_configured_retries(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: Reply(200, b'{"id": "x", "choices": [ nope', headers=dict(rig.JSON))})
    async with rig.serve(FAST + rig.providers(a=a)) as gw:
        with pytest.raises(openai.InternalServerError) as info:
            await gw.client.chat.completions.create(model="a/m", messages=MESSAGES)
        assert info.value.status_code == 502
        assert info.value.body["type"] == "upstream_error"  # type: ignore[index]
        assert info.value.response.headers["x-hexgate-attempts"] == "2"
        assert posts(a) == 2


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_that_never_answers_is_left_for_the_next_target(rig: Any, stubs: Any, stream: bool) -> None:
    a = stubs({CHAT: Reply(stall=30)})
    b = stubs({CHAT: rig.ok_stream() if stream else rig.ok("b")})
    config = FAST + rig.providers(a=a, b=b) + '[models.m]\ntargets = ["a/m", "b/m"]\ntimeouts = { first_byte = 0.5 }\n'
    async with rig.serve(config) as gw:
        if stream:
            text, exc = await read_stream(gw, "m")
            assert (text, exc) == ("one two three", None)
        else:
            done = await gw.client.chat.completions.create(model="m", messages=MESSAGES)
            assert done.choices[0].message.content == "b"
        assert (posts(a), posts(b)) == (1, 1)
        assert await rig.settle(lambda: a.disconnects == 1 and a.open_connections == 0)


async def test_an_upstream_that_never_answers_is_a_504_at_the_total_deadline(rig: Any, stubs: Any) -> None:
    a = stubs({CHAT: Reply(stall=30)})
    config = FAST + rig.providers(a=a) + "[routing.timeouts]\ntotal = 1.0\n"
    async with rig.serve(config) as gw:
        with pytest.raises(openai.APIStatusError) as info:
            await gw.client.chat.completions.create(model="a/m", messages=MESSAGES)
        assert info.value.status_code == 504
        assert info.value.body["type"] == "timeout_error"  # type: ignore[index]
        assert posts(a) == 1
        assert await rig.settle(lambda: a.open_connections == 0)


async def test_a_client_leaving_a_non_streamed_call_cancels_the_upstream_call(
    rig: Any, stubs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hexgate.usage")
    a = stubs({CHAT: Reply(stall=30)})
    async with rig.serve(FAST + rig.providers(a=a)) as gw:
        impatient = gw.client.with_options(timeout=0.5)
        with pytest.raises(openai.APITimeoutError):
            await impatient.chat.completions.create(model="a/m", messages=MESSAGES)
        assert await rig.settle(lambda: a.disconnects == 1 and a.open_connections == 0)
        assert posts(a) == 1
    usage = [r.usage for r in caplog.records if hasattr(r, "usage")]  # type: ignore[attr-defined]
    assert len(usage) == 1
    assert usage[0]["status"] == "cancelled" and usage[0]["streamed"] is False and usage[0]["target"] == "a/m"


async def test_a_client_leaving_a_stream_cancels_the_upstream_call_and_logs_the_usage(
    rig: Any, stubs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hexgate.usage")
    a = stubs({CHAT: Reply(200, [rig.chunk("", role=True), rig.chunk("partial")], headers=dict(rig.SSE), hang=30)})
    async with rig.serve(FAST + rig.providers(a=a)) as gw:
        stream = await gw.client.chat.completions.create(model="a/m", messages=MESSAGES, stream=True)
        async for c in stream:
            if c.choices and c.choices[0].delta.content:
                break
        await stream.close()
        assert await rig.settle(lambda: a.disconnects == 1 and a.open_connections == 0)
        assert await rig.settle(lambda: any(hasattr(r, "usage") for r in caplog.records))
    usage = [r.usage for r in caplog.records if hasattr(r, "usage")]  # type: ignore[attr-defined]
    assert len(usage) == 1
    assert usage[0]["status"] == "cancelled" and usage[0]["streamed"] is True
    assert usage[0]["completion_tokens"] == 1
