"""One scheduling cycle's working state, built from a snapshot, changed only in transactions.

The session holds the nodes (with their capacity indexes), one queue tree per node pool, and
every gang (one per replica of a workload). Gangs are placed and evicted pod by pod through
`put`/`take`, which keep the node indexes, the queues' usage and the per-queue running sets
in step and log the change; `rollback(checkpoint)` undoes everything logged since, which is how
actions evaluate a scenario and commit it only when the pending gang then fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from nimplane.domain.cluster import DEFAULT_NODE_POOL, Taint, pool_of
from nimplane.domain.scheduling.capacity import (
    Capacity,
    NodeGroup,
    NodeState,
    device_share,
    taint_signature,
)
from nimplane.domain.scheduling.model import (
    MILLI,
    Action,
    GangPlacement,
    GpuKind,
    OrgType,
    PlacementStrategy,
    PodPlacement,
    PodRequest,
    PoolPlacement,
    Reason,
    Snapshot,
    Toleration,
    Workload,
)
from nimplane.domain.scheduling.placement import PodFit, find_pod_fit
from nimplane.domain.scheduling.queues import PoolQueues, QueueNode, Vector

_PUT: Final = 0
_TAKE: Final = 1


@dataclass(frozen=True)
class Failure:
    """Why a gang did not get placed in one node pool."""

    pool: str
    reason: Reason
    org_type: OrgType | None
    message: str


@dataclass
class EvictionEvent:
    gang: Gang
    pool: str
    action: Action
    by: Gang | None
    message: str
    pods: tuple[PodPlacement, ...]


class PodSlot:
    """A pod's hold on a node: its devices and what it takes there and from its queues."""

    __slots__ = ("cpu", "devices", "mem", "mib", "milli", "node", "quota", "request")

    def __init__(
        self,
        node: NodeState,
        devices: tuple[int, ...],
        milli: int,
        mib: int,
        request: PodRequest,
        quota: Vector,
    ) -> None:
        self.node = node
        self.devices = devices
        self.milli = milli
        self.mib = mib
        self.cpu = request.cpu_millicores
        self.mem = request.memory_mib
        self.request = request
        self.quota = quota


class Shape:
    """What the pods of a workload ask for and tolerate, interned per session so that hot
    paths compare and hash small integers instead of nested dataclasses."""

    __slots__ = ("id", "pod", "quota", "tolerations")

    def __init__(self, shape_id: int, pod: PodRequest, tolerations: tuple[Toleration, ...]):
        self.id = shape_id
        self.pod = pod
        self.tolerations = tolerations
        self.quota: dict[str, Vector] = {}
        """Per node pool: what one pod counts against its queues."""


class Gang:
    """One replica of a workload: `size` pods placed together or not at all."""

    __slots__ = (
        "failures",
        "held",
        "key",
        "loaded",
        "order",
        "placed",
        "pods",
        "pool",
        "pools",
        "preemptible",
        "priority",
        "replica",
        "shape",
        "size",
        "stale_since",
        "workload",
    )

    def __init__(self, workload: Workload, replica: int, shape: Shape) -> None:
        self.workload = workload
        self.shape = shape
        self.replica = replica
        self.key = (workload.id, replica)
        self.size = workload.gang_size
        self.pods: list[PodSlot | None] = [None] * self.size
        self.placed = 0
        self.pool: str | None = None
        self.preemptible = workload.preemptible
        self.priority = workload.priority
        self.stale_since: float | None = None
        self.failures: dict[str, Failure] = {}
        self.held: Vector = (0, 0, 0)
        self.pools: tuple[str, ...] = ()
        """The node pools it may use, in order (set by the session)."""
        self.loaded: GangPlacement | None = None
        """The previous cycle's placement, while the gang is exactly where it says (the
        result hands that very object back instead of an equal new one)."""
        # job order inside a queue: priority, then gangs below their size (stale), then age
        self.order = (-workload.priority, 1, workload.created, workload.id, replica)

    @property
    def pending(self) -> bool:
        return self.placed < self.size

    def refresh_order(self) -> None:
        partial = 0 if 0 < self.placed < self.size else 1
        w = self.workload
        self.order = (-w.priority, partial, w.created, w.id, self.replica)

    def vector(self) -> Vector:
        """What the placed pods take from the queues."""
        return self.held

    def pod_placements(self) -> tuple[PodPlacement, ...]:
        return tuple(
            PodPlacement(i, slot.node.name, slot.devices, slot.request)
            for i, slot in enumerate(self.pods)
            if slot is not None
        )

    def __repr__(self) -> str:
        return f"Gang({self.key[0]}#{self.key[1]})"


