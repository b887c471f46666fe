"""The resilient call path: fallbacks, retries with backoff, circuit breaking, timeouts.

One request walks its :class:`~hexgate.registry.Plan` (``registry.plan(model)``) in rounds::

    round 1   every target once, in plan order; a retryable failure moves on at once (fallback)
    round 2…  the targets that failed retryably, again, after an exponential backoff with jitter
              (tenacity's ``wait_exponential_jitter``: ``backoff`` doubled per round, capped at
              ``backoff_max``) or the upstream's ``retry-after`` when longer; ``retries`` rounds at most

Retryable (fallback and retry): :class:`UpstreamConnectError`, :class:`UpstreamTimeout`,
:class:`UpstreamRateLimited` (429), :class:`UpstreamOverloaded` (503) and any other
:class:`UpstreamError` (5xx, unreadable answer). :class:`UpstreamAuthError` falls back but is not
retried on the same target; neither is a target whose ``retry-after`` exceeds ``max_retry_wait``.
:class:`UpstreamRejected` and every :class:`InvalidRequest` end the request at once: the client has
to fix something. Nothing is retried once part of a stream reached the client: streams switch
target only until their first chunk. Everything stops at the plan's ``total`` deadline; when every
attempt failed the last error is raised (its status, envelope and ``retry-after``).

Timeouts (:class:`~hexgate.settings.Timeouts`): ``connect`` per attempt on the provider's HTTP
client, ``first_byte`` per attempt (a stream's first chunk, a non-streamed call's answer),
``idle`` between stream chunks, ``total`` for the request. Each raises :class:`UpstreamTimeout`
(504; an error frame once a stream has started).

Public entry points, for routes and for the Responses bridge::

    await chat(registry, request, ctx, trace=trace)          -> ChatCompletion
    await embed(registry, request, ctx, trace=trace)         -> EmbeddingResponse
    opened = await open_stream(registry, request, ctx, trace=trace)
        opened.first (first chunk or None), opened.chunks (the rest, guarded), await opened.aclose()
    opened = await open_frames(registry, request, ctx, want_usage=..., trace=trace)
        the same, where runs of chunks needing no change may come as ChunkFrames (bytes to forward)
    await start(registry, model, ctx, op, trace=trace)       -> whatever op(route, ctx, deadline) starts

``ctx`` is a template: each attempt gets a copy with the target's model id and the time left.
A :class:`~hexgate.trace.Trace` (re-exported here) records which target answered and after how
many attempts (the middleware sends it as ``x-hexgate-provider`` / ``x-hexgate-attempts``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from hexgate.alarm import Alarm
from hexgate.errors import (
    HexgateError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from hexgate.protocol import CallContext, RelaysFrames
from hexgate.registry import CONNECT_TIMEOUT, Plan, Registry, Route
from hexgate.schemas.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkFrames,
    estimate_prompt_tokens,
)
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from hexgate.trace import Trace, traced, traced_chunks

__all__ = [
    "OpenedStream",
    "Trace",
    "chat",
    "close_quietly",
    "drain_later",
    "embed",
    "is_retryable",
    "log_cancelled",
    "open_frames",
    "open_stream",
    "settle_drains",
    "start",
]

log = logging.getLogger("hexgate.resilience")
usage_log = logging.getLogger("hexgate.usage")

T = TypeVar("T")
C = TypeVar("C")


def is_retryable(exc: BaseException) -> bool:
    """True for failures another attempt may not have: connection errors, timeouts, 429, 5xx."""
    return isinstance(exc, UpstreamError) and not isinstance(exc, UpstreamRejected)


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, UpstreamRateLimited | UpstreamOverloaded):
        return exc.retry_after
    return None


class _Rounds:
    """Which target each attempt goes to: the plan's order, then again the targets that may be retried."""

    def __init__(self, plan: Plan, *, max_retry_wait: float) -> None:
        self.queue = list(plan.routes)
        self.later: list[Route] = []
        self.tries: dict[str, int] = {}
        self.retry_after: dict[str, float] = {}
        self.retries = plan.retries
        self.max_retry_wait = max_retry_wait
        self.last: Route | None = None

    def peek(self) -> Route | None:
        if self.queue:
            return self.queue[0]
        return self.later[0] if self.later else None

    def take(self) -> Route:
        if not self.queue:
            self.queue, self.later = self.later, []
        route = self.queue.pop(0)
        self.tries[route.target] = self.tries.get(route.target, 0) + 1
        self.last = route
        return route

    def failed(self, route: Route, exc: BaseException) -> None:
        if not is_retryable(exc) or isinstance(exc, UpstreamAuthError):
            return
        wait = _retry_after(exc)
        if wait is not None and wait > self.max_retry_wait:
            return
        if self.tries[route.target] <= self.retries:
            self.later.append(route)
            if wait is not None:
                self.retry_after[route.target] = wait
            else:
                self.retry_after.pop(route.target, None)

    def wait_before(self, route: Route | None, backoff: wait_exponential_jitter) -> float:
        """No wait before a target this request has not tried yet; else backoff or retry-after."""
        if route is None:
            return 0.0
        tries = self.tries.get(route.target, 0)
        if tries == 0:
            return 0.0
        state = cast(RetryCallState, _AttemptNumber(tries))
        return max(float(backoff(state)), self.retry_after.get(route.target, 0.0))


