""":class:`Ops`: what ``create_app`` adds to the gateway to operate it (see :mod:`hexgate.ops`).

``create_app`` builds one :class:`Ops` per app and wires it in: :meth:`Ops.middleware` after the
gateway middleware, :meth:`Ops.lifespan` after the core's (which built ``app.state.registry``),
:meth:`Ops.plugins` (OpenTelemetry), the ``ops`` dependency (:meth:`Ops.provide`) for the admin
routes, and :func:`~hexgate.ops.reload.pinned_registry` in the ``registry`` dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from litestar import Litestar
from litestar.types import ASGIApp

from hexgate.errors import ErrorEnvelope
from hexgate.ops import metrics as _metrics
from hexgate.ops import tracing as _tracing
from hexgate.ops.keys import KeyRing, VirtualKey
from hexgate.ops.limits import Limiter
from hexgate.ops.live import LiveEntry, LiveFeed
from hexgate.ops.meter import Meter
from hexgate.ops.middleware import ERROR_STATE, PROMPT_STATE, ops_middleware
from hexgate.ops.reload import Generations
from hexgate.ops.state import Backend, open_backend
from hexgate.ops.usage import Prices, UsageBook
from hexgate.registry import build_registry
from hexgate.resilience import Trace
from hexgate.routes._common import TRACE_KEY
from hexgate.schemas.models import MAX_MODEL_NAME
from hexgate.settings import ConfigError, Settings, load_settings

__all__ = ["Ops", "preflight"]


_failure_decoder = msgspec.json.Decoder(ErrorEnvelope)


def _error_text(body: Any, fallback: str | None) -> str | None:
    """``<type>: <message>`` from an answer's error envelope (cut at 300 characters), else ``fallback``."""
    if not isinstance(body, bytes) or not body:
        return fallback
    try:
        failure = _failure_decoder.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return fallback
    text = f"{failure.type}: {failure.message}"
    return text if len(text) <= 300 else text[:300] + "…"


log = logging.getLogger("hexgate.ops")

_MAX_MODEL_LABELS = 1000
_MAX_PENDING_CHARGES = 256
"""Key charges sent to the store at once, in the background; past it a request awaits its own charge
(after its answer was sent)."""


def _configured_names(settings: Settings) -> frozenset[str]:
    """Model names and targets the config itself names: aliases, their targets, priced targets."""
    names = set(settings.models)
    for alias in settings.models.values():
        names.update(t.target for t in alias.entries())
    names.update(t for t in settings.prices if not t.endswith("/*"))
    return frozenset(names)


def preflight(settings: Settings) -> None:
    """Refuse, with one clear line, settings whose ops parts cannot work here. Raises :class:`ConfigError`."""
    where = settings.source
    store = settings.server.store
    if store != "memory":
        if not store.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"{where}: server.store: {store!r}: use 'memory' or a redis:// URL")
        try:
            import redis  # noqa: F401
        except ImportError:
            raise ConfigError(f"{where}: server.store: a Redis store needs hexgate's 'ops' extra (redis)") from None
    if settings.telemetry.traces and not _tracing.available():
        raise ConfigError(f"{where}: telemetry.traces: needs opentelemetry-sdk (hexgate's 'ops' extra)")


