"""Free capacity of the nodes, per device, and the indexes placement searches.

Each GPU device tracks two counters: the portion in use (thousandths) and the memory in use
(MiB). A whole-device pod takes 1000 and all the memory; a portion `p` takes `p` and
`floor(p * memory / 1000)` MiB; a memory request `x` takes `x` MiB and `floor(x * 1000 / memory)`.
Both counters are checked, so portions on one device never sum above 1.0 and memory never
above the device's memory (the floors keep each counter exact for its own kind of request).

Nodes are grouped by node pool and taint signature (`NodeGroup`). A group indexes its nodes:
- `buckets[k]`: the nodes with exactly `k` entirely free devices, in node order;
- `shared`: every device in use but not full, as `(free thousandths, node, device)`, sorted,
  so the best-fitting shared device is a bisection away.
Aggregates (free devices, free thousandths, CPU, memory) answer "how much is free" at once.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from typing import Final

from nimplane.domain.cluster import Node, Taint
from nimplane.domain.scheduling.model import MILLI, GpuKind, PodRequest, Toleration

BLOCKING_EFFECTS: Final = frozenset({"NoSchedule", "NoExecute"})
DEFAULT_GPU_MEMORY_MIB: Final = 100
"""KAI's per-device memory when a node does not say (label missing)."""


class NodeState:
    __slots__ = (
        "cpu_total",
        "dev_mem",
        "free_cpu",
        "free_mem",
        "free_whole",
        "gpu_count",
        "group",
        "idx",
        "mem_total",
        "name",
        "pool",
        "used_mib",
        "used_milli",
    )

    def __init__(self, node: Node, idx: int, pool: str) -> None:
        self.idx = idx
        self.name = node.name
        self.pool = pool
        self.gpu_count = max(0, node.gpu_count)
        self.dev_mem = node.gpu_memory_mib if node.gpu_memory_mib > 0 else DEFAULT_GPU_MEMORY_MIB
        self.cpu_total = max(0, node.cpu_millicores)
        self.mem_total = max(0, node.memory_mib)
        self.free_cpu = self.cpu_total
        self.free_mem = self.mem_total
        self.used_milli = [0] * self.gpu_count
        self.used_mib = [0] * self.gpu_count
        self.free_whole = self.gpu_count
        self.group: NodeGroup | None = None

    def device_room(self, dev: int) -> tuple[int, int]:
        return MILLI - self.used_milli[dev], self.dev_mem - self.used_mib[dev]

    def __repr__(self) -> str:
        return f"NodeState({self.name})"


