"""``docs/providers.md`` is what the conformance suite saw: regenerated from this run's results
and compared. In a full run (every ``plugins/*/tests/test_conformance.py`` collected) this test
runs last and reads the session's own results, at no extra cost; otherwise it runs those modules
in a subprocess first. Also: the renderer's cells, and ``python -m hexgate.testing.matrix``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hexgate.testing import conformance
from hexgate.testing.conformance import Conformance
from hexgate.testing.matrix import cell, main, render

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "providers.md"
MODULES = sorted(ROOT.glob("plugins/*/tests/test_conformance.py"))
REGENERATE = "regenerate it: see the commands at the top of docs/providers.md"


def _results_of_this_run(session: pytest.Session) -> list[dict[str, str]] | None:
    """This session's results when it collected every conformance module and ran all their checks."""
    ran = {
        Path(str(item.path)).resolve()
        for item in session.items
        if isinstance(item, pytest.Function) and item.cls is not None and issubclass(item.cls, Conformance)
    }
    if ran != {m.resolve() for m in MODULES}:
        return None
    checks = sum(
        1 for i in session.items if isinstance(i, pytest.Function) and i.cls and issubclass(i.cls, Conformance)
    )
    return list(conformance.RESULTS) if len(conformance.RESULTS) >= checks else None


@conformance.run_last
def test_providers_md_is_current(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    results = _results_of_this_run(request.session)
    if results is None:
        out = tmp_path / "results.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--hexgate-matrix={out}",
                *map(str, MODULES),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.exists(), f"the conformance run wrote no results:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        results = json.loads(out.read_text())["results"]
    assert {r["provider"] for r in results} >= {m.parent.parent.name.removeprefix("hexgate-") for m in MODULES}
    assert PAGE.read_text(encoding="utf-8") == render(results), f"docs/providers.md is stale; {REGENERATE}"


def r(outcome: str, status: str = "", detail: str = "", test: str = "t") -> dict[str, str]:
    return {"provider": "p", "feature": "chat", "outcome": outcome, "status": status, "detail": detail, "test": test}


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([r("passed")], "passes"),
        ([r("passed", "emulated", "one call, three chunks")], "emulated (one call, three chunks)"),
        ([r("skipped", "unsupported", "no such API")], "unsupported (no such API)"),
        ([r("skipped", "untested", "no stub case")], "not tested (no stub case)"),
        ([r("passed"), r("failed", detail="known bug")], "FAILS (known bug)"),
        ([r("passed"), r("failed")], "FAILS"),
        ([r("passed"), r("skipped", "untested", "no case", "t[503]")], "passes in part (not run: t[503]: no case)"),
        ([], "—"),
    ],
)
def test_cells(results: list[dict[str, str]], expected: str) -> None:
    assert cell(results) == expected


def test_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "results.json"
    source.write_text(json.dumps({"results": [r("passed")]}))
    page = tmp_path / "providers.md"
    assert main([str(source), "--output", str(page), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert main([str(source), "--output", str(page)]) == 0
    assert "| chat completion | passes |" in page.read_text()
    source.write_text(json.dumps({"results": [r("skipped", "unsupported", "no such API")]}))
    assert main([str(source), "--output", str(page)]) == 0
    assert "| chat completion | unsupported [1] |" in page.read_text()
    assert "\n1. no such API\n" in page.read_text()
    assert main([str(source), "--output", str(page), "--check"]) == 0
