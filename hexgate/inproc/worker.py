"""Generation events and chunks, and the thread path that produces them.

A model's engine reports each generation through a :data:`Sink`: :class:`Start`, :class:`Text`,
:class:`Finish` per choice, then the job's :class:`Outcome` (or a :class:`HexgateError`).
:func:`relay` turns those events into ``chat.completion.chunk`` objects (per choice a role chunk,
content chunks, a finish chunk; last a ``choices: []`` chunk with usage) and :func:`completion` an
outcome into a ``chat.completion``; :func:`run_choices` is the loop a job runs for ``n`` choices.

Providers run their engines in a worker process (:class:`hexgate.inproc.Supervisor`, which relays
these events over a pipe). :class:`Jobs` runs a job on a thread of the current process instead,
with one cancel flag per request, feeding the same :func:`relay`; ``benchmarks/inproc_bench.py``
uses it as the in-process baseline:

- :meth:`Jobs.complete` runs a job and builds the ``chat.completion``; a cancelled await sets the
  flag, which the engine checks before each token.
- :meth:`Jobs.stream` runs a job with a sink whose events cross to the loop through an
  ``asyncio.Queue`` fed with ``loop.call_soon_threadsafe``. Closing the iterator sets the flag.
- :meth:`Jobs.close` sets every flag, so running generations end at their next token and later
  calls raise :class:`UpstreamError`.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec

from hexgate.errors import HexgateError, UpstreamError
from hexgate.schemas.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
)

__all__ = [
    "Done",
    "Event",
    "Failed",
    "Finish",
    "Generated",
    "Jobs",
    "Outcome",
    "Run",
    "Sink",
    "Start",
    "Text",
    "as_hexgate",
    "completion",
    "relay",
    "run_choices",
]

T = TypeVar("T")


class Generated(Protocol):
    """What an engine returns for one choice."""

    @property
    def text(self) -> str: ...

    @property
    def finish_reason(self) -> str | None: ...

    @property
    def completion_tokens(self) -> int: ...


G = TypeVar("G", bound=Generated)


class _Seeded(Protocol):
    @property
    def seed(self) -> int | None: ...


S = TypeVar("S", bound=_Seeded)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A finished job: the prompt's length in tokens and one :class:`Generated` per choice."""

    prompt_tokens: int
    generations: Sequence[Generated]

    def usage(self) -> Usage:
        """OpenAI usage: the prompt counted once, the completions summed over the choices."""
        completion = sum(g.completion_tokens for g in self.generations)
        return Usage(
            prompt_tokens=self.prompt_tokens, completion_tokens=completion, total_tokens=self.prompt_tokens + completion
        )


# what a worker thread sends to a streaming consumer
class Start(msgspec.Struct, frozen=True):
    """Choice ``index`` begins (becomes its role chunk)."""

    index: int


class Text(msgspec.Struct, frozen=True):
    """The next settled piece of choice ``index``'s text."""

    index: int
    text: str


class Finish(msgspec.Struct, frozen=True):
    """Choice ``index`` ended for ``reason`` (``stop`` | ``length``)."""

    index: int
    reason: str | None


class Done(msgspec.Struct, frozen=True):
    """The job ended; its outcome carries the usage."""

    outcome: Outcome


class Failed(msgspec.Struct, frozen=True):
    """The job failed; the consumer raises ``error``."""

    error: HexgateError


Event = Start | Text | Finish | Done | Failed
Sink = Callable[[Event], None]
Run = Callable[[threading.Event, Sink | None], Outcome]
"""A job, called on the worker thread with its cancel flag and, when streaming, a sink for its events.
It raises only :class:`HexgateError` (see :func:`as_hexgate`)."""


def as_hexgate(exc: BaseException) -> HexgateError:
    """``exc`` itself when it is a hexgate error, else an :class:`UpstreamError` (502) naming it."""
    if isinstance(exc, HexgateError):
        return exc
    return UpstreamError(f"the local model failed: {type(exc).__name__}: {exc}")


def _ignore(text: str) -> None:
    return None


def _for_choice(sampling: S, index: int) -> S:
    """``sampling`` for choice ``index``: with a seed and ``n`` > 1 each choice gets ``seed + index``,
    so the choices differ but repeat from one request to the next."""
    if sampling.seed is None or not index:
        return sampling
    replaced: S = msgspec.structs.replace(
        # ``sampling`` is the engine's own msgspec Struct; the protocol only says it has a seed
        sampling,  # type: ignore[type-var]
        seed=sampling.seed + index,
    )
    return replaced


