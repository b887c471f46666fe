"""A deadline for one await at a time, reusing one loop timer across many awaits.

``asyncio.timeout`` makes a context manager and a timer for every await it guards (~5 µs); a stream
guards one await per upstream read, and the request deadline one per body read. An :class:`Alarm` is
armed before each await and disarmed after it; its timer is only moved when it fires early (the due
time only grows), so a stream whose reads come in time costs one timer in all. Same semantics as
``asyncio.timeout``: past the due time the waiting task is cancelled, and :meth:`Alarm.expired` tells
that ``CancelledError`` from a cancellation somebody else asked for.

    alarm = Alarm()
    alarm.arm(seconds)
    try:
        chunk = await anext(upstream)
    except asyncio.CancelledError:
        if alarm.expired():
            raise UpstreamTimeout(...) from None
        raise
    finally:
        alarm.disarm()
    ...
    alarm.close()  # when done with it
"""

from __future__ import annotations

import asyncio

__all__ = ["Alarm"]


class Alarm:
    """Cancels the task waiting under it once ``seconds`` (of :meth:`arm`) have passed."""

    __slots__ = ("_cancelling", "_due", "_fired", "_handle", "_loop", "_task", "_waiting")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None
        self._due = 0.0
        self._waiting = False
        self._fired = False
        self._cancelling = 0
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, seconds: float) -> None:
        """Watch the current task's next await for ``seconds`` (loop time); disarm it after."""
        task = asyncio.current_task()
        assert task is not None, "Alarm.arm outside a task"
        self._task = task
        self._cancelling = task.cancelling()
        self._due = due = self._loop.time() + max(seconds, 0.0)
        self._fired = False
        self._waiting = True
        handle = self._handle
        if handle is None:
            self._handle = self._loop.call_at(due, self._ring)
        elif handle.when() > due:  # an earlier due time than the running timer's (a shorter limit)
            handle.cancel()
            self._handle = self._loop.call_at(due, self._ring)

    def expired(self) -> bool:
        """In an ``except CancelledError``: True when the cancellation is this alarm's own (then the
        caller raises its timeout error instead), False when somebody else cancelled the task."""
        if not self._fired or self._task is None:
            return False
        self._fired = False
        return self._task.uncancel() <= self._cancelling

    def disarm(self) -> None:
        """The await is over (in a ``finally``). A cancellation the awaited code swallowed is taken
        back, as ``asyncio.timeout`` does not need to (its own ``__aexit__`` sees the exception)."""
        self._waiting = False
        if self._fired and self._task is not None:
            self._fired = False
            self._task.uncancel()

    def close(self) -> None:
        """Stop the timer (the alarm can be armed again)."""
        self._waiting = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _ring(self) -> None:
        self._handle = None
        if not self._waiting or self._task is None:
            return  # between awaits: the next arm() starts a timer
        if self._loop.time() < self._due:  # armed again since: wait for the later due time
            self._handle = self._loop.call_at(self._due, self._ring)
            return
        self._fired = True
        self._waiting = False
        self._task.cancel()
