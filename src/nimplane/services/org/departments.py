"""Departments: their use cases; a change of their quota takes the permission above them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from nimplane.domain.errors import AlreadyExists, Conflict
from nimplane.domain.identity import Principal
from nimplane.domain.org import (
    Department,
    NodePool,
    OrgProject,
    OrgRef,
    OrgUnitFields,
    PoolQuota,
    aggregate_resources,
    department_field,
    effective_resources,
    over_provisioned,
    resolve_resources,
    validate_default_node_pools,
    validate_org_name,
)
from nimplane.domain.ports import Transaction
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import Action, ResourceType, ScopeType, is_allowed
from nimplane.services.authz import require
from nimplane.services.org._common import (
    OrgParts,
    _department,
    _in,
    _invalid_if,
    _require_above,
    _target_cluster,
)
from nimplane.services.org.quotas import (
    _check_quota,
    _department_shortfall,
    _field_of,
    _set_department_resources,
)


class DepartmentOps(OrgParts):
    """The departments' use cases."""

    def list_departments(
        self, principal: Principal, query: ListQuery
    ) -> tuple[list[Department], int]:
        with self._store.read() as tx:
            departments = tx.org.departments()
            projects = tx.org.org_projects()
            pools = tx.org.node_pools()
        readable = [
            _shown_department(d, projects, pools)
            for d in departments
            if is_allowed(principal, ResourceType.department, Action.read, d.scope)
        ]
        return run_query(readable, query, department_field, lambda d: (d.name,))

    def get_department(self, principal: Principal, department_id: str) -> Department:
        with self._store.read() as tx:
            department = _department(tx, principal, department_id, Action.read)
            projects = tx.org.org_projects(department.id)
            return _shown_department(department, projects, tx.org.node_pools())

    def create_department(
        self, principal: Principal, *, name: str, cluster_id: str | None, fields: OrgUnitFields
    ) -> tuple[Department, list[str]]:
        """The new department, and a warning for each quota beyond what its pool has."""
        now = self._clock()

        def insert(tx: Transaction) -> tuple[Department, list[str]]:
            cluster = _target_cluster(tx, cluster_id)
            require(principal, ResourceType.department, Action.create, cluster.scope, _in(cluster))
            pools = tx.org.node_pools()
            resources, issues = resolve_resources(fields.resources, pools)
            _invalid_if(
                validate_org_name(name)
                + issues
                + validate_default_node_pools(fields.default_node_pools, pools)
            )
            if any(d.name == name for d in tx.org.departments()):
                raise AlreadyExists(f"A department named '{name}' already exists.")
            department = Department(
                id="",
                name=name,
                cluster_id=cluster.id,
                tenant_id=cluster.tenant_id,
                description=fields.description,
                resources=resources,
                scheduling_rules=fields.scheduling_rules,
                default_node_pools=fields.default_node_pools,
                node_types=fields.node_types,
                created_at=now,
                created_by=principal.subject,
                updated_at=now,
                updated_by=principal.subject,
            )
            department = replace(department, id=tx.org.insert_department(department))
            return _shown_department(department, [], pools), self._over(department, pools)

        return self._store.write(insert)

    def update_department(
        self, principal: Principal, department_id: str, fields: OrgUnitFields
    ) -> tuple[Department, list[str]]:
        """PUT: the updatable fields become what the request gives (left out: cleared). A
        change of its quota takes the permission above it (`_require_above`)."""
        now = self._clock()

        def apply(tx: Transaction) -> tuple[Department, list[str]]:
            department = _department(tx, principal, department_id, Action.update, lock=True)
            pools = tx.org.node_pools()
            resources, issues = resolve_resources(fields.resources, pools)
            _invalid_if(issues + validate_default_node_pools(fields.default_node_pools, pools))
            if effective_resources(resources, pools) != effective_resources(
                department.resources, pools
            ):
                _require_above(tx, principal, department, Action.update, "the quota")
            projects = tx.org.org_projects(department.id)
            _check_quota(
                resources,
                [(p.name, p.resources) for p in projects],
                pools,
                _field_of(resources, "resources"),
                _department_shortfall(department),
            )
            updated = replace(
                department,
                description=fields.description,
                resources=resources,
                scheduling_rules=fields.scheduling_rules,
                default_node_pools=fields.default_node_pools,
                node_types=fields.node_types,
                updated_at=now,
                updated_by=principal.subject,
            )
            tx.org.update_department(updated)
            return _shown_department(updated, projects, pools), self._over(updated, pools)

        return self._store.write(apply)

    def set_department_resources(
        self, principal: Principal, department_id: str, items: Sequence[PoolQuota], *, merge: bool
    ) -> tuple[tuple[PoolQuota, ...], list[str]]:
        """PUT (replace the list) or PATCH (`merge`: change the pools given) the quotas, which
        take the permission above the department (`_require_above`); the quotas after it and
        a warning for each beyond what its pool has."""
        now = self._clock()

        def apply(tx: Transaction) -> tuple[tuple[PoolQuota, ...], list[str]]:
            department = _department(tx, principal, department_id, Action.update, lock=True)
            _require_above(tx, principal, department, Action.update, "the quota")
            quotas = _set_department_resources(tx, department, items, merge, now, principal.subject)
            return quotas, self._over(replace(department, resources=quotas), tx.org.node_pools())

        return self._store.write(apply)

    def delete_department(self, principal: Principal, department_id: str) -> None:
        def remove(tx: Transaction) -> list[str]:
            department = _department(tx, principal, department_id, Action.delete, lock=True)
            _require_above(tx, principal, department, Action.delete, "the deletion")
            if department.is_default:
                raise Conflict(
                    f"Department '{department.name}' is the embedded default; it cannot be deleted."
                )
            projects = tx.org.org_projects(department.id)
            if projects:
                names = ", ".join(p.name for p in projects)
                raise Conflict(
                    f"Department '{department.name}' still has projects ({names}); "
                    "delete them first."
                )
            tx.org.delete_department(department.id)
            return tx.identity.delete_access_rules_in_scope(ScopeType.department, department.id)

        self._forget_all(self._store.write(remove))

    def _over(self, department: Department, pools: Sequence[NodePool]) -> list[str]:
        """Warnings for the department's quotas beyond what their pools' nodes have."""
        return over_provisioned(
            department.resources, pools, self._backend.nodes(), f"department '{department.name}'"
        )


def _shown_department(
    department: Department, projects: Sequence[OrgProject], pools: Sequence[NodePool]
) -> Department:
    """The department as shown: a quota item per node pool, its projects and their sums."""
    own = [p for p in projects if p.department_id == department.id]
    return replace(
        department,
        resources=effective_resources(department.resources, pools),
        children=tuple(OrgRef(p.id, p.name) for p in own),
        projects_resources=aggregate_resources([p.resources for p in own], pools),
    )
