"""Fixtures for the playground tests: Debian's Chromium driven by Playwright, a gateway serving the
embedded ``local`` provider plus OpenAI-compatible providers pointed at scripted stubs.

Chromium is the system one (``/usr/bin/chromium``, installed by ``scripts/test``); Playwright never
downloads a browser. Set ``HEXGATE_PLAYGROUND_SCREENSHOT=docs/playground.png`` to have the chat
test save the README's screenshot there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from hexgate.testing import Reply, StubUpstream, free_port, running_gateway

UI_PAGE = b"<!doctype html><html><head><title>a chat UI</title></head><body>a chat UI</body></html>"
SLOW_REASONING = ["Let me think ", "about a story."]
SLOW_WORDS = [f"word{i} " for i in range(60)]
"""The slow stub's answer: 60 chunks 0.25 s apart, 15 s in all, so a test can stop it midway."""


def _chunk(model: str, delta: dict[str, object], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def slow_stream() -> list[bytes]:
    """An OpenAI chat stream: reasoning first (DeepSeek's ``reasoning_content``), then many words."""
    frames = [_chunk("story-model", {"role": "assistant", "content": ""})]
    frames += [_chunk("story-model", {"reasoning_content": r}) for r in SLOW_REASONING]
    frames += [_chunk("story-model", {"content": w}) for w in SLOW_WORDS]
    frames += [_chunk("story-model", {}, "stop"), b"data: [DONE]\n\n"]
    return frames


def tool_stream() -> list[bytes]:
    """An OpenAI chat stream with one tool call whose arguments arrive in three fragments."""
    first = {
        "index": 0,
        "id": "call_weather_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    pieces = ['{"city', '": "Par', 'is"}']
    frames = [_chunk("weather-model", {"role": "assistant", "content": None, "tool_calls": [first]})]
    frames += [_chunk("weather-model", {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces]
    frames += [_chunk("weather-model", {}, "tool_calls"), b"data: [DONE]\n\n"]
    return frames


def _sse(body: list[bytes], delay: float) -> Reply:
    return Reply(body=body, headers={"content-type": "text/event-stream"}, delay=delay)


@pytest.fixture(scope="session")
def slow_stub() -> Iterator[StubUpstream]:
    with StubUpstream({"POST /v1/chat/completions": _sse(slow_stream(), 0.25)}) as stub:
        yield stub


@pytest.fixture(scope="session")
def tools_stub() -> Iterator[StubUpstream]:
    with StubUpstream({"POST /v1/chat/completions": _sse(tool_stream(), 0.05)}) as stub:
        yield stub


@pytest.fixture(scope="session")
def ui_site() -> Iterator[StubUpstream]:
    """A web page on another origin (another port on 127.0.0.1), standing in for a browser chat UI."""
    with StubUpstream({"GET /": Reply(body=UI_PAGE, headers={"content-type": "text/html"})}) as site:
        yield site


@pytest.fixture(scope="session")
def ui_origin(ui_site: StubUpstream) -> str:
    """The origin ``server.cors_origins`` allows."""
    return ui_site.url


@pytest.fixture(scope="session")
def foreign_origin(ui_site: StubUpstream) -> str:
    """The same page under another origin (``localhost`` instead of ``127.0.0.1``), not allowed."""
    return ui_site.url.replace("127.0.0.1", "localhost")


@pytest.fixture(scope="session")
def gateway(slow_stub: StubUpstream, tools_stub: StubUpstream, ui_origin: str) -> Iterator[str]:
    """A gateway with the embedded model, two stubbed OpenAI-compatible providers, one provider whose
    upstream is down (nothing listens on its port), and CORS for ``ui_origin``."""
    config = f"""
[server]
cors_origins = ["{ui_origin}"]

[providers.local]
plugin = "local"

[providers.slow]
plugin = "openai"
base_url = "{slow_stub.url}/v1"
api_key = "test-key"
models = ["story-model"]

[providers.tools]
plugin = "openai"
base_url = "{tools_stub.url}/v1"
models = ["weather-model"]

[providers.down]
plugin = "openai"
base_url = "http://127.0.0.1:{free_port()}/v1"
"""
    with running_gateway(config) as base:
        yield base


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (empty local storage)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(60_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"JavaScript errors in the playground: {errors}"
