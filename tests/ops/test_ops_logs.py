"""``[server] log_format = "json"``: one JSON object per line with the request id; prompt text only
when ``[telemetry] log_prompts`` says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

SECRET = "the-prompt-nobody-may-read"


@pytest.mark.parametrize("log_prompts", [False, True])
def test_json_logs_with_request_ids(tmp_path: Path, ops: Any, log_prompts: bool) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[server]
log_format = "json"
[telemetry]
log_prompts = {str(log_prompts).lower()}
[providers.echo]
plugin = "echo"
""",
        encoding="utf-8",
    )
    with ops.serve_process(path, "--access-log") as gw:
        answer = httpx.post(
            f"{gw.base}/v1/chat/completions",
            json={"model": "echo/echo", "messages": [{"role": "user", "content": SECRET}]},
            headers={"x-request-id": "req_logged_1"},
        )
        assert answer.status_code == 200
        failed = httpx.post(
            f"{gw.base}/v1/chat/completions",
            json={"model": "echo/echo", "messages": [{"role": "user", "content": "!fail 400"}]},
        )
        assert failed.status_code == 400
    lines = [json.loads(line) for line in gw.output().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "uvicorn.access" and "/v1/chat" in line["message"]]
    assert [line.get("request_id") for line in access] == ["req_logged_1", failed.headers["x-request-id"]]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    prompts = [line for line in lines if line["logger"] == "hexgate.prompts"]
    if log_prompts:
        assert len(prompts) == 2 and SECRET in prompts[0]["message"] and prompts[0]["request_id"] == "req_logged_1"
    else:
        assert prompts == [] and SECRET not in gw.output()
