"""Why a workload waits, and why a workload was evicted, in words a user can act on.

A failure in one node pool becomes one `pendingSchedulingMessages` entry
`{nodePool, phaseReason, reason, orgType, userMessage}`; quota failures carry Run:ai's
`phaseReason` (`OverLimit`, `NonPreemptibleOverQuota`) and the level (`PROJECT`,
`DEPARTMENT`) whose quota stopped it. Capacity failures say what was requested and what is
free, e.g. "Not enough GPUs in node pool default: 2 requested, 1 free".
"""

from __future__ import annotations

from collections.abc import Sequence

from nimplane.domain.scheduling.capacity import NodeGroup
from nimplane.domain.scheduling.model import (
    MILLI,
    PHASE_REASONS,
    UNLIMITED,
    Eviction,
    GpuKind,
    OrgType,
    PendingSchedulingMessage,
    Reason,
    Workload,
)
from nimplane.domain.scheduling.queues import CPU, GPU, INF, QueueNode, Vector
from nimplane.domain.scheduling.session import EvictionEvent, Failure, Gang, PoolState


def gpus(milli: int) -> str:
    """Thousandths of a GPU as a number of GPUs: 2, 0.5, 1.25."""
    return f"{milli / MILLI:g}"


def cores(millicores: int) -> str:
    return f"{millicores / 1000:g}"


def amount(value: int, resource: int) -> str:
    if resource == GPU:
        return f"{gpus(value)} GPU" + ("" if value == MILLI else "s")
    if resource == CPU:
        return f"{cores(value)} CPU cores"
    return f"{value} MiB of memory"


def _org(node: QueueNode) -> str:
    return "Project" if node.org_type is OrgType.PROJECT else "Department"


def over_limit(pool: str, node: QueueNode, resource: int, vec: Vector) -> Failure:
    limit = node.lim_cap[resource]
    message = (
        f"{_org(node)} {node.display} would exceed its {('GPU', 'CPU', 'memory')[resource]} limit "
        f"in node pool {pool}: {amount(vec[resource], resource)} requested, "
        f"{amount(node.alloc[resource], resource)} of {amount(limit, resource)} in use"
    )
    return Failure(pool, Reason.OVER_LIMIT, node.org_type, message)


def non_preemptible_over_quota(pool: str, node: QueueNode, resource: int, vec: Vector) -> Failure:
    message = (
        f"Non-preemptible workloads must fit in the deserved quota: {_org(node).lower()} "
        f"{node.display} has {amount(node.des_cap[resource], resource)} deserved in node pool "
        f"{pool}, {amount(node.alloc_np[resource], resource)} already used by non-preemptible "
        f"workloads, {amount(vec[resource], resource)} requested"
    )
    return Failure(pool, Reason.NON_PREEMPTIBLE_OVER_QUOTA, node.org_type, message)


def queue_missing(pool: str, project: str) -> Failure:
    return Failure(
        pool,
        Reason.QUEUE_DOES_NOT_EXIST,
        OrgType.PROJECT,
        f"Project {project} has no queue in node pool {pool} (unknown project, or a "
        "department rather than a project)",
    )


def pool_missing(pool: str) -> Failure:
    return Failure(pool, Reason.NODE_POOL_DOES_NOT_EXIST, None, f"Node pool {pool} does not exist")


