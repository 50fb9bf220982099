"""What the scheduler reads and what it returns.

Input: a `Snapshot` of the cluster (nodes, node pools), the organisation as queues (departments
and projects, each with per-node-pool quotas), the workloads (NIM services as gangs of pods)
and the placements the previous cycle produced. Output: a `CycleResult` with the placements
that should exist now, the evictions that get there, and why every pending workload waits.

Units everywhere: GPUs in GPU units (fractions allowed), CPU in millicores, memory (CPU
memory and GPU memory) in MiB. `UNLIMITED` (-1) is Run:ai's and KAI's "no bound".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from nimplane.domain.cluster import Node, NodePoolSelector

UNLIMITED: Final = -1
"""Deserved -1: the whole amount being divided. Limit -1: no limit."""

DEFAULT_QUEUE_PRIORITY: Final = 100
"""KAI's default queue priority (orders over-quota division and queue selection)."""

OVER_QUOTA_WEIGHTS: Final[dict[str, int]] = {
    "None": 0,
    "Lowest": 0,
    "Low": 1,
    "Medium": 2,
    "High": 3,
}
"""Run:ai's over-quota weight levels (older documented numbers; `Medium` is the default).
`None` also means no over-quota at all: express it with `limit = deserved`."""

MILLI: Final = 1000
"""Internal GPU unit: thousandths of a GPU. Portions are rounded to it."""


class GpuKind(StrEnum):
    NONE = "none"
    WHOLE = "whole"
    PORTION = "portion"
    MEMORY = "memory"


class PlacementStrategy(StrEnum):
    BINPACK = "binpack"
    SPREAD = "spread"


class Action(StrEnum):
    ALLOCATE = "allocate"
    RECLAIM = "reclaim"
    PREEMPT = "preempt"
    STALE_GANG = "stale-gang"


class OrgType(StrEnum):
    PROJECT = "PROJECT"
    DEPARTMENT = "DEPARTMENT"


class Reason(StrEnum):
    """`reason` of a pending scheduling message. The first two are also Run:ai `phaseReason`s."""

    OVER_LIMIT = "OverLimit"
    NON_PREEMPTIBLE_OVER_QUOTA = "NonPreemptibleOverQuota"
    QUEUE_DOES_NOT_EXIST = "QueueDoesNotExist"
    NODE_POOL_DOES_NOT_EXIST = "NodePoolDoesNotExist"
    UNSCHEDULABLE = "Unschedulable"


PHASE_REASONS: Final = frozenset({Reason.OVER_LIMIT, Reason.NON_PREEMPTIBLE_OVER_QUOTA})


# ---------------------------------------------------------------------------------------------
# Organisation: queues


@dataclass(frozen=True)
class ResourceQuota:
    """One resource of one queue in one node pool (KAI `{quota, limit, overQuotaWeight}`)."""

    deserved: float = 0
    limit: float = UNLIMITED
    over_quota_weight: float = OVER_QUOTA_WEIGHTS["Medium"]

    def __post_init__(self) -> None:
        if self.deserved < 0 and self.deserved != UNLIMITED:
            raise ValueError(f"deserved must be >= 0 or {UNLIMITED}, not {self.deserved}")
        if self.limit < 0 and self.limit != UNLIMITED:
            raise ValueError(f"limit must be >= 0 or {UNLIMITED}, not {self.limit}")
        if self.over_quota_weight < 0:
            raise ValueError("over_quota_weight must be >= 0")


@dataclass(frozen=True)
class QueueResources:
    """A queue's quotas in one node pool. The defaults are Run:ai's for a new node pool:
    no GPU quota, unlimited CPU and memory, over-quota enabled (`Medium`)."""

    gpu: ResourceQuota = ResourceQuota()
    cpu: ResourceQuota = ResourceQuota(deserved=UNLIMITED)
    memory: ResourceQuota = ResourceQuota(deserved=UNLIMITED)


@dataclass(frozen=True)
class Queue:
    """A department (has children) or a project (a leaf: only leaves hold workloads).

    The scheduler derives one KAI queue per (queue, node pool); `resources` gives the quotas
    per node pool name, a pool not listed gets `QueueResources()`.
    """

    name: str
    parent: str | None = None
    resources: Mapping[str, QueueResources] = field(default_factory=dict)
    priority: int = DEFAULT_QUEUE_PRIORITY
    created: float = 0.0
    default_node_pools: tuple[str, ...] = ()
    """A project's node pools, in order, for workloads that name none."""
    display_name: str = ""
    """The name messages show (default: `name`, which must be unique among the queues)."""

    def resources_in(self, pool: str) -> QueueResources:
        return self.resources.get(pool, _DEFAULT_RESOURCES)


