"""OrgRepo on SQLAlchemy Core: tenants, clusters, departments, projects and node pools."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from nimplane.domain.errors import AlreadyExists, Conflict, NotFound
from nimplane.domain.org import (
    Cluster,
    Department,
    NodePool,
    OrgProject,
    PoolQuota,
    pool_quota_from_json,
    pool_quota_json,
)
from nimplane.domain.workloads import Project
from nimplane.storage.db import violated_foreign_key, violated_unique
from nimplane.storage.tables import (
    clusters,
    departments,
    metadata,
    node_pools,
    projects,
    tenants,
    workloads,
)

_MAX_ID = 2**31 - 1
_SEEDING_LOCK_ID = 727_002  # PostgreSQL advisory lock key for the config file's seeding


_PROJECT_BY_ID = (
    select(
        projects.c.id,
        projects.c.name,
        projects.c.namespace,
        projects.c.cluster_id,
        departments.c.id.label("department_id"),
        departments.c.name.label("department_name"),
        clusters.c.tenant_id,
    )
    .join(departments, departments.c.id == projects.c.department_id)
    .join(clusters, clusters.c.id == projects.c.cluster_id)
    .where(projects.c.id == bindparam("id"))
)
_PROJECT_BY_ID_FOR_SHARE = _PROJECT_BY_ID.with_for_update(read=True, of=projects)
_NODE_POOL_NAMES = select(node_pools.c.name)
_CLUSTERS = select(clusters).order_by(clusters.c.created_at, clusters.c.id)
_NODE_POOLS = (
    select(node_pools, clusters.c.name.label("cluster_name"), clusters.c.tenant_id)
    .join(clusters, clusters.c.id == node_pools.c.cluster_id)
    .order_by(node_pools.c.id)
)
_DEPARTMENTS = (
    select(departments, clusters.c.tenant_id)
    .join(clusters, clusters.c.id == departments.c.cluster_id)
    .order_by(departments.c.id)
)
_PROJECTS = (
    select(
        projects,
        departments.c.name.label("department_name"),
        clusters.c.tenant_id,
    )
    .join(departments, departments.c.id == projects.c.department_id)
    .join(clusters, clusters.c.id == projects.c.cluster_id)
    .order_by(projects.c.id)
)


def _int_id(text: str) -> int | None:
    """A stored integer id, or None for text that cannot be one (so: not found)."""
    # ASCII digits only ("²".isdigit() is true too), within the INTEGER column's range
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or int(text) > _MAX_ID:
        return None
    return int(text)


def _resources(doc: Any) -> tuple[PoolQuota, ...]:
    return tuple(pool_quota_from_json(i) for i in doc if isinstance(i, dict)) if doc else ()


def _resources_doc(items: Sequence[PoolQuota]) -> list[dict[str, Any]]:
    return [pool_quota_json(i) for i in items]


def _names(doc: Any) -> tuple[str, ...] | None:
    return None if doc is None else tuple(str(n) for n in doc)


def _to_cluster(row: Row[Any]) -> Cluster:
    m = row._mapping
    return Cluster(id=m["id"], name=m["name"], tenant_id=m["tenant_id"], created_at=m["created_at"])


def _to_node_pool(row: Row[Any]) -> NodePool:
    m = row._mapping
    return NodePool(
        id=str(m["id"]),
        name=m["name"],
        cluster_id=m["cluster_id"],
        cluster_name=m["cluster_name"],
        tenant_id=m["tenant_id"],
        label_key=m["label_key"],
        label_value=m["label_value"],
        settings=dict(m["settings"] or {}),
        created_at=m["created_at"],
        created_by=m["created_by"],
        updated_at=m["updated_at"],
        updated_by=m["updated_by"],
    )


def _to_department(row: Row[Any]) -> Department:
    m = row._mapping
    return Department(
        id=str(m["id"]),
        name=m["name"],
        cluster_id=m["cluster_id"],
        tenant_id=m["tenant_id"],
        description=m["description"],
        resources=_resources(m["resources"]),
        scheduling_rules=m["scheduling_rules"],
        default_node_pools=_names(m["default_node_pools"]),
        node_types=m["node_types"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        updated_at=m["updated_at"],
        updated_by=m["updated_by"],
    )


def _to_project(row: Row[Any]) -> OrgProject:
    m = row._mapping
    return OrgProject(
        id=str(m["id"]),
        name=m["name"],
        cluster_id=m["cluster_id"],
        tenant_id=m["tenant_id"],
        department_id=str(m["department_id"]),
        department_name=m["department_name"],
        namespace=m["namespace"],
        requested_namespace=m["requested_namespace"],
        description=m["description"],
        resources=_resources(m["resources"]),
        scheduling_rules=m["scheduling_rules"],
        default_node_pools=_names(m["default_node_pools"]),
        node_types=m["node_types"],
        enforce_runai_scheduler=bool(m["enforce_runai_scheduler"]),
        created_at=m["created_at"],
        created_by=m["created_by"],
        updated_at=m["updated_at"],
        updated_by=m["updated_by"],
    )


def _department_values(d: Department) -> dict[str, Any]:
    return {
        "description": d.description,
        "resources": _resources_doc(d.resources),
        "default_node_pools": None if d.default_node_pools is None else list(d.default_node_pools),
        "scheduling_rules": d.scheduling_rules,
        "node_types": d.node_types,
        "updated_at": d.updated_at,
        "updated_by": d.updated_by,
    }


def _project_values(p: OrgProject) -> dict[str, Any]:
    return {
        "description": p.description,
        "resources": _resources_doc(p.resources),
        "default_node_pools": None if p.default_node_pools is None else list(p.default_node_pools),
        "scheduling_rules": p.scheduling_rules,
        "node_types": p.node_types,
        "enforce_runai_scheduler": p.enforce_runai_scheduler,
        "updated_at": p.updated_at,
        "updated_by": p.updated_by,
    }


class SqlOrgRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def project(self, project_id: str, *, for_share: bool = False) -> Project | None:
        key = _int_id(project_id)
        if key is None:
            return None
        query = _PROJECT_BY_ID_FOR_SHARE if for_share else _PROJECT_BY_ID
        row = self._conn.execute(query, {"id": key}).first()
        if row is None:
            return None
        return Project(
            id=str(row.id),
            name=row.name,
            namespace=row.namespace,
            department_id=str(row.department_id),
            department_name=row.department_name,
            cluster_id=row.cluster_id,
            tenant_id=row.tenant_id,
        )

    def node_pool_names(self) -> frozenset[str]:
        return frozenset(self._conn.execute(_NODE_POOL_NAMES).scalars())

    def ensure_tenant(self, tenant_id: int, name: str) -> None:
        if (
            self._conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first()
            is None
        ):
            self._conn.execute(insert(tenants).values(id=tenant_id, name=name))

    def ensure_cluster(self, tenant_id: int, name: str, now: datetime) -> str:
        found = self._conn.execute(
            select(clusters.c.id).where(clusters.c.tenant_id == tenant_id, clusters.c.name == name)
        ).scalar()
        if found is not None:
            return str(found)
        cluster_id = str(uuid.uuid4())
        self._conn.execute(
            insert(clusters).values(id=cluster_id, tenant_id=tenant_id, name=name, created_at=now)
        )
        return cluster_id

    def _ensure_named(self, table: Table, cluster_id: str, name: str, **values: object) -> str:
        found = self._conn.execute(
            select(table.c.id).where(table.c.cluster_id == cluster_id, table.c.name == name)
        ).scalar()
        if found is not None:
            return str(found)
        inserted = self._conn.execute(
            insert(table).values(cluster_id=cluster_id, name=name, **values).returning(table.c.id)
        ).scalar_one()
        return str(inserted)

    def ensure_department(self, cluster_id: str, name: str, now: datetime) -> str:
        return self._ensure_named(departments, cluster_id, name, created_at=now)

    def ensure_project(
        self, cluster_id: str, department_id: str, name: str, namespace: str, now: datetime
    ) -> str:
        return self._ensure_named(
            projects,
            cluster_id,
            name,
            department_id=int(department_id),
            namespace=namespace,
            created_at=now,
        )

    def ensure_node_pool(self, cluster_id: str, name: str, now: datetime) -> str:
        return self._ensure_named(node_pools, cluster_id, name, created_at=now)

    def lock_seeding(self) -> None:
        # PostgreSQL: a transaction-scoped advisory lock; SQLite writes are serial anyway
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEEDING_LOCK_ID})

    def _insert(self, table: Table, values: dict[str, Any], taken: str) -> str:
        try:
            inserted = self._conn.execute(
                insert(table).values(**values).returning(table.c.id)
            ).scalar_one()
        except IntegrityError as exc:  # the transaction rolls back as this propagates
            if violated_foreign_key(exc):
                raise NotFound(
                    f"What the new {table.name[:-1].replace('_', ' ')} belongs to no longer exists."
                ) from exc
            if violated_unique(exc):
                raise AlreadyExists(taken) from exc
            raise
        return str(inserted)

    # --- clusters ------------------------------------------------------------------------------

    def clusters(self) -> list[Cluster]:
        return [_to_cluster(row) for row in self._conn.execute(_CLUSTERS)]

    def cluster(self, cluster_id: str) -> Cluster | None:
        row = self._conn.execute(select(clusters).where(clusters.c.id == cluster_id)).first()
        return None if row is None else _to_cluster(row)

    # --- node pools ----------------------------------------------------------------------------

    def node_pools(self) -> list[NodePool]:
        return [_to_node_pool(row) for row in self._conn.execute(_NODE_POOLS)]

    def node_pool(self, pool_id: str) -> NodePool | None:
        key = _int_id(pool_id)
        if key is None:
            return None
        row = self._conn.execute(_NODE_POOLS.where(node_pools.c.id == key)).first()
        return None if row is None else _to_node_pool(row)

    def insert_node_pool(self, pool: NodePool) -> str:
        values = {
            "cluster_id": pool.cluster_id,
            "name": pool.name,
            "label_key": pool.label_key,
            "label_value": pool.label_value,
            "settings": pool.settings,
            "created_at": pool.created_at,
            "created_by": pool.created_by,
            "updated_at": pool.updated_at,
            "updated_by": pool.updated_by,
        }
        return self._insert(node_pools, values, f"A node pool named '{pool.name}' already exists.")

    def update_node_pool(self, pool: NodePool) -> None:
        self._conn.execute(
            update(node_pools)
            .where(node_pools.c.id == int(pool.id))
            .values(
                label_key=pool.label_key,
                label_value=pool.label_value,
                settings=pool.settings,
                updated_at=pool.updated_at,
                updated_by=pool.updated_by,
            )
        )

    def delete_node_pool(self, pool_id: str) -> None:
        self._conn.execute(delete(node_pools).where(node_pools.c.id == int(pool_id)))

    # --- departments ---------------------------------------------------------------------------

    def departments(self) -> list[Department]:
        return [_to_department(row) for row in self._conn.execute(_DEPARTMENTS)]

    def department(self, department_id: str, *, for_update: bool = False) -> Department | None:
        key = _int_id(department_id)
        if key is None:
            return None
        query = _DEPARTMENTS.where(departments.c.id == key)
        if for_update:  # PostgreSQL: a row lock until commit; SQLite has one writer anyway
            query = query.with_for_update(of=departments)
        row = self._conn.execute(query).first()
        return None if row is None else _to_department(row)

    def insert_department(self, department: Department) -> str:
        values = {
            "cluster_id": department.cluster_id,
            "name": department.name,
            "created_at": department.created_at,
            "created_by": department.created_by,
            **_department_values(department),
        }
        return self._insert(
            departments, values, f"A department named '{department.name}' already exists."
        )

    def update_department(self, department: Department) -> None:
        self._conn.execute(
            update(departments)
            .where(departments.c.id == int(department.id))
            .values(**_department_values(department))
        )

    def delete_department(self, department_id: str) -> None:
        self._conn.execute(delete(departments).where(departments.c.id == int(department_id)))

    # --- projects ------------------------------------------------------------------------------

    def org_projects(self, department_id: str | None = None) -> list[OrgProject]:
        query = _PROJECTS
        if department_id is not None:
            key = _int_id(department_id)
            if key is None:
                return []
            query = query.where(projects.c.department_id == key)
        return [_to_project(row) for row in self._conn.execute(query)]

    def org_project(self, project_id: str, *, for_update: bool = False) -> OrgProject | None:
        key = _int_id(project_id)
        if key is None:
            return None
        query = _PROJECTS.where(projects.c.id == key)
        if for_update:  # PostgreSQL: a row lock until commit; SQLite has one writer anyway
            query = query.with_for_update(of=projects)
        row = self._conn.execute(query).first()
        return None if row is None else _to_project(row)

    def insert_project(self, project: OrgProject) -> str:
        values = {
            "cluster_id": project.cluster_id,
            "department_id": int(project.department_id),
            "name": project.name,
            "namespace": project.namespace,
            "requested_namespace": project.requested_namespace,
            "created_at": project.created_at,
            "created_by": project.created_by,
            **_project_values(project),
        }
        return self._insert(
            projects,
            values,
            f"A project named '{project.name}' or with namespace '{project.namespace}' "
            "already exists.",
        )

    def update_project(self, project: OrgProject) -> None:
        self._conn.execute(
            update(projects)
            .where(projects.c.id == int(project.id))
            .values(**_project_values(project))
        )

    def delete_project(self, project_id: str) -> None:
        key = int(project_id)
        _delete_workload_records(
            self._conn, (workloads.c.project_id == key) & workloads.c.torn_down_at.is_not(None)
        )
        try:
            self._conn.execute(delete(projects).where(projects.c.id == key))
        except IntegrityError as exc:  # a workload still names it (the caller locks the row)
            if not violated_foreign_key(exc):
                raise
            raise Conflict(f"Project {project_id} has workloads; delete them first.") from exc


def _delete_workload_records(conn: Connection, which: ColumnElement[bool]) -> None:
    """Delete the workloads `which` selects, after the rows of every table that refers to
    them (their events, ...): whatever tables.py declares with a foreign key to a workload."""
    chosen = select(workloads.c.id).where(which)
    for table in reversed(metadata.sorted_tables):
        for key in table.foreign_keys:
            if key.column is workloads.c.id:
                conn.execute(delete(table).where(key.parent.in_(chosen)))
    conn.execute(delete(workloads).where(which))
