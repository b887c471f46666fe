"""``config.toml`` → Structs, with ``${ENV}`` interpolation; errors name the file and the key path.

Shape (see the commented ``config.toml`` at the repository root)::

    [server]            host, port, api_keys, cors_origins, request_timeout, max_body_size
    [providers.<id>]    plugin = "<entry point name>" (or "module:Factory") + the plugin's own settings
    [models.<alias>]    target = "<provider id>/<upstream model>"

A string value may hold ``${VAR}`` (an error when VAR is unset) or ``${VAR:-default}``.
With no file at all, :func:`default_settings` serves the embedded ``local`` provider.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

__all__ = [
    "ConfigError",
    "ModelAlias",
    "ProviderTable",
    "ServerSettings",
    "Settings",
    "default_settings",
    "load_settings",
    "path_of",
]


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the key path."""


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = msgspec.field(default_factory=list)
    """Bearer keys clients must send; empty means no gateway auth. ``HEXGATE_API_KEYS`` (comma-separated) adds more."""
    cors_origins: list[str] = msgspec.field(default_factory=list)
    """Origins allowed to call from a browser; ``["*"]`` for any."""
    request_timeout: float = 600.0
    """Seconds one upstream call may take in total."""
    max_body_size: int = 16 * 1024 * 1024
    """Largest request body accepted, in bytes (413 above)."""


class ProviderTable(msgspec.Struct, kw_only=True):
    """A ``[providers.<id>]`` table: the plugin that serves it and that plugin's own settings."""

    plugin: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class ModelAlias(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A ``[models.<alias>]`` table: a short name for ``<provider id>/<upstream model>``."""

    target: str
    description: str | None = None


class Settings(msgspec.Struct, kw_only=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    providers: dict[str, ProviderTable] = msgspec.field(default_factory=dict)
    models: dict[str, ModelAlias] = msgspec.field(default_factory=dict)
    source: str = "<defaults>"
    """Where these settings came from: a file path, or ``<defaults>``."""


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, path: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{path}: environment variable {name} is not set (write ${{{name}:-}} to allow empty)")

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else k, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    return value


def path_of(error: msgspec.ValidationError, prefix: str = "") -> str:
    """Turn msgspec's ``... - at `$.server.port``` into ``server.port: ...``."""
    text = str(error)
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        return f"{prefix}: {text}" if prefix else text
    where = where.rstrip("`").removeprefix("$").lstrip(".")
    full = ".".join(p for p in (prefix, where) if p)
    return f"{full}: {message}" if full else message


def _build(raw: Mapping[str, Any], source: str, env: Mapping[str, str]) -> Settings:
    try:
        data = _interpolate(dict(raw), "", env)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    unknown = set(data) - {"server", "providers", "models"}
    if unknown:
        raise ConfigError(f"{source}: unknown top-level table(s) {sorted(unknown)}; known: server, providers, models")
    providers: dict[str, ProviderTable] = {}
    for pid, table in (data.get("providers") or {}).items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: providers.{pid}: expected a table")
        if "/" in pid:
            raise ConfigError(f"{source}: providers.{pid}: a provider id may not contain '/'")
        rest = dict(table)
        plugin = rest.pop("plugin", None)
        if not isinstance(plugin, str) or not plugin:
            raise ConfigError(f"{source}: providers.{pid}.plugin: required, the plugin's entry point name")
        providers[pid] = ProviderTable(plugin=plugin, settings=rest)
    try:
        server = msgspec.convert(data.get("server") or {}, ServerSettings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {path_of(exc, 'server')}") from None
    try:
        models = msgspec.convert(data.get("models") or {}, dict[str, ModelAlias])
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {path_of(exc, 'models')}") from None
    extra_keys = [k for k in os.environ.get("HEXGATE_API_KEYS", "").split(",") if k.strip()]
    server.api_keys = [k for k in [*server.api_keys, *extra_keys] if k]
    for alias, entry in models.items():
        pid, sep, _ = entry.target.partition("/")
        if not sep or pid not in providers:
            raise ConfigError(
                f"{source}: models.{alias}.target: {entry.target!r} must be '<provider id>/<model>' "
                f"with a configured provider; known providers: {sorted(providers)}"
            )
    return Settings(server=server, providers=providers, models=models, source=source)


def load_settings(path: str | os.PathLike[str] | None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (or :func:`default_settings` when None). Raises :class:`ConfigError`."""
    env = os.environ if env is None else env
    if path is None:
        return default_settings(env=env)
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return _build(raw, str(file), env)


def default_settings(*, env: Mapping[str, str] | None = None) -> Settings:
    """No config file: the embedded ``local`` provider alone."""
    return _build({"providers": {"local": {"plugin": "local"}}}, "<defaults>", os.environ if env is None else env)
