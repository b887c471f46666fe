"""Servers as subprocesses on 127.0.0.1: :func:`running_process` (any server, once a URL of it answers
200), :func:`running_gateway` (``hexgate serve`` with a config), :func:`running_redis` (a throwaway
redis-server); :func:`free_port`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "RunningRedis",
    "free_port",
    "running_gateway",
    "running_process",
    "running_redis",
    "wait_for_worker",
    "worker_status",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_process(
    cmd: Sequence[str],
    *,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    name: str | None = None,
    log: Path | None = None,
    stop_timeout: float = 15.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd`` and wait until ``GET ready_url`` answers 200; yields the process.

    ``env`` is the process's whole environment (None: this process's). Its stdout and stderr go to
    ``log`` (None: a temporary file). Raises RuntimeError with that output, naming the process
    ``name`` (default ``cmd[0]``), if it exits or is not ready within ``timeout`` seconds. On exit the
    process is terminated, and killed if it has not ended after ``stop_timeout`` seconds.
    """
    label = name or cmd[0]
    with contextlib.ExitStack() as stack:
        path = log if log is not None else Path(stack.enter_context(tempfile.TemporaryDirectory())) / "output.log"
        with open(path, "wb") as out:
            proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env)

        def output() -> str:
            return path.read_text(errors="replace")

        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{label} exited with {proc.returncode}:\n{output()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(ready_url, timeout=2.0).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label} did not start in {timeout:g} s:\n{output()}")
                time.sleep(0.1)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def running_gateway(
    config: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 120.0,
    args: Sequence[str] = (),
) -> Iterator[str]:
    """Start ``hexgate serve`` on a free port with ``config`` (TOML text; None: no config file).

    Yields the base URL (``http://127.0.0.1:<port>``; the OpenAI base URL is that + ``/v1``).
    ``env`` is added to this process's environment (``HEXGATE_CONFIG`` left out).
    Raises RuntimeError with the server's output if it does not become healthy in time.
    The process is terminated (then killed) on exit.
    """
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "hexgate.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
        if config is not None:
            path = Path(tmp) / "config.toml"
            path.write_text(config, encoding="utf-8")
            cmd += ["--config", str(path)]
        full_env = {k: v for k, v in os.environ.items() if k != "HEXGATE_CONFIG"}
        full_env.update(env or {})
        base = f"http://127.0.0.1:{port}"
        with running_process(cmd, ready_url=f"{base}/health", env=full_env, timeout=startup_timeout, name="hexgate"):
            yield base


@dataclass(frozen=True)
class RunningRedis:
    url: str
    """``redis://127.0.0.1:<port>/0``, for ``[server] store``."""
    process: subprocess.Popen[bytes]
    """The server, for tests that freeze it (``SIGSTOP``); it is resumed before it is stopped."""


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def running_redis(*, timeout: float = 10.0) -> Iterator[RunningRedis]:
    """A redis-server of its own on a free port of 127.0.0.1, persistence off (no RDB, no AOF, its
    directory temporary), until it answers ``PING``; never a system service. Raises
    ``FileNotFoundError`` when ``redis-server`` is not on ``PATH`` (Debian: ``apt-get install
    redis-server``) and RuntimeError when it does not start within ``timeout`` seconds. On exit it is
    resumed (``SIGCONT``) and terminated."""
    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout
            while not _redis_pong(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            yield RunningRedis(f"redis://127.0.0.1:{port}/0", proc)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
            proc.wait(timeout=10)


def worker_status(base: str, provider: str) -> dict[str, Any]:
    """The one model worker ``provider`` reports on a running gateway's ``GET /health``
    (``{"provider", "name", "state", "pid", "restarts", "last_exit"}``); AssertionError when the
    gateway does not answer 200 or the provider has not exactly one worker."""
    health = httpx.get(f"{base}/health", timeout=10)
    assert health.status_code == 200, health.text
    (worker,) = [w for w in health.json()["workers"] if w["provider"] == provider]
    return worker  # type: ignore[no-any-return]


def wait_for_worker(base: str, provider: str, *, restarts: int = 0, timeout: float = 60.0) -> dict[str, Any]:
    """Poll :func:`worker_status` until ``provider``'s worker is ``ready`` after at least ``restarts``
    restarts; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker = worker_status(base, provider)
        if worker["state"] == "ready" and worker["restarts"] >= restarts:
            return worker
        time.sleep(0.1)
    raise AssertionError(f"the {provider} worker did not come back: {worker_status(base, provider)}")
