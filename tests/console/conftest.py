"""Fixtures for the operator's console tests: a throwaway redis-server, two gateway replicas sharing
it (admin key, echo provider priced at $1 per token, one provider whose upstream is down), and
Debian's Chromium driven by Playwright (as in tests/playground).

Set ``HEXGATE_CONSOLE_SCREENSHOTS=docs`` to have the tests save the README's screenshots there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from hexgate.testing import free_port, running_gateway, running_redis

ADMIN = "console-admin-key-000"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server of this session's own on 127.0.0.1 (no RDB, no AOF)."""
    try:
        with running_redis() as redis:
            yield redis.url
    except FileNotFoundError as exc:  # pragma: no cover - scripts/test installs it
        pytest.fail(str(exc))


def config(store: str) -> str:
    return f"""
[server]
admin_key = "${{HEXGATE_ADMIN_KEY}}"
store = "{store}"

[routing]
retries = 0
failure_threshold = 1
cooldown = 120

[providers.echo]
plugin = "echo"

[providers.down]
plugin = "openai"
base_url = "http://127.0.0.1:{free_port()}/v1"
models = ["gpt-4o-mini"]

[prices."echo/*"]
input = 1.5
output = 6
"""


@pytest.fixture(scope="session")
def replicas(redis_url: str) -> Iterator[tuple[str, str]]:
    """Two gateway processes sharing one Redis: the page talks to the first."""
    env = {"HEXGATE_ADMIN_KEY": ADMIN}
    text = config(redis_url)
    with running_gateway(text, env=env) as a, running_gateway(text, env=env) as b:
        yield a, b


@pytest.fixture(scope="session")
def gateway(replicas: tuple[str, str]) -> str:
    return replicas[0]


@pytest.fixture(scope="session")
def shots() -> Path | None:
    """Where to save the README's screenshots (``HEXGATE_CONSOLE_SCREENSHOTS``), or None."""
    folder = os.environ.get("HEXGATE_CONSOLE_SCREENSHOTS")
    return Path(folder) if folder else None


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield page
    assert not errors, f"JavaScript errors or CSP violations in the console: {errors}"
