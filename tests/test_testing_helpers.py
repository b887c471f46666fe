"""hexgate.testing's process and stub helpers, on real processes and sockets on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from hexgate.testing import Reply, StubUpstream, free_port, running_process


def test_running_process_waits_until_ready_and_stops_it(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    log = tmp_path / "server.log"
    with running_process(cmd, ready_url=f"http://127.0.0.1:{port}/", log=log) as proc:
        assert proc.poll() is None
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    assert proc.poll() is not None
    assert "GET /" in log.read_text()


def test_running_process_reports_an_early_exit_with_its_output() -> None:
    cmd = [sys.executable, "-c", "import sys; print('no config here'); sys.exit(3)"]
    starting = running_process(cmd, ready_url=f"http://127.0.0.1:{free_port()}/", name="the test server")
    with pytest.raises(RuntimeError, match=r"(?s)the test server exited with 3:.*no config here"), starting:
        pass


def test_stub_reset_forgets_routes_requests_and_counters() -> None:
    with StubUpstream({"GET /x": Reply(body=[b"a", b"b"])}) as stub:
        assert httpx.get(f"{stub.url}/x").text == "ab"
        assert stub.wait_for(lambda: stub.completed == 1)
        assert len(stub.requests) == 1
        stub.reset()
        assert (stub.routes, stub.requests, stub.completed, stub.disconnects) == ({}, [], 0, 0)
        assert httpx.get(f"{stub.url}/x").status_code == 404
