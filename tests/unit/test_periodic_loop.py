"""The background loop: passes on a period, at once when woken, backing off while failing."""

from __future__ import annotations

import asyncio
import itertools
import time

from nimplane.workers.loop import PeriodicLoop


def test_loop_runs_on_wake_and_period_and_backs_off() -> None:
    async def scenario() -> tuple[int, int, int]:
        calls: list[int] = []

        def work() -> None:
            calls.append(1)
            if len(calls) in (2, 3):
                raise RuntimeError("transient")

        loop = PeriodicLoop("test", work, period=0.05, max_backoff=0.2)
        loop.start()
        loop.wake()
        await asyncio.sleep(0.01)
        woken = len(calls)
        await asyncio.sleep(0.6)
        await loop.stop()
        return woken, len(calls), loop.failures

    woken, total, failures = asyncio.run(scenario())
    assert woken == 1  # the wake ran a pass before the 50 ms period elapsed
    assert failures == 2
    assert 4 <= total <= 12  # periodic passes continued, slowed by the backoff after failures


def test_woken_passes_start_at_least_min_interval_apart() -> None:
    """A burst of wake-ups costs one pass per `min_interval`, not a pass per wake-up."""

    async def scenario() -> list[float]:
        starts: list[float] = []
        loop = PeriodicLoop(
            "test", lambda: starts.append(time.monotonic()), period=10, min_interval=0.1
        )
        loop.start()
        for _ in range(40):  # woken every 10 ms for 0.4 s
            loop.wake()
            await asyncio.sleep(0.01)
        await loop.stop()
        return starts

    starts = asyncio.run(scenario())
    assert 2 <= len(starts) <= 6  # about 0.4 s / 0.1 s, never 40
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.099 for gap in gaps), gaps
