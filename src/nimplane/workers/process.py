"""The background loops in a process of their own (docs: ARCHITECTURE.md, "Processes").

`WorkerProcess` is the API process's side: it starts the child, writes it its start-up
line, wakes it with one byte on its stdin pipe per change (safe from any thread, never
blocking: a full pipe already holds a wake-up), restarts it with backoff if it dies, and
stops it by closing the pipe. `serve_loops` is the child's side: it runs the loops until
its stdin ends (the API process stopped or died) or SIGTERM. No rules here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from nimplane.workers.background import Elsewhere

log = logging.getLogger(__name__)

WAKE = b"w"


class WorkerProcess:
    """The child process running the background loops, seen from the API process."""

    def __init__(
        self,
        command: Sequence[str],
        hello: bytes,
        *,
        env: Mapping[str, str] | None = None,
        restart_delay: float = 1.0,
        max_restart_delay: float = 30.0,
        stable_after: float = 60.0,
        poll_seconds: float = 0.2,
        stop_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if b"\n" in hello:
            raise ValueError("the start-up line must be one line")
        self._command = list(command)
        self._hello = hello
        self._env = None if env is None else dict(env)
        self._restart_delay = restart_delay
        self._max_restart_delay = max_restart_delay
        self._stable_after = stable_after
        self._poll = poll_seconds
        self._stop_timeout = stop_timeout
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self.starts = 0
        """How many times a child was started (1 + restarts)."""

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        if self._task is None:
            self._spawn()
            self._task = asyncio.create_task(self._supervise(), name="nimplane-worker-process")

    def _spawn(self) -> None:
        proc = subprocess.Popen(self._command, stdin=subprocess.PIPE, env=self._env)
        assert proc.stdin is not None
        try:
            proc.stdin.write(self._hello + b"\n")
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: the supervisor sees it exit
        os.set_blocking(proc.stdin.fileno(), False)
        with self._lock:
            self._proc = proc
        self.starts += 1
        log.info("background worker process started (pid %d)", proc.pid)

    async def _supervise(self) -> None:
        delay = self._restart_delay
        while True:
            with self._lock:
                proc = self._proc
            assert proc is not None
            started = self._clock()
            while proc.poll() is None:
                await self._sleep(self._poll)
            if self._clock() - started >= self._stable_after:
                delay = self._restart_delay
            log.error(
                "the background worker process (pid %d) exited with status %s: the scheduler "
                "and the lifecycle engine are not running; restarting it in %.1f s",
                proc.pid,
                proc.returncode,
                delay,
            )
            with self._lock:
                self._proc = None
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            await self._sleep(delay)
            delay = min(self._max_restart_delay, delay * 2)
            self._spawn()

    def wake(self) -> None:
        """Have the loops run their next pass now (safe from any thread, never blocks)."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.stdin.closed:
                return  # being restarted: a new child starts with a pass anyway
            # full pipe: a wake-up is already waiting; closed: the supervisor restarts it
            with contextlib.suppress(OSError):
                os.write(proc.stdin.fileno(), WAKE)

    async def stop(self) -> None:
        """Stop supervising, close the child's stdin (it stops its loops and exits) and wait
        for it; terminate it if it has not ended within the stop timeout."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            await asyncio.to_thread(proc.wait, self._stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning("background worker process (pid %d) did not stop: killing it", proc.pid)
            proc.kill()
            await asyncio.to_thread(proc.wait)


def read_hello(fd: int = 0) -> bytes:
    """The child's start-up line (without its newline), read byte by byte so that no
    wake-up after it is consumed."""
    line = bytearray()
    while True:
        byte = os.read(fd, 1)
        if not byte or byte == b"\n":
            return bytes(line)
        line += byte


async def serve_loops(workers: Elsewhere, fd: int = 0) -> None:
    """Run `workers` until `fd` (the pipe from the API process) ends or SIGTERM; every byte
    read wakes them. SIGINT is left to the API process, which stops this one."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            done.set()
            return
        workers.wake()

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)
    with contextlib.suppress(ValueError, RuntimeError):  # not the main thread (tests)
        loop.add_signal_handler(signal.SIGTERM, done.set)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    workers.start()
    workers.wake()  # a pass at once: changes made while no child ran
    try:
        await done.wait()
    finally:
        loop.remove_reader(fd)
        await workers.stop()
