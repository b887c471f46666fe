"""Providers built from settings, and model-name resolution.

A model name is ``<provider id>/<upstream model id>`` (only the first ``/`` splits:
``hf/openai/gpt-oss-120b:fireworks-ai``) or an alias from ``[models.<alias>]``. An alias whose name
holds ``*``, ``?`` or ``[`` is a pattern (``fnmatch``, case-sensitive: ``[models."claude-*"]``): a
name that is neither an alias nor ``<provider id>/…`` of a configured provider takes the first
pattern it matches, in config order. Nothing is kept per name a client sends.
:meth:`Registry.resolve` gives the one :class:`Route` a name points at first;
:meth:`Registry.plan` gives every route in the order to try them for one request
(ranks, weights, open circuits), which :mod:`hexgate.resilience` walks.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
import os
import random
import time
from collections.abc import Mapping

import httpx
import msgspec

from hexgate.clients import CONNECT_TIMEOUT, UpstreamClients, apply_connect_timeout
from hexgate.errors import HexgateError, ModelNotFound
from hexgate.keypool import KeyPool
from hexgate.plugins import PluginError, load_factory
from hexgate.protocol import Closable, Provider, Startable
from hexgate.schemas.models import Model
from hexgate.settings import AliasTarget, ConfigError, Settings, Timeouts, path_of, placeholder_key
from hexgate.trace import Spans

__all__ = ["CONNECT_TIMEOUT", "Breaker", "Plan", "Registry", "Route", "build_registry", "is_pattern"]

log = logging.getLogger("hexgate.registry")

_MODELS_TTL = 60.0
_MODELS_TIMEOUT = 10.0
_MAX_BREAKERS = 1024
"""Most circuit-breaker entries kept (each keyed by a target a client may have named)."""


def is_pattern(name: str) -> bool:
    """True for a ``[models.<name>]`` that is an ``fnmatch`` pattern (holds ``*``, ``?`` or ``[``)."""
    return any(ch in name for ch in "*?[")


class Route(msgspec.Struct, frozen=True):
    """Where a model name goes: the provider id, the provider, the upstream's model id; for the
    resilient call path also the target's rank, weight and effective timeouts."""

    provider_id: str
    provider: Provider
    model: str
    rank: int = 1
    weight: float = 1.0
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)

    @property
    def target(self) -> str:
        """``<provider id>/<upstream model>``."""
        return f"{self.provider_id}/{self.model}"


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one request may try, in order, and how hard: built by :meth:`Registry.plan`."""

    name: str
    """The model name the client sent."""
    routes: list[Route]
    retries: int
    timeouts: Timeouts
    """The request's own timeouts (``total`` is its deadline); each route carries its own as well."""


class Breaker:
    """A target's circuit: ``failure_threshold`` consecutive failures open it for ``cooldown`` seconds
    (or the upstream's ``retry-after`` when longer). Then it is half-open: the next request may try it
    (the others keep it last for another cooldown meanwhile); one more failure reopens it at once, one
    success closes it."""

    __slots__ = ("failures", "open_until")

    def __init__(self) -> None:
        self.failures = 0
        self.open_until = 0.0

    def is_open(self, now: float) -> bool:
        return now < self.open_until

    def admit(self, *, now: float, threshold: int, cooldown: float) -> bool:
        """May a request try this target first? A half-open circuit admits one probe at a time."""
        if now < self.open_until:
            return False
        if self.failures >= threshold:
            self.open_until = now + cooldown
        return True

    def success(self) -> None:
        self.failures = 0
        self.open_until = 0.0

    def failure(self, *, now: float, threshold: int, cooldown: float, retry_after: float | None) -> bool:
        """Count a failure; True when this one opened (or reopened) the circuit."""
        self.failures += 1
        if self.failures < threshold:
            return False
        was_open = now < self.open_until
        self.open_until = max(self.open_until, now + max(cooldown, retry_after or 0.0))
        return not was_open


