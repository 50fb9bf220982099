"""Node pools: create, change and delete them, each shown with the nodes it holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from nimplane.domain.errors import AlreadyExists, Conflict
from nimplane.domain.identity import Principal
from nimplane.domain.org import (
    Department,
    NodePool,
    OrgProject,
    node_pool_field,
    validate_node_pool_labels,
    validate_org_name,
    with_nodes,
)
from nimplane.domain.ports import Transaction
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import Action, ResourceType, sees_physical
from nimplane.services.authz import cluster_of_scope, require
from nimplane.services.org._common import OrgParts, _in, _invalid_if, _node_pool, _target_cluster


class NodePoolOps(OrgParts):
    """The node pools' use cases."""

    def _pools(self, tx: Transaction) -> list[NodePool]:
        """Every node pool with the nodes it holds now."""
        return with_nodes(tx.org.node_pools(), self._backend.nodes())

    def _shown_pool(self, tx: Transaction, pool_id: str) -> NodePool:
        """One pool with its nodes (which every other pool's label decides too)."""
        return next(p for p in self._pools(tx) if p.id == pool_id)

    def list_node_pools(self, principal: Principal, query: ListQuery) -> tuple[list[NodePool], int]:
        with self._store.read() as tx:
            cluster_of = cluster_of_scope(tx)
            readable = [
                p
                for p in self._pools(tx)
                if sees_physical(principal, ResourceType.nodepools, p.scope, cluster_of)
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


def _check_selector_free(pools: Sequence[NodePool], name: str, key: str, value: str) -> None:
    """A pool's name, and the label it selects its nodes by, are its own."""
    for other in pools:
        if other.name == name:
            raise AlreadyExists(f"A node pool named '{name}' already exists.")
        if (other.label_key, other.label_value) == (key, value):
            raise AlreadyExists(
                f"Node pool '{other.name}' already selects the nodes labelled {key}={value}."
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
