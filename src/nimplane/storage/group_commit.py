"""Group commit for SQLite: one writer thread, many writes per transaction, one fsync.

SQLite admits one writer at a time and pays an fsync per commit. Rather than let each
request take the lock, write and fsync in turn, every write of this process is handed to one
thread. It takes all writes waiting in its queue, runs each inside its own SAVEPOINT of a
single transaction (a write that fails is rolled back alone), commits once, and only then
reports each outcome to its caller. A caller therefore still learns of success only after its
write is durable, and a failed write leaves nothing behind.

The savepoints are issued on the driver's connection (which this thread alone uses), not
through SQLAlchemy's nested transactions, whose bookkeeping cost more than most writes.

Processes writing the same database file (the API and its background worker) take turns
through an exclusive `flock` on `<database>-writer.lock` around each batch: a waiting writer
is woken by the kernel as soon as the other lets go, where SQLite's busy handler would sleep
and poll (1, 2, 5, ... up to 100 ms at a time), so a process with a steady stream of writes
starved the other one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from nimplane.domain.errors import Unavailable
from nimplane.storage.db import transaction

T = TypeVar("T")
Work = Callable[[Connection], Any]
_MAX_BATCH = 256
_STOP = object()

log = logging.getLogger(__name__)


class ProcessTurns:
    """Exclusive turns at writing one SQLite file among processes: `flock` on a file beside
    it (held by one thread of each process at a time: the group-commit writer).

    The wait has no time limit, unlike SQLite's busy timeout (30 s, then a 503): a process
    stopped while it holds the turn (a debugger, SIGSTOP) holds up the other's writes until it
    goes on; one that dies gives it back (the kernel drops its locks). Bounding the wait
    needs it on a thread of its own (the kernel's wait cannot be timed out from Python); that
    was tried, and its hand-offs cost the turn-taking much of what the kernel's wake-up gained
    (BENCHMARKS.md)."""

    def __init__(self, database: str) -> None:
        self._fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


def _turns_for(engine: Engine) -> ProcessTurns | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return ProcessTurns(database)


class GroupCommitWriter:
    """Runs submitted writes on one thread, committing them in batches."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._turns = _turns_for(engine)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction; return its result once that is committed."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a write may not submit another write")
        self._ensure_started()
        future: Future[T] = Future()
        self._queue.put((work, future))
        return future.result()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None
        if self._turns is not None:
            self._turns.close()
            self._turns = None

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="nimplane-sqlite-writer", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            self._apply(batch)

    def _apply(self, batch: list[tuple[Work, Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        turn = self._turns.turn() if self._turns is not None else contextlib.nullcontext()
        try:
            with turn, transaction(self._engine, write=True) as conn:
                driver = conn.connection.dbapi_connection
                assert driver is not None
                for work, future in batch:
                    driver.execute("SAVEPOINT write")
                    try:
                        result = work(conn)
                    except Exception as exc:  # this write alone is undone
                        driver.execute("ROLLBACK TO write")
                        driver.execute("RELEASE write")
                        outcomes.append((future, None, exc))
                    else:
                        driver.execute("RELEASE write")
                        outcomes.append((future, result, None))
        except Exception as exc:  # the commit failed: nothing of the batch is kept
            log.error("group commit of %d writes failed: %s", len(batch), exc)
            failure = (
                exc
                if isinstance(exc, Unavailable)
                else Unavailable("The database could not commit the change; try again.")
            )
            for _, future in batch:
                future.set_exception(failure)
            return
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
