"""organisation API: department defaults, node types, the scheduler flag, unique namespaces

Revision ID: 0003
Revises: 0005
Create Date: 2026-11-28 02:30:00.000000

Numbered 0003 as planned, but chained after 0005, which reached the trunk first (one head).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_node_pools", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("scheduling_rules", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("node_types", sa.JSON(), nullable=True))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_types", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "enforce_runai_scheduler",
                sa.Boolean(),
                server_default=sa.text("true"),
                nullable=False,
            )
        )
        batch_op.create_index(
            "uq_projects_cluster_namespace", ["cluster_id", "namespace"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("uq_projects_cluster_namespace")
        batch_op.drop_column("enforce_runai_scheduler")
        batch_op.drop_column("node_types")

    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_column("node_types")
        batch_op.drop_column("scheduling_rules")
        batch_op.drop_column("default_node_pools")