def run_choices(
    *,
    n: int,
    sampling: S,
    sink: Sink | None,
    generate: Callable[[S, Callable[[str], None]], G],
    cancelled: Callable[[G], bool],
) -> list[G]:
    """On the worker thread: generate ``n`` choices one after another and return them.

    ``generate(sampling, on_text)`` produces one choice, calling ``on_text`` with each settled piece of
    text; ``sampling`` is a msgspec Struct with a ``seed`` field, re-seeded per choice
    (``seed + index``). With a ``sink``, each choice is framed by :class:`Start` and :class:`Finish`
    and its pieces sent as :class:`Text`. Stops after a choice for which ``cancelled`` is true
    (returned, without a :class:`Finish`).
    """
    generations: list[G] = []
    for index in range(n):
        on_text: Callable[[str], None] = _ignore
        if sink is not None:
            sink(Start(index))
            on_text = lambda text, i=index: sink(Text(i, text))  # type: ignore[misc]  # noqa: E731
        generation = generate(_for_choice(sampling, index), on_text)
        generations.append(generation)
        if cancelled(generation):
            break
        if sink is not None:
            sink(Finish(index, generation.finish_reason))
    return generations


def completion(outcome: Outcome, *, model: str) -> ChatCompletion:
    """``outcome`` as a ``chat.completion`` (a fresh id, ``model`` as given, usage from the outcome)."""
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        choices=[
            Choice(
                index=i,
                message=AssistantMessage(content=g.text, refusal=None, annotations=[]),
                finish_reason=g.finish_reason,
            )
            for i, g in enumerate(outcome.generations)
        ],
        usage=outcome.usage(),
    )


async def relay(events: AsyncIterator[Event], *, model: str) -> AsyncGenerator[ChatCompletionChunk, None]:
    """``events`` (one job's, in order) as ``chat.completion.chunk`` objects: per choice a role chunk,
    a content chunk per :class:`Text`, a finish chunk; at :class:`Done` a ``choices: []`` chunk with
    the usage, then the end. Raises the error of a :class:`Failed`."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=cid, created=created, model=model, choices=choices, usage=usage if usage else msgspec.UNSET
        )

    async for event in events:
        if isinstance(event, Text):
            yield chunk([ChunkChoice(index=event.index, delta=Delta(content=event.text), logprobs=None)])
        elif isinstance(event, Start):
            delta = Delta(role="assistant", content="", refusal=None)
            yield chunk([ChunkChoice(index=event.index, delta=delta, logprobs=None)])
        elif isinstance(event, Finish):
            yield chunk([ChunkChoice(index=event.index, delta=Delta(), finish_reason=event.reason, logprobs=None)])
        elif isinstance(event, Done):
            yield chunk([], event.outcome.usage())
            return
        else:
            raise event.error


class Jobs:
    """The generations one provider runs on its worker threads; ``provider`` names it in errors.

    ``active`` holds the cancel flag of every request in flight (empty once all have ended).
    """

    def __init__(self, *, provider: str) -> None:
        self._provider = provider
        self.active: set[threading.Event] = set()
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    def close(self) -> bool:
        """Set every request's cancel flag and refuse new work; False when already closed."""
        if self._closed:
            return False
        self._closed = True
        for flag in list(self.active):
            flag.set()
        return True

    def _check_open(self) -> None:
        if self._closed:
            raise UpstreamError(f"the {self._provider} provider is shutting down")

    async def call(self, executor: Executor, func: Callable[[], T]) -> T:
        """``func()`` on ``executor``; raises :class:`UpstreamError` once closed."""
        self._check_open()
        return await asyncio.get_running_loop().run_in_executor(executor, func)

    async def complete(self, executor: Executor, run: Run, *, model: str) -> ChatCompletion:
        """Run ``run`` on ``executor`` and answer with a ``chat.completion`` (``model`` as given, usage
        from the outcome). A cancelled await sets the job's flag, so the worker stops at its next token."""
        cancel = threading.Event()
        self.active.add(cancel)
        try:
            outcome = await self.call(executor, lambda: run(cancel, None))
        finally:
            cancel.set()
            self.active.discard(cancel)
        return completion(outcome, model=model)

    async def stream(self, executor: Executor, run: Run, *, model: str) -> AsyncGenerator[ChatCompletionChunk, None]:
        """Run ``run`` on ``executor`` with a sink, yielding its events as chunks as they arrive.

        Raises :class:`UpstreamError` when closed, and the job's own :class:`HexgateError` where it
        failed. Closing the iterator sets the job's flag; events sent after that are dropped unread.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        cancel = threading.Event()

        def sink(event: Event) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the loop is gone: nobody is listening
                cancel.set()

        def work() -> None:
            try:
                sink(Done(run(cancel, sink)))
            except HexgateError as exc:
                sink(Failed(exc))

        async def events() -> AsyncGenerator[Event, None]:
            while True:
                yield await queue.get()

        self.active.add(cancel)
        try:
            loop.run_in_executor(executor, work)
            async with aclosing(relay(events(), model=model)) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            cancel.set()
            self.active.discard(cancel)
