"""Chat-UI compatibility: CORS preflights answered as ``server.cors_origins`` says, cross-origin calls
from a browser page, and the ``/v1/models`` keys chat UIs read."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

PREFLIGHTS = [("/v1/models", "GET"), ("/v1/chat/completions", "POST"), ("/v1/embeddings", "POST")]


def preflight(url: str, origin: str, method: str) -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize(("path", "method"), PREFLIGHTS)
def test_preflight_from_an_allowed_origin(gateway: str, ui_origin: str, path: str, method: str) -> None:
    response = preflight(gateway + path, ui_origin, method)
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == ui_origin
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers or allowed_headers == "*"
    allowed_methods = response.headers["access-control-allow-methods"].upper()
    assert method in allowed_methods or allowed_methods == "*"


@pytest.mark.parametrize(("path", "method"), PREFLIGHTS)
def test_preflight_from_a_foreign_origin(gateway: str, foreign_origin: str, path: str, method: str) -> None:
    response = preflight(gateway + path, foreign_origin, method)
    assert "access-control-allow-origin" not in response.headers


FETCH = """async ([url, body]) => {
  try {
    const r = await fetch(url, {
      method: body ? "POST" : "GET",
      headers: { "Authorization": "Bearer unused", "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await r.json();
    return { status: r.status, json, requestId: r.headers.get("x-request-id") };
  } catch (err) {
    return { failed: String(err) };
  }
}"""


def test_browser_calls_from_the_allowed_origin(page: Page, gateway: str, ui_origin: str) -> None:
    page.goto(ui_origin + "/")
    models = page.evaluate(FETCH, [gateway + "/v1/models", None])
    assert models["status"] == 200, models
    assert "local/smollm2-135m-instruct" in {m["id"] for m in models["json"]["data"]}
    assert models["requestId"], "x-request-id is not exposed to the page"
    vectors = page.evaluate(FETCH, [gateway + "/v1/embeddings", {"model": "local/all-minilm-l6-v2", "input": "hi"}])
    assert vectors["status"] == 200, vectors
    assert len(vectors["json"]["data"][0]["embedding"]) == 384


def test_browser_calls_from_a_foreign_origin_are_refused(page: Page, gateway: str, foreign_origin: str) -> None:
    page.goto(foreign_origin + "/")
    result = page.evaluate(FETCH, [gateway + "/v1/models", None])
    assert "failed" in result, result


def test_models_carry_the_keys_chat_uis_read(gateway: str) -> None:
    data = {m["id"]: m for m in httpx.get(gateway + "/v1/models").json()["data"]}
    chat = data["local/smollm2-135m-instruct"]
    # OpenAI's own keys, unchanged
    assert chat["object"] == "model" and isinstance(chat["created"], int) and chat["owned_by"]
    # LobeChat (model-runtime processModelCard)
    assert chat["type"] == "chat"
    assert chat["contextWindowTokens"] == chat["context_window"] == 2048
    assert chat["functionCall"] is chat["capabilities"]["tools"]
    assert chat["vision"] is False and chat["reasoning"] is False
    assert chat["displayName"] == chat["display_name"]
    # Open WebUI's display name, OpenRouter's context key
    assert chat["name"] == chat["display_name"]
    assert chat["context_length"] == 2048
    embedding = data["local/all-minilm-l6-v2"]
    assert embedding["type"] == "embedding"
    assert embedding["embedding_dimensions"] == 384
    one = httpx.get(gateway + "/v1/models/local/smollm2-135m-instruct").json()
    assert one["contextWindowTokens"] == 2048
    # A model whose provider states nothing gets no guessed keys.
    slow = data["slow/story-model"]
    assert "functionCall" not in slow and "contextWindowTokens" not in slow and "type" not in slow
