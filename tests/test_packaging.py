"""Packaging: the README's pip route from a checkout, end to end.

``scripts/build-wheels`` builds every workspace wheel (the core and the nine plugins); the README's pip
command installs ``hexgate[all]`` from those files into a clean virtualenv; the installed ``hexgate``
lists all nine plugins and serves the official ``openai`` client through the echo provider.

The public index's ``hexgate`` is an unrelated project, so the test also checks that pip took every
``hexgate`` distribution from our files (``direct_url.json`` names the wheel in ``dist/``) and none from
an index.

Cost: third-party packages (torch, transformers, gradio, llama-cpp-python, …) are put into the venv first
with uv, at requirements.lock's versions, from uv's cache (offline; the registry only when the cache
lacks something); the README's pip command then resolves ``hexgate[all]`` against them and installs our
ten wheels, fetching nothing. Seconds to a minute or two with what scripts/test left in uv's cache;
several minutes more when llama-cpp-python has to compile.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from hexgate.testing import free_port, running_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2700)]

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = {"local", "openai", "echo", "anthropic", "gemini", "hexin", "gradio", "puter", "huggingface"}
# The README's pip command, run verbatim from the folder holding dist/ (the test checks the README has it).
README_INSTALL = 'pip install "$(echo dist/hexgate-*.whl)[all]" dist/hexgate_*.whl'


def _cpu_torch_folders() -> list[Path]:
    """The folders offered to pip and uv that hold PyTorch's CPU wheel, as scripts/test finds them:
    ``HEXGATE_WHEELS``, else the machine's own ``PIP_FIND_LINKS`` (space-separated). None elsewhere: then
    the registry's torch of the same version."""
    listed = os.environ.get("HEXGATE_WHEELS") or os.environ.get("PIP_FIND_LINKS", "")
    return [Path(p) for p in listed.split() if Path(p).is_dir() and any(Path(p).glob("torch-*+cpu-*.whl"))]


WHEELS = _cpu_torch_folders()


def _run(cmd: list[str] | str, *, cwd: Path, env: dict[str, str] | None = None, timeout: float) -> str:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        shell=isinstance(cmd, str),
        executable="/bin/bash" if isinstance(cmd, str) else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{cmd!r} exited with {proc.returncode}:\n{proc.stdout[-6000:]}"
    return proc.stdout


def _constraints(path: Path) -> Path:
    """requirements.lock without hashes and comments, as a constraints file; PyTorch's CPU pin only
    where its wheel folder exists (elsewhere the registry's torch of the same version)."""
    lines = []
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip().removesuffix("\\").strip()
        if not line or line.startswith("--"):
            continue
        if not WHEELS:
            line = re.sub(r"^torch==([^ ;+]+)\+cpu", r"torch==\1", line)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clean virtualenv with ``hexgate[all]`` installed from freshly built wheels by the README's route."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build the wheels and pre-install third-party packages")
    checkout = tmp_path_factory.mktemp("checkout")
    dist = checkout / "dist"
    out = _run(["bash", str(ROOT / "scripts" / "build-wheels"), str(dist)], cwd=ROOT, timeout=600)
    built = {p.name.split("-")[0] for p in dist.glob("*.whl")}
    assert built == {"hexgate"} | {f"hexgate_{p}" for p in PLUGINS}, out

    venv = checkout / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=checkout, timeout=120)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "HEXGATE_CONFIG")}
    env["CMAKE_ARGS"] = "-DGGML_NATIVE=OFF"  # the README's build flag (for a llama-cpp-python not cached yet)

    # Third-party packages at the lock's versions, through uv's cache (run from the checkout so that its
    # [tool.uv] build settings apply); then our own distributions are removed again.
    links = [arg for folder in WHEELS for arg in ("--find-links", str(folder))]
    core = next(dist.glob("hexgate-*.whl"))
    ours = [f"hexgate[all] @ {core.as_uri()}", *(p.as_uri() for p in dist.glob("hexgate_*.whl"))]
    constraints = _constraints(checkout / "constraints.txt")
    # Offline first: uv's cache holds what scripts/test installed (llama-cpp-python's portable build among
    # them); the registry only when something is missing (then llama-cpp-python may compile, minutes).
    env["UV_LOCK_TIMEOUT"] = "1500"  # another uv process may be building into the same cache
    install = [uv, "pip", "install", "-q", "--python", python, *links, "-c", str(constraints), *ours]
    try:
        _run([*install, "--offline"], cwd=ROOT, env=env, timeout=600)
    except AssertionError:
        _run(install, cwd=ROOT, env=env, timeout=1500)
    names = ["hexgate", *(f"hexgate-{p}" for p in sorted(PLUGINS))]
    _run([uv, "pip", "uninstall", "-q", "--python", python, *names], cwd=ROOT, env=env, timeout=120)

    # The README's command, verbatim, with the venv's pip first on PATH (as after `. venv/bin/activate`).
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    if WHEELS:
        env["PIP_FIND_LINKS"] = " ".join(map(str, WHEELS))
    _run(README_INSTALL, cwd=checkout, env=env, timeout=900)
    yield venv


