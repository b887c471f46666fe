"""Issue 12, finding 2: nothing a client merely names is kept.

Reproduced before the fix: 40 chat requests whose ``model`` was ``echo/<n>`` followed by 1 MB of
``A`` were each refused (404) and grew the gateway by well over 100 MB (metric labels, usage rows).
Now a model name is at most 256 characters (a 400 naming ``model``), an unknown name leaves no
usage row and no metric label behind, and the circuit-breaker table is bounded.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hexgate.registry import build_registry
from hexgate.settings import load_settings
from hexgate.testing import free_port, running_process

ADMIN = "test-admin-key-memory"
STATIC = "test-static-key-memory"
CONFIG = f"""
[server]
admin_key = "${{HEXGATE_ADMIN_KEY}}"
api_keys = ["{STATIC}"]

[providers.echo]
plugin = "echo"
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, int]]:
    """``hexgate serve`` (one process, so its RSS is the gateway's) and its pid."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(CONFIG, encoding="utf-8")
        cmd = [sys.executable, "-m", "hexgate.cli", "serve", "--port", str(port), "--config", str(path)]
        env = {k: v for k, v in os.environ.items() if k not in ("HEXGATE_CONFIG", "PROMETHEUS_MULTIPROC_DIR")}
        env["HEXGATE_ADMIN_KEY"] = ADMIN
        base = f"http://127.0.0.1:{port}"
        with running_process(cmd, ready_url=f"{base}/health", env=env, name="hexgate") as proc:
            yield base, proc.pid


def _chat(client: httpx.Client, model: str) -> httpx.Response:
    return client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {STATIC}"},
    )


@pytest.mark.e2e
def test_huge_model_names_are_refused_and_leave_no_memory(gateway: tuple[str, int]) -> None:
    base, pid = gateway
    with httpx.Client(base_url=base, timeout=60, headers={"authorization": f"Bearer {ADMIN}"}) as client:
        for n in range(5):  # warm up every path once
            assert _chat(client, "echo/echo").status_code == 200
            _chat(client, f"echo/warm{n}" + "A" * 1000)
        before = _rss_mb(pid)
        statuses = []
        for n in range(40):
            answer = _chat(client, f"echo/{n}" + "A" * 1_000_000)
            statuses.append(answer.status_code)
            if answer.status_code == 400:
                assert answer.json()["error"]["param"] == "model"
        grown = _rss_mb(pid) - before
    assert grown < 40, f"the gateway grew {grown:.0f} MB for 40 refused model names"
    assert statuses == [400] * 40, statuses


@pytest.mark.e2e
def test_unknown_names_leave_no_usage_row_or_metric_label(gateway: tuple[str, int]) -> None:
    base, _ = gateway
    with httpx.Client(base_url=base, timeout=60, headers={"authorization": f"Bearer {ADMIN}"}) as client:
        names = [f"echo/nobody-knows-{n}" for n in range(20)]
        for name in names:
            assert _chat(client, name).status_code == 404
        assert _chat(client, "echo/echo").status_code == 200
        usage = client.get("/v1/usage")
        metrics = client.get("/metrics")
    assert usage.status_code == 200, usage.text
    models = {row["model"] for row in usage.json()["data"]}
    assert "echo/echo" in models
    assert not any("nobody-knows" in m for m in models), models
    assert "echo/*" in models  # the refused requests still count, under their provider
    if metrics.status_code == 200:  # prometheus-client installed
        assert "nobody-knows" not in metrics.text


async def test_the_circuit_breaker_table_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[providers.echo]\nplugin = "echo"\n', encoding="utf-8")
    registry = await build_registry(load_settings(path))
    try:
        for n in range(3000):
            route = registry.resolve(f"echo/{n}")
            registry.record(route, failed=True)
        assert len(registry.breakers) <= 1024
        assert "echo/2999" in registry.breakers  # the newest kept
    finally:
        await registry.aclose()


async def test_usage_kept_in_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from hexgate.ops import state

    monkeypatch.setattr(state, "MAX_USAGE_FIELDS", 50)
    backend = state.MemoryBackend()
    for day in range(1, 201):  # 200 days, 100 made-up targets a day
        iso = f"{2025 + day // 100}-{(day % 100) // 28 + 1:02d}-{day % 28 + 1:02d}"
        await backend.add_usage({iso: {f"key_1|echo/name-{day}-{n}|requests": 1 for n in range(100)}})
    days = await backend.members("usage_days")
    assert len(days) <= state.USAGE_DAYS
    kept = await backend.read_usage(days)
    assert all(len(fields) <= 51 for fields in kept.values())  # the rest folded into key_1|*|requests
    assert all(sum(fields.values()) == 100 for fields in kept.values())  # and still counted