def capacity(pool: PoolState, groups: Sequence[NodeGroup], gang: Gang, fitted: int) -> Failure:
    """Why the missing pods of `gang` found no room in `pool` (`fitted` of them did)."""
    name = pool.name

    def unschedulable(message: str) -> Failure:
        return Failure(name, Reason.UNSCHEDULABLE, None, message)

    if pool.node_count == 0:
        return unschedulable(f"Node pool {name} has no ready nodes")
    if not groups:
        taints = sorted(
            {f"{t.key}={t.value or ''}:{t.effect}" for g in pool.groups for t in g.taints}
        )
        return unschedulable(
            f"No node in node pool {name} tolerates the workload (taints: {', '.join(taints)})"
        )
    request = gang.workload.pod
    gpu = request.gpu
    missing = gang.size - gang.placed
    free_whole = sum(g.free_whole for g in groups)
    free_milli = sum(g.free_milli for g in groups)
    free_cpu = sum(g.free_cpu for g in groups)
    free_mem = sum(g.free_mem for g in groups)
    if gpu.kind is GpuKind.WHOLE and free_whole < gpu.devices * missing:
        return unschedulable(
            f"Not enough GPUs in node pool {name}: {gpu.devices * missing} requested, "
            f"{free_whole} free"
        )
    if gpu.kind is GpuKind.PORTION and free_milli < gpu.portion_milli * gpu.devices * missing:
        return unschedulable(
            f"Not enough GPUs in node pool {name}: "
            f"{gpus(gpu.portion_milli * gpu.devices * missing)} requested, {gpus(free_milli)} free"
        )
    if free_cpu < request.cpu_millicores * missing:
        return unschedulable(
            f"Not enough CPU in node pool {name}: {cores(request.cpu_millicores * missing)} cores "
            f"requested, {cores(free_cpu)} free"
        )
    if free_mem < request.memory_mib * missing:
        return unschedulable(
            f"Not enough memory in node pool {name}: {request.memory_mib * missing} MiB "
            f"requested, {free_mem} MiB free"
        )
    if missing > 1 and fitted > 0:
        return unschedulable(
            f"Only {fitted} of the {missing} pods of the gang fit in node pool {name}; "
            "a gang is placed whole or not at all"
        )
    host = _host_text(request.cpu_millicores, request.memory_mib)
    if gpu.kind is GpuKind.WHOLE:
        most = max((k for g in groups for k in range(len(g.buckets)) if g.buckets[k]), default=0)
        return unschedulable(
            f"Not enough GPUs on a single node in node pool {name}: {gpu.devices} requested "
            f"per pod{host}, at most {most} free on one node"
        )
    if gpu.kind is GpuKind.PORTION:
        return unschedulable(
            f"No node in node pool {name} has {gpu.devices} GPU device(s) with "
            f"{gpus(gpu.portion_milli)} of a GPU free{host}"
        )
    if gpu.kind is GpuKind.MEMORY:
        return unschedulable(
            f"No node in node pool {name} has {gpu.devices} GPU device(s) with "
            f"{gpu.memory_mib} MiB of GPU memory free{host}"
        )
    return unschedulable(
        f"No node in node pool {name} has {cores(request.cpu_millicores)} CPU cores and "
        f"{request.memory_mib} MiB of memory free"
    )


def _host_text(cpu: int, mem: int) -> str:
    if not cpu and not mem:
        return ""
    return f" with {cores(cpu)} CPU cores and {mem} MiB of memory"


_TEXT: dict[Reason | OrgType, str] = {
    **{r: r.value for r in Reason},
    **{o: o.value for o in OrgType},
}


def pending_message(failure: Failure) -> PendingSchedulingMessage:
    reason = _TEXT[failure.reason]
    return PendingSchedulingMessage(
        node_pool=failure.pool,
        phase_reason=reason if failure.reason in PHASE_REASONS else None,
        reason=reason,
        org_type=None if failure.org_type is None else _TEXT[failure.org_type],
        user_message=failure.message,
    )


def waiting(pool: str) -> Failure:
    return Failure(pool, Reason.UNSCHEDULABLE, None, f"Waiting to be scheduled in node pool {pool}")


# -- evictions -------------------------------------------------------------------------------


def _who(workload: Workload) -> str:
    name = workload.name or workload.id
    return f"{name} (project {workload.project}, priority {workload.priority})"


def reclaimed(victim: Gang, by: Gang, pool: str, victim_queue: QueueNode) -> str:
    return (
        f"Evicted in node pool {pool} to reclaim resources for {_who(by.workload)}: "
        f"{_org(victim_queue).lower()} {victim_queue.display} uses more than its fair share or "
        f"deserved quota"
    )


def preempted(victim: Gang, by: Gang, pool: str) -> str:
    return (
        f"Preempted in node pool {pool} by {_who(by.workload)} of the same project: priority "
        f"{victim.priority} is lower than {by.priority}"
    )


def stale(gang: Gang, grace: float) -> str:
    return (
        f"Gang had {gang.placed} of {gang.size} pods running for more than {grace:g} s; "
        "evicted whole to be scheduled again"
    )


def eviction(event: EvictionEvent) -> Eviction:
    by = event.by
    return Eviction(
        workload_id=event.gang.key[0],
        replica=event.gang.key[1],
        node_pool=event.pool,
        action=event.action,
        by_workload_id=None if by is None else by.key[0],
        by_replica=None if by is None else by.key[1],
        message=event.message,
        pods=event.pods,
    )


def amount_value(value: int, resource: int) -> float:
    """An internal amount in the model's units (for queue statuses)."""
    if value >= INF:
        return UNLIMITED
    return value / MILLI if resource == GPU else float(value)
