"""Identity objects -> Run:ai's JSON shapes (`ServiceAccount`, `User`, `AccessRule`, `RoleV1`,
the workload properties). The one place that decides how they look on the wire; secrets and
password hashes never appear here."""

from __future__ import annotations

from typing import Any, Final

from nimplane.domain.access import ResolvedRule
from nimplane.domain.identity import ServiceAccount, User
from nimplane.domain.rbac import GROUP_OF, Action, ResourceType, Role
from nimplane.domain.workload_properties import (
    PREDEFINED_AT,
    PREDEFINED_BY,
    WorkloadCategory,
    WorkloadPriority,
    WorkloadType,
)

Json = dict[str, Any]

DISPLAY_NAMES: Final[dict[ResourceType, str]] = {
    ResourceType.tenant: "Tenant",
    ResourceType.department: "Departments",
    ResourceType.project: "Projects",
    ResourceType.cluster: "Clusters",
    ResourceType.nodepools: "Node pools",
    ResourceType.nodes: "Nodes",
    ResourceType.users: "Users",
    ResourceType.service_account: "Service accounts",
    ResourceType.roles: "Roles",
    ResourceType.access_rules: "Access rules",
    ResourceType.workloads: "Workloads",
    ResourceType.inferences: "Inferences",
    ResourceType.workload_properties: "Workload properties",
    ResourceType.events_history: "Event history",
}
_ACTION_ORDER = tuple(Action)
_RESOURCE_ORDER = tuple(ResourceType)


def service_account_view(account: ServiceAccount, tenant_id: int) -> Json:
    return {
        "name": account.name,
        "createdBy": account.created_by or "",
        "createdAt": account.created_at,
        "updatedAt": account.updated_at or account.created_at,
        "enabled": account.enabled,
        "tenantId": str(tenant_id),
        "lastLogin": None,
        "id": account.id,
        "clientId": account.client_id,
    }


def user_view(user: User) -> Json:
    return {
        "id": user.id,
        "username": user.username,
        "createdBy": user.created_by,
        "createdAt": user.created_at,
        "updatedAt": user.updated_at or user.created_at,
        "lastLogin": None,
        "isLocal": True,
        "groups": [],
    }


def _rule_fields(item: ResolvedRule, tenant_id: int) -> Json:
    rule = item.rule
    fields: Json = {
        "subjectId": rule.subject_id,
        "subjectType": rule.subject_type,
        "roleId": item.role_id if item.role_id is not None else 0,
        "scopeId": rule.scope_id,
        "scopeType": rule.scope_type,
        "roleName": rule.role_name,
        "scopeName": item.scope.name,
        "id": int(rule.id),
        "tenantId": tenant_id,
    }
    if item.scope.cluster_id is not None:
        fields["clusterId"] = item.scope.cluster_id
    return fields


def access_rule_view(item: ResolvedRule, tenant_id: int, *, with_path: bool = False) -> Json:
    """Run:ai's `AccessRule` (`AccessRuleById` with `with_path`)."""
    view = _rule_fields(item, tenant_id)
    created_at = item.rule.created_at or PREDEFINED_AT
    view.update(
        createdAt=created_at,
        updatedAt=created_at,
        deletedAt=None,
        createdBy=item.rule.created_by or PREDEFINED_BY,
        status={"phase": "Ready" if item.scope.exists else "NotReady"},
    )
    if with_path:
        view["scopePath"] = item.scope.full_name
    return view


def me_access_rule_view(item: ResolvedRule, tenant_id: int) -> Json:
    return _rule_fields(item, tenant_id)


def role_view(role: Role) -> Json:
    """Run:ai's `RoleV1` of a predefined role: its permissions, one per resource type."""
    permissions = [
        {
            "resourceType": resource_type.value,
            "displayName": DISPLAY_NAMES[resource_type],
            "groupId": GROUP_OF[resource_type],
            "actions": [a.value for a in _ACTION_ORDER if a in role.grants[resource_type]],
        }
        for resource_type in _RESOURCE_ORDER
        if role.grants.get(resource_type)
    ]
    return {
        "id": role.id,
        "name": role.name,
        "description": role.description,
        "permissions": permissions,
        "createdAt": PREDEFINED_AT,
        "updatedAt": PREDEFINED_AT,
        "deletedAt": None,
        "createdBy": PREDEFINED_BY,
        "custom": False,
        "effectiveEnabled": True,
        "enabled": True,
    }


def workload_type_view(item: WorkloadType) -> Json:
    kind = {"group": item.group, "version": item.version, "kind": item.name}
    return {
        "id": item.id,
        "name": item.name,
        "group": item.group,
        "categoryId": item.category.id,
        "categoryName": item.category.name,
        "priorityId": item.priority.id,
        "priorityName": item.priority.name,
        "createdAt": PREDEFINED_AT,
        "createdBy": PREDEFINED_BY,
        "updatedAt": PREDEFINED_AT,
        "updatedBy": PREDEFINED_BY,
        "resourceInterfaces": [
            {
                "version": item.version,
                "resourceInterface": {
                    "spec": {"structureDefinition": {"rootComponent": {"kind": kind}}}
                },
            }
        ],
    }


def workload_priority_view(item: WorkloadPriority, tenant_id: int) -> Json:
    return {
        "id": item.id,
        "name": item.name,
        "value": item.value,
        "source": item.source,
        "createdAt": PREDEFINED_AT,
        "updatedAt": PREDEFINED_AT,
        "aggregatedPhase": "Ready",
        "scopeType": "tenant",
        "scopeId": str(tenant_id),
    }


def workload_category_view(item: WorkloadCategory) -> Json:
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "createdAt": PREDEFINED_AT,
        "createdBy": PREDEFINED_BY,
    }