class PoolState:
    """One node pool: its node groups, queue tree, strategies and who runs where."""

    def __init__(
        self,
        name: str,
        groups: list[NodeGroup],
        queues: PoolQueues,
        placement: PoolPlacement,
    ) -> None:
        self.name = name
        self.groups = groups
        self.queues = queues
        self.gpu_strategy: PlacementStrategy = placement.gpu
        self.cpu_strategy: PlacementStrategy = placement.cpu
        nodes = [n for g in groups for n in g.nodes]
        self.node_count = len(nodes)
        self.min_dev_mem = 0
        """GPU memory of the smallest device: GPU-memory requests count against quota as
        that fraction of a GPU (set by the session: over every node of the pool, ready or
        not, so that a node's readiness does not change running pods' quota)."""
        self.totals: Vector = (
            sum(n.gpu_count for n in nodes) * MILLI,
            sum(n.cpu_total for n in nodes),
            sum(n.mem_total for n in nodes),
        )
        self.running: dict[int, dict[Gang, None]] = {}
        """Gangs with pods in this pool, by leaf queue uid (insertion-ordered sets)."""
        self._running_version: dict[int, int] = {}
        self._victims: dict[int, tuple[int, list[Gang]]] = {}
        self.unschedulable = False
        """Whether some node of the pool is not ready (its pods are then no victims)."""

    def joined(self, uid: int, gang: Gang) -> None:
        self.running.setdefault(uid, {})[gang] = None
        self._running_version[uid] = self._running_version.get(uid, 0) + 1

    def left(self, uid: int, gang: Gang) -> None:
        del self.running[uid][gang]
        self._running_version[uid] = self._running_version.get(uid, 0) + 1

    def preemptible_in(self, uid: int) -> list[Gang]:
        """The preemptible gangs running in leaf queue `uid`, the last in job order first
        (the order victims are offered in). Kept until a gang joins or leaves the queue: a
        search that fails re-sorts only the queues it touched, not every queue (callers must
        not change the list)."""
        version = self._running_version.get(uid, 0)
        cached = self._victims.get(uid)
        if cached is not None and cached[0] == version:
            return cached[1]
        gangs = [g for g in self.running.get(uid, ()) if g.preemptible]
        gangs.sort(key=_order, reverse=True)
        self._victims[uid] = (version, gangs)
        return gangs


def _order(gang: Gang) -> tuple[object, ...]:
    return gang.order


def _index(pod: PodPlacement) -> int:
    return pod.index


