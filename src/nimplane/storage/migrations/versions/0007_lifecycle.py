"""lifecycle engine bookkeeping and the simulated cluster's pods, node faults and metrics

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("running_pods", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("serving_replicas", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("surge_replicas", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("autoscaler", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("change_seq", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("reconcile_due_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "reconcile_failures", sa.Integer(), nullable=False, server_default=sa.text("0")
            )
        )
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "sim_pods",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workload_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("replica", sa.Integer(), nullable=False),
        sa.Column("pod_index", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=253), nullable=False),
        sa.Column("gpu_devices", sa.JSON(), nullable=False),
        sa.Column("gpus", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("crash_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unready_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_stage", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_pods")),
    )
    with op.batch_alter_table("sim_pods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sim_pods_workload_id"), ["workload_id"], unique=False)
    op.create_table(
        "sim_node_faults",
        sa.Column("node", sa.String(length=253), nullable=False),
        sa.Column("fault", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_sim_node_faults")),
    )
    op.create_table(
        "sim_metrics",
        sa.Column("workload_id", sa.String(length=36), nullable=False),
        sa.Column("metric", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workload_id", name=op.f("pk_sim_metrics")),
    )


def downgrade() -> None:
    op.drop_table("sim_metrics")
    op.drop_table("sim_node_faults")
    with op.batch_alter_table("sim_pods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_pods_workload_id"))
    op.drop_table("sim_pods")
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        for column in (
            "lease_until",
            "lease_owner",
            "reconcile_failures",
            "reconcile_due_at",
            "change_seq",
            "autoscaler",
            "surge_replicas",
            "serving_replicas",
            "running_pods",
        ):
            batch_op.drop_column(column)