def device_share(request: PodRequest, dev_mem: int) -> tuple[int, int]:
    """(thousandths, MiB) one pod takes on each of its devices of a node with `dev_mem` MiB."""
    gpu = request.gpu
    if gpu.kind is GpuKind.WHOLE:
        return MILLI, dev_mem
    if gpu.kind is GpuKind.PORTION:
        milli = gpu.portion_milli
        return milli, milli * dev_mem // MILLI
    if gpu.kind is GpuKind.MEMORY:
        return min(MILLI, gpu.memory_mib * MILLI // dev_mem), gpu.memory_mib
    return 0, 0


def tolerates(taint: Taint, tolerations: Sequence[Toleration]) -> bool:
    for tol in tolerations:
        if tol.effect not in (None, "", "Any") and tol.effect != taint.effect:
            continue
        if tol.operator == "Exists":
            if tol.key in (None, "") or tol.key == taint.key:
                return True
        elif tol.key == taint.key and (tol.value or None) == (taint.value or None):
            return True
    return False


def taint_signature(node: Node) -> tuple[Taint, ...]:
    """The taints that keep pods off a node (PreferNoSchedule is only a preference)."""
    return tuple(
        sorted(
            (t for t in node.taints if t.effect in BLOCKING_EFFECTS),
            key=lambda t: (t.key, t.value or "", t.effect),
        )
    )


class NodeGroup:
    """The nodes of one pool that share a taint signature, with their indexes."""

    __slots__ = (
        "buckets",
        "free_cpu",
        "free_mem",
        "free_milli",
        "free_whole",
        "max_dev_mem",
        "max_gpus",
        "nodes",
        "pool",
        "shared",
        "taints",
    )

    def __init__(self, pool: str, taints: tuple[Taint, ...], nodes: list[NodeState]) -> None:
        self.pool = pool
        self.taints = taints
        self.nodes = nodes
        self.max_gpus = max((n.gpu_count for n in nodes), default=0)
        self.max_dev_mem = max((n.dev_mem for n in nodes if n.gpu_count), default=0)
        self.buckets: list[list[int]] = [[] for _ in range(self.max_gpus + 1)]
        self.shared: list[tuple[int, int, int]] = []
        self.free_whole = 0
        self.free_milli = 0
        self.free_cpu = 0
        self.free_mem = 0
        for node in nodes:
            node.group = self
            self.buckets[node.free_whole].append(node.idx)
            self.free_whole += node.free_whole
            self.free_milli += node.gpu_count * MILLI
            self.free_cpu += node.free_cpu
            self.free_mem += node.free_mem

    def tolerated_by(self, tolerations: Sequence[Toleration]) -> bool:
        return all(tolerates(t, tolerations) for t in self.taints)


def _is_shared(milli: int, mib: int, dev_mem: int) -> bool:
    return (milli > 0 or mib > 0) and milli < MILLI and mib < dev_mem


class Capacity:
    """Every node's free capacity and the group indexes, updated as pods come and go."""

    def __init__(self, nodes: list[NodeState], groups: list[NodeGroup]) -> None:
        self.nodes = nodes
        self.groups = groups

    def apply(
        self,
        node: NodeState,
        devices: tuple[int, ...],
        milli: int,
        mib: int,
        cpu: int,
        mem: int,
        sign: int,
    ) -> None:
        """Take (sign 1) or give back (sign -1) one pod's resources on `node`."""
        group = node.group
        assert group is not None
        node.free_cpu -= cpu * sign
        node.free_mem -= mem * sign
        group.free_cpu -= cpu * sign
        group.free_mem -= mem * sign
        if not devices:
            return
        used_milli, used_mib, dev_mem = node.used_milli, node.used_mib, node.dev_mem
        shared, idx = group.shared, node.idx
        free_before = node.free_whole
        free_whole = free_before
        for dev in devices:
            old_milli, old_mib = used_milli[dev], used_mib[dev]
            new_milli, new_mib = old_milli + milli * sign, old_mib + mib * sign
            used_milli[dev], used_mib[dev] = new_milli, new_mib
            if _is_shared(old_milli, old_mib, dev_mem):
                entry = (MILLI - old_milli, idx, dev)
                del shared[bisect_left(shared, entry)]
            if _is_shared(new_milli, new_mib, dev_mem):
                insort(shared, (MILLI - new_milli, idx, dev))
            was_free = old_milli == 0 and old_mib == 0
            is_free = new_milli == 0 and new_mib == 0
            if was_free and not is_free:
                free_whole -= 1
            elif is_free and not was_free:
                free_whole += 1
            group.free_milli -= new_milli - old_milli
        if free_whole != free_before:
            bucket = group.buckets[free_before]
            del bucket[bisect_left(bucket, idx)]
            insort(group.buckets[free_whole], idx)
            group.free_whole += free_whole - free_before
            node.free_whole = free_whole

    def fits_exactly(
        self, node: NodeState, devices: tuple[int, ...], milli: int, mib: int, cpu: int, mem: int
    ) -> bool:
        """Whether a pod can take exactly these devices of `node` again."""
        if node.free_cpu < cpu or node.free_mem < mem:
            return False
        used_milli, used_mib, dev_mem = node.used_milli, node.used_mib, node.dev_mem
        for dev in devices:
            if dev >= node.gpu_count:
                return False
            if used_milli[dev] + milli > MILLI or used_mib[dev] + mib > dev_mem:
                return False
        return True
