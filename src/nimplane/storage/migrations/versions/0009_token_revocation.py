"""accounts get an immutable uid and a token epoch; token families and refresh tokens

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 04:00:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ACCOUNT_TABLES = ("service_accounts", "users")


def upgrade() -> None:
    conn = op.get_bind()
    for table in _ACCOUNT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("uid", sa.String(length=36), nullable=True))
            batch_op.add_column(
                sa.Column("token_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False)
            )
        rows = sa.table(table, sa.column("id", sa.Integer), sa.column("uid", sa.String))
        for (row_id,) in conn.execute(sa.select(rows.c.id)).all():
            conn.execute(sa.update(rows).where(rows.c.id == row_id).values(uid=str(uuid.uuid4())))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("uid", existing_type=sa.String(length=36), nullable=False)
            batch_op.create_unique_constraint(batch_op.f(f"uq_{table}_uid"), ["uid"])

    op.create_table(
        "token_families",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("account_uid", sa.String(length=36), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_families")),
    )
    op.create_index("ix_token_families_started_at", "token_families", ["started_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["token_families.id"],
            name=op.f("fk_refresh_tokens_family_id_token_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_token_families_started_at", table_name="token_families")
    op.drop_table("token_families")
    for table in _ACCOUNT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_uid", type_="unique")
            batch_op.drop_column("token_epoch")
            batch_op.drop_column("uid")
