"""The playground on a gateway with keys: the page and its files are open, every API call carries the
key typed into the key field (kept in local storage), and a missing key shows the auth error."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from hexgate.testing import running_gateway

pytestmark = pytest.mark.e2e

KEY = "pg-test-key-000"


@pytest.fixture(scope="module")
def keyed_gateway() -> Iterator[str]:
    config = f"""
[server]
api_keys = ["{KEY}"]

[providers.echo]
plugin = "echo"
"""
    with running_gateway(config) as base:
        yield base


def test_playground_gateway_key_field(page: Page, keyed_gateway: str) -> None:
    page.goto(keyed_gateway + "/")
    status = page.locator("#model-status")
    expect(status).to_contain_text("Authentication failed")
    expect(status).to_have_class("status error")
    expect(page.locator("#model option")).to_have_count(0)

    page.fill("#api-key", "not-the-key")
    page.click("#save-key")
    expect(status).to_contain_text("missing or wrong API key")

    page.fill("#api-key", KEY)
    page.click("#save-key")
    expect(page.locator('#model option[value="echo/echo"]')).to_have_count(1)
    expect(status).to_have_text("1 chat model")
    assert page.evaluate("localStorage.getItem('hexgate.apiKey')") == KEY

    page.reload()  # the key is remembered by the browser
    expect(page.locator("#api-key")).to_have_value(KEY)
    expect(page.locator('#model option[value="echo/echo"]')).to_have_count(1)
    page.fill("#prompt", "hello through the key")
    page.click("#send")
    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".content")).to_have_text("hello through the key")

    page.click("#tab-providers")
    expect(page.locator('#providers-table tr[data-provider="echo"] td.ok')).to_have_text("ok")


def test_playground_files_are_open_and_the_api_is_not(keyed_gateway: str) -> None:
    page = httpx.get(keyed_gateway + "/", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert httpx.get(keyed_gateway + "/playground/app.js").status_code == 200
    assert httpx.get(keyed_gateway + "/playground/vendor/purify.min.js").status_code == 200
    for path in ("/providers", "/v1/models"):
        denied = httpx.get(keyed_gateway + path)
        assert denied.status_code == 401, path
        assert denied.json()["error"]["type"] == "authentication_error"
        allowed = httpx.get(keyed_gateway + path, headers={"authorization": f"Bearer {KEY}"})
        assert allowed.status_code == 200, path
