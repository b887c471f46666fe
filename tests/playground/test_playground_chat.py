"""The playground's chat in a real browser: streaming from the embedded model, Stop cancelling the
upstream, reasoning folded, tool calls, and the settings reaching the upstream request."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hexgate.testing import StubUpstream

pytestmark = pytest.mark.e2e

LOCAL_CHAT = "local/smollm2-135m-instruct"
SLOW_MODEL = "slow/story-model"  # the stubs' scripts are in conftest.py
TOOLS_MODEL = "tools/weather-model"

RECORD_RENDERS = """() => {
  window.renders = [];
  const box = document.getElementById("messages");
  new MutationObserver(() => {
    const answers = box.querySelectorAll(".msg.assistant .content");
    if (answers.length) window.renders.push(answers[answers.length - 1].textContent);
  }).observe(box, { subtree: true, childList: true, characterData: true });
}"""
"""Logs the text of the newest answer after every DOM change, as the browser renders it."""


def open_playground(page: Page, base: str, model: str) -> None:
    page.goto(base + "/")
    page.wait_for_selector(f'#model option[value="{model}"]', state="attached")
    page.select_option("#model", model)


def test_playground_streams_the_embedded_model(page: Page, gateway: str, tmp_path: Path) -> None:
    open_playground(page, gateway, LOCAL_CHAT)
    expect(page.locator("#badges")).to_contain_text("streaming")
    page.fill("#temperature", "0")
    page.fill("#max-tokens", "120")
    page.evaluate(RECORD_RENDERS)
    page.fill("#prompt", "Write a Python function that reverses a string.")
    page.click("#send")
    expect(page.locator("#stop")).to_be_enabled()

    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done", timeout=180_000)
    final = answer.locator(".content").text_content() or ""
    assert final.strip(), "the answer is empty"
    expect(answer.locator(".meta")).to_contain_text("finish:")
    expect(answer.locator(".meta")).to_contain_text("tokens:")
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_disabled()

    renders: list[str] = page.evaluate("window.renders")
    partials = [r for r in dict.fromkeys(renders) if r.strip() and r != final]
    assert len(partials) >= 2, f"the answer did not arrive in parts: {renders}"
    assert all(len(p) <= len(final) + 8 for p in partials), partials

    shot = tmp_path / "playground.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size < 300_000
    target = os.environ.get("HEXGATE_PLAYGROUND_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)


def test_playground_stop_cancels_the_upstream(page: Page, gateway: str, slow_stub: StubUpstream) -> None:
    open_playground(page, gateway, SLOW_MODEL)
    page.fill("#prompt", "Tell me a long story.")
    page.click("#send")
    answer = page.locator(".msg.assistant").last
    expect(answer.locator(".content")).to_contain_text("word2")
    page.click("#stop")

    expect(answer).to_have_attribute("data-state", "stopped")
    expect(answer.locator(".meta")).to_contain_text("stopped")
    assert slow_stub.wait_for(lambda: slow_stub.disconnects == 1), "the upstream never saw the client go away"
    assert slow_stub.completed == 0
    shown = answer.locator(".content").text_content() or ""
    assert "word59" not in shown
    sent = slow_stub.requests[-1].json()
    assert sent["model"] == "story-model"
    assert sent["stream"] is True
    assert sent["messages"][-1] == {"role": "user", "content": "Tell me a long story."}

    reasoning = answer.locator("details.reasoning")
    expect(reasoning).to_be_visible()
    expect(reasoning).not_to_have_attribute("open", "")
    expect(reasoning.locator(".reasoning-text")).to_be_hidden()
    reasoning.locator("summary").click()
    expect(reasoning.locator(".reasoning-text")).to_have_text("Let me think about a story.")
    expect(page.locator("#send")).to_be_enabled()


def test_playground_shows_tool_calls_and_sends_the_settings(page: Page, gateway: str, tools_stub: StubUpstream) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    open_playground(page, gateway, TOOLS_MODEL)
    page.fill("#system", "You are terse.")
    page.fill("#temperature", "0.3")
    page.fill("#top-p", "0.9")
    page.fill("#max-tokens", "100")
    page.locator(".sidebar details summary").click()
    page.fill("#tools", json.dumps([tool]))
    page.fill("#prompt", "Weather in Paris?")
    page.press("#prompt", "Enter")

    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    call = answer.locator(".tool-call")
    expect(call.locator(".name")).to_have_text("get_weather")
    expect(call).to_contain_text("call_weather_1")
    assert json.loads(call.locator("pre").text_content() or "") == {"city": "Paris"}
    expect(answer.locator(".meta")).to_contain_text("finish: tool_calls")

    sent = tools_stub.requests[-1].json()
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert sent["temperature"] == 0.3
    assert sent["top_p"] == 0.9
    assert 100 in (sent.get("max_tokens"), sent.get("max_completion_tokens"))
    assert sent["tools"][0]["function"]["name"] == "get_weather"