class Registry:
    """Providers by id and the aliases that point into them; owns their HTTP clients."""

    def __init__(
        self,
        settings: Settings,
        providers: Mapping[str, Provider],
        clients: list[httpx.AsyncClient] | UpstreamClients,
        *,
        keypools: Mapping[str, KeyPool] | None = None,
    ) -> None:
        self.settings = settings
        self.providers = dict(providers)
        self._clients = clients
        self.keypools: dict[str, KeyPool] = dict(keypools or {})
        """Upstream key pools by provider id (``GET /providers`` shows their states)."""
        self._aliases: dict[str, list[AliasTarget]] = {
            name: sorted(entry.entries(), key=lambda t: t.rank or 1) for name, entry in settings.models.items()
        }
        self._patterns = [name for name in settings.models if is_pattern(name)]
        self._models_cache: tuple[float, list[Model]] | None = None
        self._models_lock = asyncio.Lock()
        self.breakers: dict[str, Breaker] = {}
        """Circuit state per ``<provider id>/<upstream model>``, created on first failure; at most
        :data:`_MAX_BREAKERS` (the oldest is dropped)."""
        self.random = random.Random()
        """Draws the weighted order of equal-rank targets; tests may seed it."""
        self.spans: Spans | None = None
        """Makes a span per upstream attempt when traces are on (:func:`hexgate.ops.tracing.instrument`)."""

    def alias_of(self, model: str) -> str | None:
        """The ``[models.<alias>]`` name ``model`` uses: itself when it is an alias; else None for
        ``<provider id>/…`` of a configured provider; else the first pattern it matches, or None."""
        if model in self._aliases:
            return model
        pid, sep, _ = model.partition("/")
        if sep and pid in self.providers:
            return None
        for pattern in self._patterns:
            if fnmatch.fnmatchcase(model, pattern):
                return pattern
        return None

    def resolve(self, model: str) -> Route:
        """Find the provider for ``model`` (an alias: its first target by rank and list order).
        Raises :class:`ModelNotFound` (404) with what is known."""
        alias = self.alias_of(model)
        if alias is None:
            return self._route(model, model, rank=1, weight=1.0, alias_timeouts=Timeouts())
        entries = self._aliases[alias]
        return self._route(
            model,
            entries[0].target,
            rank=1,
            weight=entries[0].weight,
            alias_timeouts=self.settings.models[alias].timeouts,
        )

    def plan(self, model: str) -> Plan:
        """Every route ``model`` may take for one request, in the order to try them: by rank; among
        equal ranks a weighted random order (each next one drawn with probability proportional to its
        weight); targets whose circuit is open go after every closed one (tried only when the others
        failed). Raises :class:`ModelNotFound` (404)."""
        routing = self.settings.routing
        name = self.alias_of(model)
        alias = self.settings.models.get(name) if name is not None else None
        if name is None or alias is None:
            route = self._route(model, model, rank=1, weight=1.0, alias_timeouts=Timeouts())
            return Plan(name=model, routes=[route], retries=routing.retries, timeouts=route.timeouts)
        routes = [
            self._route(model, t.target, rank=t.rank or 1, weight=t.weight, alias_timeouts=alias.timeouts)
            for t in self._aliases[name]
        ]
        ordered: list[Route] = []
        for rank in sorted({r.rank for r in routes}):
            ordered.extend(self._weighted_order([r for r in routes if r.rank == rank]))
        now = time.monotonic()
        admitted = [self._admit(r.target, now) for r in ordered]
        if not all(admitted):
            ordered = [r for r, ok in zip(ordered, admitted, strict=True) if ok] + [
                r for r, ok in zip(ordered, admitted, strict=True) if not ok
            ]
        retries = routing.retries if alias.retries is None else alias.retries
        timeouts = alias.timeouts.over(routing.timeouts)
        if timeouts.total is None:
            timeouts = msgspec.structs.replace(timeouts, total=self.settings.server.request_timeout)
        return Plan(name=model, routes=ordered, retries=retries, timeouts=timeouts)

    def record(self, route: Route, *, failed: bool, retry_after: float | None = None) -> None:
        """Tell the target's circuit how an attempt went (see :class:`Breaker`)."""
        if not failed:
            breaker = self.breakers.get(route.target)
            if breaker is not None:
                breaker.success()
            return
        breaker = self.breakers.get(route.target)
        if breaker is None:
            if len(self.breakers) >= _MAX_BREAKERS:  # targets are names clients choose: keep the newest
                del self.breakers[next(iter(self.breakers))]
            breaker = self.breakers[route.target] = Breaker()
        routing = self.settings.routing
        opened = breaker.failure(
            now=time.monotonic(),
            threshold=routing.failure_threshold,
            cooldown=routing.cooldown,
            retry_after=retry_after,
        )
        if opened:
            log.warning(
                "circuit open for %s after %d consecutive failures; it goes last for %.0f s",
                route.target,
                breaker.failures,
                breaker.open_until - time.monotonic(),
            )

    def _admit(self, target: str, now: float) -> bool:
        breaker = self.breakers.get(target)
        if breaker is None:
            return True
        routing = self.settings.routing
        return breaker.admit(now=now, threshold=routing.failure_threshold, cooldown=routing.cooldown)

    def _weighted_order(self, routes: list[Route]) -> list[Route]:
        if len(routes) < 2:
            return routes
        # Efraimidis-Spirakis: sorting by u ** (1 / w) draws without replacement proportionally to w.
        keys = [self.random.random() ** (1.0 / r.weight) for r in routes]
        return [r for _, r in sorted(zip(keys, routes, strict=True), key=lambda kr: kr[0], reverse=True)]

    def _route(self, name: str, target: str, *, rank: int, weight: float, alias_timeouts: Timeouts) -> Route:
        pid, sep, upstream = target.partition("/")
        provider = self.providers.get(pid) if sep else None
        if provider is None or not upstream:
            if sep and pid not in self.providers:
                raise ModelNotFound(
                    f"unknown provider prefix {pid!r} in model {name!r}; configured providers: {sorted(self.providers)}"
                )
            raise ModelNotFound(
                f"model {name!r} is not configured; use '<provider>/<model>' with a provider in "
                f"{sorted(self.providers)}, or an alias in {sorted(self._aliases) or '[]'}"
            )
        table = self.settings.providers.get(pid)
        provider_timeouts = table.timeouts if table is not None else Timeouts()
        timeouts = alias_timeouts.over(provider_timeouts.over(self.settings.routing.timeouts))
        if timeouts.total is None:
            timeouts = msgspec.structs.replace(timeouts, total=self.settings.server.request_timeout)
        return Route(pid, provider, upstream, rank=rank, weight=weight, timeouts=timeouts)

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
            for alias, entries in self._aliases.items():
                if is_pattern(alias):  # a pattern names no model of its own
                    continue
                targets = [t.target for t in entries]
                base = by_id.get(targets[0])
                if base is not None:
                    models.append(msgspec.structs.replace(base, id=alias, alias_of=targets))
                else:
                    models.append(Model(id=alias, alias_of=targets, provider=targets[0].partition("/")[0]))
            self._models_cache = (now, models)
            return models

    async def aclose(self) -> None:
        """Close every provider that has ``aclose`` (:class:`~hexgate.protocol.Closable`) and every HTTP client."""
        for pid, provider in self.providers.items():
            if isinstance(provider, Closable):
                try:
                    await provider.aclose()
                except Exception as exc:  # pragma: no cover - shutdown must go on
                    log.warning("provider %s: aclose failed: %s", pid, _describe(exc))
        if isinstance(self._clients, UpstreamClients):
            await self._clients.aclose()
        else:
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
    keypools: dict[str, KeyPool] = {}
    clients = UpstreamClients(env=env)
    try:
        for pid, table in settings.providers.items():
            where = f"{settings.source}: providers.{pid}"
            try:
                factory = load_factory(table.plugin, env)
            except PluginError as exc:
                raise ConfigError(f"{where}.plugin: {exc}") from None
            connect = table.timeouts.over(settings.routing.timeouts).connect or 10.0
            proxy = table.proxy or settings.server.upstream_proxy
            pool = None
            if table.api_keys:
                pool = keypools[pid] = KeyPool(table.api_keys, placeholder=placeholder_key(pid), provider_id=pid)
            try:
                client = clients.client(
                    timeout=settings.server.request_timeout, connect_timeout=connect, proxy=proxy, keys=pool
                )
            except ValueError as exc:
                key = "proxy" if table.proxy else "server.upstream_proxy" if proxy else "(environment proxy)"
                raise ConfigError(f"{where}: {key}: {exc}") from None
            client.event_hooks["request"].append(apply_connect_timeout)
            plugin_settings = table.settings
            if proxy and getattr(factory, "takes_proxy", False):
                plugin_settings = {**plugin_settings, "proxy": proxy}
            try:
                provider = factory(plugin_settings, http=client)
            except msgspec.ValidationError as exc:
                raise ConfigError(f"{settings.source}: {path_of(exc, f'providers.{pid}')}") from None
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}: {exc}") from None
            if not isinstance(provider, Provider):
                raise ConfigError(f"{where}: plugin {table.plugin!r} did not build a hexgate Provider")
            providers[pid] = provider
            if start and isinstance(provider, Startable) and inspect.iscoroutinefunction(provider.start):
                await provider.start()
    except BaseException:
        await clients.aclose()
        raise
    return Registry(settings, providers, clients, keypools=keypools)
