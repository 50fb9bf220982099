"""SqlStore: the `Store` port on one SQLAlchemy engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine

from nimplane.domain.ports import Transaction
from nimplane.storage.audit import SqlAuditRepo
from nimplane.storage.db import ping, transaction
from nimplane.storage.events import SqlEventRepo
from nimplane.storage.group_commit import GroupCommitWriter
from nimplane.storage.history import SqlPhaseHistoryRepo
from nimplane.storage.identity import SqlIdentityRepo
from nimplane.storage.org import SqlOrgRepo
from nimplane.storage.tokens import SqlTokenRepo
from nimplane.storage.workloads import SqlWorkloadRepo

T = TypeVar("T")


class SqlTransaction:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        """The connection (adapters keeping tables of their own, like the simulated cluster,
        write them in the same transaction)."""
        self.workloads = SqlWorkloadRepo(conn)
        self.org = SqlOrgRepo(conn)
        self.identity = SqlIdentityRepo(conn)
        self.audit = SqlAuditRepo(conn)
        self.tokens = SqlTokenRepo(conn)
        self.events = SqlEventRepo(conn)
        self.history = SqlPhaseHistoryRepo(conn)


class SqlStore:
    """Transactions on one engine. On SQLite every write goes through one group-commit
    writer (see `group_commit.py`); on PostgreSQL each write is its own transaction and the
    server interleaves them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = GroupCommitWriter(engine) if engine.dialect.name == "sqlite" else None

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with transaction(self.engine, write=False) as conn:
            yield SqlTransaction(conn)

    def write(self, work: Callable[[Transaction], T]) -> T:
        if self._writer is not None:
            return self._writer.submit(lambda conn: work(SqlTransaction(conn)))
        with transaction(self.engine, write=True) as conn:
            return work(SqlTransaction(conn))

    def ping(self) -> None:
        ping(self.engine)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()
