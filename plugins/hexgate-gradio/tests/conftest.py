"""Fixtures for the hexgate-gradio tests: a real Gradio server (tests/gradio_app.py) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hexgate.testing import free_port

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
    env = {**os.environ, **QUIET_ENV}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, str(APP), str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the Gradio app exited with {proc.returncode}:\n{log.read().decode()}")
                try:
                    if httpx.get(f"{base}/broken/config", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the Gradio app did not start in 180 s")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()
