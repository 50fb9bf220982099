"""The database the suite runs on: SQLite, or PostgreSQL if NIMPLANE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, delete, text

from nimplane.storage import tables

ENV = "NIMPLANE_TEST_DATABASE_URL"


def configured_database_url() -> str | None:
    """The PostgreSQL URL to test against, or None for SQLite in `tmp_dir`."""
    return os.environ.get(ENV) or None


def reset_postgres(url: str) -> None:
    """Drop every table of the test database, so migrations start from nothing."""
    engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def delete_workloads(engine: Engine) -> None:
    """Every workload gone, with its events, history and simulated pods, faults and metrics."""
    with engine.begin() as conn:
        conn.execute(delete(tables.workload_events))
        conn.execute(delete(tables.workload_phase_updates))
        conn.execute(delete(tables.workloads))
        for table in (tables.sim_pods, tables.sim_node_faults, tables.sim_metrics):
            conn.execute(delete(table))
