"""Fixtures for the ops tests: a throwaway redis-server, gateways sharing it (or one on the memory
store), in-process gateways for tracing, and small HTTP helpers.

redis-server is Debian's (``scripts/test`` installs it in CI), started here on a free port with
persistence off and stopped after the module; never a system service.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hexgate.testing import free_port, running_gateway, running_process, running_redis

ADMIN = "test-admin-key-000"
STATIC = "test-static-key-000"


def config(store: str, extra: str = "") -> str:
    """A gateway with an echo provider, the admin key, a static key, and $1 per token on echo."""
    return f"""
[server]
admin_key = "${{HEXGATE_ADMIN_KEY}}"
api_keys = ["{STATIC}"]
store = "{store}"

[providers.echo]
plugin = "echo"

[prices."echo/*"]
input = 1000000
output = 1000000
{extra}
"""


def admin(base: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{base}{path}", headers={"authorization": f"Bearer {ADMIN}"}, timeout=30, **kwargs)


def new_key(base: str, **spec: Any) -> dict[str, Any]:
    """Create a key through the admin API; the answer (with ``key``)."""
    spec.setdefault("name", "test")
    response = admin(base, "POST", "/admin/keys", json=spec)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def chat(base: str, key: str, text: str = "hello there", model: str = "echo/echo", **body: Any) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": text}], **body},
        timeout=30,
    )


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server of this module's own on 127.0.0.1 (no RDB, no AOF)."""
    try:
        with running_redis() as redis:
            yield redis.url
    except FileNotFoundError as exc:  # pragma: no cover - scripts/test installs it
        pytest.skip(str(exc))


ENV = {"HEXGATE_ADMIN_KEY": ADMIN}


@pytest.fixture(scope="module", params=["memory", "redis"])
def cluster(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Gateways that must act as one: a single process on the memory store, or two processes sharing
    one Redis. Tests spread their requests over the list."""
    if request.param == "memory":
        with running_gateway(config("memory"), env=ENV) as base:
            yield [base]
        return
    url = request.getfixturevalue("redis_url")
    with running_gateway(config(url), env=ENV) as a, running_gateway(config(url), env=ENV) as b:
        yield [a, b]


class Process:
    """``hexgate serve`` started here, so that a test can signal it (``running_gateway`` hides the pid)."""

    def __init__(self, proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.proc = proc
        self.base = base
        self.log = log

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serve_process(config_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Process]:
    port = free_port()
    log = config_path.with_suffix(".log")
    cmd = [sys.executable, "-m", "hexgate.cli", "serve", "--config", str(config_path), "--port", str(port), *args]
    full_env = {k: v for k, v in os.environ.items() if k not in ("HEXGATE_CONFIG", "PROMETHEUS_MULTIPROC_DIR")}
    full_env.update(env or {})
    base = f"http://127.0.0.1:{port}"
    with running_process(
        cmd, ready_url=f"{base}/health", env=full_env, name="hexgate", log=log, stop_timeout=20
    ) as proc:
        yield Process(proc, base, log)


@pytest.fixture
def ops() -> Any:
    """This module's helpers (pytest's importlib mode cannot import a conftest)."""
    return sys.modules[__name__]
