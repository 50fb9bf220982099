"""Invariants over random clusters, organisations and workloads (Hypothesis).

Each example schedules a first set of workloads, then changes the world (more workloads, a
node gone, time past the stale-gang grace period) and schedules again from the first
result, so reclaim, preempt and stale gangs are exercised from a running state. On every
result, checked independently of the scheduler's own bookkeeping:
- no device holds more than 1.0 of portions or more than its memory; a whole device is
  not shared; no node's CPU or memory is overcommitted; pods are on ready nodes of one of
  the workload's node pools;
- no queue's limit is exceeded and non-preemptible usage stays within deserved, at every
  level of the tree;
- every gang is whole or absent;
- a further cycle with nothing changed changes nothing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nimplane.domain.cluster import DEFAULT_NODE_POOL, Node, NodePoolSelector, Taint, pool_of
from nimplane.domain.scheduling import (
    UNLIMITED,
    CycleResult,
    GpuKind,
    GpuRequest,
    PodRequest,
    Queue,
    QueueResources,
    ResourceQuota,
    Scheduler,
    Snapshot,
    Toleration,
    Workload,
    schedule,
)
from tests.unit.scheduling.support import department, node, project, workload

POOL_A = NodePoolSelector("pool-a", "pool", "a")
POOLS = (DEFAULT_NODE_POOL, "pool-a")
TAINT = Taint("dedicated", "infer", "NoSchedule")
TOLERATE = Toleration("dedicated", "Equal", "infer", "NoSchedule")
EPSILON = 1e-9

settings.register_profile(
    "scheduler",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def nodes(draw: st.DrawFn, most: int = 6) -> list[Node]:
    count = draw(st.integers(1, most))
    out = []
    for i in range(count):
        out.append(
            Node(
                name=f"n{i}",
                gpu_count=draw(st.sampled_from([0, 1, 2, 4, 8])),
                gpu_memory_mib=draw(st.sampled_from([40_960, 81_920])),
                gpu_product="H100",
                cpu_millicores=draw(st.sampled_from([4_000, 16_000, 64_000])),
                memory_mib=draw(st.sampled_from([32_768, 262_144])),
                labels={"pool": "a"} if draw(st.integers(0, 3)) == 0 else {},
                taints=(TAINT,) if draw(st.integers(0, 5)) == 0 else (),
                ready=draw(st.integers(0, 9)) > 0,
            )
        )
    return out


gpu_amounts = st.one_of(st.just(UNLIMITED), st.sampled_from([0, 0.5, 1, 2, 3, 4, 8]))
limits = st.one_of(st.just(UNLIMITED), st.just(UNLIMITED), st.sampled_from([0, 1, 2, 4, 6]))


@st.composite
def resources(draw: st.DrawFn) -> QueueResources:
    cpu = (
        ResourceQuota(UNLIMITED)
        if draw(st.booleans())
        else ResourceQuota(
            draw(st.sampled_from([0, 8_000, 32_000])),
            draw(st.sampled_from([UNLIMITED, 16_000, 64_000])),
            draw(st.integers(0, 3)),
        )
    )
    return QueueResources(
        gpu=ResourceQuota(draw(gpu_amounts), draw(limits), draw(st.integers(0, 3))),
        cpu=cpu,
    )


@st.composite
def organisation(draw: st.DrawFn) -> list[Queue]:
    queues: list[Queue] = []
    departments = draw(st.integers(1, 2))
    created = 0.0
    for d in range(departments):
        pools = {p: draw(resources()) for p in POOLS if draw(st.booleans())}
        queues.append(
            Queue(
                f"d{d}",
                None,
                pools,
                priority=draw(st.sampled_from([100, 100, 200])),
                created=created,
            )
        )
        created += 1
    for p in range(draw(st.integers(1, 4))):
        pools = {pool: draw(resources()) for pool in POOLS if draw(st.integers(0, 3)) > 0}
        queues.append(
            Queue(
                f"p{p}",
                f"d{draw(st.integers(0, departments - 1))}",
                pools,
                priority=draw(st.sampled_from([100, 100, 50])),
                created=created,
                default_node_pools=draw(st.sampled_from([(), ("pool-a",), ("pool-a", "default")])),
            )
        )
        created += 1
    return queues


@st.composite
def gpu_requests(draw: st.DrawFn) -> GpuRequest:
    kind = draw(st.sampled_from(["none", "whole", "whole", "portion", "portion", "memory"]))
    if kind == "none":
        return GpuRequest.none()
    if kind == "whole":
        return GpuRequest.whole(draw(st.integers(1, 4)))
    if kind == "portion":
        return GpuRequest.fraction(
            draw(st.sampled_from([0.1, 0.25, 0.333, 0.5, 0.75, 1.0])), draw(st.integers(1, 2))
        )
    return GpuRequest.memory(draw(st.sampled_from([8_192, 20_480, 40_960, 50_000])))


@st.composite
def workloads(
    draw: st.DrawFn, projects: list[str], prefix: str, start: int, most: int = 8
) -> list[Workload]:
    out = []
    for i in range(draw(st.integers(0, most))):
        out.append(
            Workload(
                id=f"{prefix}{i}",
                project=draw(st.sampled_from([*projects, "ghost"]))
                if draw(st.integers(0, 19)) == 0
                else draw(st.sampled_from(projects)),
                pod=PodRequest(
                    draw(gpu_requests()),
                    draw(st.sampled_from([0, 500, 2_000, 8_000])),
                    draw(st.sampled_from([0, 1_024, 16_384])),
                ),
                priority=draw(st.sampled_from([40, 80, 125, 150])),
                preemptible=draw(st.booleans()),
                replicas=draw(st.integers(0, 3)),
                workers=draw(st.sampled_from([0, 0, 0, 1, 2])),
                node_pools=draw(
                    st.sampled_from(
                        [(), (), ("pool-a",), ("pool-a", "default"), ("default", "nope")]
                    )
                ),
                tolerations=(TOLERATE,) if draw(st.integers(0, 3)) == 0 else (),
                created=float(start + i),
            )
        )
    return out


@st.composite
def scenarios(
    draw: st.DrawFn, most_nodes: int = 6, most_workloads: int = 8
) -> tuple[Snapshot, Snapshot]:
    cluster = draw(nodes(most_nodes))
    queues = draw(organisation())
    projects = [q.name for q in queues if q.parent is not None]
    first = draw(workloads(projects, "a", 0, most_workloads))
    later = draw(workloads(projects, "b", 100, most_workloads))
    before = Snapshot(cluster, queues, first, node_pools=(POOL_A,), now=0.0)
    after_nodes = list(cluster)
    if draw(st.booleans()) and len(cluster) > 1:
        del after_nodes[draw(st.integers(0, len(cluster) - 1))]  # a node goes away
    if draw(st.booleans()):
        lost = draw(st.integers(0, len(after_nodes) - 1))  # a node stops being ready
        after_nodes[lost] = replace(after_nodes[lost], ready=False)
    after = Snapshot(after_nodes, queues, [*first, *later], node_pools=(POOL_A,), now=1_000.0)
    return before, after


def _candidate_pools(workload: Workload, queues: dict[str, Queue]) -> tuple[str, ...]:
    if workload.node_pools:
        return workload.node_pools
    project = queues.get(workload.project)
    if project is not None and project.default_node_pools:
        return project.default_node_pools
    return (DEFAULT_NODE_POOL,)


def _gpu_quota(request: PodRequest, smallest_device: int) -> float:
    """GPUs a pod counts against quota; GPU memory as a fraction of the pool's smallest
    device (of any node of the pool, else of the cluster, else of the request itself)."""
    gpu = request.gpu
    if gpu.kind is GpuKind.WHOLE:
        return gpu.devices
    if gpu.kind is GpuKind.PORTION:
        return round(gpu.portion * 1000) / 1000 * gpu.devices
    if gpu.kind is GpuKind.MEMORY:
        device = smallest_device or gpu.memory_mib
        return math.ceil(gpu.memory_mib * 1000 / device) / 1000 * gpu.devices
    return 0.0


def check_invariants(snapshot: Snapshot, result: CycleResult) -> None:
    nodes = {n.name: n for n in snapshot.nodes}
    kept = {(g.workload_id, g.replica, p) for g in snapshot.placements for p in g.pods}
    workloads = {w.id: w for w in snapshot.workloads}
    queues = {q.name: q for q in snapshot.queues}
    device_portion: dict[tuple[str, int], float] = defaultdict(float)
    device_memory: dict[tuple[str, int], float] = defaultdict(float)
    device_pods: dict[tuple[str, int], int] = defaultdict(int)
    whole_devices: set[tuple[str, int]] = set()
    node_cpu: dict[str, int] = defaultdict(int)
    node_mem: dict[str, int] = defaultdict(int)
    # usage per (queue, pool, resource): [all, non-preemptible]
    usage: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    anywhere = min((n.gpu_memory_mib for n in nodes.values() if n.gpu_count), default=0)
    smallest = {
        pool: min(
            (
                n.gpu_memory_mib
                for n in nodes.values()
                if n.gpu_count and pool_of(n, (POOL_A,)) == pool
            ),
            default=anywhere,
        )
        for pool in POOLS
    }
    for gang in result.placements:
        workload = workloads[gang.workload_id]
        assert gang.replica < workload.replicas
        if len(gang.pods) < workload.gang_size:
            # only a gang that lost pods to a vanished node, within its grace period
            grace = snapshot.config.stale_gang_grace_seconds
            assert gang.stale_since is not None, "a gang is whole or absent"
            assert grace < 0 or snapshot.now - gang.stale_since <= grace
            assert gang.pods
        else:
            assert gang.stale_since is None
        assert len({p.index for p in gang.pods}) == len(gang.pods)
        assert all(0 <= p.index < workload.gang_size for p in gang.pods)
        assert gang.node_pool in _candidate_pools(workload, queues)
        for pod in gang.pods:
            node = nodes[pod.node]
            # new pods go to ready nodes; a not-ready node only keeps the pods it had
            assert node.ready or (gang.workload_id, gang.replica, pod) in kept
            assert pool_of(node, (POOL_A,)) == gang.node_pool
            gpu = pod.request.gpu
            assert len(set(pod.gpu_devices)) == len(pod.gpu_devices)
            assert len(pod.gpu_devices) == (gpu.devices if gpu.kind is not GpuKind.NONE else 0)
            for dev in pod.gpu_devices:
                assert 0 <= dev < node.gpu_count
                key = (pod.node, dev)
                device_pods[key] += 1
                if gpu.kind is GpuKind.WHOLE:
                    whole_devices.add(key)
                    device_portion[key] += 1.0
                    device_memory[key] += node.gpu_memory_mib
                elif gpu.kind is GpuKind.PORTION:
                    portion = round(gpu.portion * 1000) / 1000
                    device_portion[key] += portion
                    device_memory[key] += portion * node.gpu_memory_mib
                else:
                    device_portion[key] += gpu.memory_mib / node.gpu_memory_mib
                    device_memory[key] += gpu.memory_mib
            node_cpu[pod.node] += pod.request.cpu_millicores
            node_mem[pod.node] += pod.request.memory_mib
            amounts = {
                "gpu": _gpu_quota(pod.request, smallest[gang.node_pool]),
                "cpu": float(pod.request.cpu_millicores),
            }
            queue: str | None = workload.project
            while queue is not None:
                for resource, value in amounts.items():
                    entry = usage[(queue, gang.node_pool, resource)]
                    entry[0] += value
                    if not workload.preemptible:
                        entry[1] += value
                queue = queues[queue].parent
    for key, portion in device_portion.items():
        pods = device_pods[key]
        assert portion <= 1 + EPSILON * pods + pods / nodes[key[0]].gpu_memory_mib, key
        assert device_memory[key] <= nodes[key[0]].gpu_memory_mib + pods, key
        if key in whole_devices:
            assert pods == 1, f"whole device {key} shared"
    for name, cpu in node_cpu.items():
        assert cpu <= nodes[name].cpu_millicores
        assert node_mem[name] <= nodes[name].memory_mib
    for (queue, pool, resource), (used, used_np) in usage.items():
        quota = getattr(queues[queue].resources_in(pool), resource)
        tolerance = 1e-6 if resource == "gpu" else 0
        if quota.limit != UNLIMITED:
            assert used <= quota.limit + tolerance, f"{queue}@{pool} over its {resource} limit"
        if quota.deserved != UNLIMITED:
            assert used_np <= quota.deserved + tolerance, (
                f"{queue}@{pool}: non-preemptible {resource} over deserved"
            )


def assert_fixed_point(snapshot: Snapshot, result: CycleResult) -> None:
    assert result.converged
    again = schedule(snapshot.with_placements(result.placements))
    assert again.placements == result.placements
    assert again.evictions == ()
    assert dict(again.workloads) == dict(result.workloads)


@settings.get_profile("scheduler")
@given(scenarios())
def test_invariants(scenario: tuple[Snapshot, Snapshot]) -> None:
    before, after = scenario
    first = schedule(before)
    check_invariants(before, first)
    assert_fixed_point(before, first)
    after = after.with_placements(first.placements)
    second = schedule(after)
    check_invariants(after, second)
    assert_fixed_point(after, second)
    # deterministic: the same snapshot gives the same result
    assert schedule(after) == second
    # past the grace period no gang is partial
    later = after.with_placements(second.placements, now=after.now + 61)
    third = schedule(later)
    check_invariants(later, third)
    assert all(not g.stale_since for g in third.placements)
    assert_fixed_point(later, third)
    for eviction in second.evictions:
        event(f"eviction: {eviction.action.value}")
    event(f"pending after: {sum(not s.fully_placed for s in second.workloads.values()) > 0}")
    event(f"second cycle passes: {second.iterations}")
    # evictions only name gangs that ran before
    ran = {g.key for g in first.placements}
    assert all((e.workload_id, e.replica) in ran for e in second.evictions)


@settings.get_profile("scheduler")
@given(scenarios())
def test_input_order_does_not_matter(scenario: tuple[Snapshot, Snapshot]) -> None:
    before, _ = scenario
    shuffled = replace(
        before,
        nodes=list(reversed(before.nodes)),
        queues=list(reversed(before.queues)),
        workloads=list(reversed(before.workloads)),
    )
    assert schedule(shuffled).placements == schedule(before).placements


@settings.get_profile("scheduler")
@given(scenarios())
def test_a_remembered_cycle_answers_what_a_fresh_one_would(
    scenario: tuple[Snapshot, Snapshot],
) -> None:
    """`Scheduler` skips a cycle whose inputs it has seen: its answer must be exactly what
    `schedule` gives, whatever the clock did (stale gangs read it) and whatever changed."""
    before, after = scenario
    scheduler = Scheduler()
    steps = [before]
    first = schedule(before)
    steps += [before.with_placements(first.placements, now=before.now + 1)] * 2
    steps.append(after.with_placements(first.placements))
    second = schedule(steps[-1])
    steps += [
        after.with_placements(second.placements, now=after.now + 5),
        after.with_placements(second.placements, now=after.now + 61),
        after.with_placements(second.placements, now=after.now + 61),
    ]
    for snapshot in steps:
        assert scheduler.cycle(snapshot) == schedule(snapshot)


def test_a_steady_cycle_is_remembered() -> None:
    """The same inputs at a later instant, with no gang below its size: the previous result
    object itself, without a cycle."""
    snapshot = Snapshot(
        nodes=[node("n1")],
        queues=[department("d"), project("p", "d", 8)],
        workloads=[workload("w1", "p", gpus=1)],
    )
    scheduler = Scheduler()
    first = scheduler.cycle(snapshot)
    steady = snapshot.with_placements(first.placements, now=snapshot.now + 10)
    again = scheduler.cycle(steady)
    assert scheduler.cycle(steady.with_placements(first.placements, now=steady.now + 10)) is again
