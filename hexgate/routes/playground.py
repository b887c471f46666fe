"""The web playground and its status route.

- ``GET /`` (in :mod:`hexgate.routes.meta`) answers a browser (``Accept: text/html``) with the
  playground page, :func:`playground_page`; API clients keep getting the JSON service info.
- ``GET /playground/{path}``: the page's static files, shipped inside the package
  (``hexgate/static/``; marked, DOMPurify and uPlot vendored with their licences), open without a
  gateway key like ``/`` itself; anything not in that folder is a 404.
- Both answer with :data:`CONTENT_SECURITY_POLICY`: the page runs only its own scripts and styles
  (no inline ones), loads images only from itself, ``data:`` and ``blob:`` (a Markdown image in a
  model's answer cannot make the browser call another host, which would leak the conversation in
  its URL), connects only to this gateway, and cannot be framed (``frame-ancestors 'none'``).
  The operator's console (Keys, Usage, Live tabs) is part of the same page; its data comes from
  the admin API (:mod:`hexgate.ops.admin`), which checks the admin key itself.
- ``GET /providers``: each configured provider, the plugin serving it and whether its model list
  answers now (a live ``list_models`` call, 10 s at most), the state of its model worker processes,
  and every installed plugin. Settings and keys are never shown; a failure is described by hexgate's
  own error message or the exception's class name only.
"""

from __future__ import annotations

import asyncio
import functools
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from hexgate import __version__
from hexgate.errors import HexgateError, envelope
from hexgate.keypool import KeyState
from hexgate.plugins import PluginInfo, discover
from hexgate.protocol import Provider, WorkerProvider, WorkerStatus
from hexgate.registry import Registry
from hexgate.routes._common import json_response

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PLAYGROUND_PATH",
    "ProviderStatus",
    "ProvidersReport",
    "playground_asset",
    "playground_page",
    "providers_report",
    "providers_status",
]

PLAYGROUND_PATH = "/playground"
"""URL prefix of the playground's static files (open without a gateway key)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""The playground's Content-Security-Policy (CSP Level 3)."""
_SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}

_LIST_TIMEOUT = 10.0
_MEDIA_TYPES = {  # Litestar appends "; charset=utf-8" to text types
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def _static_root() -> Traversable:
    return resources.files("hexgate").joinpath("static")


def _walk(folder: Traversable, prefix: str) -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, f"{name}/"))
        elif entry.is_file():
            found[name] = entry
    return found


@functools.cache
def _assets() -> dict[str, Traversable]:
    """Every file under ``hexgate/static`` by its relative POSIX path, listed once."""
    return _walk(_static_root(), "")


@functools.cache
def _read(name: str) -> bytes:
    return _assets()[name].read_bytes()


def _media_type(name: str) -> str:
    suffix = name[name.rfind(".") :] if "." in name else ""
    return _MEDIA_TYPES.get(suffix, "text/plain")


def playground_page() -> Response[bytes]:
    """The playground's HTML (``hexgate/static/index.html``), not cached by browsers so an upgrade
    shows at once; its assets are fetched from :data:`PLAYGROUND_PATH`."""
    return Response(
        content=_read("index.html"),
        media_type=_MEDIA_TYPES[".html"],
        headers={"cache-control": "no-cache", "vary": "accept", **_SECURITY_HEADERS},
    )


@get(f"{PLAYGROUND_PATH}/{{path:path}}", summary="Playground static file", include_in_schema=False)
async def playground_asset(path: FromPath[str]) -> Response[bytes]:
    """A file of the playground; 404 (OpenAI's envelope) for a name not shipped in the package."""
    name = path.lstrip("/")
    if name not in _assets():
        return json_response(
            envelope(f"no playground file {name!r}", type="invalid_request_error", code="not_found"), status=404
        )
    return Response(
        content=_read(name),
        media_type=_media_type(name),
        headers={"cache-control": "no-cache", **_SECURITY_HEADERS},
    )


class ProviderStatus(msgspec.Struct, kw_only=True):
    id: str
    """The provider id, the prefix of its model names."""
    plugin: str
    """The ``plugin = "..."`` value: an entry-point name, or ``module:Factory``."""
    distribution: str | None
    version: str | None
    ok: bool
    """Whether ``list_models`` answered within 10 s."""
    models: int | None
    """How many models it lists (None when the list failed)."""
    error: str | None
    workers: list[WorkerStatus]
    """Its model worker processes (state, pid, restarts, last exit); empty for a provider without any."""
    keys: list[KeyState] | None = None
    """The upstream key pool, per key (``…`` + its last 4 characters, state, cooldown seconds,
    requests); None when the provider has no pool."""


class ProvidersReport(msgspec.Struct, kw_only=True):
    gateway_version: str
    providers: list[ProviderStatus]
    plugins: list[PluginInfo]
    """Every installed plugin (entry points of ``hexgate.providers``), used or not."""


def _failure(exc: BaseException) -> str:
    if isinstance(exc, HexgateError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return f"no model list within {_LIST_TIMEOUT:g} s"
    return f"list_models failed ({type(exc).__name__})"


async def _count_models(provider: Provider) -> int:
    return len(await asyncio.wait_for(provider.list_models(), _LIST_TIMEOUT))


@get("/providers", summary="Providers, their plugins and health")
async def providers_status(registry: NamedDependency[Registry]) -> Response[Any]:
    """``{"gateway_version", "providers": [{id, plugin, distribution, version, ok, models, error, workers, keys}],
    "plugins": [{name, value, distribution, version}]}``; the model lists are fetched live."""
    return json_response(await providers_report(registry))


async def providers_report(registry: Registry) -> ProvidersReport:
    """What ``GET /providers`` answers (the admin API's ``/admin/providers`` adds circuit state)."""
    installed = discover()
    by_name = {p.name: p for p in installed}
    ids = sorted(registry.providers)
    results = await asyncio.gather(
        *(_count_models(registry.providers[pid]) for pid in ids),
        return_exceptions=True,
    )
    statuses = []
    for pid, result in zip(ids, results, strict=True):
        table = registry.settings.providers.get(pid)
        plugin = table.plugin if table is not None else "?"
        info = by_name.get(plugin)
        statuses.append(
            ProviderStatus(
                id=pid,
                plugin=plugin,
                distribution=info.distribution if info is not None else None,
                version=info.version if info is not None else None,
                ok=not isinstance(result, BaseException),
                models=None if isinstance(result, BaseException) else result,
                error=_failure(result) if isinstance(result, BaseException) else None,
                workers=provider.workers() if isinstance(provider := registry.providers[pid], WorkerProvider) else [],
                keys=registry.keypools[pid].states() if pid in registry.keypools else None,
            )
        )
    return ProvidersReport(gateway_version=__version__, providers=statuses, plugins=installed)
