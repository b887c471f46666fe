"""The huggingface provider's model worker process under ``hexgate serve``: a crash mid-stream or a
hang costs only the requests it was serving, the worker comes back, and it never outlives the gateway.

The worker's test hook (``HEXGATE_TEST_FAULTS=1``, :mod:`hexgate.inproc.child`) makes it SIGSEGV
mid-stream or hang when a prompt carries ``hexgate-test-fault:<kind>``. ``retries = 0`` shows each
failure as it happened; the ``quick`` alias has a 5 s deadline. Processes are read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from hexgate.testing import free_port, running_process, wait_for_worker, worker_status

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

CONFIG = """
[routing]
retries = 0

[providers.hflocal]
plugin = "huggingface"
device = "cpu"
threads = 1
preload = true

[providers.hflocal.models.tiny]
path = "{tiny}"

[models.quick]
target = "hflocal/tiny"
timeouts = {{ total = 5 }}
"""


def state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


class Gateway:
    def __init__(self, base: str, pid: int) -> None:
        self.base, self.pid = base, pid
        self.client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120)

    def worker(self) -> dict[str, Any]:
        return worker_status(self.base, "hflocal")

    def wait_worker(self, *, restarts: int, timeout: float = 60.0) -> dict[str, Any]:
        return wait_for_worker(self.base, "hflocal", restarts=restarts, timeout=timeout)


@pytest.fixture(scope="module")
def gw(tiny_dir: Path) -> Iterator[Gateway]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(CONFIG.format(tiny=tiny_dir))
        cmd = [sys.executable, "-m", "hexgate.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        env = {k: v for k, v in os.environ.items() if k != "HEXGATE_CONFIG"}
        env |= {"HEXGATE_TEST_FAULTS": "1", "HF_HUB_OFFLINE": "1"}
        base = f"http://127.0.0.1:{port}"
        with running_process(
            [*cmd, "--config", str(config)], ready_url=f"{base}/health", env=env, name="hexgate", timeout=300
        ) as proc:
            gateway = Gateway(base, proc.pid)
            with gateway.client:
                yield gateway


def ask(text: str, model: str = "hflocal/tiny", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "temperature": 0, **fields}


def test_a_worker_crash_mid_stream_costs_only_its_requests(gw: Gateway) -> None:
    first = gw.wait_worker(restarts=0)
    in_flight: dict[str, Any] = {}

    def plain() -> None:
        try:
            gw.client.chat.completions.create(**ask("Hello, world!", max_tokens=5))
        except openai.APIStatusError as exc:
            in_flight["error"] = exc

    with pytest.raises(openai.APIError) as info:
        stream = gw.client.chat.completions.create(**ask("hexgate-test-fault:segv", max_tokens=50), stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content and "thread" not in in_flight:
                in_flight["thread"] = threading.Thread(target=plain)  # queued behind the stream when it dies
                in_flight["thread"].start()
    assert "huggingface model worker exited (signal 11); restarting" in info.value.message
    in_flight["thread"].join(60)
    error = in_flight["error"]
    assert error.status_code == 502 and "exited (signal 11); restarting" in str(error.body)
    assert httpx.get(f"{gw.base}/health", timeout=10).status_code == 200

    second = gw.wait_worker(restarts=1)
    assert second["pid"] != first["pid"] and second["last_exit"] == "exited (signal 11)"
    answer = gw.client.chat.completions.create(**ask("Hi", max_tokens=3))
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    assert state(first["pid"]) is None  # reaped
    assert children(gw.pid) == [second["pid"]]


def test_a_hung_worker_ends_the_request_at_its_deadline_and_is_replaced(gw: Gateway) -> None:
    before = gw.wait_worker(restarts=0)
    gw.client.chat.completions.create(**ask("Hi", max_tokens=2))  # loaded now (a restarted worker loads lazily)
    with pytest.raises(openai.APIStatusError) as info:
        gw.client.chat.completions.create(**ask("hexgate-test-fault:hang", model="quick", max_tokens=5))
    assert info.value.status_code == 504
    after = gw.wait_worker(restarts=before["restarts"] + 1)
    assert after["pid"] != before["pid"] and "hung" in after["last_exit"]
    assert state(before["pid"]) is None
    answer = gw.client.chat.completions.create(**ask("Hi", max_tokens=3))
    assert answer.usage is not None and answer.usage.completion_tokens == 3


def test_the_worker_does_not_outlive_the_gateway(gw: Gateway) -> None:
    worker = gw.wait_worker(restarts=0)["pid"]
    assert children(gw.pid) == [worker]
    os.kill(gw.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while state(worker) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(worker) in (None, "Z"), "the model worker outlived the gateway"
