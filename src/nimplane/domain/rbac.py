"""Roles as permission sets, scopes that nest, and the one `is_allowed` check (D10)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from nimplane.domain.identity import Principal


class Action(StrEnum):
    create = "create"
    read = "read"
    update = "update"
    delete = "delete"


class ScopeType(StrEnum):
    tenant = "tenant"
    cluster = "cluster"
    department = "department"
    project = "project"


SYSTEM_ADMINISTRATOR: Final = "System administrator"
ALL_ACTIONS: Final = frozenset(Action)
READ_ONLY: Final = frozenset({Action.read})

ROLE_PERMISSIONS: Final[dict[str, dict[str, frozenset[Action]]]] = {
    SYSTEM_ADMINISTRATOR: {"*": ALL_ACTIONS},
    "Department administrator": {
        "inferences": ALL_ACTIONS,
        "workloads": ALL_ACTIONS,
        "project": ALL_ACTIONS,
        "department": READ_ONLY,
        "access-rules": ALL_ACTIONS,
        "service-account": ALL_ACTIONS,
        "nodepools": READ_ONLY,
        "cluster": READ_ONLY,
    },
    "ML engineer": {
        "inferences": ALL_ACTIONS,
        "workloads": READ_ONLY,
        "project": READ_ONLY,
        "department": READ_ONLY,
        "nodepools": READ_ONLY,
        "cluster": READ_ONLY,
    },
    "L1 researcher": {
        "inferences": ALL_ACTIONS,
        "workloads": ALL_ACTIONS,
        "project": READ_ONLY,
        "department": READ_ONLY,
        "nodepools": READ_ONLY,
        "cluster": READ_ONLY,
    },
    "Viewer": {"*": READ_ONLY},
}
"""Role name -> resource type -> allowed actions ("*" is every resource type)."""


@dataclass(frozen=True)
class ScopePath:
    """Where an object sits: its tenant, cluster, department and project ids."""

    tenant_id: str
    cluster_id: str | None = None
    department_id: str | None = None
    project_id: str | None = None

    def contains(self, scope_type: str, scope_id: str) -> bool:
        """Whether a rule at (scope_type, scope_id) covers this path (scopes nest)."""
        ids = {
            ScopeType.tenant: self.tenant_id,
            ScopeType.cluster: self.cluster_id,
            ScopeType.department: self.department_id,
            ScopeType.project: self.project_id,
        }
        return scope_type in ids and ids[ScopeType(scope_type)] == scope_id


def role_allows(role_name: str, resource_type: str, action: Action) -> bool:
    permissions = ROLE_PERMISSIONS.get(role_name, {})
    allowed = permissions.get(resource_type, permissions.get("*", frozenset()))
    return action in allowed


def is_allowed(principal: Principal, resource_type: str, action: Action, where: ScopePath) -> bool:
    """True when some rule of the principal grants `action` on `resource_type` at `where`."""
    return any(
        role_allows(rule.role_name, resource_type, action)
        and where.contains(rule.scope_type, rule.scope_id)
        for rule in principal.rules
    )
