"""The playground's other tabs in a real browser: embeddings, providers and health, client snippets;
and what the gateway serves for them."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

pytestmark = pytest.mark.e2e

LOCAL_CHAT = "local/smollm2-135m-instruct"
LOCAL_EMBEDDINGS = "local/all-minilm-l6-v2"


def test_playground_embeddings_tab_shows_the_vector_size(page: Page, gateway: str) -> None:
    page.goto(gateway + "/")
    page.click("#tab-embeddings")
    page.wait_for_selector(f'#embed-model option[value="{LOCAL_EMBEDDINGS}"]', state="attached")
    embed_options = page.locator("#embed-model option").evaluate_all("(os) => os.map((o) => o.value)")
    chat_options = page.locator("#model option").evaluate_all("(os) => os.map((o) => o.value)")
    assert LOCAL_CHAT not in embed_options, "a chat-only model is offered for embeddings"
    assert LOCAL_EMBEDDINGS not in chat_options, "an embedding model is offered for chat"

    page.select_option("#embed-model", LOCAL_EMBEDDINGS)
    page.fill("#embed-input", "hexgate turns every provider into OpenAI's API")
    page.click("#embed-run")
    expect(page.locator("#embed-dims")).to_have_text("384 dimensions")
    values = page.locator("#embed-result .values").text_content() or ""
    assert values.startswith("[") and values.count(",") == 8, values  # eight values, then "…"
    expect(page.locator("#embed-result")).to_contain_text("norm 1.0000")


def test_playground_providers_tab_shows_plugins_and_health(page: Page, gateway: str) -> None:
    page.goto(gateway + "/")
    page.click("#tab-providers")
    local = page.locator('#providers-table tr[data-provider="local"]')
    expect(local).to_contain_text("hexgate-local")
    expect(local.locator("td").nth(3)).to_have_text("2")
    expect(local.locator("td.ok")).to_have_text("ok")
    down = page.locator('#providers-table tr[data-provider="down"]')
    expect(down.locator("td.fail")).not_to_be_empty()
    expect(page.locator("#plugins-table")).to_contain_text("hexgate_openai:OpenAIProvider")


def test_providers_route_reports_health_without_secrets(gateway: str) -> None:
    response = httpx.get(gateway + "/providers")
    assert response.status_code == 200
    report = response.json()
    by_id = {p["id"]: p for p in report["providers"]}
    assert set(by_id) == {"local", "slow", "tools", "down"}
    assert by_id["local"] == {
        "id": "local",
        "plugin": "local",
        "distribution": "hexgate-local",
        "version": by_id["local"]["version"],
        "ok": True,
        "models": 2,
        "error": None,
        "workers": [
            {
                "name": "local model worker",
                "state": "ready",
                "pid": by_id["local"]["workers"][0]["pid"],
                "restarts": 0,
                "last_exit": None,
            }
        ],
        "keys": None,
    }
    assert by_id["slow"]["workers"] == []
    assert by_id["slow"]["ok"] is True and by_id["slow"]["models"] == 1
    assert by_id["down"]["ok"] is False and by_id["down"]["models"] is None and by_id["down"]["error"]
    assert "test-key" not in response.text and "base_url" not in response.text
    assert "local" in {p["name"] for p in report["plugins"]}


def test_playground_snippets_use_the_gateway_base_url(context: BrowserContext, page: Page, gateway: str) -> None:
    page.goto(gateway + "/")
    page.click("#tab-embeddings")
    page.wait_for_selector(f'#embed-model option[value="{LOCAL_EMBEDDINGS}"]', state="attached")
    page.select_option("#embed-model", LOCAL_EMBEDDINGS)
    page.click("#tab-code")
    snippet = page.locator("#snippet")
    expect(page.locator("#base-url")).to_have_text(gateway + "/v1")
    expect(snippet).to_contain_text(f"curl {gateway}/v1/embeddings")
    expect(snippet).to_contain_text(f'"model": "{LOCAL_EMBEDDINGS}"')

    page.click('.snippet-tabs button[data-lang="js"]')
    expect(snippet).to_contain_text(f'baseURL: "{gateway}/v1"')
    page.click('.snippet-tabs button[data-lang="python"]')
    python = snippet.text_content() or ""
    assert f'base_url="{gateway}/v1"' in python
    # The Python snippet runs as shown, with the official SDK, against this gateway.
    env = {k: v for k, v in os.environ.items() if k != "HEXGATE_API_KEY"}
    ran = subprocess.run(
        [sys.executable, "-c", python], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "384"

    page.click("#tab-chat")
    page.select_option("#model", LOCAL_CHAT)
    page.click("#tab-code")
    expect(snippet).to_contain_text(f'model="{LOCAL_CHAT}"')
    expect(snippet).to_contain_text("stream=True")


def test_root_serves_the_page_to_browsers_and_json_to_clients(gateway: str) -> None:
    api = httpx.get(gateway + "/")
    assert api.headers["content-type"].startswith("application/json")
    assert api.json()["openai_base_url"] == "/v1"
    html = httpx.get(gateway + "/", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert html.headers["content-type"].startswith("text/html")
    assert "hexgate playground" in html.text
    assert "accept" in html.headers["vary"].lower()
    for asset in ("app.js", "app.css", "vendor/marked.umd.js", "vendor/purify.min.js"):
        assert httpx.get(f"{gateway}/playground/{asset}").status_code == 200, asset
    missing = httpx.get(gateway + "/playground/nothing.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "invalid_request_error"
