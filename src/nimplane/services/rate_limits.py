"""In-memory rate-limit state per key, bounded in size, and a bound on concurrent hashing.

Per process: with N replicas behind a load balancer the effective limits are N times the
configured ones (ARCHITECTURE.md, "Sign-in limits").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nimplane.domain.ratelimit import Decision, Rate, admit, is_idle, refund


class KeyedLimiter:
    """One GCRA state per key (`domain/ratelimit.py`), at most `max_keys` of them.

    Past `max_keys` the least recently used key is forgotten (an idle key is the same as one
    never seen; a key under attack is used on every attempt and so stays), so a client
    sending ever new usernames or addresses cannot grow memory without bound. Thread-safe.
    """

    def __init__(self, rate: Rate, max_keys: int) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rate = rate
        self._max_keys = max_keys
        self._tats: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tats)

    def admit(self, key: str, now: float) -> Decision:
        """Count one attempt of `key` at `now`, if it is admitted."""
        with self._lock:
            decision = admit(self.rate, self._tats.get(key), now)
            if decision.allowed:
                self._tats[key] = decision.tat
                self._tats.move_to_end(key)
                while len(self._tats) > self._max_keys:
                    self._tats.popitem(last=False)
            return decision

    def refund(self, key: str, now: float) -> None:
        """Give back one admitted attempt of `key` (it turned out not to count)."""
        with self._lock:
            tat = self._tats.get(key)
            if tat is None:
                return
            left = refund(self.rate, tat, now)
            if is_idle(left, now):
                del self._tats[key]
            else:
                self._tats[key] = left


class HashingGate:
    """At most `max_concurrent` secret hashes at a time; a caller waits `wait_seconds` at most
    for a slot, then gets `False` from `slot()` (to answer 503) instead of queueing."""

    def __init__(self, max_concurrent: int, wait_seconds: float) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.max_concurrent = max_concurrent
        self.wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(max_concurrent)

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Hold a slot for the block; yields whether one was obtained in time."""
        got = (
            self._slots.acquire(timeout=self.wait_seconds)
            if self.wait_seconds > 0
            else (self._slots.acquire(blocking=False))
        )
        try:
            yield got
        finally:
            if got:
                self._slots.release()


Clock = Callable[[], float]
