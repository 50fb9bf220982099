"""Builders for scheduler cases, and the runner that proves a result stable.

Like KAI's integration-test harness (docs/decisions.md S6.1): a case declares nodes, queues,
workloads and what already runs; the runner schedules one cycle, then re-runs
`STABILITY_CYCLES` more cycles over the result with nothing else changed and requires each to
change nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from nimplane.domain.catalog import PRIORITY_CLASSES, default_preemptibility
from nimplane.domain.cluster import Node, NodePoolSelector, Taint
from nimplane.domain.scheduling import (
    UNLIMITED,
    CycleResult,
    GangPlacement,
    GpuRequest,
    PodPlacement,
    PodRequest,
    PoolPlacement,
    Queue,
    QueueResources,
    ResourceQuota,
    SchedulerConfig,
    Snapshot,
    Toleration,
    Workload,
    schedule,
)

STABILITY_CYCLES = 5
GPU_MEMORY = 81_920  # MiB, an 80 GiB device


def node(
    name: str,
    gpus: int = 8,
    *,
    gpu_memory: int = GPU_MEMORY,
    cpu: int = 64_000,
    memory: int = 512_000,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Taint] = (),
    ready: bool = True,
) -> Node:
    return Node(
        name, gpus, gpu_memory, "H100", cpu, memory, dict(labels or {}), tuple(taints), ready
    )


def quota(
    gpu: float = 0,
    limit: float = UNLIMITED,
    weight: float = 1,
    *,
    cpu: ResourceQuota | None = None,
    memory: ResourceQuota | None = None,
) -> QueueResources:
    return QueueResources(
        gpu=ResourceQuota(gpu, limit, weight),
        cpu=cpu or ResourceQuota(UNLIMITED),
        memory=memory or ResourceQuota(UNLIMITED),
    )


def department(
    name: str,
    gpu: float = UNLIMITED,
    limit: float = UNLIMITED,
    weight: float = 1,
    *,
    created: float = 0,
    pools: Mapping[str, QueueResources] | None = None,
    priority: int = 100,
) -> Queue:
    resources = dict(pools) if pools is not None else {"default": quota(gpu, limit, weight)}
    return Queue(name, None, resources, priority=priority, created=created)


def project(
    name: str,
    parent: str = "dept",
    gpu: float = 0,
    limit: float = UNLIMITED,
    weight: float = 1,
    *,
    created: float = 1,
    pools: Mapping[str, QueueResources] | None = None,
    priority: int = 100,
    default_node_pools: tuple[str, ...] = (),
) -> Queue:
    resources = dict(pools) if pools is not None else {"default": quota(gpu, limit, weight)}
    return Queue(
        name,
        parent,
        resources,
        priority=priority,
        created=created,
        default_node_pools=default_node_pools,
    )


def gpu_request(gpus: float = 1, *, memory: int = 0, devices: int = 1) -> GpuRequest:
    if memory:
        return GpuRequest.memory(memory, devices)
    if gpus == int(gpus):
        return GpuRequest.whole(int(gpus))
    return GpuRequest.fraction(gpus, devices)


def workload(
    wid: str,
    proj: str,
    gpus: float = 1,
    *,
    memory_gpu: int = 0,
    devices: int = 1,
    priority: int | str = "low",
    preemptible: bool | None = None,
    replicas: int = 1,
    workers: int = 0,
    pools: tuple[str, ...] = (),
    tolerations: tuple[Toleration, ...] = (),
    created: float = 0,
    cpu: int = 0,
    memory: int = 0,
) -> Workload:
    """A NIM service; `priority` is a Run:ai priority class name or a number (KAI's `train`
    50, `build` 100, `inference` 125); preemptible by default below 100 (KAI's rule) or by
    the Run:ai class."""
    if isinstance(priority, str):
        value = PRIORITY_CLASSES[priority]
        default = default_preemptibility(priority) == "preemptible"
    else:
        value = priority
        default = priority < 100
    return Workload(
        id=wid,
        project=proj,
        pod=PodRequest(gpu_request(gpus, memory=memory_gpu, devices=devices), cpu, memory),
        priority=value,
        preemptible=default if preemptible is None else preemptible,
        replicas=replicas,
        workers=workers,
        node_pools=pools,
        tolerations=tolerations,
        created=created,
        name=wid,
    )


def running(
    wl: Workload,
    *pods: tuple[str, tuple[int, ...]],
    replica: int = 0,
    pool: str = "default",
    stale_since: float | None = None,
    indexes: Sequence[int] | None = None,
) -> GangPlacement:
    """A gang of `wl` that already runs: one (node, devices) per pod."""
    numbers = list(indexes) if indexes is not None else list(range(len(pods)))
    return GangPlacement(
        wl.id,
        replica,
        pool,
        tuple(
            PodPlacement(i, name, devices, wl.pod)
            for i, (name, devices) in zip(numbers, pods, strict=True)
        ),
        stale_since,
    )


@dataclass(frozen=True)
class Case:
    nodes: Sequence[Node]
    queues: Sequence[Queue]
    workloads: Sequence[Workload]
    running: Sequence[GangPlacement] = ()
    pools: Sequence[NodePoolSelector] = ()
    strategies: Mapping[str, PoolPlacement] = field(default_factory=dict)
    now: float = 0.0
    config: SchedulerConfig = field(default_factory=SchedulerConfig)
    # expectations
    gangs: Mapping[str, int] = field(default_factory=dict)
    """Workload id -> gangs running after the cycle (every workload of the case if given)."""
    layout: Mapping[str, Sequence[tuple[str, tuple[int, ...]]]] = field(default_factory=dict)
    """Workload id -> (node, devices) of each pod of its replica 0."""
    evictions: Iterable[tuple[str, str, str | None]] = ()
    """(victim workload, action, evicting workload) of every eviction."""
    reasons: Mapping[str, tuple[str | None, str, str | None, str]] = field(default_factory=dict)
    """Workload id -> (phaseReason, reason, orgType, text in the first message)."""
    fair_shares: Mapping[str, float] = field(default_factory=dict)
    """Queue name -> GPU fair share in the default node pool."""

    def snapshot(self) -> Snapshot:
        return Snapshot(
            nodes=self.nodes,
            queues=self.queues,
            workloads=self.workloads,
            node_pools=self.pools,
            placements=self.running,
            placement_strategies=self.strategies,
            now=self.now,
            config=self.config,
        )


def gangs_running(result: CycleResult) -> Counter[str]:
    counts: Counter[str] = Counter()
    for status in result.workloads.values():
        counts[status.workload_id] = status.gangs_running
    return counts


def assert_stable(snapshot: Snapshot, result: CycleResult, cycles: int = STABILITY_CYCLES) -> None:
    """Each further cycle over `result`, nothing else changed, changes nothing."""
    for cycle in range(cycles):
        again = schedule(snapshot.with_placements(result.placements))
        assert again.placements == result.placements, f"placements changed in cycle {cycle + 2}"
        assert again.evictions == (), f"evictions in cycle {cycle + 2}: {again.evictions}"
        assert again.iterations == 1, f"cycle {cycle + 2} needed {again.iterations} passes"
        assert dict(again.workloads) == dict(result.workloads), f"status changed, {cycle + 2}"
        result = again


def check(case: Case) -> CycleResult:
    snapshot = case.snapshot()
    result = schedule(snapshot)
    assert result.converged
    if case.gangs:
        counts = gangs_running(result)
        got_gangs = {w: counts[w] for w in case.gangs}
        assert got_gangs == dict(case.gangs), got_gangs
    for wid, pods in case.layout.items():
        (gang,) = [g for g in result.placements if g.workload_id == wid and g.replica == 0]
        assert [(p.node, p.gpu_devices) for p in gang.pods] == list(pods), wid
    got = sorted((e.workload_id, e.action.value, e.by_workload_id) for e in result.evictions)
    assert sorted(got, key=str) == sorted(case.evictions, key=str), got
    for wid, (phase_reason, reason, org_type, text) in case.reasons.items():
        status = result.workloads[wid]
        assert status.pending_messages, f"{wid} is not pending"
        first = status.pending_messages[0]
        assert (status.phase_reason, first.reason, first.org_type) == (
            phase_reason,
            reason,
            org_type,
        ), first
        assert text in first.user_message, first.user_message
    if case.fair_shares:
        shares = {s.queue: s.gpu.fair_share for s in result.queues if s.node_pool == "default"}
        got_shares = {q: shares[q] for q in case.fair_shares}
        assert got_shares == dict(case.fair_shares), got_shares
    assert_stable(snapshot, result)
    return result
