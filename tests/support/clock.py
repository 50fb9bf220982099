"""Clocks that move only when a test says so: `ManualClock`, the injected wall clock of the
services (lifecycle engine, scheduler), and `FakeTime`, the monotonic clock and sleep of the
background loops."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from nimplane.services.workloads import utc_now


class ManualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class FakeTime:
    """A monotonic clock and an async `sleep` that move only when a test says so.

    Give `clock` and `sleep` to what is under test (a `PeriodicLoop`). Every call of `sleep`
    is recorded, in order, and `next_sleep()` waits for the next one: that is how a test knows
    the code under test has finished what it was doing and is waiting for time to pass.
    `advance(seconds)` moves the clock and wakes every sleeper whose time has come. Only
    asyncio events are awaited; no real time is waited for (the timeout of `next_sleep` is a
    safety net against a hung test, never something a test asserts on).
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._calls: asyncio.Queue[float] = asyncio.Queue()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + max(0.0, seconds), woken))
        self._calls.put_nowait(seconds)
        await woken

    async def next_sleep(self, safety_timeout: float = 30.0) -> float:
        """The duration of the next `sleep` call (waiting for the call if none is pending)."""
        return await asyncio.wait_for(self._calls.get(), safety_timeout)

    def pending_sleeps(self) -> int:
        """Calls of `sleep` made but not yet taken by `next_sleep`."""
        return self._calls.qsize()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        waiting: list[tuple[float, asyncio.Future[None]]] = []
        for due, woken in self._sleepers:
            if woken.done():
                continue  # cancelled: the sleeper went away
            if due <= self.now:
                woken.set_result(None)
            else:
                waiting.append((due, woken))
        self._sleepers = waiting
