"""hexgate.alarm: one timer for a series of awaits, with asyncio.timeout's meaning for each."""

from __future__ import annotations

import asyncio

import pytest

from hexgate.alarm import Alarm

pytestmark = pytest.mark.timeout(30)


async def _guarded(alarm: Alarm, seconds: float, awaitable: asyncio.Future[str] | asyncio.Task[str]) -> str:
    """The pattern the module doc shows: 'timeout' when the alarm rang, the result otherwise."""
    alarm.arm(seconds)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if alarm.expired():
            return "timeout"
        raise
    finally:
        alarm.disarm()


async def _after(seconds: float, value: str) -> str:
    await asyncio.sleep(seconds)
    return value


async def test_each_await_gets_its_own_limit_and_a_slow_one_times_out() -> None:
    alarm = Alarm()
    for i in range(20):  # many quick awaits under a 0.2 s limit: none rings, though 20 x 0.02 s > 0.2 s
        assert await _guarded(alarm, 0.2, asyncio.ensure_future(_after(0.02, f"r{i}"))) == f"r{i}"
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _guarded(alarm, 0.1, asyncio.ensure_future(_after(5, "late"))) == "timeout"
    assert 0.09 <= loop.time() - started < 1.0
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # nothing left pending on the task
    alarm.close()


async def test_a_shorter_limit_after_a_longer_one_still_rings_in_time() -> None:
    alarm = Alarm()
    assert await _guarded(alarm, 30, asyncio.ensure_future(_after(0, "quick"))) == "quick"
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _guarded(alarm, 0.05, asyncio.ensure_future(_after(5, "late"))) == "timeout"
    assert loop.time() - started < 1.0
    alarm.close()


async def test_somebody_elses_cancel_is_not_a_timeout() -> None:
    alarm = Alarm()

    async def waiter() -> str:
        return await _guarded(alarm, 10, asyncio.ensure_future(_after(5, "late")))

    task = asyncio.ensure_future(waiter())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    alarm.close()


async def test_a_cancel_the_awaited_code_swallowed_is_taken_back() -> None:
    alarm = Alarm()

    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "swallowed"
        return "slept"

    alarm.arm(0.05)
    try:
        result = await stubborn()  # awaited in this task: the cancel lands inside and is swallowed
    finally:
        alarm.disarm()
    assert result == "swallowed"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the alarm took its cancel request back
    await asyncio.sleep(0.01)  # and no cancel is still pending on the task
    alarm.close()


async def test_close_stops_the_timer() -> None:
    alarm = Alarm()
    alarm.arm(0.02)
    alarm.disarm()
    alarm.close()
    await asyncio.sleep(0.05)  # nothing rings, nothing is cancelled
