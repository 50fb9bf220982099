"""Permission checks shared by the use cases: one `require`, and the scope of each object."""

from __future__ import annotations

from nimplane.domain.errors import Forbidden
from nimplane.domain.identity import Principal
from nimplane.domain.rbac import Action, ResourceType, ScopePath, is_allowed
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
