"""Engine construction, SQLite pragmas, transactions, and schema migration at start.

SQLite runs in WAL mode; a write transaction starts with `BEGIN IMMEDIATE`, so two writers
queue on the database lock (bounded by `busy_timeout`) instead of failing when one upgrades
a read snapshot to a write. Reads run statement by statement in autocommit, on PostgreSQL
too (READ COMMITTED gives each statement its own snapshot; no BEGIN or ROLLBACK to pay).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from nimplane.domain.errors import Unavailable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 727_001  # PostgreSQL advisory lock key for schema migration
_WRITE = "nimplane_write"


def create_db_engine(url: str, *, sqlite_synchronous: str = "FULL") -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            make_private(Path(database))
        engine = create_engine(
            url,
            pool_size=8,
            max_overflow=32,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_dump_json,
            json_deserializer=orjson.loads,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writes take the database lock up front; reads run each statement in autocommit
            # (WAL readers never block and need no transaction of their own).
            if conn.get_execution_options().get(_WRITE, False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        json_serializer=_dump_json,
        json_deserializer=orjson.loads,
    )


PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private(database: Path) -> None:
    """The SQLite file (it holds password hashes and the audit log) readable by its owner
    only, whatever the umask: created 0600 if missing, else set to 0600, with any `-wal`,
    `-shm` or `-journal` file beside it. SQLite creates those with the database file's mode
    (and sets that mode itself when the umask took bits away), so they stay 0600 too."""
    fd = os.open(database, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    for suffix in SQLITE_COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            companion.chmod(PRIVATE_FILE)


def _dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """A connection inside one transaction; committed on a clean exit when `write`."""
    try:
        with engine.connect() as conn:
            if write:
                conn = conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    yield conn
            else:
                if conn.dialect.name == "postgresql":
                    # statement by statement, as on SQLite: at READ COMMITTED every statement
                    # has its own snapshot anyway, and a read spares the BEGIN and the
                    # ROLLBACK at check-in (two round trips) that a transaction costs
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
    except OperationalError as exc:
        raise Unavailable("The database is unavailable; try again in a few minutes.") from exc


def violated_foreign_key(exc: IntegrityError) -> bool:
    """Whether an integrity error is a foreign-key violation (PostgreSQL's SQLSTATE 23503,
    SQLite's message), which must never be reported as a name already taken."""
    code = getattr(exc.orig, "sqlstate", None)
    if code is not None:
        return bool(code == "23503")
    return "FOREIGN KEY" in str(exc.orig).upper()


def violated_unique(exc: IntegrityError) -> bool:
    """Whether an integrity error is a unique-constraint violation (23505, or SQLite's)."""
    code = getattr(exc.orig, "sqlstate", None)
    if code is not None:
        return bool(code == "23505")
    return "UNIQUE" in str(exc.orig).upper()


def ping(engine: Engine) -> None:
    """Raise Unavailable unless a trivial query succeeds."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise Unavailable("The database is unavailable.") from exc


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; replicas on PostgreSQL take turns."""
    config = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_ID})
                conn.commit()
    else:
        command.upgrade(config, "head")
