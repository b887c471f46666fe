"""config.toml loading: interpolation, defaults, and errors that name the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from hexgate.settings import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_serves_the_embedded_local_provider() -> None:
    settings = load_settings(None, env={})
    assert list(settings.providers) == ["local"]
    assert settings.providers["local"].plugin == "local"
    assert settings.source == "<defaults>"


def test_env_interpolation_and_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
api_keys = ["${GATEWAY_KEY}"]
[providers.up]
plugin = "openai"
base_url = "${UP_URL:-http://127.0.0.1:9/v1}"
api_key = "${UP_KEY}"
[models.fast]
target = "up/some/model:tag"
""",
    )
    settings = load_settings(path, env={"GATEWAY_KEY": "gw-1", "UP_KEY": "k-123"})
    assert settings.server.api_keys == ["gw-1"]
    assert settings.providers["up"].settings == {"base_url": "http://127.0.0.1:9/v1", "api_key": "k-123"}
    assert settings.models["fast"].target == "up/some/model:tag"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nport = 'eighty'\n", "server.port: Expected `int`, got `str`"),
        ("[server]\nprot = 1\n", "server: Object contains unknown field `prot`"),
        ("[providers.up]\nbase_url = 'x'\n", "providers.up.plugin: required"),
        ("[providers.up]\nplugin = 'echo'\n[models.a]\ntarget = 'nope/m'\n", "models.a.target"),
        ("[providers.up]\nplugin = 'echo'\napi_key = '${MISSING_VAR}'\n", "providers.up.api_key: environment variable"),
        ("[sever]\nport = 1\n", "unknown top-level table"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_key_path(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "absent.toml", env={})


def test_static_keys_come_from_the_env_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEXGATE_API_KEYS", "from-process")
    path = write(tmp_path, "[server]\napi_keys = ['in-file']\n")
    assert load_settings(path, env={"HEXGATE_API_KEYS": "a, ,b"}).server.api_keys == ["in-file", "a", "b"]
    assert load_settings(path, env={}).server.api_keys == ["in-file"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[providers.up]\nplugin = 'echo'\ntimeouts = { idle = 'x' }\n", "providers.up.timeouts.idle: Expected"),
        ("models = 3\n", "models: expected a table of [models.<alias>] tables"),
        ("[prices.nothing]\ninput = 1.0\n", "prices.nothing: name a '<provider id>/<model>'"),
        ("[telemetry]\nnope = 1\n", "telemetry: Object contains unknown field `nope`"),
    ],
)
def test_each_table_names_its_faulty_place(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env={})
    assert expected in str(info.value)