class Ops:
    """Keys, limits, usage, metrics, traces and reload for one app (see the module doc)."""

    def __init__(self, settings: Settings, *, tracer_provider: Any = None) -> None:
        preflight(settings)
        self.settings = settings
        self.prices = Prices(settings.prices)
        self.max_body_size = settings.server.max_body_size
        self.log_prompts = settings.telemetry.log_prompts
        self.metrics = _metrics.Metrics() if settings.telemetry.metrics and _metrics.available() else None
        self._own_tracer = False
        if settings.telemetry.traces and tracer_provider is None:
            tracer_provider = _tracing.make_tracer_provider(service_name=settings.telemetry.service_name)
            self._own_tracer = True
        self.tracer_provider = tracer_provider if settings.telemetry.traces else None
        self._tracer = self.tracer_provider.get_tracer("hexgate") if self.tracer_provider is not None else None
        self.handle_sighup = False
        """Reload on SIGHUP (set by ``hexgate serve``'s app factory; not for apps embedded in tests)."""
        self._backend: Backend | None = None
        self._keys: KeyRing | None = None
        self._limiter: Limiter | None = None
        self._book: UsageBook | None = None
        self._generations: Generations | None = None
        self._reload_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._charging: set[asyncio.Task[None]] = set()
        self._models: set[str] = set()
        self._failed_targets: set[str] = set()
        self._configured = _configured_names(settings)
        self.live = LiveFeed()
        """The last requests of this process, for the console's Live tab."""

    # -- parts that exist while the app runs -------------------------------------------------------

    @property
    def generations(self) -> Generations:
        assert self._generations is not None, "the ops lifespan has not started"
        return self._generations

    @property
    def keys(self) -> KeyRing:
        assert self._keys is not None, "the ops lifespan has not started"
        return self._keys

    @property
    def limiter(self) -> Limiter:
        assert self._limiter is not None, "the ops lifespan has not started"
        return self._limiter

    @property
    def book(self) -> UsageBook:
        assert self._book is not None, "the ops lifespan has not started"
        return self._book

    # -- wiring ---------------------------------------------------------------------------------

    def middleware(self) -> Callable[[ASGIApp], ASGIApp]:
        """The ops middleware (:func:`~hexgate.ops.middleware.ops_middleware`), which sees this object
        only as its :class:`~hexgate.ops.middleware.OpsHooks` (so it never imports this module)."""
        return ops_middleware(self)

    def plugins(self) -> list[Any]:
        return [_tracing.plugin(self.tracer_provider)] if self.tracer_provider is not None else []

    def provide(self) -> Ops:
        """The ``ops`` dependency of the admin routes."""
        return self

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Open the store, start the usage writer, instrument the registry, listen for SIGHUP."""
        self._generations = Generations(app.state)
        self._backend = open_backend(self.settings.server.store, timeout=self.settings.server.store_timeout)
        self._keys = KeyRing(self._backend)
        self._limiter = Limiter(self._backend)
        self._book = UsageBook(self._backend)
        if self._tracer is not None:
            _tracing.instrument(app.state.registry, self._tracer)
        writer = asyncio.get_running_loop().create_task(self._book.run())
        hup = self._listen_for_sighup()
        try:
            yield
        finally:
            if hup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._charging:  # every charge still on its way reaches the store before it closes
                await asyncio.gather(*self._charging, return_exceptions=True)
            self.live.close()
            await self._generations.aclose()
            await self._backend.aclose()
            if self.metrics is not None:
                self.metrics.close()
            if self._own_tracer and self.tracer_provider is not None:
                await asyncio.to_thread(self.tracer_provider.shutdown)

    def _listen_for_sighup(self) -> bool:
        if not self.handle_sighup or threading.current_thread() is not threading.main_thread():
            return False
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        except (NotImplementedError, RuntimeError, AttributeError):  # pragma: no cover - no SIGHUP here
            return False
        return True

    def _on_sighup(self) -> None:
        async def run() -> None:
            try:
                await self.reload()
            except ConfigError as exc:
                log.error("SIGHUP: the new config was refused, the old one keeps serving: %s", exc)

        self._spawn(run())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- reload ---------------------------------------------------------------------------------

    async def reload(self) -> Settings:
        """Read the config file again, build a new registry and swap it in for new requests; requests
        already running finish on the old one, which is closed after them. Raises :class:`ConfigError`
        (the old config keeps serving). ``[server]`` and ``[telemetry]`` changes need a restart."""
        async with self._reload_lock:
            source = self.settings.source
            new = load_settings(None if source == "<defaults>" else source)
            try:
                registry = await build_registry(new)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError(f"{source}: building the providers failed: {type(exc).__name__}: {exc}") from None
            if self._tracer is not None:
                _tracing.instrument(registry, self._tracer)
            self.generations.swap(registry)
            old, self.settings = self.settings, new
            self.prices = Prices(new.prices)
            self._configured = _configured_names(new)
            stale = [name for name in ("server", "telemetry") if getattr(old, name) != getattr(new, name)]
            if stale:
                log.warning("config reloaded; changes to [%s] take effect after a restart", "], [".join(stale))
            log.info("config reloaded from %s: providers %s", source, ", ".join(sorted(new.providers)))
            return new

    # -- per request (called by the middleware) ---------------------------------------------------

    def refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.refused(reason)

    def stream(self, operation: str, provider: str, delta: int) -> None:
        if self.metrics is not None:
            self.metrics.stream(operation, provider, delta)

    @staticmethod
    def provider_of(state: dict[str, Any]) -> str:
        trace = state.get(TRACE_KEY)
        return (trace.provider or "") if isinstance(trace, Trace) and trace.attempts else ""

    async def finish(
        self,
        *,
        state: dict[str, Any],
        meter: Meter,
        key: VirtualKey | None,
        status: int,
        seconds: float,
        ttft: float | None,
    ) -> None:
        """Account one request whose answer has been sent: add the usage (batched), record the metrics and
        the live entry, then charge the key in the background (a slow store never delays an answer; at
        most :data:`_MAX_PENDING_CHARGES` at once, all awaited at shutdown). The charge goes last, so a
        request cancelled meanwhile (the SDKs close a stream right after ``[DONE]``) still books its usage.

        Usage rows and metric labels name the target and model a client sent only when an upstream
        answered on it, the config names it (an alias, an alias target, a priced target), or the upstream
        failed (5xx, timeout: the name is counted, among at most :data:`_MAX_MODEL_LABELS` such targets).
        A name the upstream refused (4xx, e.g. no such model) is booked as ``<provider id>/*`` and
        labelled ``other``, so names clients merely make up leave nothing behind."""
        trace = state.get(TRACE_KEY)
        routed = isinstance(trace, Trace) and trace.attempts > 0
        answered = routed and isinstance(trace, Trace) and trace.answered
        target = (trace.target or "") if routed and isinstance(trace, Trace) else ""
        provider = (trace.provider or "") if routed and isinstance(trace, Trace) else ""
        refused = not answered and status < 500  # the upstream refused the request (a 4xx: e.g. no such model)
        if target and refused and target not in self._configured:
            target = f"{provider}/*"
        elif target and not answered and target not in self._configured:
            target = self._failed_target(target, provider)
        model = ""
        if routed and meter.model:
            refused_name = refused and meter.model not in self._configured
            model = "other" if refused_name else self._model_label(meter.model)
        error = meter.error or (str(status) if status >= 400 else None)
        prompt, completion = meter.prompt_tokens, meter.completion_tokens
        cost = self.prices.cost_nanos(target, prompt, completion)
        self.book.add(
            key_id=key.id if key is not None else "-",
            target=target or "-",
            errors=1 if error else 0,
            input_tokens=prompt,
            output_tokens=completion,
            cost_nanos=cost,
        )
        self._record_live(state, meter, key, trace if routed else None, status, seconds, ttft, error)
        if self.metrics is not None:
            self.metrics.observe(
                operation=meter.operation,
                provider=provider,
                model=model,
                status=status,
                error=error,
                seconds=seconds,
                ttft=ttft,
                input_tokens=prompt,
                output_tokens=completion,
                cost_nanos=cost,
            )
        if key is not None and Limiter.limited(key):
            await self._charge(key, tokens=prompt + completion, cost_nanos=cost)

    def _record_live(
        self,
        state: dict[str, Any],
        meter: Meter,
        key: VirtualKey | None,
        trace: Any,
        status: int,
        seconds: float,
        ttft: float | None,
        error: str | None,
    ) -> None:
        routed = trace if isinstance(trace, Trace) else None
        prompt = state.get(PROMPT_STATE) if self.log_prompts else None
        self.live.record(
            LiveEntry(
                time=time.time(),
                request_id=str(state.get("request_id", "")),
                operation=meter.operation,
                key_id=key.id if key is not None else None,
                key_name=key.name if key is not None else None,
                model=meter.model,
                provider=routed.provider if routed is not None else None,
                target=routed.target if routed is not None else None,
                status=status,
                attempts=routed.attempts if routed is not None else 0,
                latency_ms=round(seconds * 1000, 1),
                ttft_ms=round(ttft * 1000, 1) if ttft is not None else None,
                input_tokens=meter.prompt_tokens,
                output_tokens=meter.completion_tokens,
                error=_error_text(state.get(ERROR_STATE), error),
                prompt=prompt if isinstance(prompt, str) else None,
            )
        )

    async def _charge(self, key: VirtualKey, *, tokens: int, cost_nanos: int) -> None:
        """Charge ``key`` in a task of its own; when :data:`_MAX_PENDING_CHARGES` are already on their way,
        wait for this one (the store is slow: this request's task waits, its answer has gone)."""

        async def charge() -> None:
            try:
                await self.limiter.charge(key, tokens=tokens, cost_nanos=cost_nanos)
            except Exception as exc:
                log.error("could not charge key %s (%d tokens, %d n$): %s", key.id, tokens, cost_nanos, exc)

        if len(self._charging) >= _MAX_PENDING_CHARGES:
            await charge()
            return
        task = asyncio.get_running_loop().create_task(charge())
        self._charging.add(task)
        task.add_done_callback(self._charging.discard)

    def _failed_target(self, target: str, provider: str) -> str:
        """``target`` for a request that failed upstream, while fewer than :data:`_MAX_MODEL_LABELS` such
        targets were seen; then ``<provider id>/*``."""
        if target not in self._failed_targets:
            if len(self._failed_targets) >= _MAX_MODEL_LABELS:
                return f"{provider}/*"
            self._failed_targets.add(target)
        return target

    def _model_label(self, model: str | None) -> str:
        """The model as a metric label; past :data:`_MAX_MODEL_LABELS` distinct names, ``other`` (a client
        can send ``<provider>/<anything>``, and every new name would be new series). Names are at most
        :data:`~hexgate.schemas.models.MAX_MODEL_NAME` characters (cut here too)."""
        if not model:
            return ""
        model = model[:MAX_MODEL_NAME]
        if model not in self._models:
            if len(self._models) >= _MAX_MODEL_LABELS:
                return "other"
            self._models.add(model)
        return model

    def finish_later(self, **kwargs: Any) -> None:
        """:meth:`finish` in a task of its own (for a request being cancelled)."""
        self._spawn(self.finish(**kwargs))
