"""Claude Code itself on a non-Anthropic model: ``claude -p`` with ``ANTHROPIC_BASE_URL`` pointed at
hexgate, whose ``claude-*`` pattern alias routes every model Claude Code asks for to a scripted
OpenAI-compatible upstream. The stub first answers with a ``Bash`` tool call (``echo hi``); Claude
Code runs it (allowed with ``--allowedTools``) and sends the output back as a ``tool_result``, which
the stub quotes in its final answer.

The npm package ``@anthropic-ai/claude-code`` is installed on first use into ``.cache/claude-code``
(ignored by git). It is pinned to the last release that ships its JavaScript entry point
(``cli.js``); later releases fetch a native binary from a CDN during install. Telemetry and other
non-essential traffic are off and ``HOME`` is a fresh folder, so the run touches nothing but hexgate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream, running_gateway

pytestmark = pytest.mark.e2e

VERSION = "2.1.112"
ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / ".cache" / "claude-code"
CLI = PREFIX / "node_modules" / "@anthropic-ai" / "claude-code" / "cli.js"
SSE = {"content-type": "text/event-stream"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "stub",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return f"data: {json.dumps(body)}\n\n".encode()


def _script(request: RecordedRequest) -> Reply:
    body = request.json()
    last = body["messages"][-1]
    tools = {t["function"]["name"] for t in body.get("tools", [])}
    if last["role"] == "tool":
        text = f"The command printed: {str(last['content']).strip()}"
        return Reply(body=[_chunk({"role": "assistant", "content": text}), _chunk({}, "stop"), b"data: [DONE]\n\n"],
                     headers=SSE)  # fmt: skip
    if "Bash" in tools:
        arguments = json.dumps({"command": "echo hi", "description": "Print hi"})
        call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": arguments}}
        return Reply(body=[_chunk({"role": "assistant", "tool_calls": [call]}), _chunk({}, "tool_calls"),
                           b"data: [DONE]\n\n"], headers=SSE)  # fmt: skip
    return Reply(body=[_chunk({"role": "assistant", "content": "ok"}), _chunk({}, "stop"), b"data: [DONE]\n\n"],
                 headers=SSE)  # fmt: skip


@pytest.fixture(scope="module")
def claude() -> Path:
    if CLI.exists():
        return CLI
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm and node are needed to install Claude Code (@anthropic-ai/claude-code)")
    PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(PREFIX), f"@anthropic-ai/claude-code@{VERSION}"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert CLI.exists(), f"the npm package did not install {CLI}"
    return CLI


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    with StubUpstream({"POST /v1/chat/completions": _script}) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def base(stub: StubUpstream) -> Iterator[str]:
    config = f"""
[server]
api_keys = ["claude-code-gateway-key"]

[providers.up]
plugin = "openai"
base_url = "{stub.url}/v1"
api_key = "upstream-key"

[models."claude-*"]
target = "up/stub"

[routing]
retries = 0
"""
    with running_gateway(config) as url:
        yield url


def test_claude_code_answers_through_hexgate_with_a_tool_turn(
    claude: Path, base: str, stub: StubUpstream, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base,
        "ANTHROPIC_API_KEY": "claude-code-gateway-key",
        "ANTHROPIC_MODEL": "claude-sonnet-4-5",
        "ANTHROPIC_SMALL_FAST_MODEL": "claude-haiku-4-5",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    run = subprocess.run(
        ["node", str(claude), "-p", "Run `echo hi` with Bash and tell me what it printed.",
         "--allowedTools", "Bash(echo:*)", "--output-format", "json"],
        env=env, cwd=home, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:] or run.stdout[-3000:]
    result = json.loads(run.stdout)
    assert result["is_error"] is False and result["result"] == "The command printed: hi"
    assert result["num_turns"] == 2
    turns = [r.json() for r in stub.requests if r.json().get("tools")]
    assert [m["role"] for m in turns[-1]["messages"]][-2:] == ["assistant", "tool"]
    assert turns[-1]["messages"][-1]["content"].strip() == "hi"  # Bash really ran, and its output came back
