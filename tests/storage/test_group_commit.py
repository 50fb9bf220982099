"""SQLite's group-commit writer: the writes of one batch share a transaction, yet a write
that fails is undone alone and its caller gets its error; the others are kept and their
callers get their results only once the batch is committed; and a batch is written in this
process's turn among the processes writing the same file."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from nimplane.storage.db import create_db_engine
from nimplane.storage.group_commit import GroupCommitWriter


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'gc.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    return engine


def _insert(name: str) -> Any:
    def work(conn: Connection) -> int:
        conn.execute(text("INSERT INTO items (name) VALUES (:name)"), {"name": name})
        return int(conn.execute(text("SELECT count(*) FROM items")).scalar_one())

    return work


def _names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT name FROM items ORDER BY id"))]


def test_a_failing_write_is_undone_alone(engine: Engine) -> None:
    def half_then_fail(conn: Connection) -> None:
        _insert("half")(conn)
        raise ValueError("the write fails after writing")

    writer = GroupCommitWriter(engine)
    futures: list[Future[Any]] = [Future() for _ in range(4)]
    works = [_insert("a"), half_then_fail, _insert("a"), _insert("b")]  # the 2nd "a" clashes
    writer._apply(list(zip(works, futures, strict=True)))
    assert futures[0].result() == 1
    with pytest.raises(ValueError, match="fails after writing"):
        futures[1].result()
    with pytest.raises(Exception, match="UNIQUE"):
        futures[2].result()
    assert futures[3].result() == 2
    assert _names(engine) == ["a", "b"]


def test_writes_from_many_threads_all_land(engine: Engine) -> None:
    writer = GroupCommitWriter(engine)
    results: list[int] = []
    lock = threading.Lock()

    def submit(index: int) -> None:
        count = writer.submit(_insert(f"n{index}"))
        with lock:
            results.append(count)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert sorted(results) == list(range(1, 41))  # each saw the writes before it, and its own
    assert len(_names(engine)) == 40


def test_a_write_may_not_submit_another(engine: Engine) -> None:
    writer = GroupCommitWriter(engine)

    def nested(_conn: Connection) -> None:
        writer.submit(_insert("inner"))

    with pytest.raises(RuntimeError, match="may not submit"):
        writer.submit(nested)
    writer.close()
    assert _names(engine) == []


# Another process trying for the writers' turn without waiting: "busy" or "free".
OTHER_PROCESS = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""


def _other_process_finds(lock: Path) -> str:
    return subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, str(lock)], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_batch_holds_the_writers_turn_against_other_processes(
    engine: Engine, tmp_path: Path
) -> None:
    """Processes writing one SQLite file take turns through a flock beside it: another
    process finds it taken while a batch is being written, and free before and after."""
    lock = tmp_path / "gc.db-writer.lock"
    writer = GroupCommitWriter(engine)
    try:
        assert lock.exists()
        assert _other_process_finds(lock) == "free"
        assert writer.submit(lambda conn: _other_process_finds(lock)) == "busy"
        assert _other_process_finds(lock) == "free"
    finally:
        writer.close()