def test_readme_names_the_tested_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert README_INSTALL in readme
    assert "pip install 'hexgate[all]'" not in readme
    assert "pip install 'hexgate[ops]'" not in readme


def test_every_hexgate_distribution_comes_from_our_wheels(venv: Path) -> None:
    report = json.loads(_run([str(venv / "bin" / "python"), "-m", "pip", "inspect"], cwd=venv, timeout=120))
    ours = {
        d["metadata"]["name"].lower().replace("_", "-"): d
        for d in report["installed"]
        if d["metadata"]["name"].lower().replace("_", "-").startswith("hexgate")
    }
    assert set(ours) == {"hexgate"} | {f"hexgate-{p}" for p in PLUGINS}
    for name, dist in ours.items():
        assert dist["installer"] == "pip", name
        url = dist.get("direct_url", {}).get("url", "")
        assert url.startswith("file://") and "/dist/" in url and url.endswith(".whl"), (name, url)
    _run([str(venv / "bin" / "python"), "-m", "pip", "check"], cwd=venv, timeout=120)


def test_hexgate_plugins_lists_all_nine(venv: Path) -> None:
    out = _run([str(venv / "bin" / "hexgate"), "plugins"], cwd=venv, timeout=300)
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert listed == PLUGINS, out


def test_installed_gateway_answers_the_openai_client(venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[providers.echo]\nplugin = "echo"\n')
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "HEXGATE_", "PYTHONPATH"))}
    cmd = [str(venv / "bin" / "hexgate"), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with (
        running_process(cmd, ready_url=f"http://127.0.0.1:{port}/health", env=env, timeout=180, name="hexgate"),
        OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=60) as client,
    ):
        reply = client.chat.completions.create(
            model="echo/echo", messages=[{"role": "user", "content": "packaged and running"}]
        )
        assert reply.choices[0].message.content == "packaged and running"
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in client.chat.completions.create(
                model="echo/echo", messages=[{"role": "user", "content": "one two three"}], stream=True
            )
            if chunk.choices
        )
        assert streamed == "one two three"


def test_llama_cpp_is_the_portable_build(venv: Path) -> None:
    """GGML_NATIVE=OFF (pyproject's ``extra-build-variables``, the README's ``CMAKE_ARGS``) reached the
    llama.cpp build: its CPU features are the portable x86-64 set, no AVX-512 or AMX even where the CPU
    has them (a native build on such a CPU lists them, and its AMX path crashed the gateway)."""
    script = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    info = _run([str(venv / "bin" / "python"), "-c", script], cwd=venv, timeout=120)
    features = dict(re.findall(r"(\w+) = (\d+)", info))
    assert features.get("AVX2") == "1" or "NEON" in features, info
    native = [name for name, on in features.items() if name.startswith(("AVX512", "AMX")) and on == "1"]
    assert not native, info
