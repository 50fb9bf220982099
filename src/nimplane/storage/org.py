"""OrgRepo on SQLAlchemy Core: tenants, clusters, departments, projects and node pools."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, insert, select

from nimplane.domain.workloads import Project
from nimplane.storage.tables import clusters, departments, node_pools, projects, tenants

_MAX_ID = 2**31 - 1


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
_NODE_POOL_NAMES = select(node_pools.c.name)


class SqlOrgRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def project(self, project_id: str) -> Project | None:
        # ASCII digits only ("²".isdigit() is true too), within the INTEGER column's range
        digits = project_id.isascii() and project_id.isdigit() and len(project_id) <= 10
        if not digits or int(project_id) > _MAX_ID:
            return None
        row = self._conn.execute(_PROJECT_BY_ID, {"id": int(project_id)}).first()
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
