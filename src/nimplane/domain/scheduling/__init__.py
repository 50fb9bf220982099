"""The scheduler: Run:ai / KAI semantics as a pure, deterministic domain component.

`schedule(snapshot) -> CycleResult` is the one entry point; everything it reads and returns
is in `model`. No I/O, no clock: the snapshot carries `now`.

Modules, one job each:
- `model`: the input (queues, workloads as gangs, nodes, previous placements) and the result;
- `fair_share`: dividing one resource among sibling queues (docs/decisions.md S1.3);
- `queues`: a node pool's queue tree: usage, fair shares down the tree, the capacity policy;
- `capacity`: free capacity per node and device, and the free-capacity indexes;
- `placement`: choosing a node and devices for one pod (bin-pack, spread, GPU sharing);
- `ordering`: hierarchical queue order and victim order;
- `session`: a cycle's working state and its transactions;
- `actions`: allocate, reclaim, preempt, stale-gang eviction;
- `explain`: pending scheduling messages and eviction messages;
- `cycle`: the cycle itself.
"""

from nimplane.domain.scheduling.cycle import Scheduler, schedule
from nimplane.domain.scheduling.model import (
    OVER_QUOTA_WEIGHTS,
    UNLIMITED,
    Action,
    CycleResult,
    Eviction,
    GangPlacement,
    GpuKind,
    GpuRequest,
    OrgType,
    PendingSchedulingMessage,
    PlacementStrategy,
    PodPlacement,
    PodRequest,
    PoolPlacement,
    Queue,
    QueueResources,
    QueueStatus,
    Reason,
    ResourceQuota,
    ResourceStatus,
    SchedulerConfig,
    Snapshot,
    Toleration,
    Workload,
    WorkloadStatus,
)

__all__ = [
    "OVER_QUOTA_WEIGHTS",
    "UNLIMITED",
    "Action",
    "CycleResult",
    "Eviction",
    "GangPlacement",
    "GpuKind",
    "GpuRequest",
    "OrgType",
    "PendingSchedulingMessage",
    "PlacementStrategy",
    "PodPlacement",
    "PodRequest",
    "PoolPlacement",
    "Queue",
    "QueueResources",
    "QueueStatus",
    "Reason",
    "ResourceQuota",
    "ResourceStatus",
    "Scheduler",
    "SchedulerConfig",
    "Snapshot",
    "Toleration",
    "Workload",
    "WorkloadStatus",
    "schedule",
]
