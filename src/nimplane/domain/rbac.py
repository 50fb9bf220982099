"""Roles as permission sets, scopes that nest, and the one `is_allowed` check
(docs/decisions.md D10).

Resource types and actions are Run:ai's (`ResourceType`, `Action`). A role grants actions on
resource types; an access rule gives a subject a role in a scope; a scope covers everything
beneath it (system > tenant > cluster > department > project).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    system = "system"
    tenant = "tenant"
    cluster = "cluster"
    department = "department"
    project = "project"


class ResourceType(StrEnum):
    """The Run:ai resource types nimplane checks."""

    tenant = "tenant"
    department = "department"
    project = "project"
    cluster = "cluster"
    nodepools = "nodepools"
    nodes = "nodes"
    users = "users"
    service_account = "service-account"
    roles = "roles"
    access_rules = "access_rules"
    workloads = "workloads"
    inferences = "inferences"
    workload_properties = "workload-properties"
    events_history = "events-history"


GROUP_OF: Final[dict[ResourceType, str]] = {
    ResourceType.tenant: "organization",
    ResourceType.department: "organization",
    ResourceType.project: "organization",
    ResourceType.cluster: "physical-resource",
    ResourceType.nodepools: "physical-resource",
    ResourceType.nodes: "physical-resource",
    ResourceType.users: "iam",
    ResourceType.service_account: "iam",
    ResourceType.roles: "iam",
    ResourceType.access_rules: "iam",
    ResourceType.workloads: "workload",
    ResourceType.inferences: "workload",
    ResourceType.workload_properties: "workload",
    ResourceType.events_history: "organization",
}
"""Run:ai's `ResourceTypeGroupId` of each resource type (for the roles API)."""

ALL: Final = frozenset(Action)
READ: Final = frozenset({Action.read})
Grants = dict[ResourceType, frozenset[Action]]


def _grants(actions: frozenset[Action], types: Iterable[ResourceType]) -> Grants:
    return dict.fromkeys(types, actions)


_ORG_VIEW = (
    ResourceType.department,
    ResourceType.project,
    ResourceType.cluster,
    ResourceType.nodepools,
    ResourceType.nodes,
    ResourceType.roles,
    ResourceType.workload_properties,
)


@dataclass(frozen=True)
class Role:
    """A predefined Run:ai role: an id, a name and what it grants."""

    id: int
    name: str
    description: str
    grants: Grants

    def allows(self, resource_type: str, action: Action) -> bool:
        try:
            return action in self.grants.get(ResourceType(resource_type), frozenset())
        except ValueError:
            return False


SYSTEM_ADMINISTRATOR: Final = "System administrator"

ROLES: Final[tuple[Role, ...]] = (
    Role(
        1,
        SYSTEM_ADMINISTRATOR,
        "Manages everything: the organisation, identities, access rules and all workloads.",
        _grants(ALL, ResourceType),
    ),
    Role(
        2,
        "Department administrator",
        "Manages the departments and projects in scope, their workloads, service accounts "
        "and access rules; views the physical resources.",
        {
            **_grants(READ, _ORG_VIEW),
            **_grants(
                ALL,
                (
                    ResourceType.department,
                    ResourceType.project,
                    ResourceType.service_account,
                    ResourceType.access_rules,
                    ResourceType.workloads,
                    ResourceType.inferences,
                ),
            ),
            ResourceType.events_history: READ,
        },
    ),
    Role(
        3,
        "ML engineer",
        "Deploys and manages inference workloads (NIM services) in scope; views departments, "
        "projects, clusters, node pools and nodes.",
        {
            **_grants(READ, _ORG_VIEW),
            ResourceType.inferences: ALL,
            ResourceType.workloads: READ,
        },
    ),
    Role(
        4,
        "L1 researcher",
        "Manages workloads of every kind in scope, inference included; views the organisation.",
        {
            **_grants(READ, _ORG_VIEW),
            ResourceType.inferences: ALL,
            ResourceType.workloads: ALL,
        },
    ),
    Role(
        5,
        "Viewer",
        "Views the organisation and the workloads in scope; changes nothing.",
        {**_grants(READ, _ORG_VIEW), ResourceType.inferences: READ, ResourceType.workloads: READ},
    ),
)
ROLES_BY_NAME: Final[dict[str, Role]] = {role.name: role for role in ROLES}
ROLES_BY_ID: Final[dict[int, Role]] = {role.id: role for role in ROLES}


