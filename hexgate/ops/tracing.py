"""OpenTelemetry traces: Litestar's OpenTelemetry plugin makes the server span of each request, and
:class:`TracedProvider` a client span for each upstream attempt (each provider call the resilience
layer makes: a fallback or a retry is one more span), following the GenAI semantic conventions::

    span name   "<gen_ai.operation.name> <gen_ai.request.model>", kind CLIENT
    attributes  gen_ai.operation.name (chat | embeddings), gen_ai.provider.name (hexgate's provider id),
                gen_ai.request.model (the upstream's model id), gen_ai.response.model, gen_ai.response.id,
                gen_ai.response.finish_reasons, gen_ai.usage.input_tokens, gen_ai.usage.output_tokens,
                error.type (on failure), hexgate.request_id

Turned on by ``[telemetry] traces = true``; exported as the standard variables say:
``OTEL_TRACES_EXPORTER`` (``otlp`` by default, ``console`` or ``none``), ``OTEL_EXPORTER_OTLP_ENDPOINT``
/ ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``. The OTLP exporter is optional (``hexgate[otlp]``); without it hexgate
logs a warning and records spans for nothing. No prompt or completion text goes into spans.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from hexgate.errors import Unsupported
from hexgate.protocol import CallContext
from hexgate.registry import Registry

__all__ = ["TracedProvider", "available", "instrument", "make_tracer_provider", "plugin"]

log = logging.getLogger("hexgate.ops.tracing")


def available() -> bool:
    """True when opentelemetry-sdk and the ASGI instrumentation Litestar's plugin needs are installed."""
    try:
        import opentelemetry.instrumentation.asgi
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def make_tracer_provider(*, service_name: str) -> Any:
    """An SDK ``TracerProvider`` exporting as ``OTEL_TRACES_EXPORTER`` says (see the module doc)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if kind == "none":
        return provider
    if kind == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        return provider
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        log.warning("traces are on but no OTLP exporter is installed (hexgate's 'otlp' extra); spans are dropped")
        return provider
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def plugin(tracer_provider: Any) -> Any:
    """Litestar's OpenTelemetry plugin: a server span per request (none for ``/health`` and ``/metrics``;
    no span per ASGI message, which for a stream would be one per chunk)."""
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return OpenTelemetryPlugin(
        OpenTelemetryConfig(
            tracer_provider=tracer_provider,
            exclude=[r"^/health$", r"^/metrics$"],
            exclude_spans=["receive", "send"],
        )
    )


def instrument(registry: Registry, tracer: Any) -> None:
    """Wrap every provider of ``registry`` in a :class:`TracedProvider` (once)."""
    registry.providers = {
        pid: p if isinstance(p, TracedProvider) else TracedProvider(pid, p, tracer)
        for pid, p in registry.providers.items()
    }


class TracedProvider:
    """A provider whose calls each make a client span; every other attribute is the provider's own."""

    def __init__(self, provider_id: str, inner: Any, tracer: Any) -> None:
        self._pid = provider_id
        self._inner = inner
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _start(self, operation: str, ctx: CallContext) -> Any:
        from opentelemetry.trace import SpanKind

        return self._tracer.start_span(
            f"{operation} {ctx.model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": self._pid,
                "gen_ai.request.model": ctx.model,
                "hexgate.request_id": ctx.request_id,
            },
        )

    async def chat(self, request: Any, ctx: CallContext) -> Any:
        span = self._start("chat", ctx)
        try:
            result = await self._inner.chat(request, ctx)
        except BaseException as exc:
            _failed(span, exc)
            raise
        else:
            _answered(span, result)
            _usage(span, getattr(result, "usage", None))
            return result
        finally:
            span.end()

    def stream_chat(self, request: Any, ctx: CallContext) -> AsyncIterator[Any]:
        return self._stream(request, ctx)

    async def _stream(self, request: Any, ctx: CallContext) -> AsyncIterator[Any]:
        span = self._start("chat", ctx)
        upstream = self._inner.stream_chat(request, ctx)
        usage = None
        reasons: list[str] = []
        try:
            async for chunk in upstream:
                if chunk.usage:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.finish_reason:
                        reasons.append(choice.finish_reason)
                yield chunk
        except BaseException as exc:
            _failed(span, exc)
            raise
        finally:
            closer = getattr(upstream, "aclose", None)
            try:
                if closer is not None:
                    await closer()
            finally:
                if reasons:
                    span.set_attribute("gen_ai.response.finish_reasons", reasons)
                _usage(span, usage)
                span.end()

    async def embed(self, request: Any, ctx: CallContext) -> Any:
        span = self._start("embeddings", ctx)
        try:
            result = await self._inner.embed(request, ctx)
        except BaseException as exc:
            _failed(span, exc)
            raise
        else:
            _usage(span, getattr(result, "usage", None))
            return result
        finally:
            span.end()

    async def respond(self, request: Any, ctx: CallContext) -> Any:
        span = self._start("chat", ctx)
        try:
            result = await self._inner.respond(request, ctx)
        except BaseException as exc:
            _failed(span, exc)
            span.end()
            raise
        if hasattr(result, "__aiter__"):
            return _events(result, span)
        span.end()
        return result

    async def messages(self, body: bytes, headers: Any, ctx: CallContext) -> Any:
        """The native Messages dialect when the provider has it; else ``Unsupported`` (the core bridges)."""
        native = getattr(self._inner, "messages", None)
        if native is None:
            raise Unsupported("this provider does not speak the Messages dialect natively")
        span = self._start("chat", ctx)
        try:
            result = await native(body, headers, ctx)
        except BaseException as exc:
            _failed(span, exc)
            span.end()
            raise
        if hasattr(result, "__aiter__"):
            return _events(result, span)
        span.end()
        return result


async def _events(events: Any, span: Any) -> AsyncIterator[Any]:
    try:
        async for event in events:
            yield event
    except BaseException as exc:
        _failed(span, exc)
        raise
    finally:
        closer = getattr(events, "aclose", None)
        try:
            if closer is not None:
                await closer()
        finally:
            span.end()


def _failed(span: Any, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    if isinstance(exc, GeneratorExit):
        return
    if type(exc).__name__ == "CancelledError":
        span.set_attribute("hexgate.cancelled", True)  # the client went away; not the upstream's failure
        return
    if isinstance(exc, Unsupported):
        span.set_attribute("hexgate.unsupported", True)  # the core bridges the operation instead
        return
    name = type(exc).__name__
    span.set_attribute("error.type", name)
    span.set_status(Status(StatusCode.ERROR, getattr(exc, "message", None) or name))


def _answered(span: Any, result: Any) -> None:
    for attribute, name in (("gen_ai.response.id", "id"), ("gen_ai.response.model", "model")):
        value = getattr(result, name, None)
        if isinstance(value, str):
            span.set_attribute(attribute, value)
    reasons = [c.finish_reason for c in getattr(result, "choices", None) or () if isinstance(c.finish_reason, str)]
    if reasons:
        span.set_attribute("gen_ai.response.finish_reasons", reasons)


def _usage(span: Any, usage: Any) -> None:
    if usage is None:
        return
    for attribute, name in (
        ("gen_ai.usage.input_tokens", "prompt_tokens"),
        ("gen_ai.usage.output_tokens", "completion_tokens"),
    ):
        value = getattr(usage, name, None)
        if isinstance(value, int):
            span.set_attribute(attribute, value)
