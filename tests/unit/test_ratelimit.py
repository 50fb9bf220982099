"""The GCRA limiter (pure, time passed in) and its keyed, bounded store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimplane.domain.ratelimit import Rate, admit, refund, whole_seconds
from nimplane.services.rate_limits import HashingGate, KeyedLimiter


def run(rate: Rate, times: list[float]) -> list[bool]:
    tat: float | None = None
    admitted = []
    for now in times:
        decision = admit(rate, tat, now)
        if decision.allowed:
            tat = decision.tat
        else:
            assert decision.tat == tat, "a refused attempt changes nothing"
        admitted.append(decision.allowed)
    return admitted


def test_a_burst_then_one_per_interval() -> None:
    rate = Rate(per_minute=6, burst=3)  # one per 10 s
    assert run(rate, [0, 0, 0, 0, 5, 9.9, 10, 10, 20]) == [
        True,
        True,
        True,
        False,
        False,
        False,
        True,
        False,
        True,
    ]


def test_a_refusal_says_when_to_come_back() -> None:
    rate = Rate(per_minute=6, burst=2)
    first = admit(rate, None, 100.0)
    second = admit(rate, first.tat, 100.0)
    third = admit(rate, second.tat, 103.0)
    assert not third.allowed
    assert third.retry_after == pytest.approx(7.0)
    assert admit(rate, second.tat, 103.0 + third.retry_after).allowed
    assert whole_seconds(third.retry_after) == 7
    assert whole_seconds(0.2) == 1


def test_a_refund_gives_one_attempt_back() -> None:
    rate = Rate(per_minute=60, burst=1)
    used = admit(rate, None, 0.0)
    assert not admit(rate, used.tat, 0.0).allowed
    assert admit(rate, refund(rate, used.tat, 0.0), 0.0).allowed


@pytest.mark.parametrize(
    ("per_minute", "burst"),
    [pytest.param(0, 1, id="no-rate"), pytest.param(1, 0, id="no-burst")],
)
def test_a_rate_needs_a_positive_rate_and_burst(per_minute: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must"):
        Rate(per_minute=per_minute, burst=burst)


@given(
    per_minute=st.integers(1, 600),
    burst=st.integers(1, 20),
    gaps=st.lists(st.integers(0, 5_000), min_size=1, max_size=120),
)
def test_never_more_than_burst_plus_rate_times_t_in_any_window(
    per_minute: int, burst: int, gaps: list[int]
) -> None:
    """In every window [a, a + t] of attempt times, admitted <= burst + rate * t."""
    rate = Rate(per_minute=per_minute, burst=burst)
    times: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap / 1000  # milliseconds apart, often many at the same instant
        times.append(now)
    admitted = [t for t, ok in zip(times, run(rate, times), strict=True) if ok]
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            window = admitted[j] - start
            assert j - i + 1 <= burst + window * per_minute / 60 + 1e-6


@given(
    per_minute=st.integers(1, 600),
    burst=st.integers(1, 20),
    attempts=st.integers(1, 200),
)
def test_a_patient_client_is_never_refused(per_minute: int, burst: int, attempts: int) -> None:
    """Attempts one interval apart are all admitted: the limit takes nothing it owes."""
    rate = Rate(per_minute=per_minute, burst=burst)
    assert all(run(rate, [i * rate.interval for i in range(attempts)]))


def test_the_keyed_store_forgets_the_least_recently_used_keys() -> None:
    limiter = KeyedLimiter(Rate(per_minute=1, burst=1), max_keys=3)
    assert limiter.admit("victim", 0.0).allowed
    for n in range(1_000):
        limiter.admit(f"junk-{n}", 0.0)
        limiter.admit("victim", 0.0)  # used on every attempt: it stays
        assert len(limiter) <= 3
    assert not limiter.admit("victim", 0.0).allowed


def test_the_keyed_store_keys_are_independent() -> None:
    limiter = KeyedLimiter(Rate(per_minute=1, burst=2), max_keys=10)
    assert [limiter.admit("a", 0.0).allowed for _ in range(3)] == [True, True, False]
    assert limiter.admit("b", 0.0).allowed
    limiter.refund("a", 0.0)
    assert limiter.admit("a", 0.0).allowed


def test_the_hashing_gate_refuses_beyond_its_slots_without_waiting() -> None:
    gate = HashingGate(max_concurrent=2, wait_seconds=0)
    with gate.slot() as one, gate.slot() as two:
        assert one
        assert two
        with gate.slot() as three:
            assert not three
    with gate.slot() as again:
        assert again  # the slots came back
