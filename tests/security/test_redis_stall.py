"""Issue 12, finding 6: a stalled Redis (``SIGSTOP``) costs a keyed request about one
``server.store_timeout`` (1 s), never the client's finished answer, and nothing for static keys.

Before the fix the Redis client had no socket timeout: a keyed request waited for as long as Redis
was frozen, and the post-answer charge held back the last body message of every limited key's
answer until Redis woke up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hexgate.testing import running_gateway, running_redis

pytestmark = pytest.mark.e2e

ADMIN = "test-admin-key-stall"
STATIC = "test-static-key-stall"
BOUND = 2.5
"""Seconds a keyed request may take while Redis is frozen: the 1 s store timeout plus slack."""


@pytest.fixture(scope="module")
def redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of this module's own on 127.0.0.1 (no persistence); resumed before it is stopped."""
    try:
        with running_redis() as server:
            yield server.process, server.url
    except FileNotFoundError as exc:  # pragma: no cover - scripts/test installs it
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def gateway(redis: tuple[subprocess.Popen[bytes], str]) -> Iterator[str]:
    config = f"""
[server]
admin_key = "{ADMIN}"
api_keys = ["{STATIC}"]
store = "{redis[1]}"

[providers.echo]
plugin = "echo"

[providers.slow]
plugin = "echo"
delay = 0.2
"""
    with running_gateway(config) as base:
        yield base


def _chat(base: str, key: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "echo/echo", "messages": [{"role": "user", "content": "hello there"}], **body},
        timeout=30,
    )


@pytest.fixture(scope="module")
def limited_key(gateway: str) -> str:
    created = httpx.post(
        f"{gateway}/admin/keys",
        headers={"authorization": f"Bearer {ADMIN}"},
        json={"name": "stall", "rpm": 10_000, "tpm": 10_000_000},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    assert _chat(gateway, key).status_code == 200
    return key


def test_the_charge_never_holds_back_a_finished_answer(
    gateway: str, limited_key: str, redis: tuple[subprocess.Popen[bytes], str]
) -> None:
    proc = redis[0]
    body = {"model": "slow/echo", "stream": True, "messages": [{"role": "user", "content": "one two three four"}]}
    headers = {"authorization": f"Bearer {limited_key}"}
    with httpx.stream("POST", f"{gateway}/v1/chat/completions", json=body, headers=headers, timeout=5) as answer:
        assert answer.status_code == 200
        lines = answer.iter_lines()
        next(line for line in lines if line.startswith("data: "))  # admitted: Redis answered the admission
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            next(line for line in lines if line == "data: [DONE]")
            done = time.monotonic()
            rest = list(lines)  # the end of the body: it waited for the charge before the fix
            ended = time.monotonic() - done
        finally:
            os.kill(proc.pid, signal.SIGCONT)
    assert not any(line.strip() for line in rest)
    assert ended < 0.5, f"the answer's end waited {ended:.2f} s for the charge"


def test_a_frozen_store_is_a_503_within_the_bound_and_static_keys_keep_working(
    gateway: str, limited_key: str, redis: tuple[subprocess.Popen[bytes], str]
) -> None:
    proc = redis[0]
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        time.sleep(0.6)  # past the key cache (0.5 s): the next keyed request asks Redis
        for _ in range(2):
            started = time.monotonic()
            keyed = _chat(gateway, limited_key)
            took = time.monotonic() - started
            assert keyed.status_code == 503, keyed.text
            assert keyed.json()["error"]["code"] == "store_unavailable"
            assert took < BOUND, f"503 after {took:.1f} s"
        started = time.monotonic()
        static = _chat(gateway, STATIC)
        assert static.status_code == 200, static.text
        assert time.monotonic() - started < 0.5
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert _chat(gateway, limited_key).status_code == 200  # and back once Redis is
