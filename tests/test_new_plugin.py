"""The out-of-tree plugin story, end to end: ``hexgate new-plugin`` writes a distribution, it builds
into a wheel, installs into another virtual environment that has hexgate, ``hexgate plugins`` lists
it, a gateway serves a config that uses it and the official ``openai`` client chats with it. The
generated code also passes its own tests, ruff and ``mypy --strict`` as written.

The fresh venv sees this environment's packages through a ``.pth`` file (hexgate and its locked
dependencies, no network); the new plugin is installed into the fresh venv only, ``--no-deps``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from hexgate.scaffold import ScaffoldError, names, write_plugin
from hexgate.testing import Reply, StubUpstream, free_port, running_process

pytestmark = pytest.mark.e2e

UV = shutil.which("uv")


def run(*cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("new-plugin")
    run(sys.executable, "-m", "hexgate.cli", "new-plugin", "acme-ai", "--dir", str(out))
    return out / "hexgate-acme-ai"


@pytest.fixture(scope="module")
def venv(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if UV is None:
        pytest.skip("uv is not installed")
    root = tmp_path_factory.mktemp("venv") / "v"
    dist = generated.parent / "dist"
    run(UV, "build", "--wheel", "--offline", "-o", str(dist), str(generated))
    (wheel,) = dist.glob("hexgate_acme_ai-0.1.0-*.whl")
    run(UV, "venv", "--offline", "--python", sys.executable, str(root))
    python = root / "bin" / "python"
    site = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    (Path(site) / "hexgate-dev.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(UV, "pip", "install", "--offline", "--no-deps", "--python", str(python), str(wheel))
    yield python


def test_layout(generated: Path) -> None:
    files = {p.relative_to(generated).as_posix() for p in generated.rglob("*") if p.is_file()}
    for room in ("provider.py", "translate.py", "wire.py", "settings.py", "__init__.py", "py.typed"):
        assert f"hexgate_acme_ai/{room}" in files
    assert {"pyproject.toml", "README.md", "tests/conftest.py", "tests/test_conformance.py"} <= files
    pyproject = (generated / "pyproject.toml").read_text()
    assert '[project.entry-points."hexgate.providers"]\nacme-ai = "hexgate_acme_ai:AcmeAiProvider"' in pyproject
    assert "| `base_url` |" in (generated / "README.md").read_text()


def test_bad_names_and_existing_dirs(tmp_path: Path) -> None:
    for bad in ("Acme", "1x", "a b", "", "x--y"):
        with pytest.raises(ScaffoldError):
            names(bad)
    write_plugin("twice", tmp_path)
    with pytest.raises(ScaffoldError, match="already exists"):
        write_plugin("twice", tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "hexgate.cli", "new-plugin", "twice", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "already exists" in done.stderr


def test_generated_code_passes_ruff_and_mypy(generated: Path) -> None:
    bin_dir = Path(sys.executable).parent
    run(str(bin_dir / "ruff"), "check", ".", cwd=generated)
    run(str(bin_dir / "ruff"), "format", "--check", ".", cwd=generated)
    env = {**os.environ, "PYTHONPATH": str(generated)}
    run(sys.executable, "-m", "mypy", "--strict", "hexgate_acme_ai", "tests", cwd=generated, env=env)


def test_generated_tests_pass(generated: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(generated)}
    out = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=generated, env=env)
    assert " passed" in out and "failed" not in out


def test_installed_plugin_is_listed_served_and_chats(venv: Path) -> None:
    listed = run(str(venv), "-m", "hexgate.cli", "plugins")
    assert any(line.split()[:2] == ["acme-ai", "hexgate-acme-ai"] for line in listed.splitlines()), listed
    answer = {
        "id": "1",
        "output": "hi from acme",
        "stop_reason": "end",
        "usage": {"input_tokens": 2, "output_tokens": 3},
    }
    with StubUpstream({"POST /generate": Reply(200, json.dumps(answer).encode())}) as stub:
        config = (
            f'[providers.acme]\nplugin = "acme-ai"\nbase_url = "{stub.url}"\napi_key = "sk-acme-0123456789"\n'
            'models = ["small"]\n'
        )
        path = venv.parent.parent / "config.toml"
        path.write_text(config)
        port = free_port()
        cmd = [
            str(venv),
            "-m",
            "hexgate.cli",
            "serve",
            "--config",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        env = {k: v for k, v in os.environ.items() if k not in ("HEXGATE_CONFIG", "PYTHONPATH")}
        with running_process(cmd, ready_url=f"http://127.0.0.1:{port}/health", env=env, name="hexgate"):
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=30)
            with client:
                assert "acme/small" in {m.id for m in client.models.list()}
                reply = client.chat.completions.create(model="acme/small", messages=[{"role": "user", "content": "hi"}])
                assert reply.choices[0].message.content == "hi from acme"
                assert reply.usage is not None and reply.usage.total_tokens == 5
                text = "".join(
                    c.choices[0].delta.content or ""
                    for c in client.chat.completions.create(
                        model="acme/small", messages=[{"role": "user", "content": "hi"}], stream=True
                    )
                    if c.choices
                )
                assert text == "hi from acme"
        sent = stub.requests[0]
        assert sent.headers["authorization"] == "Bearer sk-acme-0123456789"
        assert sent.json()["messages"] == [{"role": "user", "content": "hi"}]
