"""hexgate.inproc.worker with a scripted engine on a real worker thread: chunks in order, usage,
per-choice seeds, cancellation on close, shutdown, errors crossing from the thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import pytest

from hexgate.errors import InvalidRequest, UpstreamError
from hexgate.inproc import Jobs, Outcome, Run, Sink, as_hexgate, run_choices
from hexgate.testing import check_stream


class Params(msgspec.Struct, frozen=True, kw_only=True):
    seed: int | None = None
    words: tuple[str, ...] = ("Hello", " world")


class Gen(msgspec.Struct, kw_only=True):
    text: str
    finish_reason: str | None
    completion_tokens: int


class Engine:
    """Emits ``params.words`` one by one; with ``block`` it then waits for the cancel flag."""

    def __init__(self, *, block: bool = False) -> None:
        self.block = block
        self.seeds: list[int | None] = []
        self.started = threading.Event()

    def generate(self, params: Params, on_text: Callable[[str], None], cancel: threading.Event) -> Gen:
        self.seeds.append(params.seed)
        for word in params.words:
            on_text(word)
        self.started.set()
        if self.block:
            cancel.wait(10)
            return Gen(text="".join(params.words), finish_reason=None, completion_tokens=len(params.words))
        return Gen(text="".join(params.words), finish_reason="stop", completion_tokens=len(params.words))


def job(engine: Engine, *, n: int = 1, seed: int | None = None) -> Run:
    def run(cancel: threading.Event, sink: Sink | None) -> Outcome:
        generations = run_choices(
            n=n,
            sampling=Params(seed=seed),
            sink=sink,
            generate=lambda params, on_text: engine.generate(params, on_text, cancel),
            cancelled=lambda gen: gen.finish_reason is None,
        )
        return Outcome(prompt_tokens=7, generations=generations)

    return run


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


async def test_stream_frames_each_choice_and_ends_with_usage(pool: ThreadPoolExecutor) -> None:
    engine = Engine()
    jobs = Jobs(provider="test")
    chunks = [msgspec.to_builtins(c) async for c in jobs.stream(pool, job(engine, n=2, seed=5), model="m")]
    assert check_stream(chunks) == []
    assert {c["model"] for c in chunks} == {"m"}
    deltas = [(ch["index"], ch["delta"], ch["finish_reason"]) for c in chunks for ch in c["choices"]]
    assert deltas == [
        (0, {"role": "assistant", "content": "", "refusal": None}, None),
        (0, {"content": "Hello"}, None),
        (0, {"content": " world"}, None),
        (0, {}, "stop"),
        (1, {"role": "assistant", "content": "", "refusal": None}, None),
        (1, {"content": "Hello"}, None),
        (1, {"content": " world"}, None),
        (1, {}, "stop"),
    ]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert all("usage" not in c for c in chunks[:-1])
    assert engine.seeds == [5, 6]  # n > 1 with a seed: seed + index
    assert not jobs.active


async def test_complete_builds_the_completion(pool: ThreadPoolExecutor) -> None:
    engine = Engine()
    jobs = Jobs(provider="test")
    out = await jobs.complete(pool, job(engine, n=2), model="m")
    assert out.model == "m" and out.id.startswith("chatcmpl-")
    assert [(c.index, c.message.content, c.finish_reason) for c in out.choices] == [
        (0, "Hello world", "stop"),
        (1, "Hello world", "stop"),
    ]
    assert out.usage and (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (7, 4, 11)
    assert engine.seeds == [None, None]
    assert not jobs.active


async def test_closing_the_stream_cancels_the_job(pool: ThreadPoolExecutor) -> None:
    engine = Engine(block=True)
    jobs = Jobs(provider="test")
    stream = jobs.stream(pool, job(engine, n=3), model="m")
    first = await anext(stream)
    assert first.choices[0].delta.role == "assistant"
    assert len(jobs.active) == 1
    await stream.aclose()  # what the core does when the client disconnects
    assert not jobs.active
    # the worker is free again: the blocked generation saw its flag and no further choice ran
    follow_up = await jobs.complete(pool, job(Engine()), model="m")
    assert follow_up.choices[0].finish_reason == "stop"
    assert len(engine.seeds) == 1


async def test_close_stops_running_jobs_and_refuses_new_ones(pool: ThreadPoolExecutor) -> None:
    engine = Engine(block=True)
    jobs = Jobs(provider="test")
    stream = jobs.stream(pool, job(engine), model="m")
    await anext(stream)
    assert jobs.close() is True
    assert jobs.close() is False  # idempotent
    assert jobs.closed
    rest: list[Any] = [c async for c in stream]  # the open stream ends, it does not hang
    assert rest[-1].choices == []
    with pytest.raises(UpstreamError, match="the test provider is shutting down"):
        await jobs.complete(pool, job(Engine()), model="m")
    with pytest.raises(UpstreamError, match="shutting down"):
        await anext(jobs.stream(pool, job(Engine()), model="m"))
    with pytest.raises(UpstreamError, match="shutting down"):
        await jobs.call(pool, lambda: 1)


async def test_errors_cross_from_the_worker(pool: ThreadPoolExecutor) -> None:
    def failing(cancel: threading.Event, sink: Sink | None) -> Outcome:
        raise InvalidRequest("too long", param="messages", code="context_length_exceeded")

    jobs = Jobs(provider="test")
    with pytest.raises(InvalidRequest) as info:
        await anext(jobs.stream(pool, failing, model="m"))
    assert info.value.code == "context_length_exceeded"
    with pytest.raises(InvalidRequest):
        await jobs.complete(pool, failing, model="m")
    assert not jobs.active


def test_as_hexgate() -> None:
    own = InvalidRequest("bad", param="x")
    assert as_hexgate(own) is own
    wrapped = as_hexgate(RuntimeError("boom"))
    assert isinstance(wrapped, UpstreamError)
    assert wrapped.message == "the local model failed: RuntimeError: boom"


def test_run_choices_stops_after_a_cancelled_choice() -> None:
    events: list[Any] = []
    reasons = iter(["stop", None, "stop"])

    def generate(params: Params, on_text: Callable[[str], None]) -> Gen:
        on_text("x")
        return Gen(text="x", finish_reason=next(reasons), completion_tokens=1)

    done = run_choices(
        n=3, sampling=Params(), sink=events.append, generate=generate, cancelled=lambda g: g.finish_reason is None
    )
    assert [g.finish_reason for g in done] == ["stop", None]
    assert [type(e).__name__ for e in events] == ["Start", "Text", "Finish", "Start", "Text"]
