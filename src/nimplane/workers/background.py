"""The server's background loops as one unit: started with the app, stopped with it, and
woken together when the API changes something they act on. Threads of their own that run
beside them (the Kubernetes backend's watches) start before and stop after the loops.
They may run in another process instead (`run_elsewhere`, `workers/process.py`): then
starting, stopping and waking them goes to that process."""

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


class Elsewhere(Protocol):
    """Where the loops run when not in this process: started on the running event loop,
    woken from any thread."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def wake(self) -> None: ...


class BackgroundWorkers:
    def __init__(self, loops: Sequence[PeriodicLoop], services: Sequence[Service] = ()) -> None:
        self.loops = tuple(loops)
        self.services = tuple(services)
        self.elsewhere: Elsewhere | None = None

    def run_elsewhere(self, runner: Elsewhere) -> None:
        """Run the loops through `runner` (another process) instead of in this one."""
        self.elsewhere = runner

    def start(self) -> None:
        if self.elsewhere is not None:
            self.elsewhere.start()
            return
        for service in self.services:
            service.start()
        for loop in self.loops:
            loop.start()

    async def stop(self) -> None:
        if self.elsewhere is not None:
            await self.elsewhere.stop()
            return
        for loop in self.loops:
            await loop.stop()
        for service in self.services:
            await asyncio.to_thread(service.stop)

    def wake(self) -> None:
        """Run every loop's next pass now (safe from any thread)."""
        if self.elsewhere is not None:
            self.elsewhere.wake()
            return
        for loop in self.loops:
            loop.wake()