@dataclass(frozen=True)
class ScopePath:
    """Where an object sits: its tenant, cluster, department and project ids."""

    tenant_id: str
    cluster_id: str | None = None
    department_id: str | None = None
    project_id: str | None = None

    def contains(self, scope_type: str, scope_id: str) -> bool:
        """Whether a rule at (scope_type, scope_id) covers this path (scopes nest)."""
        if scope_type == ScopeType.system:
            return True
        ids = {
            ScopeType.tenant: self.tenant_id,
            ScopeType.cluster: self.cluster_id,
            ScopeType.department: self.department_id,
            ScopeType.project: self.project_id,
        }
        return scope_type in ids and ids[ScopeType(scope_type)] == scope_id


def role_allows(role_name: str, resource_type: str, action: Action) -> bool:
    role = ROLES_BY_NAME.get(role_name)
    return role is not None and role.allows(resource_type, action)


def is_allowed(principal: Principal, resource_type: str, action: Action, where: ScopePath) -> bool:
    """True when some rule of the principal grants `action` on `resource_type` at `where`."""
    return any(
        role_allows(rule.role_name, resource_type, action)
        and where.contains(rule.scope_type, rule.scope_id)
        for rule in principal.rules
    )


PHYSICAL: Final = frozenset({ResourceType.cluster, ResourceType.nodepools, ResourceType.nodes})
"""What a cluster is made of: read from beneath too (`sees_physical`)."""


def sees_physical(
    principal: Principal,
    resource_type: ResourceType,
    where: ScopePath,
    cluster_of: Callable[[str, str], str | None],
) -> bool:
    """Whether the principal may read a cluster, its node pools or its nodes at `where`: a
    rule granting the read there, or in a department or project of that cluster (a project's
    ML engineer sees the node pools and nodes its workloads may run on, as Run:ai's UI shows a
    project-scoped user). `cluster_of(scope_type, scope_id)` names the cluster of a department
    or project (None when it is gone)."""
    if resource_type not in PHYSICAL:
        raise ValueError(f"{resource_type.value} is not a physical resource")
    if is_allowed(principal, resource_type, Action.read, where):
        return True
    return any(
        role_allows(rule.role_name, resource_type, Action.read)
        and rule.scope_type in (ScopeType.department, ScopeType.project)
        and cluster_of(rule.scope_type, rule.scope_id) == where.cluster_id
        for rule in principal.rules
    )


def can_grant(principal: Principal, role: Role, where: ScopePath) -> bool:
    """No escalation: a principal may hand out a role at a scope only if it holds, at that
    scope, every permission the role grants (and may manage access rules there)."""
    if not is_allowed(principal, ResourceType.access_rules, Action.create, where):
        return False
    return all(
        is_allowed(principal, resource_type, action, where)
        for resource_type, actions in role.grants.items()
        for action in actions
    )


# --- who outranks whom (no takeover of a peer's or a superior's account) ----------------------


@dataclass(frozen=True)
class PlacedRole:
    """A role held in a scope: the rule's scope type and id, and where that scope sits."""

    role: Role
    scope_type: str
    scope_id: str
    path: ScopePath


def role_covers(role: Role, other: Role) -> bool:
    """Whether `role` grants every permission `other` grants."""
    return all(
        actions <= role.grants.get(resource_type, frozenset())
        for resource_type, actions in other.grants.items()
    )


def at_or_above(rule: PlacedRole, other: PlacedRole) -> bool:
    """Whether `rule` is at `other`'s role and scope or above: its scope encloses or equals
    `other`'s, and its role grants every permission `other`'s grants."""
    return other.path.contains(rule.scope_type, rule.scope_id) and role_covers(
        rule.role, other.role
    )


def strictly_above(rule: PlacedRole, other: PlacedRole) -> bool:
    """`rule` is at or above `other`, and `other` is not at or above `rule`: a wider scope, or
    the same scope with a role granting more."""
    return at_or_above(rule, other) and not at_or_above(other, rule)


def outranks(holder: Iterable[PlacedRole], rules: Iterable[PlacedRole]) -> bool:
    """Whether each of `rules` lies strictly beneath one of the holder's rules. A rule at one
    of the holder's own role and scope or above is beneath none of them (a peer, or a
    superior); a holder's lesser extra rules never take away what a greater one gives."""
    held = tuple(holder)
    return all(any(strictly_above(h, rule) for h in held) for rule in rules)
