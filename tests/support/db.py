"""The database the suite runs on: SQLite, or PostgreSQL if NIMPLANE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text

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
