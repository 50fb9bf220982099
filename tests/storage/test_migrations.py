"""The one Alembic tree: upgrade -> the schema matches the tables -> downgrade -> upgrade again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, text

from nimplane.storage.db import alembic_config, create_db_engine, migrate


@pytest.fixture
def empty_engine(database_url: str | None, tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables, of the kind the session tests (SQLite or PostgreSQL)."""
    if database_url is None:
        engine = create_db_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    # a database beside the session's, named after it, so that suites can share one server
    url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    server, _, session_db = url.rpartition("/")
    name = f"{session_db.split('?')[0]}_migrations"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine = create_db_engine(f"{server}/{name}")
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_upgrade_check_downgrade_upgrade(empty_engine: Engine) -> None:
    migrate(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert {"workloads", "projects", "service_accounts", "access_rules"} <= tables
    config = alembic_config(empty_engine)
    command.check(config)  # raises when tables.py and the migrations disagree
    command.downgrade(config, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrate(empty_engine)
    migrate(empty_engine)  # idempotent: a second start changes nothing
    assert set(inspect(empty_engine).get_table_names()) == tables


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
