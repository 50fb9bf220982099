"""Projects: their use cases, each quota change checked against its department's quota."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from nimplane.domain.errors import AlreadyExists, ComplianceIssue, Conflict, NotFound
from nimplane.domain.identity import Principal
from nimplane.domain.org import (
    DEFAULT_DEPARTMENT_ID,
    NodePool,
    OrgProject,
    OrgUnitFields,
    PoolQuota,
    effective_resources,
    project_field,
    project_namespace,
    resolve_resources,
    validate_default_node_pools,
    validate_project_name,
)
from nimplane.domain.ports import Transaction
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import Action, ResourceType, ScopeType, is_allowed
from nimplane.services.authz import require
from nimplane.services.org._common import OrgParts, _invalid_if, _project, _project_for_change
from nimplane.services.org.quotas import (
    _check_project_fits,
    _check_quota,
    _field_of,
    _project_shortfall,
    _set_project_resources,
)


class ProjectOps(OrgParts):
    """The projects' use cases."""

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


def _check_project_names_free(projects: Sequence[OrgProject], name: str, namespace: str) -> None:
    for other in projects:
        if other.name == name:
            raise AlreadyExists(f"A project named '{name}' already exists.")
        if other.namespace == namespace:
            raise AlreadyExists(
                f"Namespace '{namespace}' is already the namespace of project '{other.name}'."
            )


def _shown_project(project: OrgProject, pools: Sequence[NodePool]) -> OrgProject:
    return replace(project, resources=effective_resources(project.resources, pools))
