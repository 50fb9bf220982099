"""What the organisation's parts share: their state, the checked lookups, `Invalid` shorthand."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from nimplane.domain.errors import ComplianceIssue, Forbidden, Invalid, NotFound
from nimplane.domain.identity import Principal
from nimplane.domain.org import Cluster, Department, NodePool, OrgProject
from nimplane.domain.ports import ClusterBackend, Store, Transaction
from nimplane.domain.rbac import Action, ResourceType, is_allowed
from nimplane.services.authz import require, require_physical
from nimplane.services.workloads import Clock, utc_now

INVALID_MESSAGE = "The request is invalid; see complianceIssues"
Unit = Literal["department", "project"]


def _invalid_if(issues: list[ComplianceIssue]) -> None:
    if issues:
        raise Invalid(INVALID_MESSAGE, issues)


class OrgParts:
    """What every part of the organisation's use cases holds: one store, one cluster backend,
    what to tell the authenticator of a subject to forget, and one clock."""

    def __init__(
        self,
        store: Store,
        backend: ClusterBackend,
        forget: Callable[[str], None] = lambda _subject: None,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._backend = backend
        self._forget = forget
        self._clock = clock

    def _forget_all(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            self._forget(subject)


def _in(cluster: Cluster) -> str:
    return f"cluster '{cluster.name}'"


def _cluster(tx: Transaction, cluster_id: str) -> Cluster:
    cluster = tx.org.cluster(cluster_id)
    if cluster is None:
        raise NotFound(f"Cluster {cluster_id} not found.")
    return cluster


def _target_cluster(tx: Transaction, cluster_id: str | None) -> Cluster:
    """The cluster a new object goes to: the one named, or the installation's only one."""
    if cluster_id is None:
        clusters = tx.org.clusters()
        if not clusters:
            raise Invalid(INVALID_MESSAGE, [ComplianceIssue("clusterId", "no cluster exists")])
        return clusters[0]
    cluster = tx.org.cluster(cluster_id)
    if cluster is None:
        raise Invalid(
            INVALID_MESSAGE,
            [ComplianceIssue("clusterId", f"cluster {cluster_id} does not exist", "options")],
        )
    return cluster


def _node_pool(tx: Transaction, principal: Principal, pool_id: str, action: Action) -> NodePool:
    pool = tx.org.node_pool(pool_id)
    if pool is None:
        raise NotFound(f"Node pool {pool_id} not found.")
    where = f"cluster '{pool.cluster_name}'"
    if action is Action.read:
        require_physical(tx, principal, ResourceType.nodepools, pool.scope, where)
    else:
        require(principal, ResourceType.nodepools, action, pool.scope, where)
    return pool


def _department(
    tx: Transaction, principal: Principal, department_id: str, action: Action, lock: bool = False
) -> Department:
    department = tx.org.department(department_id, for_update=lock)
    if department is None:
        raise NotFound(f"Department {department_id} not found.")
    require(
        principal,
        ResourceType.department,
        action,
        department.scope,
        f"department '{department.name}'",
    )
    return department


def _require_above(
    tx: Transaction, principal: Principal, department: Department, action: Action, what: str
) -> None:
    """A department's own quota and its deletion belong to the scope above it (its cluster):
    its own administrators may not grant themselves GPUs or delete their own department."""
    if is_allowed(principal, ResourceType.department, action, department.parent_scope):
        return
    cluster = tx.org.cluster(department.cluster_id)
    where = f"cluster '{cluster.name if cluster else department.cluster_id}'"
    raise Forbidden(
        f"You do not have sufficient permissions: {what} of department '{department.name}' "
        f"belongs to {where}, and you may not {action.value} departments there."
    )


def _project(tx: Transaction, principal: Principal, project_id: str, action: Action) -> OrgProject:
    project = tx.org.org_project(project_id)
    if project is None:
        raise NotFound(f"Project {project_id} not found.")
    require(principal, ResourceType.project, action, project.scope, f"project '{project.name}'")
    return project


def _project_for_change(
    tx: Transaction, principal: Principal, project_id: str, action: Action = Action.update
) -> tuple[OrgProject, Department]:
    """The project (checked) and its department, locked for the quota check."""
    return _locked(tx, _project(tx, principal, project_id, action))


def _locked(tx: Transaction, project: OrgProject) -> tuple[OrgProject, Department]:
    """Lock the project's department, then read the project again: what a concurrent change
    committed before the lock was granted is what this one builds on."""
    department = tx.org.department(project.department_id, for_update=True)
    current = tx.org.org_project(project.id)
    if department is None or current is None:
        raise NotFound(f"Project {project.id} not found.")
    return current, department
