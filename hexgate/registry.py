"""Providers built from settings, and model-name resolution.

A model name is ``<provider id>/<upstream model id>`` (only the first ``/`` splits:
``hf/openai/gpt-oss-120b:fireworks-ai``) or an alias from ``[models.<alias>]``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import Mapping

import httpx
import msgspec

from hexgate.clients import make_http_client
from hexgate.errors import HexgateError, ModelNotFound
from hexgate.plugins import PluginError, load_factory
from hexgate.protocol import Provider
from hexgate.schemas.models import Model
from hexgate.settings import ConfigError, Settings, path_of

__all__ = ["Registry", "Route", "build_registry"]

log = logging.getLogger("hexgate.registry")

_MODELS_TTL = 60.0
_MODELS_TIMEOUT = 10.0


class Route(msgspec.Struct, frozen=True):
    """Where a model name goes: the provider id, the provider, the upstream's model id."""

    provider_id: str
    provider: Provider
    model: str


class Registry:
    """Providers by id and the aliases that point into them; owns their HTTP clients."""

    def __init__(
        self,
        settings: Settings,
        providers: Mapping[str, Provider],
        clients: list[httpx.AsyncClient],
    ) -> None:
        self.settings = settings
        self.providers = dict(providers)
        self._clients = clients
        self._aliases = {name: entry.target for name, entry in settings.models.items()}
        self._models_cache: tuple[float, list[Model]] | None = None
        self._models_lock = asyncio.Lock()

    def resolve(self, model: str) -> Route:
        """Find the provider for ``model``. Raises :class:`ModelNotFound` (404) with what is known."""
        target = self._aliases.get(model, model)
        pid, sep, upstream = target.partition("/")
        provider = self.providers.get(pid) if sep else None
        if provider is None or not upstream:
            if sep and pid not in self.providers:
                raise ModelNotFound(
                    f"unknown provider prefix {pid!r} in model {model!r}; configured providers: "
                    f"{sorted(self.providers)}"
                )
            raise ModelNotFound(
                f"model {model!r} is not configured; use '<provider>/<model>' with a provider in "
                f"{sorted(self.providers)}, or an alias in {sorted(self._aliases) or '[]'}"
            )
        return Route(pid, provider, upstream)

    async def list_models(self, *, refresh: bool = False) -> list[Model]:
        """Every provider's models (prefixed ``<id>/``) plus aliases; cached for a minute.

        A provider whose list fails or takes over 10 s is logged and left out, not fatal.
        """
        async with self._models_lock:
            now = time.monotonic()
            if not refresh and self._models_cache and now - self._models_cache[0] < _MODELS_TTL:
                return self._models_cache[1]
            ids = list(self.providers)
            results = await asyncio.gather(
                *(asyncio.wait_for(self.providers[i].list_models(), _MODELS_TIMEOUT) for i in ids),
                return_exceptions=True,
            )
            models: list[Model] = []
            for pid, result in zip(ids, results, strict=True):
                if isinstance(result, BaseException):
                    log.warning("provider %s: list_models failed: %s", pid, _describe(result))
                    continue
                models.extend(msgspec.structs.replace(m, id=f"{pid}/{m.id}", provider=pid) for m in result)
            by_id = {m.id: m for m in models}
            for alias, target in self._aliases.items():
                base = by_id.get(target)
                if base is not None:
                    models.append(msgspec.structs.replace(base, id=alias, alias_of=[target]))
                else:
                    models.append(Model(id=alias, alias_of=[target], provider=target.partition("/")[0]))
            self._models_cache = (now, models)
            return models

    async def aclose(self) -> None:
        """Close every provider that has ``aclose`` and every HTTP client."""
        for pid, provider in self.providers.items():
            closer = getattr(provider, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception as exc:  # pragma: no cover - shutdown must go on
                    log.warning("provider %s: aclose failed: %s", pid, _describe(exc))
        await asyncio.gather(*(c.aclose() for c in self._clients), return_exceptions=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HexgateError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


async def build_registry(settings: Settings, *, env: Mapping[str, str] | None = None, start: bool = True) -> Registry:
    """Load each configured plugin, build its provider with its own HTTP client, run ``start`` hooks
    (unless ``start`` is False, as in ``hexgate serve``'s preflight).

    Raises :class:`ConfigError` naming the file and ``providers.<id>`` for a plugin that is
    missing, duplicated, broken, built for another protocol, or refuses its settings.
    """
    env = os.environ if env is None else env
    providers: dict[str, Provider] = {}
    clients: list[httpx.AsyncClient] = []
    try:
        for pid, table in settings.providers.items():
            where = f"{settings.source}: providers.{pid}"
            try:
                factory = load_factory(table.plugin, env)
            except PluginError as exc:
                raise ConfigError(f"{where}.plugin: {exc}") from None
            client = make_http_client(timeout=settings.server.request_timeout, env=env)
            clients.append(client)
            try:
                provider = factory(table.settings, http=client)
            except msgspec.ValidationError as exc:
                raise ConfigError(f"{settings.source}: {path_of(exc, f'providers.{pid}')}") from None
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}: {exc}") from None
            if not isinstance(provider, Provider):
                raise ConfigError(f"{where}: plugin {table.plugin!r} did not build a hexgate Provider")
            providers[pid] = provider
            starter = getattr(provider, "start", None)
            if start and starter is not None and inspect.iscoroutinefunction(starter):
                await starter()
    except BaseException:
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
        raise
    return Registry(settings, providers, clients)
