"""The stream's fast path: events that need no change are forwarded as the upstream's bytes
(``StreamNormaliser.passable``, ``ChunkFrames``), everything else the full way, and the client cannot
tell the difference except that the upstream's own extra fields survive. Through a running gateway
(the official ``openai`` client and raw ``httpx``) in front of a scripted upstream on 127.0.0.1, and
the pure test on single events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import openai
import pytest
from hexgate_openai.translate import StreamNormaliser
from hexgate_openai.wire import WireChunk

from hexgate.testing import Reply, StubUpstream, check_stream

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

SSE = {"content-type": "text/event-stream"}
ROUTE = "POST /v1/chat/completions"
HEAD = {"id": "chatcmpl-fast", "object": "chat.completion.chunk", "created": 7, "model": "stub-model"}


def event(delta: dict[str, Any] | None = None, *, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta if delta is not None else {}, "finish_reason": finish}
    return {**HEAD, "choices": [choice], **extra}


def frame(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


FUNCTION = {"name": "f", "arguments": ""}
USAGE = {**HEAD, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}


def upstream_events() -> list[dict[str, Any]]:
    """A stream with a bit of everything: plain text (fast), ``"usage": null`` on every chunk and a
    vendor field (fast, the null dropped when not asked), reasoning, a tool call, an id that changes
    mid-stream (each the full way), the finish and the usage."""
    return [
        event({"role": "assistant", "content": ""}, usage=None),
        event({"content": "Hel"}, usage=None, x_vendor={"shard": 3}),
        event({"content": "lo"}, usage=None),
        event({"reasoning_content": "thinking"}, usage=None),
        event({"content": " wor"}, usage=None),
        {**event({"content": "ld"}, usage=None), "id": "chatcmpl-other"},
        event({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": FUNCTION}]}, usage=None),
        event({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}, usage=None),
        event({"content": "!"}, usage=None),
        event({}, finish="stop", usage=None),
        USAGE,
    ]


def sse_lines(gateway: str, body: dict[str, Any]) -> list[str]:
    with httpx.Client(timeout=30.0) as http:
        headers = {"authorization": "Bearer test-key"}
        with http.stream("POST", f"{gateway}/v1/chat/completions", json=body, headers=headers) as response:
            assert response.status_code == 200
            return [line for line in response.iter_lines() if line.startswith("data: ")]


@pytest.mark.parametrize("include_usage", [False, True])
def test_mixed_stream_reads_as_the_full_path_would(
    gateway: str, client: openai.OpenAI, stub: StubUpstream, include_usage: bool
) -> None:
    stub.routes[ROUTE] = Reply(body=[frame(e) for e in upstream_events()] + [frame("[DONE]")], headers=SSE)
    request: dict[str, Any] = {"model": "up/stub-model", "messages": [{"role": "user", "content": "hi"}]}
    request["stream"] = True
    if include_usage:
        request["stream_options"] = {"include_usage": True}
    lines = sse_lines(gateway, request)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert not check_stream(chunks)
    assert {c["id"] for c in chunks} == {"chatcmpl-fast"}  # the id that changed was made the first one again
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    reasoning = "".join((c["choices"][0]["delta"].get("reasoning_content") or "") for c in chunks if c["choices"])
    assert (text, reasoning) == ("Hello world!", "thinking")
    calls = [call for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["id"] == "call_1" and calls[0]["function"]["name"] == "f"
    assert "".join(call["function"].get("arguments") or "" for call in calls) == '{"a":1}'
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == [
        "stop"
    ]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    vendor = [c for c in chunks if "x_vendor" in c]
    assert [c["x_vendor"] for c in vendor] == [{"shard": 3}]  # forwarded as the upstream sent it
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 9
        assert all(c.get("usage") is None for c in chunks[:-1])
    else:
        assert all("usage" not in c for c in chunks)  # not even "usage": null
    # the SDK reads the same stream
    stream = client.chat.completions.create(
        model="up/stub-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello world!"


def held_done(release: threading.Event, *events: dict[str, Any]) -> Reply:
    """An upstream stream of ``events`` that holds its own ``[DONE]`` until ``release`` is set."""

    def body() -> Iterator[bytes]:
        for payload in events:
            yield frame(payload)
        release.wait()
        yield frame("[DONE]")

    return Reply(body=body(), headers=SSE)  # type: ignore[arg-type]  # an iterator does too


def test_done_leaves_when_the_usage_chunk_arrives(gateway: str, stub: StubUpstream) -> None:
    """The upstream's choices-less usage chunk after the finish is the answer's last word: the client's
    ``[DONE]`` leaves then, while the upstream still holds its own ``[DONE]``."""
    release = threading.Event()
    watchdog = threading.Timer(10.0, release.set)  # a gateway that waits for the upstream's [DONE] fails, not hangs
    stub.routes[ROUTE] = held_done(
        release,
        event({"role": "assistant", "content": "Hi"}),
        event({"content": " there"}),
        event({}, finish="stop"),
        USAGE,
    )
    watchdog.start()
    held_when_done: bool | None = None
    try:
        with (
            httpx.Client(timeout=30.0) as http,
            http.stream(
                "POST",
                f"{gateway}/v1/chat/completions",
                json={"model": "up/stub-model", "messages": [{"role": "user", "content": "hi"}], "stream": True},
                headers={"authorization": "Bearer test-key"},
            ) as response,
        ):
            lines = []
            for line in response.iter_lines():
                if line.startswith("data: "):
                    lines.append(line)
                if line == "data: [DONE]":
                    held_when_done = not release.is_set()
                    release.set()
    finally:
        watchdog.cancel()
        release.set()
    assert held_when_done is True
    assert lines[-1] == "data: [DONE]" and len(lines) == 4  # role+text, text, finish, [DONE]: no usage unasked


def test_a_client_leaving_after_done_leaves_the_upstream_connection_for_the_next_request(
    gateway: str, stub: StubUpstream
) -> None:
    """The SDKs close a stream as soon as ``[DONE]`` arrives, which the gateway sends before the upstream
    sends its own. The upstream's tail is still read to its end, so its connection goes back to the pool
    instead of being dropped (a new TCP and TLS handshake for every stream)."""
    release = threading.Event()
    watchdog = threading.Timer(10.0, release.set)
    stub.routes[ROUTE] = held_done(
        release, event({"role": "assistant", "content": "Hi"}), event({}, finish="stop"), USAGE
    )
    watchdog.start()
    request = {"model": "up/stub-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    completed, disconnects = stub.completed, stub.disconnects  # the stub is shared by the session
    try:
        with httpx.Client(timeout=30.0) as http:
            with http.stream(
                "POST", f"{gateway}/v1/chat/completions", json=request, headers={"authorization": "Bearer test-key"}
            ) as response:
                for line in response.iter_lines():
                    if line == "data: [DONE]":
                        break  # and close the connection, as the SDKs do
            time.sleep(0.6)  # longer than the gateway takes to notice a client that left (hexgate.guard)
    finally:
        release.set()
        watchdog.cancel()
    assert stub.wait_for(lambda: stub.completed == completed + 1)  # the upstream sent its answer to the end
    assert stub.disconnects == disconnects
    connections = stub.connections
    stub.routes[ROUTE] = Reply(body=[frame(e) for e in upstream_events()] + [frame("[DONE]")], headers=SSE)
    assert sse_lines(gateway, request)[-1] == "data: [DONE]"
    assert stub.wait_for(lambda: stub.completed == completed + 2)
    assert stub.connections == connections  # the second stream came on a pooled connection


# ---------------------------------------------------------------- the pure test, event by event


def started(*, think_tags: bool = False) -> StreamNormaliser:
    normaliser = StreamNormaliser(model="m", think_tags=think_tags)
    assert normaliser.feed(msgspec.json.decode(frame(event({"role": "assistant", "content": ""}))[6:], type=WireChunk))
    return normaliser


def raw(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def test_passable_forwards_plain_text_and_drops_a_compact_usage_null() -> None:
    n = started()
    plain = raw(event({"content": "x"}, x_vendor=1))
    assert n.passable(plain, want_usage=False) == (plain, 1)
    assert n.passable(raw(event({"content": ""})), want_usage=False) == (raw(event({"content": ""})), 0)
    with_null = raw(event({"content": "x"}, usage=None))
    assert n.passable(with_null, want_usage=True) == (with_null, 1)
    assert n.passable(with_null, want_usage=False) == (raw(event({"content": "x"})), 1)
    nulls = raw(event({"content": "x", "reasoning_content": None, "tool_calls": None}))  # DeepSeek's content chunks
    assert n.passable(nulls, want_usage=False) == (nulls, 1)
    spaced = json.dumps(event({"content": "x"}, usage=None)).encode()  # not compact: the full way
    assert n.passable(spaced, want_usage=False) is None


@pytest.mark.parametrize(
    "payload",
    [
        event({"content": "x"}, finish="stop"),
        event({"role": "assistant"}),
        event({}),
        event({"reasoning_content": "r"}),
        event({"reasoning": "r"}),
        event({"content": "x", "reasoning_details": [{"type": "reasoning.text", "text": "r"}]}),
        event({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        event({"refusal": "no"}),
        event({"content": None}),
        event({"content": "x", "audio": {"id": "a"}}),
        event({"content": "x"}, usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
        event({"content": "x"}, error={"message": "boom"}),
        event({"content": "x"}, base_resp={"status_code": 1002}),
        {**event({"content": "x"}), "id": "other"},
        {**event({"content": "x"}), "model": "other"},
        {**event({"content": "x"}), "created": 7.5},
        {k: v for k, v in event({"content": "x"}).items() if k != "object"},
        {**HEAD, "choices": []},
        {**HEAD, "choices": [{"delta": {"content": "x"}, "finish_reason": None}]},
    ],
)
def test_passable_sends_every_event_needing_a_change_the_full_way(payload: dict[str, Any]) -> None:
    assert started().passable(raw(payload), want_usage=True) is None


def test_passable_waits_for_the_first_chunk_and_never_splits_think_tags() -> None:
    plain = raw(event({"content": "x"}))
    assert StreamNormaliser(model="m").passable(plain, want_usage=False) is None
    assert started(think_tags=True).passable(plain, want_usage=False) is None
    assert started().passable(b"{not json", want_usage=False) is None
