"""Fixtures for the hexgate-gradio tests: a real Gradio server (tests/gradio_app.py) on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hexgate.testing import free_port, running_process

APP = Path(__file__).parent / "gradio_app.py"

# No analytics or telemetry pings, no Hub lookups, no proxy between the tests and 127.0.0.1.
QUIET_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


@pytest.fixture(scope="session")
def quiet_env() -> dict[str, str]:
    """Environment for processes that use gradio_client or gradio in tests."""
    return dict(QUIET_ENV)


@pytest.fixture(scope="module")
def gradio_app() -> Iterator[str]:
    """Start tests/gradio_app.py once per test module; yields its base URL (apps at /chat, /plain,
    /quota, /broken)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_process(
        [sys.executable, str(APP), str(port)],
        ready_url=f"{base}/broken/config",
        env={**os.environ, **QUIET_ENV},
        timeout=180,
        name="the Gradio app",
    ):
        yield base
