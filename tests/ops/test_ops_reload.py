"""Config reload without a restart: ``POST /admin/reload`` and SIGHUP swap the routing for new requests
while a slow stream started before the reload finishes on its old provider; a config that does not
load is refused and the old one keeps serving. ``hexgate serve --workers 2``: SIGHUP to the master
replaces the workers one by one, and ``/metrics`` adds every worker's figures up."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

WORDS = "one two three four five six seven eight"
KEY = "test-static-key-000"
AUTH = {"authorization": f"Bearer {KEY}"}


def routed(target: str) -> str:
    return f"""
[server]
admin_key = "${{HEXGATE_ADMIN_KEY}}"
api_keys = ["{KEY}"]
[providers.slow]
plugin = "echo"
delay = 0.25
[providers.fast]
plugin = "echo"
[models.m]
target = "{target}"
"""


def provider_of(base: str, model: str = "m") -> str:
    answer = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "x"}]},
        headers=AUTH,
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-hexgate-provider"]


def eventually(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


class SlowStream(threading.Thread):
    """A streamed chat on ``m`` read to its end in a thread; ``started`` is set at its first chunk."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.started = threading.Event()
        self.provider = ""
        self.text = ""
        self.done = False

    def run(self) -> None:
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": WORDS}]}
        with httpx.stream("POST", f"{self.base}/v1/chat/completions", json=body, headers=AUTH, timeout=60) as response:
            self.provider = response.headers["x-hexgate-provider"]
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                self.started.set()
                if line == "data: [DONE]":
                    self.done = True
                    continue
                chunk = json.loads(line[6:])
                self.text += "".join(c["delta"].get("content") or "" for c in chunk["choices"])


def test_admin_reload_swaps_routing_and_keeps_the_running_stream(tmp_path: Path, ops: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(routed("slow/echo"), encoding="utf-8")
    with ops.serve_process(path, env=ops.ENV) as gw:
        assert provider_of(gw.base) == "slow"
        stream = SlowStream(gw.base)
        stream.start()
        assert stream.started.wait(30)
        path.write_text(routed("fast/echo"), encoding="utf-8")
        reloaded = ops.admin(gw.base, "POST", "/admin/reload")
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json() == {
            "status": "reloaded",
            "config": str(path),
            "providers": ["fast", "slow"],
            "models": ["m"],
        }
        assert provider_of(gw.base) == "fast"
        assert not stream.done  # still streaming from the old registry's provider
        stream.join(30)
        assert (stream.provider, stream.text, stream.done) == ("slow", WORDS, True)

        path.write_text(routed("nowhere/echo"), encoding="utf-8")
        refused = ops.admin(gw.base, "POST", "/admin/reload")
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["code"] == "invalid_config" and "models.m.target" in error["message"]
        path.write_text("[server\n", encoding="utf-8")
        broken = ops.admin(gw.base, "POST", "/admin/reload")
        assert broken.status_code == 400 and "not valid TOML" in broken.json()["error"]["message"]
        assert provider_of(gw.base) == "fast"
        assert httpx.post(f"{gw.base}/admin/reload").status_code == 401


def test_sighup_reloads_and_a_bad_config_is_refused(tmp_path: Path, ops: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(routed("slow/echo"), encoding="utf-8")
    with ops.serve_process(path, env=ops.ENV) as gw:
        stream = SlowStream(gw.base)
        stream.start()
        assert stream.started.wait(30)
        path.write_text(routed("fast/echo"), encoding="utf-8")
        gw.signal(signal.SIGHUP)
        assert eventually(lambda: provider_of(gw.base) == "fast")
        stream.join(30)
        assert (stream.provider, stream.text, stream.done) == ("slow", WORDS, True)
        path.write_text(routed("nowhere/echo"), encoding="utf-8")
        gw.signal(signal.SIGHUP)
        assert eventually(lambda: "the old one keeps serving" in gw.output())
        assert provider_of(gw.base) == "fast"


def test_workers_reload_on_sighup_and_share_metrics(tmp_path: Path, ops: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(routed("slow/echo"), encoding="utf-8")
    with ops.serve_process(path, "--workers", "2", env=ops.ENV) as gw:
        for _ in range(6):
            assert provider_of(gw.base, "fast/echo") == "fast"

        def total() -> float:
            text = httpx.get(f"{gw.base}/metrics").text
            return sum(
                float(line.rpartition(" ")[2])
                for line in text.splitlines()
                if line.startswith("hexgate_requests_total{")
            )

        assert total() == 6  # whichever worker answers /metrics counts both workers' requests
        path.write_text(routed("fast/echo"), encoding="utf-8")
        gw.signal(signal.SIGHUP)  # uvicorn's supervisor starts new workers, then retires the old ones
        # one worker at a time: 40 answers in a row from "fast" (not 4) before the next SIGHUP, so that no
        # old worker is still in service (with one left, 40 in a row has odds of 2**-40)
        assert eventually(lambda: all(provider_of(gw.base) == "fast" for _ in range(40)), seconds=60)
        path.write_text(routed("nowhere/echo"), encoding="utf-8")
        gw.signal(signal.SIGHUP)  # the new workers cannot start: the running ones stay
        assert eventually(lambda: "aborting the restart" in gw.output() or "failed to start" in gw.output(), 60)
        assert provider_of(gw.base) == "fast"
