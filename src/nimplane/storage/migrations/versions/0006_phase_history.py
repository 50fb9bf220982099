"""workload phase history

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workload_phase_updates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workload_id", sa.String(length=36), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("phase_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["workloads.id"],
            name=op.f("fk_workload_phase_updates_workload_id_workloads"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workload_phase_updates")),
    )
    with op.batch_alter_table("workload_phase_updates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workload_phase_updates_workload", ["workload_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("workload_phase_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_workload_phase_updates_workload")
    op.drop_table("workload_phase_updates")
