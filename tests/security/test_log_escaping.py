"""Issue 12, finding 7: text a client chose cannot forge or garble a text-format log line.

Before the fix a line break in a logged request body (``[telemetry] log_prompts``) or in a model
name started a new, forged log line. Now every non-printable character of a text log message is
escaped (``\\n``, ``\\x1b``); JSON logs were already safe.
"""

from __future__ import annotations

import io
import logging
import logging.config
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hexgate.ops.logs import log_config
from hexgate.testing import free_port, running_process

FORGED = "2026-01-01 00:00:00,000 WARNING hexgate.ops: FORGED admin key leaked"


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """The root logger configured as ``hexgate serve`` does for ``log_format = "text"``, into a buffer."""
    config = log_config("text")
    config["handlers"]["default"]["stream"] = "ext://sys.stdout"
    buffer = io.StringIO()
    saved = sys.stdout
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    sys.stdout = buffer
    try:
        logging.config.dictConfig(config)
    finally:
        sys.stdout = saved
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_control_characters_in_log_arguments_are_escaped(text_log: io.StringIO) -> None:
    logging.getLogger("hexgate.registry").warning("circuit open for %s", "echo/x\n" + FORGED + "\x1b[2J\u2028")
    lines = text_log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert not any(line.startswith(FORGED) for line in lines)
    assert "\\n" + FORGED + "\\x1b[2J\\u2028" in lines[0]


@pytest.mark.e2e
def test_a_logged_request_body_cannot_forge_a_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[telemetry]\nlog_prompts = true\n[providers.echo]\nplugin = "echo"\n', encoding="utf-8")
    log = tmp_path / "gateway.log"
    port = free_port()
    cmd = [sys.executable, "-m", "hexgate.cli", "serve", "--port", str(port), "--config", str(path)]
    base = f"http://127.0.0.1:{port}"
    with running_process(cmd, ready_url=f"{base}/health", name="hexgate", log=log):
        body = ('{"model": "echo/echo", "messages": "\n' + FORGED + '\n"}').encode()
        answer = httpx.post(
            f"{base}/v1/chat/completions", content=body, headers={"content-type": "application/json"}, timeout=30
        )
        assert answer.status_code == 400
    output = log.read_text(errors="replace")
    assert "FORGED" in output  # the body was logged ...
    assert not any(line.startswith(FORGED) for line in output.splitlines()), output  # ... on its own line
