"""OpenTelemetry traces: Litestar's OpenTelemetry plugin makes the server span of each request, and
:class:`AttemptSpans` a client span for each upstream attempt (each provider call the resilience
layer makes: a fallback or a retry is one more span; the native Responses and Messages calls and image
generation one each), following the GenAI semantic conventions::

    span name   "<gen_ai.operation.name> <gen_ai.request.model>", kind CLIENT
    attributes  gen_ai.operation.name (chat | embeddings | generate_content for images),
                gen_ai.provider.name (hexgate's provider id),
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
from typing import Any

from hexgate.errors import Unsupported
from hexgate.protocol import CallContext
from hexgate.registry import Registry
from hexgate.schemas.chat import ChatCompletionChunk

__all__ = ["AttemptSpans", "available", "instrument", "make_tracer_provider", "plugin"]

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
    """Make ``registry``'s upstream attempts traced: its :attr:`~hexgate.registry.Registry.spans` hook
    starts spans on ``tracer`` (an OpenTelemetry ``Tracer``). The providers themselves are untouched."""
    registry.spans = AttemptSpans(tracer)


class AttemptSpans:
    """The :class:`hexgate.trace.Spans` hook on an OpenTelemetry ``Tracer``: one CLIENT span per
    attempt, named and attributed as the module doc says."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer

    def start(self, operation: str, provider_id: str, ctx: CallContext) -> _AttemptSpan:
        from opentelemetry.trace import SpanKind

        span = self._tracer.start_span(
            f"{operation} {ctx.model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": provider_id,
                "gen_ai.request.model": ctx.model,
                "hexgate.request_id": ctx.request_id,
            },
        )
        return _AttemptSpan(span)


class _AttemptSpan:
    """An OpenTelemetry span and what a stream told it so far (finish reasons, usage)."""

    __slots__ = ("_reasons", "_span", "_usage")

    def __init__(self, span: Any) -> None:
        self._span = span
        self._reasons: list[str] = []
        self._usage: Any = None

    def answered(self, result: object) -> None:
        _answered(self._span, result)
        _usage(self._span, getattr(result, "usage", None))

    def chunk(self, chunk: ChatCompletionChunk) -> None:
        if chunk.usage:
            self._usage = chunk.usage
        for choice in chunk.choices:
            if choice.finish_reason:
                self._reasons.append(choice.finish_reason)

    def failed(self, exc: BaseException) -> None:
        _failed(self._span, exc)

    def end(self) -> None:
        if self._reasons:
            self._span.set_attribute("gen_ai.response.finish_reasons", self._reasons)
        _usage(self._span, self._usage)
        self._span.end()


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
    for attribute, names in (
        ("gen_ai.usage.input_tokens", ("prompt_tokens", "input_tokens")),  # chat, embeddings; images
        ("gen_ai.usage.output_tokens", ("completion_tokens", "output_tokens")),
    ):
        for name in names:
            value = getattr(usage, name, None)
            if isinstance(value, int):
                span.set_attribute(attribute, value)
                break