class Session:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.now = snapshot.now
        self.config = snapshot.config
        selectors = tuple(snapshot.node_pools)
        self.pool_names = sorted({DEFAULT_NODE_POOL, *(s.name for s in selectors)})
        # nodes by name (a repeated name: the first one); a node that is not ready keeps its
        # pods but takes no new ones and is no part of the capacity being shared
        specs = list({n.name: n for n in reversed(snapshot.nodes)}.values())
        specs.sort(key=lambda n: n.name)
        self.nodes = [NodeState(n, i, pool_of(n, selectors)) for i, n in enumerate(specs)]
        self.node_by_name = {n.name: n for n in self.nodes}
        grouped: dict[tuple[str, bool, tuple[Taint, ...]], list[NodeState]] = {}
        for node, spec in zip(self.nodes, specs, strict=True):
            grouped.setdefault((node.pool, spec.ready, taint_signature(spec)), []).append(node)
        groups_by_pool: dict[str, list[NodeGroup]] = {p: [] for p in self.pool_names}
        unschedulable: list[NodeGroup] = []
        for (pool, ready, taints), members in sorted(grouped.items(), key=lambda kv: kv[1][0].idx):
            group = NodeGroup(pool, taints, members)
            (groups_by_pool[pool] if ready else unschedulable).append(group)
        self.capacity = Capacity(
            self.nodes, [g for gs in groups_by_pool.values() for g in gs] + unschedulable
        )
        self.pools = {
            name: PoolState(
                name,
                groups_by_pool[name],
                PoolQueues(name, snapshot.queues),
                snapshot.placement_strategies.get(name, PoolPlacement()),
            )
            for name in self.pool_names
        }
        for group in unschedulable:
            self.pools[group.pool].unschedulable = True
        smallest_anywhere = min((n.dev_mem for n in self.nodes if n.gpu_count), default=0)
        for pool_state in self.pools.values():
            pool_state.min_dev_mem = min(
                (n.dev_mem for n in self.nodes if n.gpu_count and n.pool == pool_state.name),
                default=smallest_anywhere,
            )
        self.queue_specs = {q.name: q for q in snapshot.queues}
        self.workloads = {w.id: w for w in sorted(snapshot.workloads, key=lambda w: w.id)}
        self._tolerated: dict[tuple[str, tuple[Toleration, ...]], list[NodeGroup]] = {}
        self._quota_cache: dict[tuple[str, PodRequest], Vector] = {}
        self._candidate_pools: dict[str, tuple[str, ...]] = {}
        self.gangs: list[Gang] = []
        self.gang_by_key: dict[tuple[str, int], Gang] = {}
        shapes: dict[tuple[PodRequest, tuple[Toleration, ...]], Shape] = {}
        for workload in self.workloads.values():
            shape_key = (workload.pod, workload.tolerations)
            shape = shapes.get(shape_key)
            if shape is None:
                shape = shapes[shape_key] = Shape(len(shapes), workload.pod, workload.tolerations)
            for replica in range(workload.replicas):
                gang = Gang(workload, replica, shape)
                gang.pools = self.candidate_pools(workload)
                self.gangs.append(gang)
                self.gang_by_key[gang.key] = gang
        self._log: list[tuple[int, Gang, int, PodSlot | None]] = []
        self.version = 0
        """Moves on every pod placed or taken off."""
        self.events: list[EvictionEvent] = []
        self.initial: dict[tuple[str, int], tuple[PodPlacement, ...]] = {}
        self.changed = False
        self._load(snapshot.placements)

    # -- lookups -----------------------------------------------------------------------------

    def candidate_pools(self, workload: Workload) -> tuple[str, ...]:
        """The node pools a workload may use, in order (existing or not)."""
        pools = self._candidate_pools.get(workload.id)
        if pools is None:
            pools = workload.node_pools
            if not pools:
                project = self.queue_specs.get(workload.project)
                pools = project.default_node_pools if project is not None else ()
            if not pools:
                pools = (DEFAULT_NODE_POOL,)
            pools = tuple(dict.fromkeys(pools))
            self._candidate_pools[workload.id] = pools
        return pools

    def tolerated_groups(
        self, pool: PoolState, tolerations: tuple[Toleration, ...]
    ) -> list[NodeGroup]:
        key = (pool.name, tolerations)
        groups = self._tolerated.get(key)
        if groups is None:
            groups = [g for g in pool.groups if g.tolerated_by(tolerations)]
            self._tolerated[key] = groups
        return groups

    def pod_quota(self, pool: PoolState, request: PodRequest) -> Vector:
        """What one pod counts against its queues in `pool` (a fraction as that many GPUs, GPU
        memory as a fraction of the pool's smallest device)."""
        key = (pool.name, request)
        vec = self._quota_cache.get(key)
        if vec is None:
            gpu = request.gpu
            if gpu.kind is GpuKind.WHOLE:
                g = gpu.devices * MILLI
            elif gpu.kind is GpuKind.PORTION:
                g = gpu.portion_milli * gpu.devices
            elif gpu.kind is GpuKind.MEMORY:
                smallest = pool.min_dev_mem or gpu.memory_mib
                per_device = -(-gpu.memory_mib * MILLI // smallest)  # KAI: not capped at 1
                g = per_device * gpu.devices
            else:
                g = 0
            vec = (g, request.cpu_millicores, request.memory_mib)
            self._quota_cache[key] = vec
        return vec

    def missing_vector_of_one(self, gang: Gang, pool: PoolState) -> Vector:
        """What one pod of `gang` counts against its queues in `pool`."""
        q = gang.shape.quota.get(pool.name)
        if q is None:
            q = gang.shape.quota[pool.name] = self.pod_quota(pool, gang.shape.pod)
        return q

    def missing_vector(self, gang: Gang, pool: PoolState) -> Vector:
        missing = gang.size - gang.placed
        q = self.missing_vector_of_one(gang, pool)
        return (q[0] * missing, q[1] * missing, q[2] * missing)

    def leaf_of(self, gang: Gang, pool: PoolState) -> QueueNode | None:
        return pool.queues.leaf(gang.workload.project)

    # -- transactions ------------------------------------------------------------------------

    def checkpoint(self) -> int:
        return len(self._log)

    def rollback(self, checkpoint: int) -> None:
        log = self._log
        while len(log) > checkpoint:
            op, gang, index, slot = log.pop()
            if op == _PUT:
                self._take(gang, index)
            else:
                assert slot is not None
                self._put(gang, index, slot)

    def commit(self) -> None:
        """Forget the log: what it holds can no longer be rolled back."""
        self._log.clear()

    def put(self, gang: Gang, index: int, slot: PodSlot) -> None:
        self._put(gang, index, slot)
        self._log.append((_PUT, gang, index, None))

    def take(self, gang: Gang, index: int) -> PodSlot:
        slot = gang.pods[index]
        assert slot is not None
        self._take(gang, index)
        self._log.append((_TAKE, gang, index, slot))
        return slot

    def _put(self, gang: Gang, index: int, slot: PodSlot) -> None:
        self.version += 1
        gang.loaded = None
        node = slot.node
        pool = self.pools[node.pool]
        self.capacity.apply(node, slot.devices, slot.milli, slot.mib, slot.cpu, slot.mem, 1)
        gang.pods[index] = slot
        leaf = pool.queues.leaves[gang.workload.project]
        q, held = slot.quota, gang.held
        gang.held = (held[0] + q[0], held[1] + q[1], held[2] + q[2])
        PoolQueues.add(leaf, q, gang.preemptible, 1)
        if gang.placed == 0:
            gang.pool = pool.name
            pool.joined(leaf.uid, gang)
        gang.placed += 1

    def _take(self, gang: Gang, index: int) -> None:
        self.version += 1
        gang.loaded = None
        slot = gang.pods[index]
        assert slot is not None
        node = slot.node
        pool = self.pools[node.pool]
        self.capacity.apply(node, slot.devices, slot.milli, slot.mib, slot.cpu, slot.mem, -1)
        gang.pods[index] = None
        leaf = pool.queues.leaves[gang.workload.project]
        q, held = slot.quota, gang.held
        gang.held = (held[0] - q[0], held[1] - q[1], held[2] - q[2])
        PoolQueues.add(leaf, q, gang.preemptible, -1)
        gang.placed -= 1
        if gang.placed == 0:
            gang.pool = None
            pool.left(leaf.uid, gang)

    # -- gang operations ---------------------------------------------------------------------

    def place_gang(self, gang: Gang, pool: PoolState, groups: Sequence[NodeGroup]) -> int:
        """Place every missing pod of `gang` in `pool`, all or none. Returns how many of the
        missing pods fitted: all of them on success; on failure the state is unchanged."""
        start = self.checkpoint()
        request = gang.shape.pod
        quota = self.missing_vector_of_one(gang, pool)
        placed = 0
        for index in range(gang.size):
            if gang.pods[index] is not None:
                continue
            fit = find_pod_fit(self.nodes, groups, request, pool.gpu_strategy, pool.cpu_strategy)
            if fit is None:
                self.rollback(start)
                return placed
            self.put(gang, index, self.slot(fit, request, quota))
            placed += 1
        return placed

    @staticmethod
    def slot(fit: PodFit, request: PodRequest, quota: Vector) -> PodSlot:
        return PodSlot(fit.node, fit.devices, fit.milli, fit.mib, request, quota)

    def evict(self, gang: Gang) -> list[tuple[int, PodSlot]]:
        """Take every pod of `gang` off its nodes (logged)."""
        return [(i, self.take(gang, i)) for i, slot in enumerate(gang.pods) if slot is not None]

    def restore(self, gang: Gang, slots: list[tuple[int, PodSlot]]) -> bool:
        """Put an evicted gang back exactly where it was, if all of it still fits."""
        start = self.checkpoint()
        for index, s in slots:
            if not self.capacity.fits_exactly(s.node, s.devices, s.milli, s.mib, s.cpu, s.mem):
                self.rollback(start)
                return False
            self.put(gang, index, s)
        return True

    def record(
        self,
        gang: Gang,
        pool: str,
        action: Action,
        by: Gang | None,
        message: str,
        pods: tuple[PodPlacement, ...],
    ) -> None:
        self.events.append(EvictionEvent(gang, pool, action, by, message, pods))

    # -- loading the previous cycle's placements ---------------------------------------------

    def _load(self, placements: Sequence[GangPlacement]) -> None:
        for placement in sorted(placements, key=lambda p: p.key):
            gang = self.gang_by_key.get(placement.key)
            if gang is None or gang.placed:
                continue  # the workload or replica is gone: released, not evicted
            pool_name: str | None = None
            ordered = sorted(placement.pods, key=_index)
            # every pod loaded as it says, in index order: the placement's own pods are what
            # `pod_placements` would rebuild (most gangs of a cycle; saves rebuilding them)
            exact = type(placement.pods) is tuple and (
                len(ordered) == 1 or tuple(ordered) == placement.pods
            )
            for pod in ordered:
                node = self.node_by_name.get(pod.node)
                if node is None or not 0 <= pod.index < gang.size or gang.pods[pod.index]:
                    exact = False
                    continue  # its node is gone: the pod is lost
                if pool_name is None:
                    pool_name = node.pool
                if node.pool != pool_name:
                    exact = False
                    continue
                pool = self.pools[pool_name]
                if pool.queues.leaf(gang.workload.project) is None:
                    exact = False
                    break
                slot = self._loaded_slot(gang, node, pod, pool)
                if slot is None:
                    exact = False
                else:
                    self._put(gang, pod.index, slot)
                    exact = exact and slot.devices == pod.gpu_devices
            if gang.placed:
                pods = placement.pods if exact else gang.pod_placements()
                self.initial[gang.key] = pods
                if pods == placement.pods and pool_name == placement.node_pool:
                    gang.loaded = placement
                if gang.placed < gang.size:
                    gang.stale_since = (
                        placement.stale_since if placement.stale_since is not None else self.now
                    )
                gang.refresh_order()

    def _loaded_slot(
        self, gang: Gang, node: NodeState, pod: PodPlacement, pool: PoolState
    ) -> PodSlot | None:
        request = pod.request
        if request == gang.shape.pod:
            request = gang.shape.pod  # share the interned request (fast paths compare identity)
        gpu = request.gpu
        devices = tuple(pod.gpu_devices)
        wanted = gpu.devices if gpu.kind is not GpuKind.NONE else 0
        if len(devices) != wanted or len(set(devices)) != len(devices):
            return None
        if gpu.kind is GpuKind.MEMORY and gpu.memory_mib > node.dev_mem:
            return None
        milli, mib = device_share(request, node.dev_mem)
        if not self.capacity.fits_exactly(
            node, devices, milli, mib, request.cpu_millicores, request.memory_mib
        ):
            return None  # would overcommit: treat as lost
        if request is gang.shape.pod:
            quota = self.missing_vector_of_one(gang, pool)
        else:
            quota = self.pod_quota(pool, request)
        return PodSlot(node, devices, milli, mib, request, quota)

    # -- per pass ----------------------------------------------------------------------------

    def begin_pass(self) -> None:
        """Recompute every queue's request (allocated + pending demand) and fair share."""
        pending: dict[tuple[str, str], list[int]] = {}
        for gang in self.gangs:
            gang.failures = {}
            if gang.placed == gang.size:
                continue
            pools = (gang.pool,) if gang.pool is not None else gang.pools
            for name in pools:
                pool = self.pools.get(name)
                if pool is None or gang.workload.project not in pool.queues.leaves:
                    continue
                vec = self.missing_vector(gang, pool)
                total = pending.setdefault((name, gang.workload.project), [0, 0, 0])
                total[0] += vec[0]
                total[1] += vec[1]
                total[2] += vec[2]
        for pool in self.pools.values():
            queues = pool.queues
            for node in queues.nodes.values():
                node.request = [0, 0, 0]
            for name, leaf in queues.leaves.items():
                extra = pending.get((pool.name, name), (0, 0, 0))
                alloc = leaf.alloc  # a leaf's usage is its own gangs'
                PoolQueues.add_request(
                    leaf, (alloc[0] + extra[0], alloc[1] + extra[1], alloc[2] + extra[2])
                )
            queues.compute_fair_shares(pool.totals)

    def jobs_for(self, pool: PoolState, rank: int) -> list[Gang]:
        """Pending gangs whose `rank`-th choice is `pool` (a stale gang: only its own pool)."""
        jobs: list[Gang] = []
        for gang in self.gangs:
            if gang.placed == gang.size:
                continue
            if gang.placed:
                if rank == 0 and gang.pool == pool.name:
                    jobs.append(gang)
                continue
            pools = gang.pools
            if rank < len(pools) and pools[rank] == pool.name:
                jobs.append(gang)
        return jobs
