"""Rate limiting as a pure rule: GCRA (a token bucket kept as one number), time passed in.

A key's whole state is its theoretical arrival time (`tat`, seconds on any monotonic clock):
an attempt at `now` is admitted when `tat - now` leaves room for it within the burst, and
then pushes `tat` one emission interval (`60 / per_minute` seconds) further. So in any
window of `t` seconds at most `burst + t * per_minute / 60` attempts are admitted, and a
refused attempt changes nothing. No I/O here: the keyed, bounded store lives in
`services/rate_limits.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_EPSILON = 1e-9
"""Seconds of float rounding forgiven, so that a client exactly on time is never refused."""


@dataclass(frozen=True)
class Rate:
    """`burst` attempts at once, then `per_minute` attempts a minute."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if not self.per_minute > 0:
            raise ValueError("per_minute must be positive")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def interval(self) -> float:
        """Seconds one admitted attempt occupies (the emission interval)."""
        return 60.0 / self.per_minute


@dataclass(frozen=True)
class Decision:
    """Whether an attempt is admitted, the key's state after it, and when to come back."""

    allowed: bool
    tat: float
    retry_after: float
    """Seconds until an attempt would be admitted (0 when this one was)."""


def admit(rate: Rate, tat: float | None, now: float) -> Decision:
    """Decide one attempt at `now` for a key whose state is `tat` (None: never seen)."""
    start = now if tat is None else max(tat, now)
    wait = (start - now) - (rate.burst - 1) * rate.interval
    if wait > _EPSILON:
        return Decision(False, start, wait)  # refused: `start` is `tat`, unchanged
    return Decision(True, start + rate.interval, 0.0)


def refund(rate: Rate, tat: float, now: float) -> float:
    """The state after giving back one admitted attempt (it turned out not to count)."""
    return max(now, tat - rate.interval)


def is_idle(tat: float, now: float) -> bool:
    """A key whose state has drained is the same as a key never seen (it may be forgotten)."""
    return tat <= now


def whole_seconds(delay: float) -> int:
    """A `Retry-After` value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(delay - 1e-9))