class _AttemptNumber:
    """The one field tenacity's wait strategies read, numbered per target rather than per request."""

    __slots__ = ("attempt_number",)

    def __init__(self, n: int) -> None:
        self.attempt_number = n


async def _walk(
    registry: Registry,
    plan: Plan,
    trace: Trace,
    attempt: Callable[[Route, float], Awaitable[T]],
) -> T:
    """Run ``attempt(route, seconds_left)`` over the plan until one succeeds (see the module doc)."""
    routing = registry.settings.routing
    loop = asyncio.get_running_loop()
    total = plan.timeouts.total or registry.settings.server.request_timeout
    deadline = loop.time() + total
    rounds = _Rounds(plan, max_retry_wait=routing.max_retry_wait)
    backoff = wait_exponential_jitter(initial=routing.backoff, max=routing.backoff_max, jitter=routing.backoff)

    def wait(state: RetryCallState) -> float:
        return rounds.wait_before(rounds.peek(), backoff)

    def stop(state: RetryCallState) -> bool:
        return rounds.peek() is None or loop.time() + state.upcoming_sleep >= deadline

    def announce(number: int, exc: BaseException | None, pause: float) -> None:
        nxt = rounds.peek()
        log.info(
            "%s: attempt %d on %s failed (%s); next: %s%s",
            plan.name,
            number,
            rounds.last.target if rounds.last else "?",
            exc.message if isinstance(exc, HexgateError) else type(exc).__name__,
            nxt.target if nxt else "none",
            f" in {pause:.2f} s" if pause else "",
        )

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        announce(state.attempt_number + 1, exc, state.upcoming_sleep)

    async def once() -> T:
        route = rounds.take()
        trace.note(route)
        left = deadline - loop.time()
        try:
            if left <= 0:
                raise UpstreamTimeout(f"no answer for {plan.name!r} within {total:g} s")
            result = await attempt(route, left)
        except HexgateError as exc:
            rounds.failed(route, exc)
            if is_retryable(exc):
                registry.record(route, failed=True, retry_after=_retry_after(exc))
            raise
        registry.record(route, failed=False)
        trace.answered = True
        return result

    # The first attempt runs outside tenacity, whose machinery costs ~15 µs a request (benchmarks/README.md):
    # most requests end here. A retryable failure is then judged as tenacity judges the later ones.
    try:
        return await once()
    except HexgateError as exc:
        if not is_retryable(exc):
            raise
        pause = rounds.wait_before(rounds.peek(), backoff)
        if rounds.peek() is None or loop.time() + pause >= deadline:
            raise
        announce(1, exc, pause)
        if pause:
            await asyncio.sleep(pause)

    retrying = AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for try_ in retrying:  # the second attempt on
        with try_:
            return await once()
    raise AssertionError("unreachable: tenacity either returns or reraises")  # pragma: no cover


