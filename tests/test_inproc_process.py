"""hexgate.inproc.Supervisor with a scripted worker process (tests/_inproc_scripted.py, no model):
pieces relayed as they are sent, errors crossing with their status and param, a queued call
cancelled without running, an exit reported and the worker restarted, nothing left after close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hexgate.errors import InvalidRequest, UpstreamError
from hexgate.inproc import Supervisor


@pytest.fixture
async def worker(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # the worker gets this process's sys.path
    supervisor = Supervisor(
        provider="scripted", label="scripted worker", target="_inproc_scripted:Scripted", config=b"v1", backoff=0.05
    )
    await supervisor.start()
    yield supervisor
    await supervisor.aclose()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_ready_logs_the_info_line(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    caplog.set_level(logging.INFO, logger="hexgate.inproc")
    supervisor = Supervisor(
        provider="scripted", label="scripted worker", target="_inproc_scripted:Scripted", config=b"x"
    )
    await supervisor.start()
    await supervisor.aclose()
    (ready,) = [r.getMessage() for r in caplog.records if "ready" in r.getMessage()]
    assert ready.endswith(": scripted (x)")


async def test_pieces_are_relayed_before_the_call_ends(worker: Supervisor) -> None:
    stream = worker.stream("echo", "one two …".encode(), model="m")
    role, one, two = [await anext(stream) for _ in range(3)]
    assert role.choices[0].delta.role == "assistant"
    assert (one.choices[0].delta.content, two.choices[0].delta.content) == ("one", "two")
    assert worker.active == 1  # the worker is still waiting: the pieces came as they were sent
    await stream.aclose()  # cancels it; the worker answers and the call is gone
    async with asyncio.timeout(10):
        while worker.active:  # noqa: ASYNC110 - a count kept by the reader thread
            await asyncio.sleep(0.01)
    answer = await worker.complete("echo", b"a b c", model="m")
    assert answer.choices[0].message.content == "a b c" and answer.usage and answer.usage.completion_tokens == 3


async def test_errors_cross_with_their_class_and_param(worker: Supervisor) -> None:
    with pytest.raises(InvalidRequest) as info:
        await worker.complete("fail", b"", model="m")
    assert (info.value.status, info.value.param, info.value.message) == (
        400,
        "messages",
        "the template refused these messages",
    )


async def test_a_queued_call_cancelled_never_runs(worker: Supervisor) -> None:
    before = await worker.stats()
    first = worker.stream("echo", "hold …".encode(), model="m")
    await anext(first)
    queued = asyncio.ensure_future(worker.complete("echo", b"never", model="m"))
    async with asyncio.timeout(10):
        while worker.active < 2:  # noqa: ASYNC110 - a count kept by the reader thread
            await asyncio.sleep(0.01)
    queued.cancel()
    async with asyncio.timeout(10):
        while worker.active > 1:  # noqa: ASYNC110 - the worker answered the cancel at once
            await asyncio.sleep(0.01)
    await first.aclose()
    after = await worker.stats()
    assert (after.started - before.started, after.skipped - before.skipped) == (1, 1)


async def test_an_exit_fails_the_calls_in_flight_and_the_worker_restarts(worker: Supervisor) -> None:
    old = await worker.call("pid", b"", type=int)
    held = worker.stream("echo", "hold …".encode(), model="m", lane="other")
    await anext(held)
    with pytest.raises(UpstreamError, match=r"scripted worker exited \(code 3\); restarting"):
        await worker.complete("exit", b"", model="m")
    with pytest.raises(UpstreamError, match=r"exited \(code 3\); restarting"):
        async for _ in held:  # the open stream ends with the error, it does not hang
            pass
    new = await worker.call("pid", b"", type=int)  # waits for the new worker
    status = worker.status()
    assert new != old and (status.state, status.pid, status.restarts) == ("ready", new, 1)
    assert status.last_exit == "exited (code 3)"
    assert not alive(old)
    await worker.aclose()
    assert worker.status().state == "stopped" and not alive(new)
    with pytest.raises(UpstreamError, match="shutting down"):
        await worker.call("pid", b"", type=int)
