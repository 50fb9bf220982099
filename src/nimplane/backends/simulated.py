"""The simulated GPU cluster: nimplane's embedded default backend.

Its nodes come from settings (by default one pool of 4 nodes with 8 GPUs of 80 GiB each).
Its state (pods, node faults, metrics) lives in the database next to the workloads, so every
server replica sees the same cluster and a crash loses none of it; how a pod behaves over time
is the pure model in `domain.simulation`. A failed or drained node reports not ready: its pods
are lost and the scheduler places their replicas elsewhere.
"""

from __future__ import annotations

from dataclasses import replace

from nimplane.domain.cluster import Node
from nimplane.domain.ports import Store, Transaction
from nimplane.domain.workloads import Workload

NODE_FAULTS = ("failed", "drained")


def default_nodes(count: int = 4) -> tuple[Node, ...]:
    return tuple(
        Node(
            name=f"sim-node-{index}",
            gpu_count=8,
            gpu_memory_mib=80 * 1024,
            gpu_product="NVIDIA-H100-80GB-HBM3",
            cpu_millicores=128_000,
            memory_mib=1024 * 1024,
            labels={"kubernetes.io/hostname": f"sim-node-{index}"},
        )
        for index in range(count)
    )


class SimulatedCluster:
    """An in-database cluster; deterministic, needs nothing outside the server."""

    def __init__(self, nodes: tuple[Node, ...] | None = None, store: Store | None = None) -> None:
        self._nodes = default_nodes() if nodes is None else nodes
        self._store = store

    def inventory(self) -> tuple[Node, ...]:
        """The configured nodes, whatever their state."""
        return self._nodes

    def nodes(self) -> tuple[Node, ...]:
        if self._store is None:
            return self._nodes
        with self._store.read() as tx:
            faults = tx.sim.node_faults()
        if not faults:
            return self._nodes
        return tuple(replace(n, ready=False) if n.name in faults else n for n in self._nodes)

    def teardown(self, tx: Transaction, workload: Workload) -> bool:
        """Done at once when the workload has no pods; else the lifecycle engine removes them."""
        return not tx.sim.pods_of(workload.id)
