"""``hexgate keys`` and ``hexgate usage``: straight in a Redis store (``--config``) and through a running
gateway's admin API (``--url``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def hexgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("HEXGATE_")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hexgate.cli", *args], capture_output=True, text=True, env=full, timeout=60
    )


def test_keys_and_usage_in_the_redis_store(redis_url: str, tmp_path: Path, ops: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(ops.config(redis_url), encoding="utf-8")
    env = {"HEXGATE_ADMIN_KEY": ops.ADMIN}
    made = hexgate("keys", "create", "--config", str(path), "--name", "ci", "--rpm", "7", "--models", "echo/*", env=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sk-hg-") and len(key) == 49
    assert "shown only now" in made.stderr and key not in made.stderr
    from hexgate.testing import running_gateway

    with running_gateway(path.read_text(), env=env) as base:
        answer = ops.chat(base, key)
        assert answer.status_code == 200
        assert answer.headers["x-ratelimit-limit-requests"] == "7"
        listed = json.loads(hexgate("keys", "list", "--config", str(path), "--json", env=env).stdout)
        (record,) = listed
        assert record["name"] == "ci" and record["models"] == ["echo/*"] and "key" not in record
        text = hexgate("keys", "list", "--url", base, env=env).stdout
        assert record["id"] in text and "active" in text and key not in text
        usage = hexgate("usage", "--url", base, "--json", env=env)
        assert usage.returncode == 0, usage.stderr
        (row,) = json.loads(usage.stdout)
        assert (row["key_name"], row["model"], row["requests"], row["cost"]) == ("ci", "echo/echo", 1, 4.0)
        table = hexgate("usage", "--config", str(path), env=env).stdout
        assert "echo/echo" in table and "$4.000000" in table
        revoked = hexgate("keys", "revoke", record["id"], "--url", base, env=env)
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        assert "revoked" in hexgate("keys", "list", "--config", str(path), env=env).stdout


def test_cli_mistakes_are_one_line(tmp_path: Path, ops: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(ops.config("memory"), encoding="utf-8")
    memory = hexgate("keys", "list", "--config", str(path), env={"HEXGATE_ADMIN_KEY": "x"})
    assert memory.returncode == 1 and "--url" in memory.stderr
    nowhere = hexgate("keys", "list")
    assert nowhere.returncode == 1 and "--url" in nowhere.stderr
    no_admin = hexgate("keys", "list", "--url", "http://127.0.0.1:9")
    assert no_admin.returncode == 1 and "admin key" in no_admin.stderr
    bad = hexgate("keys", "create", "--name", "x", "--period", "soon", "--url", "http://127.0.0.1:9")
    assert (
        bad.returncode == 1 and bad.stderr == "hexgate: 'soon' is not a duration: write <number><s|m|h|d|w>, e.g. 30d\n"
    )
