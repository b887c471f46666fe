"""Plugin discovery with fake distributions on sys.path: allowlist, autoload switch, duplicates,
broken plugins, protocol versions, and the start-up error ``hexgate serve`` prints for them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hexgate.plugins import PluginError, discover, load_factory
from hexgate.protocol import PROTOCOL_VERSION

ECHO_LIKE = """
from hexgate_echo import EchoProvider as _Echo

class Provider(_Echo):
    protocol_version = {version}
"""


def fake_dist(root: Path, dist: str, entry: str, module: str, source: str) -> None:
    """A minimal installed distribution: a dist-info with an entry point, and its module."""
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[hexgate.providers]\n{entry} = {module}:Provider\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    fake_dist(tmp_path, "hexgate-fake-good", "fakegood", "fake_good", ECHO_LIKE.format(version=PROTOCOL_VERSION))
    fake_dist(tmp_path, "hexgate-fake-broken", "fakebroken", "fake_broken", "raise ImportError('no libfoo.so here')\n")
    fake_dist(tmp_path, "hexgate-fake-dup-a", "fakedup", "fake_dup_a", ECHO_LIKE.format(version=PROTOCOL_VERSION))
    fake_dist(tmp_path, "hexgate-fake-dup-b", "fakedup", "fake_dup_b", ECHO_LIKE.format(version=PROTOCOL_VERSION))
    fake_dist(tmp_path, "hexgate-fake-old", "fakeold", "fake_old", ECHO_LIKE.format(version=PROTOCOL_VERSION + 41))
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("fake_good", "fake_broken", "fake_dup_a", "fake_dup_b", "fake_old"):
            sys.modules.pop(name, None)


def test_discover_lists_distribution_version_and_value_without_importing(site: Path) -> None:
    found = {(p.name, p.distribution) for p in discover({})}
    assert ("fakegood", "hexgate-fake-good") in found
    assert ("fakebroken", "hexgate-fake-broken") in found  # listed, not imported
    assert ("echo", "hexgate-echo") in found
    good = next(p for p in discover({}) if p.name == "fakegood")
    assert (good.version, good.value) == ("1.2.3", "fake_good:Provider")
    assert "fake_broken" not in sys.modules


def test_load_a_good_plugin(site: Path) -> None:
    factory = load_factory("fakegood", {})
    assert factory.protocol_version == PROTOCOL_VERSION


def test_allowlist_hides_other_plugins(site: Path) -> None:
    env = {"HEXGATE_PLUGINS": "fakegood, echo"}
    assert {p.name for p in discover(env)} == {"fakegood", "echo"}
    with pytest.raises(PluginError, match="no plugin named 'fakebroken'"):
        load_factory("fakebroken", env)


def test_autoload_switch_disables_entry_points_but_not_import_paths(site: Path) -> None:
    env = {"HEXGATE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    assert discover(env) == []
    with pytest.raises(PluginError, match="HEXGATE_DISABLE_PLUGIN_AUTOLOAD"):
        load_factory("fakegood", env)
    assert load_factory("fake_good:Provider", env) is not None


def test_duplicate_names_the_distributions(site: Path) -> None:
    with pytest.raises(PluginError) as info:
        load_factory("fakedup", {})
    assert "hexgate-fake-dup-a" in str(info.value) and "hexgate-fake-dup-b" in str(info.value)


def test_broken_plugin_says_what_failed(site: Path) -> None:
    with pytest.raises(PluginError) as info:
        load_factory("fakebroken", {})
    message = str(info.value)
    assert "hexgate-fake-broken 1.2.3" in message and "no libfoo.so here" in message


def test_plugin_for_another_protocol_is_refused(site: Path) -> None:
    with pytest.raises(PluginError, match=f"protocol {PROTOCOL_VERSION + 41}"):
        load_factory("fakeold", {})


@pytest.mark.parametrize(
    ("plugin", "expected"),
    [
        ("fakebroken", "failed to import: ImportError: no libfoo.so here"),
        ("fakedup", "claimed by several distributions"),
        ("nosuchplugin", "no plugin named 'nosuchplugin' is installed"),
    ],
)
def test_serve_refuses_to_start_with_a_clear_error(site: Path, tmp_path: Path, plugin: str, expected: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f'[providers.p]\nplugin = "{plugin}"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "hexgate.cli", "serve", "--config", str(config), "--port", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert f"{config}: providers.p.plugin: " in proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unused_broken_plugin_does_not_matter(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "ok.toml"
    config.write_text('[providers.e]\nplugin = "echo"\n[providers.g]\nplugin = "fakegood"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "hexgate.cli", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "provider e: ok, 1 model(s)" in proc.stdout
    assert "provider g: ok" in proc.stdout
