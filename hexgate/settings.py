"""``config.toml`` → Structs, with ``${ENV}`` interpolation; errors name the file and the key path.

Shape (see the commented ``config.toml`` at the repository root)::

    [server]            host, port, api_keys, cors_origins, request_timeout, max_body_size,
                        max_messages, max_header_size, client_timeout, header_timeout,
                        keepalive_timeout, store_timeout
    [routing]           defaults for every model name: retries, backoff, circuit breaker, timeouts
    [providers.<id>]    plugin = "<entry point name>" (or "module:Factory") + the plugin's own settings;
                        ``timeouts = {...}``, ``proxy`` and a key pool (``api_key = [..]`` or ``api_keys``)
                        are the core's (taken out before the plugin sees the table)
    [models.<alias>]    target = "<provider id>/<upstream model>", or targets = [...] (below)
    [prices."<provider id>/<upstream model>"]   input, output: USD per million tokens ("<id>/*" for a
                        whole provider), for usage costs and key budgets (:mod:`hexgate.ops`)
    [telemetry]         traces, metrics, log_prompts, service_name (:mod:`hexgate.ops`)

Aliases with fallbacks and load balancing::

    [models.smart]
    targets = [
      { target = "oa1/gpt-4o", rank = 1, weight = 3 },   # rank 1: load-balanced 3:1 by weight
      { target = "oa2/gpt-4o", rank = 1, weight = 1 },
      "anthropic/claude-sonnet-4-5",                      # rank 3 (its place in the list)
    ]
    retries = 1                                           # overrides [routing].retries
    timeouts = { first_byte = 20, total = 60 }

An alias name holding ``*``, ``?`` or ``[`` is a pattern (``fnmatch``): ``[models."claude-*"]
target = "deepseek/deepseek-chat"`` serves every such name a client sends (exact aliases and
``<provider id>/…`` names first, then patterns in file order).

The list is the fallback order: an entry's ``rank`` defaults to its 1-based position, so plain
strings are tried one after the other; entries given the same ``rank`` share the load by
``weight``. A target is left for the next one on a connection error, a timeout, a 429 or a 5xx
that happened before anything reached the client (see :mod:`hexgate.resilience`).

Timeouts (seconds; ``[routing.timeouts]`` < ``[providers.<id>].timeouts`` < ``[models.<alias>].timeouts``,
the more specific wins; ``total`` defaults to ``server.request_timeout``)::

    connect      opening the connection to the upstream (applied to the provider's HTTP client)
    first_byte   until the answer starts: a stream's first chunk, a non-streamed call's whole answer
    idle         the longest gap between two stream chunks
    total        the whole request, retries, waits and the stream included

A string value may hold ``${VAR}`` (an error when VAR is unset) or ``${VAR:-default}``.
With no file at all, :func:`default_settings` serves the embedded ``local`` provider.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

__all__ = [
    "REASONING_FORMATS",
    "AliasTarget",
    "ConfigError",
    "ModelAlias",
    "Price",
    "ProviderTable",
    "ReasoningFormat",
    "RoutingSettings",
    "ServerSettings",
    "Settings",
    "TelemetrySettings",
    "Timeouts",
    "default_settings",
    "load_settings",
    "path_of",
    "placeholder_key",
]


ReasoningFormat = Literal["reasoning_content", "reasoning", "think_tags", "none"]
"""Where chat answers carry reasoning text (:mod:`hexgate.reasoning_format`)."""
REASONING_FORMATS: tuple[str, ...] = ("reasoning_content", "reasoning", "think_tags", "none")


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the key path."""


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = msgspec.field(default_factory=list)
    """Bearer keys clients must send; empty means no gateway auth. ``HEXGATE_API_KEYS`` (comma-separated) adds more.
    An entry ``sha256:<hex>`` holds the SHA-256 of a key instead of the key (``hexgate hash-key`` prints it)."""
    cors_origins: list[str] = msgspec.field(default_factory=list)
    """Origins allowed to call from a browser; ``["*"]`` for any."""
    request_timeout: float = 600.0
    """Seconds one upstream call may take in total."""
    max_body_size: int = 16 * 1024 * 1024
    """Largest request body accepted, in bytes (413 above)."""
    max_messages: int = 2048
    """Most ``messages`` one chat request may carry (400 above)."""
    max_header_size: int = 32 * 1024
    """Largest total size of a request's headers, in bytes (431 above)."""
    client_timeout: float = 60.0
    """Seconds a client may take to send its whole request body (408 past it)."""
    header_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Seconds a client may take to send a request's head (request line and headers) once its connection
    is open or its previous answer was sent; past it the connection is closed (``hexgate serve``)."""
    keepalive_timeout: Annotated[int, msgspec.Meta(gt=0)] = 5
    """Whole seconds an idle keep-alive connection is kept open between requests (``hexgate serve``)."""
    store_timeout: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """Seconds to connect to a Redis ``store`` / ``response_store`` and to wait for each command; past it a
    keyed request is a 503 (the store is unavailable)."""
    store: str = "memory"
    """Shared state: virtual keys, rate-limit and budget counters, usage, stored Responses. ``memory`` (one
    process) or a ``redis://`` / ``rediss://`` URL that several replicas share (needs ``hexgate[ops]``)."""
    response_store: str | None = None
    """Where stored Responses live (``store``, ``previous_response_id``), when not in ``store`` (the default):
    ``memory`` or a ``redis://`` URL."""
    response_ttl: Annotated[float, msgspec.Meta(gt=0)] = 86400.0
    """Seconds a stored response is kept."""
    response_store_max_bytes: Annotated[int, msgspec.Meta(gt=0)] = 256 * 1024 * 1024
    """Most bytes the ``memory`` response store holds; the least recently used responses go first."""
    forward_unknown_response_ids: bool = False
    """Pass a ``previous_response_id`` hexgate holds no record of (or a ``conversation``, an ``item_reference``
    input item) on to a native Responses upstream. Off: such a request is refused (404 / 400), since the
    upstream would resolve it under the gateway's shared upstream key, whichever client created it."""
    admin_key: str | None = None
    """Bearer key of the admin API (``/admin/*``, ``/v1/usage``); set, it turns on virtual keys, and every
    ``/v1`` request then needs a key (one of ``api_keys`` or a virtual key). Empty or unset: no admin API."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line, with the request id (``hexgate serve``)."""
    upstream_proxy: str | None = None
    """Proxy for every provider without its own ``proxy``: ``http://``, ``https://``, ``socks5://`` or
    ``socks5h://`` (``user:password@`` allowed, never logged). Unset: ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
    ``ALL_PROXY`` and ``NO_PROXY`` from the environment."""
    strict_params: bool = False
    """Refuse (400, naming the parameter) a chat request with a parameter its provider would drop."""
    reasoning_format: ReasoningFormat = "reasoning_content"
    """Where chat answers carry reasoning: ``reasoning_content``, ``reasoning``, ``think_tags`` (inline
    ``<think>…</think>`` in ``content``) or ``none``; a virtual key, an alias or the request's
    ``x-hexgate-reasoning-format`` header overrides it."""


