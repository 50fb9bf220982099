"""the workload list in SQL: derived list columns and keyset-friendly indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 04:00:00
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_LIVE = sa.text("torn_down_at IS NULL")
_INDEXES = (
    ("created", ("created_at",)),
    ("by_name", ("name",)),
    ("phase", ("phase", "created_at")),
    ("project", ("project_id", "created_at")),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# workload_counts: +1 on insert, -1 on delete, and a move between live and deleted when
# torn_down_at is set (or cleared); the shard is the id's first character.
_SQLITE_BUMP = (
    "INSERT INTO workload_counts (project_id, shard, live, n) "
    "VALUES ({row}.project_id, substr({row}.id, 1, 1), {row}.torn_down_at IS NULL, {delta}) "
    "ON CONFLICT (project_id, shard, live) DO UPDATE SET n = n + {delta};"
)
_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER workloads_count_insert AFTER INSERT ON workloads BEGIN "
        + _SQLITE_BUMP.format(row="NEW", delta=1)
        + " END",
        "CREATE TRIGGER workloads_count_delete AFTER DELETE ON workloads BEGIN "
        + _SQLITE_BUMP.format(row="OLD", delta=-1)
        + " END",
        "CREATE TRIGGER workloads_count_update AFTER UPDATE OF torn_down_at, project_id "
        "ON workloads WHEN (OLD.torn_down_at IS NULL) != (NEW.torn_down_at IS NULL) "
        "OR OLD.project_id != NEW.project_id BEGIN "
        + _SQLITE_BUMP.format(row="OLD", delta=-1)
        + " "
        + _SQLITE_BUMP.format(row="NEW", delta=1)
        + " END",
    ],
    "postgresql": [
        """
        CREATE FUNCTION workloads_count() RETURNS trigger AS $$
        BEGIN
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO workload_counts AS c (project_id, shard, live, n)
            VALUES (OLD.project_id, substr(OLD.id, 1, 1), OLD.torn_down_at IS NULL, -1)
            ON CONFLICT (project_id, shard, live) DO UPDATE SET n = c.n - 1;
          END IF;
          IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO workload_counts AS c (project_id, shard, live, n)
            VALUES (NEW.project_id, substr(NEW.id, 1, 1), NEW.torn_down_at IS NULL, 1)
            ON CONFLICT (project_id, shard, live) DO UPDATE SET n = c.n + 1;
          END IF;
          RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """,
        "CREATE TRIGGER workloads_count_insert AFTER INSERT OR DELETE ON workloads "
        "FOR EACH ROW EXECUTE FUNCTION workloads_count()",
        "CREATE TRIGGER workloads_count_update AFTER UPDATE OF torn_down_at, project_id "
        "ON workloads FOR EACH ROW WHEN ((OLD.torn_down_at IS NULL) <> (NEW.torn_down_at IS "
        "NULL) OR OLD.project_id <> NEW.project_id) EXECUTE FUNCTION workloads_count()",
    ],
}
_DROP_TRIGGERS = {
    "sqlite": [
        "DROP TRIGGER workloads_count_insert",
        "DROP TRIGGER workloads_count_delete",
        "DROP TRIGGER workloads_count_update",
    ],
    "postgresql": [
        "DROP TRIGGER workloads_count_insert ON workloads",
        "DROP TRIGGER workloads_count_update ON workloads",
        "DROP FUNCTION workloads_count()",
    ],
}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _micros(value: Any) -> int:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    return int((stamp - _EPOCH) // timedelta(microseconds=1))


def upgrade() -> None:
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_node_pools", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("allocated_gpu", sa.Float(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "phase_started_us", sa.BigInteger(), server_default=sa.text("0"), nullable=False
            )
        )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute('ALTER TABLE workloads ALTER COLUMN name TYPE VARCHAR(63) COLLATE "C"')
    # Backfill: the same definitions as domain/workloads.py and domain/phases.py (a
    # migration keeps its own copy, as the code may change after it).
    rows = bind.execute(
        sa.text("SELECT id, spec, placement, phase_updated_at FROM workloads")
    ).fetchall()
    for row in rows:
        spec = _json(row.spec) or {}
        pools = [str(p) for p in spec.get("nodePools") or []]
        gangs = (_json(row.placement) or {}).get("gangs", [])
        bind.execute(
            sa.text(
                "UPDATE workloads SET requested_node_pools = :pools, allocated_gpu = :gpu, "
                "phase_started_us = :started WHERE id = :id"
            ),
            {
                "id": row.id,
                "pools": ",".join(pools) if pools else None,
                "gpu": float(sum(float(p["gpus"]) for g in gangs for p in g["pods"])),
                "started": _micros(row.phase_updated_at),
            },
        )
    op.create_table(
        "workload_counts",
        sa.Column("project_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("shard", sa.String(length=1), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "shard", "live", name=op.f("pk_workload_counts")),
    )
    for statement in _TRIGGERS[bind.dialect.name]:
        op.execute(statement)
    op.execute(
        "INSERT INTO workload_counts (project_id, shard, live, n) "
        "SELECT project_id, substr(id, 1, 1), torn_down_at IS NULL, count(*) FROM workloads "
        "GROUP BY project_id, substr(id, 1, 1), torn_down_at IS NULL"
    )
    for name, columns in _INDEXES:
        op.create_index(
            f"ix_workloads_live_{name}",
            "workloads",
            [*columns, "id"],
            unique=False,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        )


def downgrade() -> None:
    for statement in _DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table("workload_counts")
    for name, _columns in _INDEXES:
        op.drop_index(f"ix_workloads_live_{name}", table_name="workloads")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE workloads ALTER COLUMN name TYPE VARCHAR(63)")
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.drop_column("phase_started_us")
        batch_op.drop_column("allocated_gpu")
        batch_op.drop_column("requested_node_pools")
