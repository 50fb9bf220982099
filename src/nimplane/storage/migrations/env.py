"""Alembic environment: one migration tree for SQLite and PostgreSQL, run programmatically."""

from __future__ import annotations

from alembic import context

from nimplane.storage.tables import metadata

config = context.config


def run_migrations(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = config.attributes["engine"]
    with engine.begin() as conn:
        run_migrations(conn)
