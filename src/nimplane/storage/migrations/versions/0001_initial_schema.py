"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 01:04:32.448781
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "access_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=255), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=False),
        sa.Column("scope_type", sa.String(length=32), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_rules")),
    )
    with op.batch_alter_table("access_rules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_rules_subject", ["subject_type", "subject_id"], unique=False
        )

    op.create_table(
        "service_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("secret_hash", sa.String(length=512), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_accounts")),
        sa.UniqueConstraint("client_id", name=op.f("uq_service_accounts_client_id")),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "clusters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_clusters_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_departments_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
    )
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.create_index("uq_departments_cluster_name", ["cluster_id", "name"], unique=True)

    op.create_table(
        "node_pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("label_key", sa.String(length=253), nullable=True),
        sa.Column("label_value", sa.String(length=63), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_node_pools_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_pools")),
    )
    with op.batch_alter_table("node_pools", schema=None) as batch_op:
        batch_op.create_index("uq_node_pools_cluster_name", ["cluster_id", "name"], unique=True)

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_projects_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_projects_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index("uq_projects_cluster_name", ["cluster_id", "name"], unique=True)

    op.create_table(
        "workloads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("workload_type", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("desired_phase", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("phase_message", sa.Text(), nullable=True),
        sa.Column("phase_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resource_version", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("priority_class", sa.String(length=32), nullable=False),
        sa.Column("preemptibility", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.String(length=255), nullable=True),
        sa.Column("torn_down_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_workloads_cluster_id_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_workloads_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workloads_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workloads")),
    )
    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.create_index("ix_workloads_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "uq_workloads_live_name",
            ["project_id", "name"],
            unique=True,
            sqlite_where=sa.text("torn_down_at IS NULL"),
            postgresql_where=sa.text("torn_down_at IS NULL"),
        )


def downgrade() -> None:

    with op.batch_alter_table("workloads", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_workloads_live_name",
            sqlite_where=sa.text("torn_down_at IS NULL"),
            postgresql_where=sa.text("torn_down_at IS NULL"),
        )
        batch_op.drop_index("ix_workloads_created_at")

    op.drop_table("workloads")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("uq_projects_cluster_name")

    op.drop_table("projects")
    with op.batch_alter_table("node_pools", schema=None) as batch_op:
        batch_op.drop_index("uq_node_pools_cluster_name")

    op.drop_table("node_pools")
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_index("uq_departments_cluster_name")

    op.drop_table("departments")
    op.drop_table("clusters")
    op.drop_table("tenants")
    op.drop_table("service_accounts")
    with op.batch_alter_table("access_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_access_rules_subject")

    op.drop_table("access_rules")
