"""Provider plugin discovery through the ``hexgate.providers`` entry-point group.

Switches (environment):

- ``HEXGATE_PLUGINS=a,b``: an allowlist; entry points with other names are not loaded.
- ``HEXGATE_DISABLE_PLUGIN_AUTOLOAD=1``: entry points are not scanned at all; a provider
  table can still name its factory by import path, ``plugin = "package.module:Factory"``.

Entry points are listed without importing them (``hexgate plugins``); a plugin is
imported only when a ``[providers.*]`` table uses it, so a broken plugin that no
config uses cannot stop the gateway.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points

import msgspec

from hexgate.protocol import PROTOCOL_VERSION, ProviderFactory

__all__ = ["GROUP", "PluginError", "PluginInfo", "discover", "load_factory"]

GROUP = "hexgate.providers"


class PluginError(Exception):
    """A plugin that config uses cannot be loaded: missing, duplicated, broken or for another protocol."""


class PluginInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    """The entry point name, what ``plugin = "..."`` refers to."""
    value: str
    """``module:attr`` the entry point loads."""
    distribution: str
    version: str


def _allowlist(env: Mapping[str, str]) -> set[str] | None:
    raw = env.get("HEXGATE_PLUGINS", "").strip()
    return {n.strip() for n in raw.split(",") if n.strip()} if raw else None


def _autoload(env: Mapping[str, str]) -> bool:
    return env.get("HEXGATE_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() not in {"1", "true", "yes"}


def _entry_points(env: Mapping[str, str]) -> list[EntryPoint]:
    if not _autoload(env):
        return []
    allowed = _allowlist(env)
    return [ep for ep in entry_points(group=GROUP) if allowed is None or ep.name in allowed]


def _info(ep: EntryPoint) -> PluginInfo:
    dist = ep.dist
    return PluginInfo(
        name=ep.name,
        value=ep.value,
        distribution=dist.name if dist is not None else "?",
        version=dist.version if dist is not None else "?",
    )


def discover(env: Mapping[str, str] | None = None) -> list[PluginInfo]:
    """Every visible plugin, sorted by name, without importing any of them."""
    env = os.environ if env is None else env
    return sorted((_info(ep) for ep in _entry_points(env)), key=lambda p: (p.name, p.distribution))


def load_factory(name: str, env: Mapping[str, str] | None = None) -> ProviderFactory:
    """Import the factory that ``plugin = name`` refers to. Raises :class:`PluginError`."""
    env = os.environ if env is None else env
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"plugin {name!r} cannot be imported: {exc}") from exc
        return _checked(name, factory)
    matches = [ep for ep in _entry_points(env) if ep.name == name]
    if not matches:
        known = sorted({p.name for p in discover(env)})
        why = "" if _autoload(env) else " (HEXGATE_DISABLE_PLUGIN_AUTOLOAD is set)"
        raise PluginError(f"no plugin named {name!r} is installed{why}; installed: {known or 'none'}")
    if len(matches) > 1:
        owners = ", ".join(f"{i.distribution} {i.version} ({i.value})" for i in map(_info, matches))
        raise PluginError(f"plugin name {name!r} is claimed by several distributions: {owners}; uninstall one")
    ep = matches[0]
    try:
        factory = ep.load()
    except Exception as exc:
        info = _info(ep)
        raise PluginError(
            f"plugin {name!r} ({info.distribution} {info.version}, {info.value}) failed to import: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return _checked(name, factory)


def _checked(name: str, factory: object) -> ProviderFactory:
    if not callable(factory):
        raise PluginError(f"plugin {name!r} does not name a callable provider factory")
    version = getattr(factory, "protocol_version", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise PluginError(
            f"plugin {name!r} was built for hexgate plugin protocol {version}; this hexgate speaks {PROTOCOL_VERSION}"
        )
    return factory  # type: ignore[return-value,unused-ignore]