_DEFAULT_RESOURCES: Final = QueueResources()


# ---------------------------------------------------------------------------------------------
# Workloads


@dataclass(frozen=True)
class GpuRequest:
    """The GPU request of one pod: whole devices, a portion of each of `devices` devices, or
    an amount of GPU memory on each of `devices` devices."""

    kind: GpuKind = GpuKind.NONE
    devices: int = 0
    portion: float = 0.0
    memory_mib: int = 0

    def __post_init__(self) -> None:
        if self.kind is GpuKind.NONE:
            if self.devices or self.portion or self.memory_mib:
                raise ValueError("a request without GPUs takes no devices, portion or memory")
            return
        if self.devices < 1:
            raise ValueError("a GPU request takes at least one device")
        if self.kind is GpuKind.PORTION and not 0 < self.portion <= 1:
            raise ValueError("a GPU portion is in (0, 1]")
        if self.kind is GpuKind.MEMORY and self.memory_mib <= 0:
            raise ValueError("a GPU memory request is > 0 MiB")

    @staticmethod
    def none() -> GpuRequest:
        return _NO_GPU

    @staticmethod
    def whole(devices: int) -> GpuRequest:
        return GpuRequest(GpuKind.WHOLE, devices) if devices else _NO_GPU

    @staticmethod
    def fraction(portion: float, devices: int = 1) -> GpuRequest:
        return GpuRequest(GpuKind.PORTION, devices, portion=portion)

    @staticmethod
    def memory(mib: int, devices: int = 1) -> GpuRequest:
        return GpuRequest(GpuKind.MEMORY, devices, memory_mib=mib)

    @property
    def portion_milli(self) -> int:
        """The portion in thousandths of a device, at least 1."""
        return max(1, min(MILLI, round(self.portion * MILLI)))


_NO_GPU: Final = GpuRequest()


@dataclass(frozen=True)
class PodRequest:
    """What one pod asks for. Every pod of a NIM service (leader and workers) asks the same."""

    gpu: GpuRequest = _NO_GPU
    cpu_millicores: int = 0
    memory_mib: int = 0

    def __post_init__(self) -> None:
        if self.cpu_millicores < 0 or self.memory_mib < 0:
            raise ValueError("CPU and memory requests are >= 0")


@dataclass(frozen=True)
class Toleration:
    """A Kubernetes toleration. `effect` None (or "Any") tolerates every effect; `key` None with
    `Exists` tolerates every taint."""

    key: str | None = None
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None


@dataclass(frozen=True)
class Workload:
    """A NIM service: `replicas` independent gangs, each of `1 + workers` pods that are placed
    all together or not at all (`workers` 0: one pod per replica)."""

    id: str
    project: str
    pod: PodRequest
    priority: int
    preemptible: bool
    replicas: int = 1
    workers: int = 0
    node_pools: tuple[str, ...] = ()
    """Preferred node pools in order; empty: the project's default node pools, else `default`."""
    tolerations: tuple[Toleration, ...] = ()
    created: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.replicas < 0 or self.workers < 0:
            raise ValueError("replicas and workers are >= 0")

    @property
    def gang_size(self) -> int:
        return 1 + self.workers


# ---------------------------------------------------------------------------------------------
# Placements (both input, from the previous cycle, and output)


@dataclass(frozen=True)
class PodPlacement:
    """Pod `index` of a gang (0 the leader) on `node`, holding `gpu_devices` with `request`."""

    index: int
    node: str
    gpu_devices: tuple[int, ...]
    request: PodRequest

    @property
    def gpu_portion(self) -> float:
        """The portion of each held device (1.0 for whole devices); 0 for memory requests,
        whose share depends on the device (see `gpu_memory_mib`)."""
        gpu = self.request.gpu
        if gpu.kind is GpuKind.WHOLE:
            return 1.0
        if gpu.kind is GpuKind.PORTION:
            return gpu.portion_milli / MILLI
        return 0.0

    @property
    def gpu_memory_mib(self) -> int:
        """GPU memory requested on each device, for memory requests; else 0."""
        return self.request.gpu.memory_mib


@dataclass(frozen=True)
class GangPlacement:
    """Where the pods of one replica run. A gang with fewer pods than the workload's gang size
    is stale (a node went away); `stale_since` says since when."""

    workload_id: str
    replica: int
    node_pool: str
    pods: tuple[PodPlacement, ...]
    stale_since: float | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.workload_id, self.replica)


# ---------------------------------------------------------------------------------------------
# The snapshot


