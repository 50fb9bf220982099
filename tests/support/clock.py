"""A clock that moves only when a test says so (the injected clock of the lifecycle engine)."""

from __future__ import annotations

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
