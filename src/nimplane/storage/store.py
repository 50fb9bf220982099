"""SqlStore: the `Store` port on one SQLAlchemy engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from nimplane.storage.db import ping, transaction
from nimplane.storage.identity import SqlIdentityRepo
from nimplane.storage.org import SqlOrgRepo
from nimplane.storage.workloads import SqlWorkloadRepo


class SqlTransaction:
    def __init__(self, conn: Connection) -> None:
        self.workloads = SqlWorkloadRepo(conn)
        self.org = SqlOrgRepo(conn)
        self.identity = SqlIdentityRepo(conn)


class SqlStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with transaction(self.engine, write=False) as conn:
            yield SqlTransaction(conn)

    @contextmanager
    def write(self) -> Iterator[SqlTransaction]:
        with transaction(self.engine, write=True) as conn:
            yield SqlTransaction(conn)

    def ping(self) -> None:
        ping(self.engine)