@dataclass(frozen=True)
class PoolPlacement:
    """A node pool's placement strategies (Run:ai: per node pool, bin-pack by default)."""

    gpu: PlacementStrategy = PlacementStrategy.BINPACK
    cpu: PlacementStrategy = PlacementStrategy.BINPACK


@dataclass(frozen=True)
class SchedulerConfig:
    stale_gang_grace_seconds: float = 60.0
    """A gang below its size for longer than this is evicted whole; negative: never."""
    reclaimer_saturation_multiplier: float = 1.0
    """KAI's `relcaimerSaturationMultiplier` (>= 1)."""
    max_iterations: int = 8
    """Allocate-reclaim-preempt passes per cycle at most; a cycle stops at the first pass that
    changes nothing, so its result is a fixed point (the next cycle changes nothing)."""

    def __post_init__(self) -> None:
        if self.reclaimer_saturation_multiplier < 1:
            raise ValueError("reclaimer_saturation_multiplier must be >= 1")
        if self.max_iterations < 1:
            raise ValueError("max_iterations must be >= 1")


@dataclass(frozen=True)
class Snapshot:
    """Everything one cycle looks at.

    - `nodes`: every node. A node that is not ready keeps the pods it has (and their quota)
      but takes no new ones and is not part of the capacity being shared; a pod whose node is
      missing is lost (its gang turns stale).
    - `placements`: the previous cycle's `CycleResult.placements`, as persisted (including
      each pod's `request` and a gang's `stale_since`). A gang whose workload or replica is
      gone is released, not evicted.
    - `now`: seconds on any monotonic clock; only stale-gang eviction reads it.
    """

    nodes: Sequence[Node]
    queues: Sequence[Queue]
    workloads: Sequence[Workload]
    node_pools: Sequence[NodePoolSelector] = ()
    """Label selectors of the node pools other than `default` (which takes the rest)."""
    placements: Sequence[GangPlacement] = ()
    placement_strategies: Mapping[str, PoolPlacement] = field(default_factory=dict)
    now: float = 0.0
    config: SchedulerConfig = SchedulerConfig()

    def with_placements(
        self, placements: Sequence[GangPlacement], now: float | None = None
    ) -> Snapshot:
        """The next cycle's snapshot: same cluster and workloads, these placements."""
        return dataclasses.replace(
            self, placements=tuple(placements), now=self.now if now is None else now
        )


# ---------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True)
class PendingSchedulingMessage:
    """One entry of Run:ai's `pendingSchedulingMessages`."""

    node_pool: str
    phase_reason: str | None
    reason: str
    org_type: str | None
    user_message: str

    def as_wire(self) -> dict[str, str | None]:
        return {
            "nodePool": self.node_pool,
            "phaseReason": self.phase_reason,
            "reason": self.reason,
            "orgType": self.org_type,
            "userMessage": self.user_message,
        }


@dataclass(frozen=True)
class WorkloadStatus:
    """How much of a workload runs, and why the rest waits."""

    workload_id: str
    gangs_requested: int
    gangs_running: int
    pods_running: int
    phase_reason: str | None
    pending_messages: tuple[PendingSchedulingMessage, ...]

    @property
    def fully_placed(self) -> bool:
        return self.gangs_running == self.gangs_requested


@dataclass(frozen=True)
class Eviction:
    """Who evicted whom and why (one event per evicted gang)."""

    workload_id: str
    replica: int
    node_pool: str
    action: Action
    by_workload_id: str | None
    by_replica: int | None
    message: str
    pods: tuple[PodPlacement, ...]


@dataclass(frozen=True)
class ResourceStatus:
    deserved: float
    limit: float
    fair_share: float
    allocated: float
    allocated_non_preemptible: float
    requested: float


@dataclass(frozen=True)
class QueueStatus:
    """A queue in one node pool after the cycle (fair share as computed at its last pass)."""

    queue: str
    node_pool: str
    gpu: ResourceStatus
    cpu: ResourceStatus
    memory: ResourceStatus


@dataclass(frozen=True)
class CycleResult:
    placements: tuple[GangPlacement, ...]
    """Every gang that should run now (sorted by workload id, replica)."""
    evictions: tuple[Eviction, ...]
    """Gangs of the snapshot's placements that no longer run as they did, and why."""
    workloads: Mapping[str, WorkloadStatus]
    queues: tuple[QueueStatus, ...]
    iterations: int
    converged: bool

    def placements_of(self, workload_id: str) -> tuple[GangPlacement, ...]:
        return tuple(g for g in self.placements if g.workload_id == workload_id)
