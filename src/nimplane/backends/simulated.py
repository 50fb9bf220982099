"""The simulated GPU cluster: nimplane's embedded default backend.

It holds an inventory of nodes (from settings; by default one pool of 4 nodes with 8 GPUs of
80 GiB each). It runs no pods yet (the lifecycle engine brings image pulls, model loads and
readiness), so there is nothing to tear down and a deletion completes at once.
"""

from __future__ import annotations

from nimplane.domain.cluster import Node
from nimplane.domain.workloads import Workload


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
    """An in-process cluster; deterministic, needs nothing outside the server."""

    def __init__(self, nodes: tuple[Node, ...] | None = None) -> None:
        self._nodes = default_nodes() if nodes is None else nodes

    def nodes(self) -> tuple[Node, ...]:
        return self._nodes

    def teardown(self, workload: Workload) -> bool:
        return True
