"""Permission checks shared by the use cases: one `require`, and the scope of each object."""

from __future__ import annotations

from collections.abc import Callable

from nimplane.domain.errors import Forbidden
from nimplane.domain.identity import Principal
from nimplane.domain.ports import Transaction
from nimplane.domain.rbac import (
    Action,
    ResourceType,
    ScopePath,
    ScopeType,
    is_allowed,
    sees_physical,
)
from nimplane.domain.workloads import Project


def project_scope(project: Project) -> ScopePath:
    return ScopePath(
        tenant_id=str(project.tenant_id),
        cluster_id=project.cluster_id,
        department_id=project.department_id,
        project_id=project.id,
    )


def require(
    principal: Principal, resource_type: ResourceType, action: Action, where: ScopePath, what: str
) -> None:
    """Forbidden unless the principal may do `action` on `resource_type` at `where`."""
    if not is_allowed(principal, resource_type, action, where):
        raise Forbidden(
            f"You do not have sufficient permissions: {action.value} {resource_type.value} "
            f"in {what}."
        )


def cluster_of_scope(tx: Transaction) -> Callable[[str, str], str | None]:
    """The cluster of a department or project scope, read in `tx` (None for another scope, or
    one that is gone)."""

    def cluster_of(scope_type: str, scope_id: str) -> str | None:
        if scope_type == ScopeType.project:
            project = tx.org.project(scope_id)
            return project.cluster_id if project else None
        if scope_type == ScopeType.department:
            department = tx.org.department(scope_id)
            return department.cluster_id if department else None
        return None

    return cluster_of


def require_physical(
    tx: Transaction, principal: Principal, resource_type: ResourceType, where: ScopePath, what: str
) -> None:
    """Forbidden unless the principal may read the cluster's `resource_type` at `where`, or
    from one of its departments or projects (`sees_physical`)."""
    if not sees_physical(principal, resource_type, where, cluster_of_scope(tx)):
        raise Forbidden(
            f"You do not have sufficient permissions: read {resource_type.value} in {what}."
        )
