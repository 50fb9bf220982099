"""The background loop: passes on a period, at once when woken, backing off while failing,
and woken passes no closer together than `min_interval` (nor than `rest_ratio` times the
previous pass's duration).

Every test drives the loop with a fake clock and sleep (`tests.support.clock.FakeTime`): it
advances time by hand and reads the loop's sleeps in order, so nothing depends on how fast
the machine is. A pass still runs in a worker thread, as in the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from nimplane.workers.loop import PeriodicLoop
from tests.support.clock import FakeTime

PERIOD = 5.0


def run(scenario: Callable[[FakeTime], Awaitable[None]]) -> None:
    async def main() -> None:
        await scenario(FakeTime())

    asyncio.run(main())


def test_the_first_pass_comes_one_period_after_start() -> None:
    async def scenario(fake: FakeTime) -> None:
        starts: list[float] = []
        loop = PeriodicLoop(
            "test", lambda: starts.append(fake.now), PERIOD, clock=fake.clock, sleep=fake.sleep
        )
        loop.start()
        assert await fake.next_sleep() == PERIOD  # waiting for the period: no pass yet
        assert starts == []
        fake.advance(PERIOD - 0.5)
        fake.advance(0.5)
        assert await fake.next_sleep() == PERIOD  # one pass, then the next period
        fake.advance(PERIOD)
        assert await fake.next_sleep() == PERIOD
        await loop.stop()
        assert starts == [1005.0, 1010.0]
        assert (loop.passes, loop.failures) == (2, 0)

    run(scenario)


def test_a_wake_runs_a_pass_at_once() -> None:
    async def scenario(fake: FakeTime) -> None:
        starts: list[float] = []
        loop = PeriodicLoop(
            "test", lambda: starts.append(fake.now), PERIOD, clock=fake.clock, sleep=fake.sleep
        )
        loop.wake()  # before start: nothing to wake, and no error
        loop.start()
        assert await fake.next_sleep() == PERIOD
        loop.wake()
        assert await fake.next_sleep() == PERIOD  # the pass ran with no time passing
        await loop.stop()
        loop.wake()  # after stop: nothing to wake, and no error
        assert starts == [1000.0]

    run(scenario)


def test_a_wake_during_a_pass_runs_another_pass_after_it() -> None:
    """What changed while a pass ran is not left for the next period."""

    async def scenario(fake: FakeTime) -> None:
        starts: list[float] = []

        def work() -> None:
            starts.append(fake.now)
            if len(starts) == 1:
                loop.wake()  # from the worker thread, as the API does

        loop = PeriodicLoop("test", work, PERIOD, clock=fake.clock, sleep=fake.sleep)
        loop.start()
        assert await fake.next_sleep() == PERIOD
        loop.wake()
        assert await fake.next_sleep() == PERIOD  # two passes back to back, then the period
        await loop.stop()
        assert starts == [1000.0, 1000.0]

    run(scenario)


@pytest.mark.parametrize(
    ("outcomes", "waits"),
    [
        pytest.param("ok ok", [5, 5], id="steady"),
        pytest.param("fail ok", [10, 5], id="one-failure-doubles-then-resets"),
        pytest.param("fail fail fail fail ok", [10, 20, 20, 20, 5], id="capped-at-max-backoff"),
        pytest.param("ok fail ok fail", [5, 10, 5, 10], id="each-success-resets"),
    ],
)
def test_failing_passes_back_off_exponentially(outcomes: str, waits: list[float]) -> None:
    """After each pass the loop waits the period, doubled per failure in a row up to
    `max_backoff` (20 s here); a success goes back to the period."""
    plan = outcomes.split()

    async def scenario(fake: FakeTime) -> None:
        done: list[str] = []

        def work() -> None:
            done.append(plan[len(done)])
            if done[-1] == "fail":
                raise RuntimeError("transient")

        loop = PeriodicLoop(
            "test", work, PERIOD, max_backoff=20.0, clock=fake.clock, sleep=fake.sleep
        )
        loop.start()
        delay = await fake.next_sleep()
        assert delay == PERIOD
        seen: list[float] = []
        for _ in plan:
            fake.advance(delay)
            delay = await fake.next_sleep()
            seen.append(delay)
        await loop.stop()
        assert seen == waits
        assert (loop.passes, loop.failures) == (len(plan), plan.count("fail"))

    run(scenario)


def test_woken_passes_start_at_least_min_interval_apart() -> None:
    """A burst of wake-ups costs one pass per `min_interval`, not a pass per wake-up: 40
    wake-ups, one every 1/64 s of the loop's clock, with a 1/8 s interval give 5 passes
    (binary fractions, so the clock's sums are exact)."""
    step, interval = 1 / 64, 1 / 8

    async def scenario(fake: FakeTime) -> None:
        starts: list[float] = []
        loop = PeriodicLoop(
            "test",
            lambda: starts.append(fake.now),
            period=10,
            min_interval=interval,
            clock=fake.clock,
            sleep=fake.sleep,
        )
        loop.start()
        assert await fake.next_sleep() == 10
        t0 = fake.now
        loop.wake()
        assert await fake.next_sleep() == interval  # the first pass, then the rest
        for index in range(1, 40):
            fake.advance(step)
            loop.wake()
            if index % 8 == 0:  # the rest is over and a wake is waiting: the next pass
                assert await fake.next_sleep() == interval
        await loop.stop()
        assert starts == [t0 + k * interval for k in range(5)]
        assert fake.pending_sleeps() == 0

    run(scenario)


def test_a_slow_pass_uses_up_the_interval() -> None:
    """The interval counts from the start of a pass: a pass that took longer rests no more."""

    async def scenario(fake: FakeTime) -> None:
        def slow() -> None:
            fake.now += 0.75  # the pass takes 0.75 s of the loop's clock

        loop = PeriodicLoop(
            "test", slow, period=10, min_interval=1.0, clock=fake.clock, sleep=fake.sleep
        )
        loop.start()
        assert await fake.next_sleep() == 10
        loop.wake()
        assert await fake.next_sleep() == 0.25  # the rest of the interval
        fake.advance(0.25)
        assert await fake.next_sleep() == 10  # then the period, as usual
        await loop.stop()

    run(scenario)


def test_a_long_pass_is_followed_by_a_rest_in_proportion() -> None:
    """With `rest_ratio`, a woken pass waits at least that multiple of the previous pass's
    duration: a pass of 0.75 s at ratio 1 rests 0.75 s (more than the 0.25 s interval), a
    short one rests the interval."""
    durations = [0.75, 0.125]

    async def scenario(fake: FakeTime) -> None:
        def work() -> None:
            fake.now += durations.pop(0)

        loop = PeriodicLoop(
            "test",
            work,
            period=10,
            min_interval=0.25,
            rest_ratio=1.0,
            clock=fake.clock,
            sleep=fake.sleep,
        )
        loop.start()
        assert await fake.next_sleep() == 10
        loop.wake()
        assert await fake.next_sleep() == 0.75  # as long as the pass took
        fake.advance(0.75)
        assert await fake.next_sleep() == 10
        loop.wake()
        assert await fake.next_sleep() == 0.125  # the rest of the interval
        fake.advance(0.125)
        assert await fake.next_sleep() == 10
        await loop.stop()

    run(scenario)
