"""A periodic background loop: runs one pass of work every `period` seconds, or at once when
woken, in a worker thread, with exponential backoff while passes fail.

The loop holds no rules: a pass is a use case (a scheduling cycle, a reconcile sweep). It
stops cleanly when the server shuts down. Time comes from an injected clock and an injected
sleep, so tests drive the loop with a fake clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Seconds on a monotonic scale."""
Sleep = Callable[[float], Awaitable[None]]
"""Suspend the calling task for that many seconds of the clock's time (cancellable)."""


class PeriodicLoop:
    def __init__(
        self,
        name: str,
        work: Callable[[], object],
        period: float,
        max_backoff: float = 30.0,
        min_interval: float = 0.0,
        *,
        rest_ratio: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self._min_interval = min_interval
        """Woken passes start at least this long after the previous one started: a burst of
        wake-ups then costs one pass per interval rather than passes back to back."""
        self._rest_ratio = rest_ratio
        """After a pass, the next woken one waits at least this multiple of its duration: a
        pass that grows with the data (a scheduling cycle over 10,000 workloads) then holds
        at most 1 / (1 + ratio) of the time, and the rest of the process keeps the remainder."""
        self.work = work
        """One pass (settable after construction, so passes can wake each other's loops)."""
        self._period = period
        self._max_backoff = max_backoff
        self._clock = clock
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.passes = 0
        self.failures = 0

    def start(self) -> None:
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._run(), name=f"nimplane-{self.name}")

    def wake(self) -> None:
        """Run the next pass now rather than at the end of the period. Safe from any thread;
        does nothing before `start` (the first pass comes soon enough)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._loop = None

    async def _wait(self, delay: float) -> None:
        """Until woken or `delay` has passed, whichever comes first."""
        if self._wake.is_set():
            return
        woken = asyncio.ensure_future(self._wake.wait())
        napped = asyncio.ensure_future(self._sleep(delay))
        try:
            await asyncio.wait((woken, napped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            napped.cancel()

    async def _run(self) -> None:
        delay = self._period
        while True:
            await self._wait(delay)
            self._wake.clear()
            started = self._clock()
            try:
                await run_in_threadpool(self.work)
            except Exception:
                self.failures += 1
                delay = min(self._max_backoff, max(self._period, delay * 2))
                log.exception("%s pass failed; next attempt in %.1f s", self.name, delay)
            else:
                delay = self._period
            self.passes += 1
            took = self._clock() - started
            rest = max(self._min_interval - took, self._rest_ratio * took)
            if rest > 0:
                await self._sleep(rest)
