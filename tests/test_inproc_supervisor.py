"""The embedded ``local`` provider's model worker process under ``hexgate serve``: it can crash or hang
without taking the gateway down, and never outlives it.

The worker's test hook (``HEXGATE_TEST_FAULTS=1``, :mod:`hexgate.inproc.child`) makes it SIGSEGV or
abort itself mid-stream, or hang, when a prompt carries ``hexgate-test-fault:<kind>``. Each gateway
runs with ``retries = 0`` so a failed call is seen as it failed. Processes are read from ``/proc``.
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
import msgspec
import openai
import pytest

from hexgate.testing import free_port, running_process, wait_for_worker, worker_status

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

CHAT = "local/smollm2-135m-instruct"
EMBED = "local/all-minilm-l6-v2"
CONFIG = """
[server]
request_timeout = {timeout}

[routing]
retries = 0

[providers.local]
plugin = "local"
n_threads = 1
"""


class Gateway:
    def __init__(self, base: str, pid: int, log: Path) -> None:
        self.base = base
        self.pid = pid
        self.log = log
        self.client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=60)

    def worker(self) -> dict[str, Any]:
        return worker_status(self.base, "local")

    def wait_worker(self, *, restarts: int, timeout: float = 60.0) -> dict[str, Any]:
        return wait_for_worker(self.base, "local", restarts=restarts, timeout=timeout)


@contextlib.contextmanager
def gateway(*, timeout: float = 60.0) -> Iterator[Gateway]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(CONFIG.format(timeout=timeout))
        log = Path(tmp) / "gateway.log"
        cmd = [sys.executable, "-m", "hexgate.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        env = {k: v for k, v in os.environ.items() if k != "HEXGATE_CONFIG"} | {"HEXGATE_TEST_FAULTS": "1"}
        base = f"http://127.0.0.1:{port}"
        with running_process(
            [*cmd, "--config", str(config)], ready_url=f"{base}/health", env=env, log=log, name="hexgate"
        ) as proc:
            gw = Gateway(base, proc.pid, log)
            with gw.client:
                yield gw


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, zombies included."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def state(pid: int) -> str | None:
    """``R``, ``S``, ``Z``… from ``/proc/<pid>/stat``; None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state(pid) in (None, "Z"):
            return True
        time.sleep(0.05)
    return False


def ask(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": CHAT, "messages": [{"role": "user", "content": text}], **fields}


@pytest.mark.parametrize(("fault", "signum"), [("segv", signal.SIGSEGV), ("abort", signal.SIGABRT)])
def test_a_worker_crash_mid_stream_costs_only_its_requests(fault: str, signum: int) -> None:
    with gateway() as gw:
        first = gw.wait_worker(restarts=0)
        assert children(gw.pid) == [first["pid"]]
        in_flight: dict[str, BaseException] = {}

        def plain() -> None:
            try:
                gw.client.chat.completions.create(**ask("Say hi.", max_tokens=5))
            except BaseException as exc:
                in_flight["error"] = exc

        with pytest.raises(openai.APIError) as info:
            stream = gw.client.chat.completions.create(**ask(f"hexgate-test-fault:{fault}", max_tokens=50), stream=True)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content and "thread" not in in_flight:
                    # queued behind the stream on the worker's chat thread when the worker dies
                    thread = threading.Thread(target=plain)
                    thread.start()
                    in_flight["thread"] = thread  # type: ignore[assignment]
        # the stream ended with the error frame; the official SDK raises it
        assert f"local model worker exited (signal {signum}); restarting" in info.value.message
        thread.join(60)
        error = in_flight["error"]
        assert isinstance(error, openai.APIStatusError) and error.status_code == 502
        assert error.body and f"exited (signal {signum}); restarting" in str(error.body)
        assert httpx.get(f"{gw.base}/health", timeout=10).status_code == 200

        second = gw.wait_worker(restarts=1)
        assert second["pid"] != first["pid"] and second["last_exit"] == f"exited (signal {signum})"
        answer = gw.client.chat.completions.create(**ask("What is the capital of France?", max_tokens=8))
        assert answer.choices[0].message.content
        assert len(gw.client.embeddings.create(model=EMBED, input="still here").data[0].embedding) == 384
        providers = httpx.get(f"{gw.base}/providers", timeout=30).json()["providers"]
        (local,) = [p for p in providers if p["id"] == "local"]
        assert local["workers"][0]["state"] == "ready" and local["workers"][0]["restarts"] == 1

        # the dead worker was reaped (no zombie), the new one is the only child
        assert state(first["pid"]) is None
        assert children(gw.pid) == [second["pid"]]
        assert all(state(c) != "Z" for c in children(gw.pid))
        os.kill(gw.pid, signal.SIGKILL)  # the gateway dies without any chance to clean up
        assert gone(second["pid"]), "the model worker outlived the gateway"


def test_a_hung_worker_ends_the_request_at_its_deadline_and_is_replaced() -> None:
    with gateway(timeout=3) as gw:
        first = gw.wait_worker(restarts=0)
        began = time.monotonic()
        with pytest.raises(openai.APIStatusError) as info:
            gw.client.chat.completions.create(**ask("hexgate-test-fault:hang", max_tokens=5))
        assert info.value.status_code == 504
        assert time.monotonic() - began < 30
        second = gw.wait_worker(restarts=1)
        assert second["pid"] != first["pid"]
        assert "hung" in second["last_exit"]
        assert gone(first["pid"], timeout=5) and state(first["pid"]) is None
        answer = gw.client.chat.completions.create(**ask("Say hi.", max_tokens=5))
        assert answer.choices[0].message.content


def test_start_up_logs_the_system_info_line() -> None:
    with gateway() as gw:
        gw.wait_worker(restarts=0)
        lines = [line for line in gw.log.read_text().splitlines() if "llama.cpp system info:" in line]
        assert len(lines) == 1
        assert "local model worker ready" in lines[0] and "CPU :" in lines[0]


async def test_a_worker_that_keeps_crashing_at_start_is_failed_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from hexgate_local import LocalProvider

    from hexgate.errors import UpstreamError
    from hexgate.protocol import CallContext
    from hexgate.schemas.chat import ChatCompletionRequest

    monkeypatch.setenv("HEXGATE_TEST_FAULTS", "start-abort")  # every worker aborts before it is ready
    async with httpx.AsyncClient() as http:
        provider = LocalProvider({}, http=http)
        try:
            await provider.start()  # does not raise: the rest of the gateway still starts
            (status,) = provider.workers()
            assert (status.state, status.pid, status.restarts) == ("failed", None, 2)
            assert status.last_exit == f"exited (signal {signal.SIGABRT})"
            request = msgspec.convert(ask("hi"), ChatCompletionRequest)
            ctx = CallContext(request_id="r", model="smollm2-135m-instruct", timeout=10)
            with pytest.raises(UpstreamError, match=r"local model worker failed: exited \(signal 6\)"):
                await provider.chat(request, ctx)
        finally:
            await provider.aclose()


async def test_a_model_the_worker_cannot_load_stops_the_start(tmp_path: Path) -> None:
    from hexgate_local import LocalProvider

    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"not a gguf")
    async with httpx.AsyncClient() as http:
        provider = LocalProvider({"chat_model_path": str(gguf)}, http=http)
        try:
            with pytest.raises(ValueError, match=r"Failed to load model from file: .*broken\.gguf"):
                await provider.start()
            (status,) = provider.workers()
            assert status.state == "failed" and status.restarts == 0
            assert status.last_exit and status.last_exit.startswith("could not start: ")
        finally:
            await provider.aclose()
