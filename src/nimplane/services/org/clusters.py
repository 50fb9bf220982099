"""The cluster and its nodes (read-only)."""

from __future__ import annotations

from nimplane.domain.identity import Principal
from nimplane.domain.org import Cluster, PlacedNode, node_field, place_nodes
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import ResourceType, sees_physical
from nimplane.services.authz import cluster_of_scope, require_physical
from nimplane.services.org._common import OrgParts, _cluster, _in


class ClusterOps(OrgParts):
    """Listing and reading the cluster and its nodes."""

    def list_clusters(self, principal: Principal) -> list[Cluster]:
        with self._store.read() as tx:
            cluster_of = cluster_of_scope(tx)
            return [
                c
                for c in tx.org.clusters()
                if sees_physical(principal, ResourceType.cluster, c.scope, cluster_of)
            ]

    def get_cluster(self, principal: Principal, cluster_id: str) -> Cluster:
        with self._store.read() as tx:
            cluster = _cluster(tx, cluster_id)
            require_physical(tx, principal, ResourceType.cluster, cluster.scope, _in(cluster))
        return cluster

    def list_nodes(
        self, principal: Principal, cluster_id: str, query: ListQuery
    ) -> tuple[list[PlacedNode], int]:
        """The backend's nodes, each with its node pool (one backend: the one cluster)."""
        with self._store.read() as tx:
            cluster = _cluster(tx, cluster_id)
            require_physical(tx, principal, ResourceType.nodes, cluster.scope, _in(cluster))
            pools = tx.org.node_pools()
        placed = place_nodes(self._backend.nodes(), pools, cluster.id, cluster.created_at)
        return run_query(placed, query, node_field, lambda p: (p.node.name,))
