"""Fixtures shared by the core's browser tests (console, playground, the playground's CSP):
Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/test``) driven by Playwright, which
never downloads a browser. Each folder keeps its own ``context``/``page`` (viewport, timeouts, what
counts as a console error)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module: while Playwright's sync API is started it marks an asyncio loop
    as running on the main thread, so it must stop before another module's async tests run."""
    from playwright.sync_api import sync_playwright

    if shutil.which(CHROMIUM) is None:  # pragma: no cover - scripts/test installs it
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
