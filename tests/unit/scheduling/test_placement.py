"""GPU sharing, bin-pack and spread, CPU and memory, taints, node pools (docs/decisions.md S3).

Each case runs through the whole cycle and is re-run 5 more cycles (stability).
"""

from __future__ import annotations

import pytest

from nimplane.domain.cluster import NodePoolSelector, Taint
from nimplane.domain.scheduling import PlacementStrategy, PoolPlacement, Toleration

from .support import Case, check, department, node, project, quota, running, workload

DEPT = department("dept")
P = project("p")
POOL_A = NodePoolSelector("pool-a", "pool", "a")
NO_SCHEDULE = Taint("dedicated", "infer", "NoSchedule")


def quarter(i: int) -> object:
    return workload(f"q{i}", "p", 0.25, created=i)


BUSY = workload("busy", "p", 6, created=0)
ON_DOWN = workload("on-down", "p", 1, created=0)

CASES = [
    pytest.param(
        Case(
            nodes=[node("n0", 2)],
            queues=[DEPT, P],
            workloads=[workload(f"q{i}", "p", 0.25, created=i) for i in range(4)],
            gangs={f"q{i}": 1 for i in range(4)},
            layout={f"q{i}": [("n0", (0,))] for i in range(4)},
        ),
        id="portions-pack-one-device",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 1)],
            queues=[DEPT, P],
            workloads=[workload(f"h{i}", "p", 0.5, created=i) for i in range(3)],
            gangs={"h0": 1, "h1": 1, "h2": 0},
            reasons={"h2": (None, "Unschedulable", None, "0.5 requested, 0 free")},
        ),
        id="portions-never-above-one-device",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 1)],
            queues=[DEPT, P],
            workloads=[workload(f"m{i}", "p", memory_gpu=40_960, created=i) for i in range(3)],
            gangs={"m0": 1, "m1": 1, "m2": 0},
            layout={"m0": [("n0", (0,))], "m1": [("n0", (0,))]},
            reasons={"m2": (None, "Unschedulable", None, "40960 MiB of GPU memory free")},
        ),
        id="gpu-memory-never-above-device-memory",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 1)],
            queues=[DEPT, P],
            workloads=[
                workload("half", "p", 0.5, created=1),
                workload("mem", "p", memory_gpu=40_960, created=2),
                workload("more", "p", memory_gpu=1_024, created=3),
            ],
            gangs={"half": 1, "mem": 1, "more": 0},
        ),
        id="portion-and-memory-share-a-device",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 4)],
            queues=[DEPT, P],
            workloads=[
                workload("two-halves", "p", 0.5, devices=2, created=1),
                workload("again", "p", 0.5, devices=2, created=2),
                workload("third", "p", 0.5, devices=2, created=3),
                workload("fourth", "p", 0.75, devices=2, created=4),
            ],
            gangs={"two-halves": 1, "again": 1, "third": 1, "fourth": 0},
            layout={
                "two-halves": [("n0", (0, 1))],
                "again": [("n0", (0, 1))],
                "third": [("n0", (2, 3))],
            },
            reasons={},
        ),
        id="portion-across-devices",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 2)],
            queues=[DEPT, P],
            workloads=[
                workload("half", "p", 0.5, created=1),
                workload("whole", "p", 1, created=2),
                workload("whole2", "p", 1, created=3),
            ],
            gangs={"half": 1, "whole": 1, "whole2": 0},
            layout={"half": [("n0", (0,))], "whole": [("n0", (1,))]},
        ),
        id="whole-device-never-shared",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 8), node("n1", 8)],
            queues=[DEPT, P],
            workloads=[BUSY, workload("one", "p", 1, created=1)],
            running=[running(BUSY, ("n1", (0, 1, 2, 3, 4, 5)))],
            layout={"one": [("n1", (6,))]},
        ),
        id="bin-pack-fullest-node",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 8), node("n1", 8)],
            queues=[DEPT, P],
            workloads=[BUSY, workload("one", "p", 1, created=1)],
            running=[running(BUSY, ("n1", (0, 1, 2, 3, 4, 5)))],
            strategies={"default": PoolPlacement(gpu=PlacementStrategy.SPREAD)},
            layout={"one": [("n0", (0,))]},
        ),
        id="spread-emptiest-node",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 2), node("n1", 2)],
            queues=[DEPT, P],
            workloads=[
                workload("half", "p", 0.5, created=1),
                workload("quarter", "p", 0.25, created=2),
            ],
            running=[],
            strategies={"default": PoolPlacement(gpu=PlacementStrategy.SPREAD)},
            layout={"half": [("n0", (0,))], "quarter": [("n0", (0,))]},
        ),
        id="gpu-sharing-beats-spread",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 8, cpu=4_000), node("n1", 8, cpu=4_000)],
            queues=[DEPT, P],
            workloads=[workload("svc", "p", 1, cpu=3_000, replicas=3)],
            gangs={"svc": 2},
            reasons={
                "svc": (
                    None,
                    "Unschedulable",
                    None,
                    "Not enough CPU in node pool default: 3 cores requested, 2 free",
                )
            },
        ),
        id="cpu-requests-honoured",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 8, memory=65_536)],
            queues=[DEPT, P],
            workloads=[workload("svc", "p", 1, memory=40_000, replicas=2)],
            gangs={"svc": 1},
            reasons={
                "svc": (None, "Unschedulable", None, "Not enough memory in node pool default")
            },
        ),
        id="memory-requests-honoured",
    ),
    pytest.param(
        Case(
            nodes=[node("gpu", 8), node("cpu", 0)],
            queues=[DEPT, P],
            workloads=[workload("cpu-only", "p", 0, cpu=1_000)],
            layout={"cpu-only": [("cpu", ())]},
        ),
        id="cpu-only-pod-prefers-cpu-only-node",
    ),
    pytest.param(
        Case(
            nodes=[node("n0", 1), node("n1", 1)],
            queues=[DEPT, P],
            workloads=[workload("two", "p", 2)],
            gangs={"two": 0},
            reasons={
                "two": (
                    None,
                    "Unschedulable",
                    None,
                    "Not enough GPUs on a single node in node pool default: 2 requested per pod, "
                    "at most 1 free on one node",
                )
            },
        ),
        id="fragmented-gpus",
    ),
    pytest.param(
        Case(
            nodes=[node("tainted", 4, taints=[NO_SCHEDULE])],
            queues=[DEPT, P],
            workloads=[
                workload("plain", "p", 1, created=1),
                workload(
                    "tolerant",
                    "p",
                    1,
                    created=2,
                    tolerations=(Toleration("dedicated", "Equal", "infer", "NoSchedule"),),
                ),
                workload("exists", "p", 1, created=3, tolerations=(Toleration(None, "Exists"),)),
            ],
            gangs={"plain": 0, "tolerant": 1, "exists": 1},
            reasons={
                "plain": (
                    None,
                    "Unschedulable",
                    None,
                    "No node in node pool default tolerates the workload "
                    "(taints: dedicated=infer:NoSchedule)",
                )
            },
        ),
        id="taints-and-tolerations",
    ),
    pytest.param(
        Case(
            nodes=[node("soft", 4, taints=[Taint("x", None, "PreferNoSchedule")])],
            queues=[DEPT, P],
            workloads=[workload("plain", "p", 1)],
            gangs={"plain": 1},
        ),
        id="prefer-no-schedule-does-not-block",
    ),
    pytest.param(
        Case(
            nodes=[node("down", 8, ready=False), node("up", 1)],
            queues=[DEPT, P],
            workloads=[workload("svc", "p", 1, replicas=2)],
            gangs={"svc": 1},
            layout={"svc": [("up", (0,))]},
        ),
        id="not-ready-nodes-ignored",
    ),
    pytest.param(
        Case(
            nodes=[node("down", 2, ready=False), node("up", 2)],
            queues=[DEPT, project("p", gpu=0, limit=2)],
            workloads=[ON_DOWN, workload("new", "p", 1, replicas=2, created=1)],
            running=[running(ON_DOWN, ("down", (0,)))],
            gangs={"on-down": 1, "new": 1},
            layout={"on-down": [("down", (0,))], "new": [("up", (0,))]},
            reasons={"new": ("OverLimit", "OverLimit", "PROJECT", "2 GPUs of 2 GPUs in use")},
        ),
        id="not-ready-node-keeps-its-pods-and-their-quota",
    ),
    pytest.param(
        Case(
            nodes=[node("a0", 1, labels={"pool": "a"}), node("d0", 2)],
            pools=[POOL_A],
            queues=[DEPT, project("p", pools={"default": quota(), "pool-a": quota()})],
            workloads=[workload("svc", "p", 1, replicas=3, pools=("pool-a", "default"))],
            gangs={"svc": 3},
            layout={"svc": [("a0", (0,))]},
        ),
        id="node-pools-in-preference-order",
    ),
    pytest.param(
        Case(
            nodes=[node("a0", 1, labels={"pool": "a"}), node("d0", 2)],
            pools=[POOL_A],
            queues=[
                DEPT,
                project(
                    "p",
                    pools={"default": quota(), "pool-a": quota()},
                    default_node_pools=("pool-a",),
                ),
            ],
            workloads=[workload("svc", "p", 1, replicas=2)],
            gangs={"svc": 1},
            layout={"svc": [("a0", (0,))]},
            reasons={"svc": (None, "Unschedulable", None, "Not enough GPUs in node pool pool-a")},
        ),
        id="project-default-node-pools",
    ),
    pytest.param(
        Case(
            nodes=[node("d0", 2)],
            queues=[DEPT, P],
            workloads=[workload("svc", "p", 1, pools=("nowhere",))],
            gangs={"svc": 0},
            reasons={
                "svc": (None, "NodePoolDoesNotExist", None, "Node pool nowhere does not exist")
            },
        ),
        id="unknown-node-pool",
    ),
    pytest.param(
        Case(
            nodes=[node("d0", 2)],
            queues=[DEPT, P],
            workloads=[workload("svc", "nobody", 1), workload("dept-wl", "dept", 1)],
            gangs={"svc": 0, "dept-wl": 0},
            reasons={
                "svc": (None, "QueueDoesNotExist", "PROJECT", "Project nobody has no queue"),
                "dept-wl": (None, "QueueDoesNotExist", "PROJECT", "Project dept has no queue"),
            },
        ),
        id="unknown-project-or-department",
    ),
    pytest.param(
        Case(
            nodes=[node("d0", 2)],
            queues=[DEPT, P],
            workloads=[workload("svc", "p", memory_gpu=100_000)],
            gangs={"svc": 0},
            reasons={"svc": (None, "Unschedulable", None, "100000 MiB of GPU memory free")},
        ),
        id="gpu-memory-larger-than-any-device",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_placement(case: Case) -> None:
    check(case)


def test_fraction_reports_portion_and_devices() -> None:
    result = check(
        Case(
            nodes=[node("n0", 2)], queues=[DEPT, P], workloads=[workload("w", "p", 0.25, devices=2)]
        )
    )
    (gang,) = result.placements
    (pod,) = gang.pods
    assert (pod.gpu_devices, pod.gpu_portion) == ((0, 1), 0.25)
