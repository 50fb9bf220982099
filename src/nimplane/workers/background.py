"""The server's background loops as one unit: started with the app, stopped with it, and
woken together when the API changes something they act on. Threads of their own that run
beside them (the Kubernetes backend's watches) start before and stop after the loops."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from nimplane.workers.loop import PeriodicLoop


class Service(Protocol):
    """Something running its own threads: `start` returns at once, `stop` blocks until
    they ended."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class BackgroundWorkers:
    def __init__(self, loops: Sequence[PeriodicLoop], services: Sequence[Service] = ()) -> None:
        self.loops = tuple(loops)
        self.services = tuple(services)

    def start(self) -> None:
        for service in self.services:
            service.start()
        for loop in self.loops:
            loop.start()

    async def stop(self) -> None:
        for loop in self.loops:
            await loop.stop()
        for service in self.services:
            await asyncio.to_thread(service.stop)

    def wake(self) -> None:
        """Run every loop's next pass now (safe from any thread)."""
        for loop in self.loops:
            loop.wake()
