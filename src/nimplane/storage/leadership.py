"""Single-runner passes: only one server replica runs a named pass (the scheduling cycle) at a
time. PostgreSQL: a session advisory lock held for the pass; SQLite (one process): a lock."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        """Yields True when this caller holds `name` for the block, False when another does."""
        with self._guard:
            local = self._local.setdefault(name, threading.Lock())
        if not local.acquire(blocking=False):
            yield False
            return
        try:
            if self._engine.dialect.name != "postgresql":
                yield True
                return
            with self._engine.connect() as conn:
                key = _key(name)
                got = bool(
                    conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                )
                conn.commit()
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
        finally:
            local.release()
