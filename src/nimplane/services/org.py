"""Organisation use cases: departments and projects with their per-node-pool quotas, node
pools, and the cluster with its nodes (read-only), each checked against the caller's rules.

Every change is one write transaction. A change to the quotas of a department or of one of its
projects first locks the department's row, so that the rule "a department's quota covers the
sum of its projects'" holds however the changes interleave (PostgreSQL; SQLite has one writer).
Deleting a department or project also removes the access rules on it; the subjects that had
one are forgotten by the authenticator once the change is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Literal

from nimplane.domain.errors import (
    AlreadyExists,
    ComplianceIssue,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
)
from nimplane.domain.identity import Principal
from nimplane.domain.org import (
    DEFAULT_DEPARTMENT_ID,
    Cluster,
    Department,
    NodePool,
    OrgProject,
    OrgRef,
    OrgUnitFields,
    PlacedNode,
    PoolQuota,
    aggregate_resources,
    department_field,
    effective_resources,
    merge_resources,
    node_field,
    node_pool_field,
    over_provisioned,
    place_nodes,
    project_field,
    project_namespace,
    quota_shortfalls,
    resolve_resources,
    validate_default_node_pools,
    validate_node_pool_labels,
    validate_org_name,
    validate_project_name,
    with_nodes,
)
from nimplane.domain.ports import ClusterBackend, Store, Transaction
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import Action, ResourceType, ScopeType, is_allowed
from nimplane.services.authz import require
from nimplane.services.bootstrap import SYSTEM
from nimplane.services.workloads import Clock, utc_now

INVALID_MESSAGE = "The request is invalid; see complianceIssues"
Unit = Literal["department", "project"]


def _invalid_if(issues: list[ComplianceIssue]) -> None:
    if issues:
        raise Invalid(INVALID_MESSAGE, issues)


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


class OrgService:
    """The organisation's use cases over one store, one cluster backend and one clock."""

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

    # --- clusters and nodes -------------------------------------------------------------------

    def list_clusters(self, principal: Principal) -> list[Cluster]:
        with self._store.read() as tx:
            found = tx.org.clusters()
        return [
            c for c in found if is_allowed(principal, ResourceType.cluster, Action.read, c.scope)
        ]

    def get_cluster(self, principal: Principal, cluster_id: str) -> Cluster:
        with self._store.read() as tx:
            cluster = _cluster(tx, cluster_id)
        require(principal, ResourceType.cluster, Action.read, cluster.scope, _in(cluster))
        return cluster

    def list_nodes(
        self, principal: Principal, cluster_id: str, query: ListQuery
    ) -> tuple[list[PlacedNode], int]:
        """The backend's nodes, each with its node pool (one backend: the one cluster)."""
        with self._store.read() as tx:
            cluster = _cluster(tx, cluster_id)
            require(principal, ResourceType.nodes, Action.read, cluster.scope, _in(cluster))
            pools = tx.org.node_pools()
        placed = place_nodes(self._backend.nodes(), pools, cluster.id, cluster.created_at)
        return run_query(placed, query, node_field, lambda p: (p.node.name,))

    # --- node pools ---------------------------------------------------------------------------

    def _pools(self, tx: Transaction) -> list[NodePool]:
        """Every node pool with the nodes it holds now."""
        return with_nodes(tx.org.node_pools(), self._backend.nodes())

    def _shown_pool(self, tx: Transaction, pool_id: str) -> NodePool:
        """One pool with its nodes (which every other pool's label decides too)."""
        return next(p for p in self._pools(tx) if p.id == pool_id)

    def list_node_pools(self, principal: Principal, query: ListQuery) -> tuple[list[NodePool], int]:
        with self._store.read() as tx:
            pools = self._pools(tx)
        readable = [
            p for p in pools if is_allowed(principal, ResourceType.nodepools, Action.read, p.scope)
        ]
        return run_query(readable, query, node_pool_field, lambda p: (p.name,))

    def get_node_pool(self, principal: Principal, pool_id: str) -> NodePool:
        with self._store.read() as tx:
            pool = _node_pool(tx, principal, pool_id, Action.read)
            return self._shown_pool(tx, pool.id)

    def create_node_pool(
        self,
        principal: Principal,
        *,
        name: str,
        label_key: str,
        label_value: str,
        cluster_id: str | None,
        settings: Mapping[str, object],
    ) -> NodePool:
        now = self._clock()

        def insert(tx: Transaction) -> NodePool:
            cluster = _target_cluster(tx, cluster_id)
            require(principal, ResourceType.nodepools, Action.create, cluster.scope, _in(cluster))
            _invalid_if(
                validate_org_name(name)
                + validate_node_pool_labels(label_key, label_value, is_default=False)
            )
            pools = tx.org.node_pools()
            _check_selector_free(pools, name, label_key, label_value)
            pool = NodePool(
                id="",
                name=name,
                cluster_id=cluster.id,
                cluster_name=cluster.name,
                tenant_id=cluster.tenant_id,
                label_key=label_key,
                label_value=label_value,
                settings=dict(settings),
                created_at=now,
                created_by=principal.subject,
                updated_at=now,
                updated_by=principal.subject,
            )
            return self._shown_pool(tx, tx.org.insert_node_pool(pool))

        return self._store.write(insert)

    def update_node_pool(
        self,
        principal: Principal,
        pool_id: str,
        *,
        label_key: str | None,
        label_value: str | None,
        settings: Mapping[str, object],
        replace_settings: bool,
    ) -> NodePool:
        """PUT (`replace_settings`) or PATCH a pool: a label part not given stays; the
        settings given replace the stored ones whole (PUT) or field by field (PATCH)."""
        now = self._clock()

        def apply(tx: Transaction) -> NodePool:
            pool = _node_pool(tx, principal, pool_id, Action.update)
            if pool.is_default:
                _invalid_if(validate_node_pool_labels(label_key, label_value, is_default=True))
            key = label_key if label_key is not None else pool.label_key
            value = label_value if label_value is not None else pool.label_value
            if not pool.is_default:
                _invalid_if(validate_node_pool_labels(key, value, is_default=False))
                assert key is not None
                assert value is not None
                others = [p for p in tx.org.node_pools() if p.id != pool.id]
                _check_selector_free(others, pool.name, key, value)
            updated = replace(
                pool,
                label_key=key,
                label_value=value,
                settings=dict(settings) if replace_settings else {**pool.settings, **settings},
                updated_at=now,
                updated_by=principal.subject,
            )
            tx.org.update_node_pool(updated)
            return self._shown_pool(tx, updated.id)

        return self._store.write(apply)

    def delete_node_pool(self, principal: Principal, pool_id: str) -> None:
        """Refused (409) for `default` and for a pool that quotas, default node pool orders
        or live workloads still name. Quota items that only restate the defaults go with it."""

        def remove(tx: Transaction) -> None:
            pool = _node_pool(tx, principal, pool_id, Action.delete)
            if pool.is_default:
                raise Conflict(f"The '{pool.name}' node pool always exists; it cannot be deleted.")
            departments, projects = tx.org.departments(), tx.org.org_projects()
            users = [
                *_pool_users("department", departments, pool),
                *_pool_users("project", projects, pool),
            ]
            live = sorted(
                w.name
                for w in tx.workloads.list(deleted=False, project_ids=None)
                if pool.name in (w.spec.get("nodePools") or [])
            )
            if live:
                users.append(f"the spec.nodePools of workloads {', '.join(live)}")
            if users:
                raise Conflict(f"Node pool '{pool.name}' is still in use: {'; '.join(users)}.")
            for d in departments:
                if any(i.node_pool_id == pool.id for i in d.resources):
                    kept = tuple(i for i in d.resources if i.node_pool_id != pool.id)
                    tx.org.update_department(replace(d, resources=kept))
            for p in projects:
                if any(i.node_pool_id == pool.id for i in p.resources):
                    kept = tuple(i for i in p.resources if i.node_pool_id != pool.id)
                    tx.org.update_project(replace(p, resources=kept))
            tx.org.delete_node_pool(pool.id)

        self._store.write(remove)

    # --- departments --------------------------------------------------------------------------

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

    # --- projects -----------------------------------------------------------------------------

    def list_projects(self, principal: Principal, query: ListQuery) -> tuple[list[OrgProject], int]:
        with self._store.read() as tx:
            projects = tx.org.org_projects()
            pools = tx.org.node_pools()
        readable = [
            _shown_project(p, pools)
            for p in projects
            if is_allowed(principal, ResourceType.project, Action.read, p.scope)
        ]
        return run_query(readable, query, project_field, lambda p: (p.name,))

    def get_project(self, principal: Principal, project_id: str) -> OrgProject:
        with self._store.read() as tx:
            project = _project(tx, principal, project_id, Action.read)
            return _shown_project(project, tx.org.node_pools())

    def create_project(
        self,
        principal: Principal,
        *,
        name: str,
        cluster_id: str | None,
        parent_id: str | None,
        requested_namespace: str | None,
        fields: OrgUnitFields,
    ) -> OrgProject:
        """A project in department `parent_id` (default: the embedded `default`), in the
        namespace `runai-<name>` unless one is requested."""
        now = self._clock()
        parent_key = parent_id or DEFAULT_DEPARTMENT_ID

        def insert(tx: Transaction) -> OrgProject:
            department = tx.org.department(parent_key, for_update=True)
            issues = validate_project_name(name, requested_namespace)
            if department is None:
                issues.append(
                    ComplianceIssue("parentId", f"department {parent_key} does not exist")
                )
            else:
                require(
                    principal,
                    ResourceType.project,
                    Action.create,
                    department.scope,
                    f"department '{department.name}'",
                )
                if cluster_id is not None and cluster_id != department.cluster_id:
                    issues.append(
                        ComplianceIssue(
                            "clusterId",
                            f"department '{department.name}' is in cluster "
                            f"{department.cluster_id}, not {cluster_id}",
                        )
                    )
            pools = tx.org.node_pools()
            resources, more = resolve_resources(fields.resources, pools)
            issues += more + validate_default_node_pools(fields.default_node_pools, pools)
            _invalid_if(issues)
            assert department is not None
            namespace = project_namespace(name, requested_namespace)
            _check_project_names_free(tx.org.org_projects(), name, namespace)
            siblings = tx.org.org_projects(department.id)
            _check_quota(
                department.resources,
                [*((p.name, p.resources) for p in siblings), (name, resources)],
                pools,
                _field_of(resources, "resources"),
                _project_shortfall(name, department),
            )
            project = OrgProject(
                id="",
                name=name,
                cluster_id=department.cluster_id,
                tenant_id=department.tenant_id,
                department_id=department.id,
                department_name=department.name,
                namespace=namespace,
                requested_namespace=requested_namespace,
                description=fields.description,
                resources=resources,
                scheduling_rules=fields.scheduling_rules,
                default_node_pools=fields.default_node_pools,
                node_types=fields.node_types,
                enforce_runai_scheduler=fields.enforce_runai_scheduler,
                created_at=now,
                created_by=principal.subject,
                updated_at=now,
                updated_by=principal.subject,
            )
            project = replace(project, id=tx.org.insert_project(project))
            return _shown_project(project, pools)

        return self._store.write(insert)

    def update_project(
        self, principal: Principal, project_id: str, fields: OrgUnitFields
    ) -> OrgProject:
        """PUT: the updatable fields become what the request gives (left out: cleared)."""
        now = self._clock()

        def apply(tx: Transaction) -> OrgProject:
            project, department = _project_for_change(tx, principal, project_id)
            pools = tx.org.node_pools()
            resources, issues = resolve_resources(fields.resources, pools)
            _invalid_if(issues + validate_default_node_pools(fields.default_node_pools, pools))
            _check_project_fits(tx, project, department, resources, pools, "resources")
            updated = replace(
                project,
                description=fields.description,
                resources=resources,
                scheduling_rules=fields.scheduling_rules,
                default_node_pools=fields.default_node_pools,
                node_types=fields.node_types,
                enforce_runai_scheduler=fields.enforce_runai_scheduler,
                updated_at=now,
                updated_by=principal.subject,
            )
            tx.org.update_project(updated)
            return _shown_project(updated, pools)

        return self._store.write(apply)

    def set_project_resources(
        self, principal: Principal, project_id: str, items: Sequence[PoolQuota], *, merge: bool
    ) -> tuple[PoolQuota, ...]:
        """PUT (replace the list) or PATCH (`merge`: change the pools given) the quotas."""
        now = self._clock()

        def apply(tx: Transaction) -> tuple[PoolQuota, ...]:
            project, department = _project_for_change(tx, principal, project_id)
            return _set_project_resources(
                tx, project, department, items, merge, now, principal.subject
            )

        return self._store.write(apply)

    def delete_project(self, principal: Principal, project_id: str) -> None:
        """Refused (409) while the project holds live workloads (delete them first)."""

        def remove(tx: Transaction) -> list[str]:
            project, _ = _project_for_change(tx, principal, project_id, Action.delete)
            if project.is_default:
                raise Conflict(
                    f"Project '{project.name}' is the embedded default; it cannot be deleted."
                )
            # its row locked: a workload being created in it commits first (and is counted
            # below), or waits and then finds no project
            if tx.org.org_project(project.id, for_update=True) is None:
                raise NotFound(f"Project {project_id} not found.")
            live = tx.workloads.count_live_in_project(project.id)
            if live:
                raise Conflict(
                    f"Project '{project.name}' still holds {live} workload(s); delete them first."
                )
            tx.org.delete_project(project.id)
            return tx.identity.delete_access_rules_in_scope(ScopeType.project, project.id)

        self._forget_all(self._store.write(remove))

    # --- without a caller: configuration seeding ----------------------------------------------

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

    def _over(self, department: Department, pools: Sequence[NodePool]) -> list[str]:
        """Warnings for the department's quotas beyond what their pools' nodes have."""
        return over_provisioned(
            department.resources, pools, self._backend.nodes(), f"department '{department.name}'"
        )

    def _forget_all(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            self._forget(subject)


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
    require(principal, ResourceType.nodepools, action, pool.scope, f"cluster '{pool.cluster_name}'")
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


def _check_selector_free(pools: Sequence[NodePool], name: str, key: str, value: str) -> None:
    """A pool's name, and the label it selects its nodes by, are its own."""
    for other in pools:
        if other.name == name:
            raise AlreadyExists(f"A node pool named '{name}' already exists.")
        if (other.label_key, other.label_value) == (key, value):
            raise AlreadyExists(
                f"Node pool '{other.name}' already selects the nodes labelled {key}={value}."
            )


def _check_project_names_free(projects: Sequence[OrgProject], name: str, namespace: str) -> None:
    for other in projects:
        if other.name == name:
            raise AlreadyExists(f"A project named '{name}' already exists.")
        if other.namespace == namespace:
            raise AlreadyExists(
                f"Namespace '{namespace}' is already the namespace of project '{other.name}'."
            )


def _pool_users(
    kind: str, units: Sequence[Department] | Sequence[OrgProject], pool: NodePool
) -> list[str]:
    """Where a department's or project's quota or default node pool order names the pool."""
    users = []
    for unit in units:
        if any(i.node_pool_id == pool.id and not i.is_default for i in unit.resources):
            users.append(f"the quota of {kind} '{unit.name}'")
        if pool.name in (unit.default_node_pools or ()):
            users.append(f"the defaultNodePools of {kind} '{unit.name}'")
    return users


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


def _shown_project(project: OrgProject, pools: Sequence[NodePool]) -> OrgProject:
    return replace(project, resources=effective_resources(project.resources, pools))
