"""The cluster and its nodes (read-only)."""

from __future__ import annotations

from nimplane.domain.identity import Principal
from nimplane.domain.org import Cluster, PlacedNode, node_field, place_nodes
from nimplane.domain.queries import ListQuery, run_query
from nimplane.domain.rbac import Action, ResourceType, is_allowed
from nimplane.services.authz import require
from nimplane.services.org._common import OrgParts, _cluster, _in


class ClusterOps(OrgParts):
    """Listing and reading the cluster and its nodes."""

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
