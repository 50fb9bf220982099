"""an index for the lifecycle engine's claim: live workloads by when they are due

Revision ID: 0011_pglife
Revises: 0010
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_pglife"
down_revision = "0010"
branch_labels = None
depends_on = None

_LIVE = sa.text("torn_down_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_workloads_live_due",
        "workloads",
        ["reconcile_due_at"],
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_workloads_live_due", table_name="workloads")
