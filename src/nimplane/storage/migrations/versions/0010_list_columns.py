"""the workload list in SQL: derived list columns and keyset-friendly indexes

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05 04:00:00
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
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
    for name, _columns in _INDEXES:
        op.drop_index(f"ix_workloads_live_{name}", table_name="workloads")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE workloads ALTER COLUMN name TYPE VARCHAR(63)")
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.drop_column("phase_started_us")
        batch_op.drop_column("allocated_gpu")
        batch_op.drop_column("requested_node_pools")
