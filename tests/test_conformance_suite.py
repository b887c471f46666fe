"""The conformance suite catches what it names: a provider whose stream finishes twice and whose
auth error leaks its credential runs through it (pytest in a subprocess, ``--hexgate-matrix``) and
exactly those checks fail, a declared-unsupported feature is skipped with its reason, the rest pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MODULE = '''
from collections.abc import AsyncIterator

import pytest
from hexgate_echo import EchoProvider

from hexgate.errors import UpstreamAuthError
from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported, untested

SECRET = "letmein-conformance-secret"


class Broken(EchoProvider):
    """Echo whose stream finishes twice and whose auth error repeats the credential."""

    async def chat(self, request, ctx):
        if request.messages[-1].text() == "!leak":
            raise UpstreamAuthError(f"upstream refused {SECRET}")
        return await super().chat(request, ctx)

    async def stream_chat(self, request, ctx) -> AsyncIterator:
        chunk = None
        async for chunk in super().stream_chat(request, ctx):
            yield chunk
        yield chunk  # the finishing chunk twice


def arrange(feature):
    if feature in ("chat", "stream"):
        return Scenario(prompt="hello there")
    if feature == "error_401":
        return Scenario(prompt="!leak")
    if feature == "embeddings":
        return unsupported("no vectors here")
    return untested("not part of this check")


@pytest.fixture(scope="module")
def hexgate_target():
    return Target(name="broken", factory=Broken, settings={}, model="echo", arrange=arrange, secret=SECRET)


class TestConformance(Conformance):
    pass
'''


def test_the_suite_fails_what_is_broken_and_skips_what_is_declared(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["hexgate.testing.conformance"]\n')
    (tmp_path / "test_broken.py").write_text(MODULE)
    results = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            f"--hexgate-matrix={results}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    outcomes = {(r["test"], r["outcome"], r["status"], r["detail"]) for r in json.loads(results.read_text())["results"]}
    assert ("test_chat", "passed", "", "") in outcomes
    assert ("test_stream", "failed", "", "") in outcomes  # two finish_reasons
    assert ("test_stream_done", "passed", "", "") in outcomes  # [DONE] still comes last
    assert ("test_error_auth[401]", "failed", "", "") in outcomes  # the credential in the error body
    assert ("test_secrets", "failed", "", "") in outcomes
    assert ("test_embeddings[float]", "skipped", "unsupported", "no vectors here") in outcomes
    assert ("test_error_auth[403]", "skipped", "untested", "not part of this check") in outcomes
    assert "one finish_reason expected" in done.stdout
