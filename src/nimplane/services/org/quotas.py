"""Quotas: a department's covers its projects' (in one transaction); seeding without a caller."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from nimplane.domain.errors import Invalid, NotFound
from nimplane.domain.org import (
    Department,
    NodePool,
    OrgProject,
    PoolQuota,
    effective_resources,
    merge_resources,
    quota_shortfalls,
    resolve_resources,
)
from nimplane.domain.ports import Transaction
from nimplane.services.bootstrap import SYSTEM
from nimplane.services.org._common import OrgParts, Unit, _invalid_if, _locked


def _field_of(items: Sequence[PoolQuota], prefix: str) -> Callable[[str, str], str]:
    """Where a pool's quota of one resource sits in the request (`resources[1].gpu.deserved`),
    or the list itself when the request left the pool out."""
    index = {item.node_pool_id: i for i, item in enumerate(items)}

    def field_of(pool_id: str, kind: str) -> str:
        if pool_id in index:
            return f"{prefix}[{index[pool_id]}].{kind}.deserved"
        return prefix or "resources"

    return field_of


def _check_quota(
    department_items: Sequence[PoolQuota],
    projects: Sequence[tuple[str, Sequence[PoolQuota]]],
    pools: Sequence[NodePool],
    field_of: Callable[[str, str], str],
    what: str,
) -> None:
    """Invalid, naming the numbers, unless the department's quota covers its projects'."""
    issues = quota_shortfalls(department_items, projects, pools, field_of)
    if issues:
        raise Invalid(f"{what}: " + "; ".join(i.details for i in issues), issues)


class QuotaSeeding(OrgParts):
    """Setting quotas without a caller."""

    def set_resources(
        self,
        unit: Unit,
        unit_id: str,
        items: Sequence[PoolQuota],
        *,
        merge: bool = False,
        by: str = SYSTEM,
    ) -> tuple[PoolQuota, ...]:
        """Set the quotas of a department or project with every rule but no permission check
        (for the configuration file). Set a department's before its projects' (the
        department's quota must cover theirs)."""
        now = self._clock()

        def apply(tx: Transaction) -> tuple[PoolQuota, ...]:
            return set_unit_resources(tx, unit, unit_id, items, now, by, merge=merge)

        return self._store.write(apply)


# --- in one transaction -----------------------------------------------------------------------


def set_unit_resources(
    tx: Transaction,
    unit: Unit,
    unit_id: str,
    items: Sequence[PoolQuota],
    now: datetime,
    by: str,
    *,
    merge: bool = False,
) -> tuple[PoolQuota, ...]:
    """Set a department's or project's quotas inside the caller's transaction, with every
    rule (NotFound, Invalid) but no permission check; the effective quotas after it."""
    if unit == "department":
        department = tx.org.department(unit_id, for_update=True)
        if department is None:
            raise NotFound(f"Department {unit_id} not found.")
        return _set_department_resources(tx, department, items, merge, now, by)
    project = tx.org.org_project(unit_id)
    if project is None:
        raise NotFound(f"Project {unit_id} not found.")
    project, department = _locked(tx, project)
    return _set_project_resources(tx, project, department, items, merge, now, by)


def _set_department_resources(
    tx: Transaction,
    department: Department,
    items: Sequence[PoolQuota],
    merge: bool,
    now: datetime,
    by: str,
) -> tuple[PoolQuota, ...]:
    pools = tx.org.node_pools()
    given, issues = resolve_resources(items, pools, prefix="")
    _invalid_if(issues)
    resources = merge_resources(department.resources, given) if merge else given
    projects = tx.org.org_projects(department.id)
    _check_quota(
        resources,
        [(p.name, p.resources) for p in projects],
        pools,
        _field_of(given, ""),
        _department_shortfall(department),
    )
    tx.org.update_department(
        replace(department, resources=resources, updated_at=now, updated_by=by)
    )
    return effective_resources(resources, pools)


def _set_project_resources(
    tx: Transaction,
    project: OrgProject,
    department: Department,
    items: Sequence[PoolQuota],
    merge: bool,
    now: datetime,
    by: str,
) -> tuple[PoolQuota, ...]:
    pools = tx.org.node_pools()
    given, issues = resolve_resources(items, pools, prefix="")
    _invalid_if(issues)
    resources = merge_resources(project.resources, given) if merge else given
    _check_project_fits(tx, project, department, resources, pools, "", field_items=given)
    tx.org.update_project(replace(project, resources=resources, updated_at=now, updated_by=by))
    return effective_resources(resources, pools)


def _check_project_fits(
    tx: Transaction,
    project: OrgProject,
    department: Department,
    resources: Sequence[PoolQuota],
    pools: Sequence[NodePool],
    prefix: str,
    field_items: Sequence[PoolQuota] | None = None,
) -> None:
    siblings = [p for p in tx.org.org_projects(department.id) if p.id != project.id]
    _check_quota(
        department.resources,
        [*((p.name, p.resources) for p in siblings), (project.name, resources)],
        pools,
        _field_of(resources if field_items is None else field_items, prefix),
        _project_shortfall(project.name, department),
    )


def _department_shortfall(department: Department) -> str:
    return (
        f"The quota of department '{department.name}' would be less than the sum of its "
        "projects' quotas"
    )


def _project_shortfall(project_name: str, department: Department) -> str:
    return f"Project '{project_name}' does not fit in the quota of department '{department.name}'"
