"""The database schema, as SQLAlchemy Core tables; Alembic migrations create exactly this.

Timestamps are stored as UTC (`UtcDateTime` reads them back timezone-aware on both
dialects); JSON documents are stored as JSON text so SQLite and PostgreSQL behave alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect

_ORDERED_TEXT = String(63).with_variant(String(63, collation="C"), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
)

clusters = Table(
    "clusters",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

departments = Table(
    "departments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cluster_id", String(36), ForeignKey("clusters.id"), nullable=False),
    Column("name", String(63), nullable=False),
    Column("description", Text, nullable=True),
    Column("resources", JSON, nullable=False, server_default=text("'[]'")),
    Column("default_node_pools", JSON, nullable=True),
    Column("scheduling_rules", JSON, nullable=True),
    Column("node_types", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("updated_by", String(255), nullable=True),
    Index("uq_departments_cluster_name", "cluster_id", "name", unique=True),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("department_id", Integer, ForeignKey("departments.id"), nullable=False),
    Column("cluster_id", String(36), ForeignKey("clusters.id"), nullable=False),
    Column("name", String(63), nullable=False),
    Column("namespace", String(63), nullable=False),
    Column("requested_namespace", String(63), nullable=True),
    Column("description", Text, nullable=True),
    Column("resources", JSON, nullable=False, server_default=text("'[]'")),
    Column("default_node_pools", JSON, nullable=True),
    Column("scheduling_rules", JSON, nullable=True),
    Column("node_types", JSON, nullable=True),
    Column("enforce_runai_scheduler", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("updated_by", String(255), nullable=True),
    Index("uq_projects_cluster_name", "cluster_id", "name", unique=True),
    Index("uq_projects_cluster_namespace", "cluster_id", "namespace", unique=True),
)

node_pools = Table(
    "node_pools",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cluster_id", String(36), ForeignKey("clusters.id"), nullable=False),
    Column("name", String(63), nullable=False),
    Column("label_key", String(253), nullable=True),
    Column("label_value", String(63), nullable=True),
    Column("settings", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("updated_by", String(255), nullable=True),
    Index("uq_node_pools_cluster_name", "cluster_id", "name", unique=True),
)

service_accounts = Table(
    "service_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("client_id", String(255), nullable=False, unique=True),
    Column("secret_hash", String(512), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("updated_by", String(255), nullable=True),
    # the account's immutable identity (never reused, unlike a name or a SQLite row id) and
    # its token epoch, bumped by every credential change and disable: tokens carry both
    Column("uid", String(36), nullable=False, unique=True),
    Column("token_epoch", Integer, nullable=False, server_default=text("0")),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(255), nullable=False, unique=True),
    Column("password_hash", String(512), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("updated_by", String(255), nullable=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("token_epoch", Integer, nullable=False, server_default=text("0")),
)

# One row per sign-in (a token family): the refresh tokens rotated from it and the access
# tokens they minted belong to it; revoking it ends them all.
token_families = Table(
    "token_families",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject_type", String(32), nullable=False),
    Column("account_uid", String(36), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_token_families_started_at", "started_at"),
)

# Every refresh token issued (by its `jti`); `used_at` is set when it is exchanged.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "family_id",
        String(36),
        ForeignKey("token_families.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Index("ix_refresh_tokens_family_id", "family_id"),
)

workload_events = Table(
    "workload_events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workload_id", String(36), ForeignKey("workloads.id"), nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("type", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("source", String(64), nullable=False),
    Column("involved_object", String(255), nullable=True),
    Index("ix_workload_events_workload", "workload_id", "timestamp"),
)

workload_phase_updates = Table(
    "workload_phase_updates",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workload_id", String(36), ForeignKey("workloads.id"), nullable=False),
    Column("phase", String(32), nullable=False),
    Column("phase_message", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_workload_phase_updates_workload", "workload_id", "created_at"),
)

audit_logs = Table(
    "audit_logs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("subject", String(255), nullable=True),
    Column("subject_type", String(32), nullable=True),
    Column("action", String(16), nullable=False),
    Column("http_method", String(8), nullable=False),
    Column("url", Text, nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=True),
    Column("resource_name", String(255), nullable=True),
    Column("status_code", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("request_id", String(64), nullable=True),
    Index("ix_audit_logs_timestamp", "timestamp"),
)

access_rules = Table(
    "access_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(255), nullable=False),
    Column("role_name", String(64), nullable=False),
    Column("scope_type", String(32), nullable=False),
    Column("scope_id", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Index("ix_access_rules_subject", "subject_type", "subject_id"),
)

workloads = Table(
    "workloads",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("cluster_id", String(36), ForeignKey("clusters.id"), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    # Code-point order on PostgreSQL too (the list sorts names as Python compares strings):
    Column("name", _ORDERED_TEXT, nullable=False),
    Column("workload_type", String(64), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("desired_phase", String(16), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("phase_message", Text, nullable=True),
    Column("phase_updated_at", UtcDateTime, nullable=False),
    Column("resource_version", Integer, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("priority_class", String(32), nullable=False),
    Column("preemptibility", String(32), nullable=False),
    Column("category", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("deleted_at", UtcDateTime, nullable=True),
    Column("deleted_by", String(255), nullable=True),
    Column("torn_down_at", UtcDateTime, nullable=True),
    # Status, written only by the scheduler and the lifecycle engine (never by the API):
    Column("phase_reason", String(64), nullable=True),
    Column("conditions", JSON, nullable=True),
    Column("pending_messages", JSON, nullable=True),
    Column("placement", JSON, nullable=True),
    Column("observed_generation", Integer, nullable=False, server_default=text("0")),
    Column("pending_seconds", Integer, nullable=False, server_default=text("0")),
    Column("running_seconds", Integer, nullable=False, server_default=text("0")),
    # The lifecycle engine's bookkeeping:
    Column("running_pods", Integer, nullable=False, server_default=text("0")),
    Column("serving_replicas", Integer, nullable=False, server_default=text("0")),
    Column("surge_replicas", Integer, nullable=False, server_default=text("0")),
    Column("autoscaler", JSON, nullable=True),
    Column("replaced_replicas", JSON, nullable=True),
    Column("change_seq", Integer, nullable=False, server_default=text("0")),
    Column("reconcile_due_at", UtcDateTime, nullable=True),
    Column("reconcile_failures", Integer, nullable=False, server_default=text("0")),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    # Listed values derived from the spec, the placement and the phase, each written with
    # what it derives from by that column's one writer (storage/workloads.py):
    Column("requested_node_pools", Text, nullable=True),
    Column("allocated_gpu", Float, nullable=False, server_default=text("0")),
    Column("phase_started_us", BigInteger, nullable=False, server_default=text("0")),
    Index(
        "uq_workloads_live_name",
        "project_id",
        "name",
        unique=True,
        sqlite_where=text("torn_down_at IS NULL"),
        postgresql_where=text("torn_down_at IS NULL"),
    ),
    Index("ix_workloads_created_at", "created_at"),
    # The list's keyset-friendly indexes over live workloads: the default order, by name,
    # by phase and by project (the caller's scope and `projectId==`), each ending in the id
    # that breaks ties.
    *(
        Index(
            f"ix_workloads_live_{name}",
            *columns,
            "id",
            sqlite_where=text("torn_down_at IS NULL"),
            postgresql_where=text("torn_down_at IS NULL"),
        )
        for name, columns in (
            ("created", ("created_at",)),
            ("by_name", ("name",)),
            ("phase", ("phase", "created_at")),
            ("project", ("project_id", "created_at")),
        )
    ),
    # The lifecycle engine's claim (storage/workloads.py `_DUE`): the live workloads due
    # now, oldest due first, read from the index instead of a scan of every workload per pass.
    Index(
        "ix_workloads_live_due",
        "reconcile_due_at",
        sqlite_where=text("torn_down_at IS NULL"),
        postgresql_where=text("torn_down_at IS NULL"),
    ),
)


workload_counts = Table(
    "workload_counts",
    metadata,
    Column("project_id", Integer, primary_key=True, autoincrement=False),
    Column("shard", String(1), primary_key=True),
    Column("live", Boolean, primary_key=True),
    Column("n", Integer, nullable=False),
)
"""How many workloads each project has, live (not torn down) or deleted: what an unfiltered
`GET /api/v1/workloads/count` sums. Kept by database triggers on `workloads` (migration 0010),
so every writer, bulk loads included, keeps it exact. Sharded by the first character of the
workload id, so that concurrent creates in one project rarely wait for each other's row."""

# The simulated cluster's own state (the embedded backend keeps it in the same database, so
# that every server replica sees the same pods, faults and metrics).
sim_pods = Table(
    "sim_pods",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workload_id", String(36), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("replica", Integer, nullable=False),
    Column("pod_index", Integer, nullable=False),
    Column("template", String(64), nullable=False),
    Column("node", String(253), nullable=False),
    Column("gpu_devices", JSON, nullable=False),
    Column("gpus", Float, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("plan", JSON, nullable=False),
    Column("restarts", Integer, nullable=False, server_default=text("0")),
    Column("crash_since", UtcDateTime, nullable=True),
    Column("unready_since", UtcDateTime, nullable=True),
    Column("last_stage", String(32), nullable=True),
)

sim_node_faults = Table(
    "sim_node_faults",
    metadata,
    Column("node", String(253), primary_key=True),
    Column("fault", String(16), nullable=False),
    Column("since", UtcDateTime, nullable=False),
)

sim_metrics = Table(
    "sim_metrics",
    metadata,
    Column("workload_id", String(36), primary_key=True),
    Column("metric", String(255), nullable=False),
    Column("value", Float, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
