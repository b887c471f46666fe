"""The fault-injection rig: hexgate served in-process by uvicorn (so the test can count the event
loop's tasks) in front of :class:`hexgate.testing.StubUpstream` upstreams, reached through the
OpenAI-compatible plugin (``plugin = "openai"``), with the official ``openai`` client.

Every stub reply says ``connection: close``, so an upstream connection that stays open after a
request has finished is a leak the tests can see (``stub.open_connections``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest
import uvicorn
from litestar.exceptions import LitestarDeprecationWarning

from hexgate.app import create_app
from hexgate.registry import Registry
from hexgate.settings import load_settings
from hexgate.testing import Reply, StubUpstream, free_port

SSE = {"content-type": "text/event-stream", "connection": "close"}
JSON = {"content-type": "application/json", "connection": "close"}


def completion(text: str = "hello", model: str = "m") -> bytes:
    """An OpenAI chat completion body."""
    return json.dumps(
        {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    ).encode()


def chunk(content: str | None = None, *, finish: str | None = None, role: bool = False) -> bytes:
    """One ``data: <chat.completion.chunk>`` frame."""
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    body = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def stream_body(words: Sequence[str] = ("one", " two", " three")) -> list[bytes]:
    """A complete, well-formed chat stream."""
    return [chunk("", role=True), *(chunk(w) for w in words), chunk(finish="stop"), b"data: [DONE]\n\n"]


def ok(text: str = "hello") -> Reply:
    return Reply(200, completion(text), headers=dict(JSON))


def ok_stream(words: Sequence[str] = ("one", " two", " three")) -> Reply:
    return Reply(200, stream_body(words), headers=dict(SSE))


def error(status: int, message: str = "upstream trouble", headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
    return Reply(status, body.encode(), headers={**JSON, **(headers or {})})


def sequence(*replies: Reply) -> Callable[[Any], Reply]:
    """A stub route answering with ``replies`` in turn, the last one forever after."""
    queue = list(replies)

    def answer(_: Any) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return answer


def providers(**stubs: StubUpstream) -> str:
    """``[providers.<id>]`` tables for the OpenAI plugin pointed at each stub."""
    return "".join(
        f'[providers.{pid}]\nplugin = "openai"\nbase_url = "{stub.url}/v1"\napi_key = "test-key"\n\n'
        for pid, stub in stubs.items()
    )


class Gateway:
    """A running in-process hexgate: ``base`` URL, ``client`` (AsyncOpenAI, no SDK retries)."""

    def __init__(self, base: str, app: Any) -> None:
        self.base = base
        self.app = app
        self.client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="test-key", max_retries=0, timeout=30)

    @property
    def registry(self) -> Registry:
        registry: Registry = self.app.state.registry
        return registry


async def settle(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll ``predicate`` (state another thread or task changes) without blocking the loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate() and loop.time() < deadline:  # noqa: ASYNC110 - nothing to wait on but polling
        await asyncio.sleep(0.02)
    return predicate()


@contextlib.asynccontextmanager
async def serve(config: str) -> AsyncIterator[Gateway]:
    """hexgate for ``config`` (TOML text) under uvicorn in this event loop. On exit: the client is
    closed, then the loop must return to the tasks it had before the first request, then the
    server stops."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(config, encoding="utf-8")
        with warnings.catch_warnings():
            # Litestar 2.23+ deprecates inferred dependencies; routes outside this suite still use them
            warnings.simplefilter("ignore", LitestarDeprecationWarning)
            app = create_app(load_settings(path, env={}))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False)
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # leave pytest's SIGINT alone
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        baseline = len(asyncio.all_tasks())
        gateway = Gateway(f"http://127.0.0.1:{port}", app)
        try:
            yield gateway
        finally:
            await gateway.client.close()
        await settle(lambda: len(asyncio.all_tasks()) <= baseline)
        assert len(asyncio.all_tasks()) <= baseline, (
            f"tasks left behind: {sorted(str(t.get_coro()) for t in asyncio.all_tasks())}"
        )
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def stubs() -> Any:
    """A factory of started :class:`StubUpstream` s, all stopped (and checked for open connections)
    after the test."""
    started: list[StubUpstream] = []

    def make(routes: dict[str, Any]) -> StubUpstream:
        stub = StubUpstream(routes)
        stub.start()
        started.append(stub)
        return stub

    yield make
    for stub in started:
        stub.wait_for(lambda s=stub: s.open_connections == 0, timeout=10)  # type: ignore[misc]
        open_left = stub.open_connections
        stub.stop()
        assert open_left == 0, "an upstream connection was left open"


@pytest.fixture
def rig() -> Any:
    """This module's helpers (``rig.serve``, ``rig.ok``…): pytest's importlib mode cannot import a conftest."""
    return sys.modules[__name__]