class Price(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A ``[prices."<provider id>/<upstream model>"]`` table: USD per million tokens."""

    input: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    output: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class TelemetrySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[telemetry]``: what hexgate reports about itself (see :mod:`hexgate.ops`)."""

    metrics: bool = True
    """Prometheus metrics at ``/metrics`` (when ``prometheus-client`` is installed: ``hexgate[ops]``)."""
    traces: bool = False
    """OpenTelemetry traces: a server span per request, a client span per upstream attempt; exported over
    OTLP as the standard ``OTEL_*`` variables say (``hexgate[ops,otlp]``)."""
    service_name: str = "hexgate"
    """``service.name`` of the traces (``OTEL_SERVICE_NAME`` wins when set)."""
    log_prompts: bool = False
    """Log each model request's body (prompts included) on the ``hexgate.prompts`` logger; off, no prompt
    text is ever logged."""


class Timeouts(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Seconds per phase of an upstream call; None leaves the phase to the less specific level."""

    connect: Annotated[float, msgspec.Meta(gt=0)] | None = None
    first_byte: Annotated[float, msgspec.Meta(gt=0)] | None = None
    idle: Annotated[float, msgspec.Meta(gt=0)] | None = None
    total: Annotated[float, msgspec.Meta(gt=0)] | None = None

    def over(self, base: Timeouts) -> Timeouts:
        """These timeouts where set, ``base``'s elsewhere."""
        return Timeouts(
            connect=base.connect if self.connect is None else self.connect,
            first_byte=base.first_byte if self.first_byte is None else self.first_byte,
            idle=base.idle if self.idle is None else self.idle,
            total=base.total if self.total is None else self.total,
        )


class RoutingSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[routing]``: retries, backoff and circuit breaking for every model name (aliases may override
    ``retries`` and ``timeouts``)."""

    retries: Annotated[int, msgspec.Meta(ge=0)] = 1
    """Extra attempts on a target that failed retryably, after every other target of the plan was tried."""
    backoff: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    """First wait before a retry, seconds; doubled each round, with up to as much again of random jitter."""
    backoff_max: Annotated[float, msgspec.Meta(ge=0)] = 8.0
    """Longest backoff wait, seconds (an upstream's ``retry-after`` may ask for more, up to ``max_retry_wait``)."""
    max_retry_wait: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    """A ``retry-after`` longer than this is not waited for: that target is dropped from the plan."""
    failure_threshold: Annotated[int, msgspec.Meta(ge=1)] = 3
    """Consecutive failures that open a target's circuit."""
    cooldown: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    """Seconds an open circuit keeps its target behind the others (longer when ``retry-after`` says so)."""
    timeouts: Timeouts = msgspec.field(default_factory=lambda: Timeouts(connect=10.0))


class ProviderTable(msgspec.Struct, kw_only=True):
    """A ``[providers.<id>]`` table: the plugin that serves it and that plugin's own settings."""

    plugin: str
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    proxy: str | None = None
    """This provider's upstream proxy (over ``[server] upstream_proxy``)."""
    api_keys: list[str] = msgspec.field(default_factory=list)
    """A key pool (``api_key = [...]`` or ``api_keys = [...]``): the plugin sees one placeholder
    ``api_key`` that the core's HTTP client swaps for a pool key (:mod:`hexgate.keypool`)."""


class AliasTarget(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One entry of ``targets``: ``<provider id>/<upstream model>``, its ``rank`` (lower is tried first;
    default: its position in the list) and its ``weight`` among the targets of equal rank."""

    target: str
    weight: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    rank: Annotated[int, msgspec.Meta(ge=1)] | None = None


class ModelAlias(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A ``[models.<alias>]`` table: a short name for one target (``target``) or for an ordered list
    of them (``targets``: strings or :class:`AliasTarget` tables); exactly one of the two."""

    target: str | None = None
    targets: list[str | AliasTarget] | None = None
    description: str | None = None
    retries: Annotated[int, msgspec.Meta(ge=0)] | None = None
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    reasoning_format: ReasoningFormat | None = None
    """Overrides ``[server] reasoning_format`` for this alias."""

    def entries(self) -> list[AliasTarget]:
        """Every target as an :class:`AliasTarget` with its rank filled in, in list order."""
        if self.targets is None:
            return [AliasTarget(target=self.target or "", rank=1)]
        out = []
        for i, entry in enumerate(self.targets, start=1):
            if isinstance(entry, str):
                out.append(AliasTarget(target=entry, rank=i))
            else:
                out.append(entry if entry.rank is not None else msgspec.structs.replace(entry, rank=i))
        return out


class Settings(msgspec.Struct, kw_only=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    routing: RoutingSettings = msgspec.field(default_factory=RoutingSettings)
    providers: dict[str, ProviderTable] = msgspec.field(default_factory=dict)
    models: dict[str, ModelAlias] = msgspec.field(default_factory=dict)
    prices: dict[str, Price] = msgspec.field(default_factory=dict)
    telemetry: TelemetrySettings = msgspec.field(default_factory=TelemetrySettings)
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


_T = TypeVar("_T")
_TABLES = ("server", "routing", "providers", "models", "prices", "telemetry")


def _convert(value: Any, kind: type[_T], where: str, source: str) -> _T:
    """``msgspec.convert(value, kind)``, its error a :class:`ConfigError` naming the place (``where``,
    e.g. ``providers.x.timeouts``) in ``source``."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {path_of(exc, where)}") from None


def _table(data: Mapping[str, Any], name: str, source: str, expected: str) -> dict[str, Any]:
    """The top-level table ``name`` (empty when absent); a ConfigError saying ``expected`` when not a table."""
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {name}: expected {expected}")
    return value


def _providers(data: Mapping[str, Any], source: str) -> dict[str, ProviderTable]:
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
        timeouts = _convert(rest.pop("timeouts", None) or {}, Timeouts, f"providers.{pid}.timeouts", source)
        proxy = rest.pop("proxy", None)
        if proxy is not None and not isinstance(proxy, str):
            raise ConfigError(f"{source}: providers.{pid}.proxy: expected a URL string")
        keys = _key_pool(pid, rest, source)
        providers[pid] = ProviderTable(
            plugin=plugin, settings=rest, timeouts=timeouts, proxy=proxy or None, api_keys=keys
        )
    return providers


def _prices(data: Mapping[str, Any], source: str) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    for target, table in _table(data, "prices", source, 'tables [prices."<provider id>/<model>"]').items():
        if "/" not in target:
            raise ConfigError(f"{source}: prices.{target}: name a '<provider id>/<model>' (or '<provider id>/*')")
        prices[target] = _convert(table, Price, f"prices.{target}", source)
    return prices


def _build(raw: Mapping[str, Any], source: str, env: Mapping[str, str]) -> Settings:
    """Interpolate ``${VAR}`` from ``env``, convert each table, check the aliases' targets; the
    static keys are the file's ``server.api_keys`` plus ``HEXGATE_API_KEYS`` (comma-separated) from
    ``env``. Raises :class:`ConfigError` naming ``source`` and the faulty place."""
    try:
        data = _interpolate(dict(raw), "", env)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    unknown = set(data) - set(_TABLES)
    if unknown:
        raise ConfigError(f"{source}: unknown top-level table(s) {sorted(unknown)}; known: {', '.join(_TABLES)}")
    providers = _providers(data, source)
    server = _convert(data.get("server") or {}, ServerSettings, "server", source)
    routing = _convert(data.get("routing") or {}, RoutingSettings, "routing", source)
    if routing.timeouts.connect is None:
        routing.timeouts = msgspec.structs.replace(routing.timeouts, connect=10.0)
    models = {  # one alias at a time, so that an error names it (msgspec writes dict keys as [...])
        alias: _convert(table, ModelAlias, f"models.{alias}", source)
        for alias, table in _table(data, "models", source, "a table of [models.<alias>] tables").items()
    }
    prices = _prices(data, source)
    telemetry = _convert(data.get("telemetry") or {}, TelemetrySettings, "telemetry", source)
    server.admin_key = server.admin_key or None
    extra_keys = [k for k in env.get("HEXGATE_API_KEYS", "").split(",") if k.strip()]
    server.api_keys = [k for k in [*server.api_keys, *extra_keys] if k]
    for alias, entry in models.items():
        _check_alias(alias, entry, providers, source)
    return Settings(
        server=server,
        routing=routing,
        providers=providers,
        models=models,
        prices=prices,
        telemetry=telemetry,
        source=source,
    )


def _key_pool(pid: str, rest: dict[str, Any], source: str) -> list[str]:
    """Take a key pool (``api_key`` as a list, or ``api_keys``) out of a provider table; the plugin
    gets a placeholder ``api_key`` in its place. Empty entries (unset ``${VAR:-}``) are skipped."""
    listed = rest.pop("api_keys", None)
    single = rest.get("api_key")
    if listed is None and not isinstance(single, list):
        return []
    if listed is not None and single is not None:
        raise ConfigError(f"{source}: providers.{pid}: give 'api_key' or 'api_keys', not both")
    raw = listed if listed is not None else rest.pop("api_key")
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        key = "api_keys" if listed is not None else "api_key"
        raise ConfigError(f"{source}: providers.{pid}.{key}: expected a list of strings")
    keys = list(dict.fromkeys(k for k in raw if k))
    if not keys:
        raise ConfigError(f"{source}: providers.{pid}: the key pool is empty (every entry is unset or empty)")
    rest["api_key"] = placeholder_key(pid)
    return keys


def placeholder_key(pid: str) -> str:
    """What a pooled provider's plugin sees as its ``api_key``; the core's HTTP client puts a pool key
    in its place in every header and in the URL."""
    return f"hexgate-key-pool-{pid}"


def _check_alias(alias: str, entry: ModelAlias, providers: Mapping[str, ProviderTable], source: str) -> None:
    if (entry.target is None) == (entry.targets is None):
        raise ConfigError(f"{source}: models.{alias}: give exactly one of 'target' (a string) or 'targets' (a list)")
    if entry.targets is not None and not entry.targets:
        raise ConfigError(f"{source}: models.{alias}.targets: the list is empty")
    for i, item in enumerate(entry.entries()):
        key = "target" if entry.targets is None else f"targets[{i}]"
        pid, sep, model = item.target.partition("/")
        if not sep or not model or pid not in providers:
            raise ConfigError(
                f"{source}: models.{alias}.{key}: {item.target!r} must be '<provider id>/<model>' "
                f"with a configured provider; known providers: {sorted(providers)}"
            )


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
