"""The server's background loops as one unit: started with the app, stopped with it, and
woken together when the API changes something they act on."""

from __future__ import annotations

from collections.abc import Sequence

from nimplane.workers.loop import PeriodicLoop


class BackgroundWorkers:
    def __init__(self, loops: Sequence[PeriodicLoop]) -> None:
        self.loops = tuple(loops)

    def start(self) -> None:
        for loop in self.loops:
            loop.start()

    async def stop(self) -> None:
        for loop in self.loops:
            await loop.stop()

    def wake(self) -> None:
        """Run every loop's next pass now (safe from any thread)."""
        for loop in self.loops:
            loop.wake()