async def _timed(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """``awaitable`` within ``seconds``; past it a :class:`UpstreamTimeout` naming ``what``."""
    cm = asyncio.timeout(seconds)
    try:
        async with cm:
            return await awaitable
    except TimeoutError:
        if cm.expired():
            raise UpstreamTimeout(f"{what} within {seconds:g} s") from None
        raise


def _limit(route: Route, left: float) -> float:
    """Seconds one attempt on ``route`` may wait for its answer to start."""
    limit = left if route.timeouts.total is None else min(left, route.timeouts.total)
    first_byte = route.timeouts.first_byte
    return limit if first_byte is None else min(limit, first_byte)


async def _call(
    registry: Registry,
    model: str,
    ctx: CallContext,
    trace: Trace | None,
    op: Callable[[Route, CallContext], Awaitable[T]],
    *,
    prompt_estimate: Callable[[], int],
) -> T:
    plan = registry.plan(model)
    trace = trace if trace is not None else Trace()

    async def attempt(route: Route, left: float) -> T:
        limit = _limit(route, left)
        token = CONNECT_TIMEOUT.set(route.timeouts.connect)
        try:
            call_ctx = msgspec.structs.replace(ctx, model=route.model, timeout=limit)
            return await _timed(op(route, call_ctx), limit, f"{route.provider_id} did not answer")
        finally:
            CONNECT_TIMEOUT.reset(token)

    try:
        return await _walk(registry, plan, trace, attempt)
    except asyncio.CancelledError:
        log_cancelled(ctx.request_id, trace, prompt_tokens=prompt_estimate(), completion_tokens=0, streamed=False)
        raise


async def chat(
    registry: Registry, request: ChatCompletionRequest, ctx: CallContext, *, trace: Trace | None = None
) -> ChatCompletion:
    """A non-streamed chat completion for ``request.model`` through its plan. Raises the error tree;
    a client disconnect (cancellation) is logged with the usage known so far and propagates."""

    async def op(route: Route, call_ctx: CallContext) -> ChatCompletion:
        return await traced(
            registry.spans, "chat", route.provider_id, call_ctx, lambda: route.provider.chat(request, call_ctx)
        )

    return await _call(registry, request.model, ctx, trace, op, prompt_estimate=lambda: estimate_prompt_tokens(request))


async def embed(
    registry: Registry, request: EmbeddingRequest, ctx: CallContext, *, trace: Trace | None = None
) -> EmbeddingResponse:
    """Embeddings for ``request.model`` through its plan; same rules as :func:`chat`."""

    async def op(route: Route, call_ctx: CallContext) -> EmbeddingResponse:
        return await traced(
            registry.spans, "embeddings", route.provider_id, call_ctx, lambda: route.provider.embed(request, call_ctx)
        )

    return await _call(registry, request.model, ctx, trace, op, prompt_estimate=lambda: 0)


class OpenedStream(Generic[C]):
    """A chat stream that has produced its first chunk (or ended without any): ``first``, then
    ``chunks`` for the rest, guarded by the ``idle`` and ``total`` timeouts; a mid-stream upstream
    failure counts against the target's circuit. ``aclose()`` releases the upstream call. ``C`` is
    :class:`ChatCompletionChunk` (:func:`open_stream`), or that or
    :class:`~hexgate.schemas.chat.ChunkFrames` (:func:`open_frames`)."""

    def __init__(
        self,
        *,
        registry: Registry,
        route: Route,
        first: C | None,
        upstream: AsyncIterator[C],
        deadline: float,
        batched: bool = False,
    ) -> None:
        self.route = route
        self.first = first
        self.batched = batched
        """True when the chunks mark the end of each upstream read with
        :data:`~hexgate.schemas.chat.READ_END` (:class:`~hexgate.protocol.RelaysFrames`)."""
        self._registry = registry
        self._upstream = upstream
        self._deadline = deadline
        self.chunks: AsyncIterator[C] = self._guarded()

    async def _guarded(self) -> AsyncIterator[C]:
        loop = asyncio.get_running_loop()
        idle = self.route.timeouts.idle
        alarm = Alarm()  # one timer for the whole stream (asyncio.timeout would make one per read)
        try:
            while True:
                left = self._deadline - loop.time()
                limit = left if idle is None else min(idle, left)
                alarm.arm(limit)
                try:
                    chunk = await anext(self._upstream)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if alarm.expired():
                        what = "the stream went silent" if limit != left else "the stream did not finish"
                        raise UpstreamTimeout(f"{what} within {max(limit, 0.0):g} s") from None
                    raise
                finally:
                    alarm.disarm()
                yield chunk
        except UpstreamError as exc:
            if is_retryable(exc):
                self._registry.record(self.route, failed=True, retry_after=_retry_after(exc))
            raise
        finally:
            alarm.close()
            await close_quietly(self._upstream)

    async def aclose(self) -> None:
        await close_quietly(self.chunks)
        await close_quietly(self._upstream)


async def open_stream(
    registry: Registry, request: ChatCompletionRequest, ctx: CallContext, *, trace: Trace | None = None
) -> OpenedStream[ChatCompletionChunk]:
    """Start ``provider.stream_chat`` on the plan's targets until one yields its first chunk within
    ``first_byte``; earlier failures fall back and retry as :func:`chat` does. Raises the error tree
    when every attempt failed (nothing has reached the client then)."""

    def call(route: Route, call_ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        return route.provider.stream_chat(request, call_ctx)

    return await _open(registry, request, ctx, trace, call, frames=False)


_RELAYS_FRAMES: dict[type[Any], bool] = {}


def _relays_frames(provider: object) -> bool:
    """``isinstance(provider, RelaysFrames)``, known per provider class: the check of a runtime
    Protocol costs several µs per call."""
    kind = type(provider)
    known = _RELAYS_FRAMES.get(kind)
    if known is None:
        known = _RELAYS_FRAMES[kind] = isinstance(provider, RelaysFrames)
    return known


async def open_frames(
    registry: Registry,
    request: ChatCompletionRequest,
    ctx: CallContext,
    *,
    want_usage: bool,
    trace: Trace | None = None,
) -> OpenedStream[ChatCompletionChunk | ChunkFrames]:
    """:func:`open_stream` for a route that forwards bytes: a provider that
    :class:`~hexgate.protocol.RelaysFrames` is asked for ``stream_chat_frames`` (``want_usage``: the
    client asked for usage), any other for ``stream_chat``."""

    def call(route: Route, call_ctx: CallContext) -> AsyncIterator[ChatCompletionChunk | ChunkFrames]:
        provider = route.provider
        if _relays_frames(provider):
            return cast(RelaysFrames, provider).stream_chat_frames(request, call_ctx, want_usage=want_usage)
        return provider.stream_chat(request, call_ctx)

    return await _open(registry, request, ctx, trace, call, frames=True)


async def _open(
    registry: Registry,
    request: ChatCompletionRequest,
    ctx: CallContext,
    trace: Trace | None,
    call: Callable[[Route, CallContext], AsyncIterator[C]],
    *,
    frames: bool,
) -> OpenedStream[C]:
    plan = registry.plan(request.model)
    trace = trace if trace is not None else Trace()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (plan.timeouts.total or registry.settings.server.request_timeout)

    async def attempt(route: Route, left: float) -> OpenedStream[C]:
        limit = _limit(route, left)
        token = CONNECT_TIMEOUT.set(route.timeouts.connect)
        call_ctx = msgspec.structs.replace(ctx, model=route.model, timeout=left)
        upstream = traced_chunks(registry.spans, route.provider_id, call_ctx, lambda: call(route, call_ctx))
        try:
            first = await _timed(anext(upstream, None), limit, f"{route.provider_id} did not start streaming")
        except BaseException:
            await close_quietly(upstream)
            raise
        finally:
            CONNECT_TIMEOUT.reset(token)
        batched = frames and _relays_frames(route.provider)
        return OpenedStream(
            registry=registry, route=route, first=first, upstream=upstream, deadline=deadline, batched=batched
        )

    try:
        return await _walk(registry, plan, trace, attempt)
    except asyncio.CancelledError:
        log_cancelled(
            ctx.request_id, trace, prompt_tokens=estimate_prompt_tokens(request), completion_tokens=0, streamed=True
        )
        raise


async def start(
    registry: Registry,
    model: str,
    ctx: CallContext,
    op: Callable[[Route, CallContext, float], Awaitable[T]],
    *,
    trace: Trace | None = None,
    prompt_estimate: Callable[[], int] = lambda: 0,
) -> T:
    """Run ``op(route, call_ctx, deadline)`` on the plan's targets until one succeeds, with the
    fallbacks, retries and ``first_byte`` limit of :func:`open_stream`: for routes that pick what to
    call per target (a native dialect or a bridge). ``op`` returns once its answer has started;
    ``deadline`` (``loop.time()`` seconds) is the request's total, for an :class:`OpenedStream`.
    ``op`` must release what it opened when it fails or is cancelled."""
    plan = registry.plan(model)
    trace = trace if trace is not None else Trace()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (plan.timeouts.total or registry.settings.server.request_timeout)

    async def attempt(route: Route, left: float) -> T:
        limit = _limit(route, left)
        token = CONNECT_TIMEOUT.set(route.timeouts.connect)
        try:
            call_ctx = msgspec.structs.replace(ctx, model=route.model, timeout=left)
            return await _timed(op(route, call_ctx, deadline), limit, f"{route.provider_id} did not start answering")
        finally:
            CONNECT_TIMEOUT.reset(token)

    try:
        return await _walk(registry, plan, trace, attempt)
    except asyncio.CancelledError:
        log_cancelled(ctx.request_id, trace, prompt_tokens=prompt_estimate(), completion_tokens=0, streamed=True)
        raise


def log_cancelled(
    request_id: str, trace: Trace | None, *, prompt_tokens: int, completion_tokens: int, streamed: bool
) -> None:
    """Record the usage of a request its client abandoned (one ``hexgate.usage`` log record with the
    figures in ``extra["usage"]``; prompt tokens are the local estimate when the upstream sent none)."""
    target = trace.target if trace is not None else None
    usage: dict[str, Any] = {
        "request_id": request_id,
        "status": "cancelled",
        "target": target,
        "attempts": trace.attempts if trace is not None else 0,
        "streamed": streamed,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
    }
    usage_log.info(
        "request %s cancelled by the client (target %s): %d prompt, %d completion tokens so far",
        request_id,
        target or "none",
        prompt_tokens,
        completion_tokens,
        extra={"usage": usage},
    )


async def close_quietly(iterator: AsyncIterator[Any]) -> None:
    """Close an upstream iterator; a failure while closing is logged, never raised, so that it
    cannot break an answer that is already on its way to the client."""
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception as exc:
            log.warning("closing the upstream stream failed: %s: %s", type(exc).__name__, exc)


_DRAIN_SECONDS = 5.0
"""How long the rest of a finished upstream stream may take to arrive (:func:`drain_later`)."""
_MAX_DRAINS = 1024
_drains: set[asyncio.Task[None]] = set()


def drain_later(iterator: AsyncIterator[Any]) -> bool:
    """Read the rest of an upstream stream whose answer is already complete (the chat relay sends
    ``[DONE]`` at the upstream's last chunk, before the upstream's own ``[DONE]``) in a background task,
    then close it: read to its end, the upstream connection goes back to the pool instead of being
    dropped (a new TCP and TLS handshake for the next request), and neither the client's answer nor
    its going away waits for it or cuts it short. At most :data:`_DRAIN_SECONDS` seconds, at most
    :data:`_MAX_DRAINS` at once; False when that many run already (then close it yourself)."""
    if len(_drains) >= _MAX_DRAINS:
        return False
    task = asyncio.get_running_loop().create_task(_drain(iterator))
    _drains.add(task)
    task.add_done_callback(_drains.discard)
    return True


async def _drain(iterator: AsyncIterator[Any]) -> None:
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in iterator:
                pass
    except TimeoutError:
        log.info("the upstream stream did not end within %g s of its last chunk; closed", _DRAIN_SECONDS)
    except Exception:
        log.warning("reading the upstream stream after its last chunk failed", exc_info=True)
    finally:
        await close_quietly(iterator)


async def settle_drains() -> None:
    """Stop the drains still running (:func:`drain_later`), at shutdown, before the clients close."""
    tasks = [task for task in _drains if task.get_loop() is asyncio.get_running_loop()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
