"""workload status and events

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-28 01:56:19.458270
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "workload_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workload_id", sa.String(length=36), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("involved_object", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["workload_id"], ["workloads.id"], name=op.f("fk_workload_events_workload_id_workloads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workload_events")),
    )
    with op.batch_alter_table("workload_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workload_events_workload", ["workload_id", "timestamp"], unique=False
        )

    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phase_reason", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("conditions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("pending_messages", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("placement", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "observed_generation", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("pending_seconds", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("running_seconds", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:

    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.drop_column("running_seconds")
        batch_op.drop_column("pending_seconds")
        batch_op.drop_column("observed_generation")
        batch_op.drop_column("placement")
        batch_op.drop_column("pending_messages")
        batch_op.drop_column("conditions")
        batch_op.drop_column("phase_reason")

    with op.batch_alter_table("workload_events", schema=None) as batch_op:
        batch_op.drop_index("ix_workload_events_workload")

    op.drop_table("workload_events")
