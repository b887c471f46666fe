"""What happened to one request on its way upstream.

- :class:`Trace`, kept in the ASGI scope's state under :data:`TRACE_KEY`: the resilient call path
  (:mod:`hexgate.resilience`) notes each attempt; the gateway middleware turns it into
  ``x-hexgate-provider`` / ``x-hexgate-attempts`` headers, and accounting books usage under the target
  that answered.
- :class:`Spans`: a hook that makes one span per upstream attempt (``registry.spans``; the
  OpenTelemetry one is :class:`hexgate.ops.tracing.AttemptSpans`). :func:`traced`,
  :func:`traced_chunks` and :func:`traced_events` put a call, a chat stream or a native answer inside
  one; with no hook they are the bare call. The provider is called directly, never through a proxy,
  so capability checks (``isinstance(provider, ImageProvider)``) see the provider itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from hexgate.protocol import CallContext
from hexgate.schemas.chat import ChatCompletionChunk

__all__ = ["TRACE_KEY", "AttemptSpan", "Spans", "Trace", "traced", "traced_chunks", "traced_events"]

TRACE_KEY = "hexgate_trace"
"""Where a request's :class:`Trace` lives in ``scope["state"]``."""

T = TypeVar("T")
C = TypeVar("C")


class _Target(Protocol):
    """What :meth:`Trace.note` reads of a :class:`~hexgate.registry.Route`."""

    @property
    def provider_id(self) -> str: ...

    @property
    def target(self) -> str: ...


class Trace:
    """What happened to one request: the target tried last (the one that answered, on success), how
    many upstream attempts were made, and whether the last one answered. A target that never answered
    is only a name a client sent: accounting keys nothing by it unless the config names it."""

    __slots__ = ("answered", "attempts", "provider", "target")

    def __init__(self) -> None:
        self.attempts = 0
        self.provider: str | None = None
        self.target: str | None = None
        self.answered = False

    def note(self, route: _Target, *, answered: bool = False) -> None:
        """An attempt on ``route`` (``answered``: one that has already succeeded)."""
        self.attempts += 1
        self.provider = route.provider_id
        self.target = route.target
        self.answered = answered


class AttemptSpan(Protocol):
    """One upstream attempt's span, ended exactly once."""

    def answered(self, result: object) -> None:
        """The call returned ``result`` (a completion, embeddings, images: its id, model, usage)."""

    def chunk(self, chunk: ChatCompletionChunk) -> None:
        """A stream chunk went by (finish reasons and usage are read from it)."""

    def failed(self, exc: BaseException) -> None:
        """The attempt raised ``exc`` (a cancellation or :class:`~hexgate.errors.Unsupported` is no failure)."""

    def end(self) -> None:
        """The attempt is over."""


class Spans(Protocol):
    """Starts the span of one upstream attempt."""

    def start(self, operation: str, provider_id: str, ctx: CallContext) -> AttemptSpan:
        """A span for ``operation`` (``chat``, ``embeddings``, ``generate_content``) on ``provider_id``,
        for ``ctx.model`` (the upstream's model id) and ``ctx.request_id``."""


async def traced(
    spans: Spans | None, operation: str, provider_id: str, ctx: CallContext, call: Callable[[], Awaitable[T]]
) -> T:
    """``await call()`` inside an attempt span; its result is recorded (:meth:`AttemptSpan.answered`)."""
    if spans is None:
        return await call()
    span = spans.start(operation, provider_id, ctx)
    try:
        result = await call()
    except BaseException as exc:
        span.failed(exc)
        raise
    else:
        span.answered(result)
        return result
    finally:
        span.end()


def traced_chunks(
    spans: Spans | None,
    provider_id: str,
    ctx: CallContext,
    stream: Callable[[], AsyncIterator[C]],
) -> AsyncIterator[C]:
    """``stream()``'s chunks inside a ``chat`` attempt span that ends when the stream is closed (the span
    reads :class:`ChatCompletionChunk` s; :class:`~hexgate.schemas.chat.ChunkFrames` go by unread:
    they carry no finish reason and no usage)."""
    if spans is None:
        return stream()
    return _chunks(spans, provider_id, ctx, stream)


async def _chunks(
    spans: Spans, provider_id: str, ctx: CallContext, stream: Callable[[], AsyncIterator[C]]
) -> AsyncIterator[C]:
    span = spans.start("chat", provider_id, ctx)
    upstream = stream()
    try:
        async for chunk in upstream:
            if isinstance(chunk, ChatCompletionChunk):
                span.chunk(chunk)
            yield chunk
    except BaseException as exc:
        span.failed(exc)
        raise
    finally:
        closer = getattr(upstream, "aclose", None)
        try:
            if closer is not None:
                await closer()
        finally:
            span.end()


async def traced_events(spans: Spans | None, provider_id: str, ctx: CallContext, call: Callable[[], Awaitable[T]]) -> T:
    """``await call()`` for a native dialect (Responses, Messages) inside a ``chat`` attempt span: an
    answer that is a stream (has ``__aiter__``) keeps the span open until it is closed."""
    if spans is None:
        return await call()
    span = spans.start("chat", provider_id, ctx)
    try:
        result = await call()
    except BaseException as exc:
        span.failed(exc)
        span.end()
        raise
    if isinstance(result, AsyncIterator):
        return _events(result, span)  # type: ignore[return-value]  # the same stream, observed
    span.end()
    return result


async def _events(events: AsyncIterator[T], span: AttemptSpan) -> AsyncIterator[T]:
    try:
        async for event in events:
            yield event
    except BaseException as exc:
        span.failed(exc)
        raise
    finally:
        closer = getattr(events, "aclose", None)
        try:
            if closer is not None:
                await closer()
        finally:
            span.end()
