"""The background loops in a process of their own (docs: ARCHITECTURE.md, "Processes").

`WorkerProcess` is the API process's side: it starts the child, writes it its start-up
line, wakes it with one byte on its stdin pipe per change (safe from any thread, never
blocking: a full pipe already holds a wake-up), asks it for its loops' metrics (`metrics`:
a request on that pipe, the answer framed on the child's stdout pipe), restarts it with
backoff if it dies or cannot be started, and stops it by closing the pipe. `serve_loops` is
the child's side: it runs the loops until its stdin ends (the API process stopped or died)
or SIGTERM, and answers every metrics request. No rules here.

The pipes carry, to the child: `w` (wake up) or `m` and 8 hex digits (a metrics request
and its number); from it: `<number> <length>\n` and that many bytes of Prometheus text, one
frame per request. A request that timed out is answered later and its frame skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from nimplane.workers.background import Elsewhere

log = logging.getLogger(__name__)

WAKE = b"w"
METRICS = b"m"
_NUMBER_DIGITS = 8
_REQUEST_SIZE = 1 + _NUMBER_DIGITS


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
        self._scrape_lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._answers = b""
        """Read from the current child's stdout and not yet taken (a frame's start)."""
        self.starts = 0
        """How many times a child was started (1 + restarts)."""
        self.failed_starts = 0
        """How many times starting a child failed (the command could not be run)."""

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        if self._task is None:
            self._spawn()
            self._task = asyncio.create_task(self._supervise(), name="nimplane-worker-process")

    def _spawn(self) -> bool:
        """Start a child; False (logged, counted) when the command cannot be run."""
        try:
            proc = subprocess.Popen(
                self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._env
            )
        except OSError as exc:
            self.failed_starts += 1
            log.error(
                "the background worker process could not be started (%s): the scheduler and "
                "the lifecycle engine are not running",
                exc,
            )
            return False
        assert proc.stdin is not None
        try:
            proc.stdin.write(self._hello + b"\n")
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: the supervisor sees it exit
        os.set_blocking(proc.stdin.fileno(), False)
        with self._scrape_lock, self._lock:
            self._proc = proc
            self._answers = b""
        self.starts += 1
        log.info("background worker process started (pid %d)", proc.pid)
        return True

    async def _supervise(self) -> None:
        delay = self._restart_delay
        while True:
            with self._lock:
                proc = self._proc
            if proc is None:  # starting it failed: try again later
                await self._sleep(delay)
                delay = min(self._max_restart_delay, delay * 2)
                self._spawn()
                continue
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
            with self._scrape_lock:  # a scrape reading its stdout is done with it
                _close(proc)
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

    def metrics(self, timeout: float = 5.0) -> bytes | None:
        """The child's loop metrics (Prometheus text), or None when no child answers within
        `timeout` seconds (none running, starting, or busy). Safe from any thread; blocks."""
        with self._scrape_lock:
            with self._lock:
                proc = self._proc
            if proc is None or proc.stdin is None or proc.stdout is None or proc.stdin.closed:
                return None
            number = next(self._numbers) % 16**_NUMBER_DIGITS
            try:
                os.write(proc.stdin.fileno(), METRICS + b"%08x" % number)
            except OSError:
                return None  # a full pipe (the child is not reading) or a closed one
            deadline = self._clock() + timeout
            while True:
                frame = self._take_frame()
                if frame is not None:
                    answered, body = frame
                    if answered == number:
                        return body
                    continue  # the answer to a request that timed out
                left = deadline - self._clock()
                if left <= 0 or not self._read_answers(proc.stdout.fileno(), left):
                    return None

    def _take_frame(self) -> tuple[int, bytes] | None:
        header, newline, rest = self._answers.partition(b"\n")
        if not newline:
            return None
        number, _, length = header.partition(b" ")
        size = int(length)
        if len(rest) < size:
            return None
        self._answers = rest[size:]
        return int(number, 16), rest[:size]

    def _read_answers(self, fd: int, timeout: float) -> bool:
        """Read what the child wrote within `timeout`; False when nothing came or it ended."""
        readable, _, _ = select.select([fd], [], [], timeout)
        if not readable:
            return False
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        self._answers += data
        return bool(data)

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
        with self._scrape_lock:  # a scrape reading its stdout is done with it
            _close(proc)


def _close(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def read_hello(fd: int = 0) -> bytes:
    """The child's start-up line (without its newline), read byte by byte so that no
    wake-up after it is consumed."""
    line = bytearray()
    while True:
        byte = os.read(fd, 1)
        if not byte or byte == b"\n":
            return bytes(line)
        line += byte


async def serve_loops(
    workers: Elsewhere,
    fd: int = 0,
    *,
    metrics: Callable[[], bytes] = lambda: b"",
    answer_fd: int = 1,
) -> None:
    """Run `workers` until `fd` (the pipe from the API process) ends or SIGTERM: a `w` read
    wakes them, a metrics request is answered on `answer_fd` with `metrics()`. SIGINT is
    left to the API process, which stops this one."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    pending = b""
    # answers are written by a thread of their own: a reader that is slow to take them
    # never blocks the loops' event loop
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nimplane-metrics-answer")

    def answer(number: bytes) -> None:
        body = metrics()
        frame = number + b" %d\n" % len(body) + body
        writer.submit(_write_all, answer_fd, frame)

    def readable() -> None:
        nonlocal pending
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            done.set()
            return
        pending += data
        woken = False
        while True:  # (a request's hex digits are never `m` or `w`)
            at = pending.find(METRICS)
            woken = woken or WAKE in (pending if at < 0 else pending[:at])
            if at < 0:
                pending = b""
                break
            if len(pending) - at < _REQUEST_SIZE:
                pending = pending[at:]  # the rest of the request is still on its way
                break
            answer(pending[at + 1 : at + _REQUEST_SIZE])
            pending = pending[at + _REQUEST_SIZE :]
        if woken:
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
        writer.shutdown(wait=False)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    with contextlib.suppress(OSError):  # the API process is gone: nobody to answer
        while view:
            view = view[os.write(fd, view) :]
