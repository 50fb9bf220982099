"""docs/decisions.md S6.3: the golden cases, table-driven, each re-run 5 more cycles (stability).

Priorities use KAI's numbers where the case is KAI's (`train` 50 preemptible, `build` 100 and
`inference` 125 non-preemptible) and Run:ai class names elsewhere.
"""

from __future__ import annotations

import pytest

from nimplane.domain.scheduling import UNLIMITED, SchedulerConfig

from .support import (
    Case,
    check,
    department,
    node,
    project,
    running,
    workload,
)

DEPT = department("dept")

# 1. fair share: 100 GPUs, deserved 10/10, weights 3:1 -> 70/30
FAIR_70_30 = Case(
    nodes=[node(f"n{i:02d}", 4) for i in range(25)],
    queues=[
        DEPT,
        project("a", gpu=10, weight=3, created=1),
        project("b", gpu=10, weight=1, created=2),
    ],
    workloads=[workload(f"{p}{i:03d}", p, created=i) for p in "ab" for i in range(100)],
    fair_shares={"a": 70, "b": 30},
    gangs={"a000": 1, "a069": 1, "a070": 0, "b000": 1, "b029": 1, "b030": 0},
    reasons={"a070": (None, "Unschedulable", None, "Not enough GPUs in node pool default")},
)

# 2. the 4-GPU reclaim case (KAI reclaim_test.go): fractional jobs, rounding and leftover
Q0_WHOLE = workload("q0-whole", "q0", 1, created=1)
Q0_HALF = workload("q0-half", "q0", 0.5, created=2)
Q1_TWO = workload("q1-two", "q1", 2, created=3)
Q1_HALF = workload("q1-half", "q1", 0.5, created=4)
FRACTIONAL_RECLAIM = Case(
    nodes=[node("n0", 4)],
    queues=[
        DEPT,
        project("q0", gpu=1, weight=3, created=1),
        project("q1", gpu=2, weight=1, created=2),
    ],
    workloads=[Q0_WHOLE, Q0_HALF, Q1_TWO, Q1_HALF, workload("q0-pending", "q0", 0.5, created=5)],
    running=[
        running(Q0_WHOLE, ("n0", (0,))),
        running(Q0_HALF, ("n0", (3,))),
        running(Q1_TWO, ("n0", (1, 2))),
        running(Q1_HALF, ("n0", (3,))),
    ],
    fair_shares={"q0": 2, "q1": 2},
    gangs={"q0-pending": 1, "q1-half": 0, "q1-two": 1, "q0-half": 1, "q0-whole": 1},
    layout={"q0-pending": [("n0", (3,))]},
    evictions=[("q1-half", "reclaim", "q0-pending")],
)

# 3. non-preemptible job in a queue at its deserved quota: NonPreemptibleOverQuota, and the
#    queue's running preemptible job is not preempted for it
NP_AT_DESERVED = workload("np-running", "p", 2, priority=125, created=1)
TRAIN_SAME_QUEUE = workload("train", "p", 1, priority=50, created=2)
NON_PREEMPTIBLE_OVER_QUOTA = Case(
    nodes=[node("n0", 4)],
    queues=[DEPT, project("p", gpu=2)],
    workloads=[
        NP_AT_DESERVED,
        TRAIN_SAME_QUEUE,
        workload("np-pending", "p", 1, priority=125, created=3),
    ],
    running=[running(NP_AT_DESERVED, ("n0", (0, 1))), running(TRAIN_SAME_QUEUE, ("n0", (2,)))],
    gangs={"np-running": 1, "train": 1, "np-pending": 0},
    reasons={
        "np-pending": (
            "NonPreemptibleOverQuota",
            "NonPreemptibleOverQuota",
            "PROJECT",
            "project p has 2 GPUs deserved in node pool default, 2 GPUs already used",
        )
    },
)

# 3b. the same check at the department level: two projects within their own quota, but the
#     department's deserved quota is full of non-preemptible work
NP_DEPT_A = workload("np-a", "a", 1, priority="very-high", created=1)
NP_DEPT_B = workload("np-b", "b", 1, priority="very-high", created=2)
NON_PREEMPTIBLE_OVER_DEPARTMENT_QUOTA = Case(
    nodes=[node("n0", 8)],
    queues=[department("small", gpu=2), project("a", "small", gpu=2), project("b", "small", gpu=2)],
    workloads=[NP_DEPT_A, NP_DEPT_B, workload("np-b2", "b", 1, priority="very-high", created=3)],
    gangs={"np-a": 1, "np-b": 1, "np-b2": 0},
    reasons={
        "np-b2": (
            "NonPreemptibleOverQuota",
            "NonPreemptibleOverQuota",
            "DEPARTMENT",
            "department small has 2 GPUs deserved",
        )
    },
)

# 4. same queue: pending inference (125) vs running train (50) -> preempt
TRAIN = workload("train", "p", 1, priority=50, created=1)
PREEMPT_BY_PRIORITY = Case(
    nodes=[node("n0", 1)],
    queues=[DEPT, project("p", gpu=1)],
    workloads=[TRAIN, workload("inference", "p", 1, priority=125, created=2)],
    running=[running(TRAIN, ("n0", (0,)))],
    gangs={"inference": 1, "train": 0},
    evictions=[("train", "preempt", "inference")],
    reasons={
        "train": (
            None,
            "Unschedulable",
            None,
            "Not enough GPUs in node pool default: 1 requested, 0 free",
        )
    },
)

# 4b. ... vs running build (100, non-preemptible) -> nothing
BUILD = workload("build", "p", 1, priority=100, created=1)
NO_PREEMPTION_OF_NON_PREEMPTIBLE = Case(
    nodes=[node("n0", 1)],
    queues=[DEPT, project("p", gpu=2)],
    workloads=[BUILD, workload("inference", "p", 1, priority=125, created=2)],
    running=[running(BUILD, ("n0", (0,)))],
    gangs={"inference": 0, "build": 1},
    reasons={
        "inference": (
            None,
            "Unschedulable",
            None,
            "Not enough GPUs in node pool default: 1 requested, 0 free",
        )
    },
)

# 4c. ... vs running train of the same priority -> nothing (strictly lower only)
SAME_PRIORITY = workload("first", "p", 1, priority=50, created=1)
NO_PREEMPTION_AT_EQUAL_PRIORITY = Case(
    nodes=[node("n0", 1)],
    queues=[DEPT, project("p", gpu=1)],
    workloads=[SAME_PRIORITY, workload("second", "p", 1, priority=50, created=2)],
    running=[running(SAME_PRIORITY, ("n0", (0,)))],
    gangs={"first": 1, "second": 0},
)

# 5. cross queue: a starved queue reclaims a *higher*-priority preemptible job of an
#    over-quota queue (reclaimer priority is irrelevant); the non-preemptible job stays
B_NP = workload("b-inference", "b", 2, priority="very-high", created=1)
B_OVER = workload("b-medium-high", "b", 2, priority="medium-high", created=2)
RECLAIM_ACROSS_QUEUES = Case(
    nodes=[node("n0", 4)],
    queues=[DEPT, project("a", gpu=2, created=1), project("b", gpu=2, created=2)],
    workloads=[B_NP, B_OVER, workload("a-low", "a", 2, priority="low", created=3)],
    running=[running(B_NP, ("n0", (0, 1))), running(B_OVER, ("n0", (2, 3)))],
    fair_shares={"a": 2, "b": 2},
    gangs={"a-low": 1, "b-inference": 1, "b-medium-high": 0},
    layout={"a-low": [("n0", (2, 3))]},
    evictions=[("b-medium-high", "reclaim", "a-low")],
)

# 5b. ... never a non-preemptible one: queue b runs only non-preemptible work within its
#     (over-subscribed) deserved quota; the starved queue a waits
B_NP_ALL = workload("b-inference", "b", 4, priority="very-high", created=1)
NO_RECLAIM_OF_NON_PREEMPTIBLE = Case(
    nodes=[node("n0", 4)],
    queues=[DEPT, project("a", gpu=2, created=1), project("b", gpu=4, created=2)],
    workloads=[B_NP_ALL, workload("a-low", "a", 2, priority="low", created=3)],
    running=[running(B_NP_ALL, ("n0", (0, 1, 2, 3)))],
    gangs={"a-low": 0, "b-inference": 1},
    reasons={
        "a-low": (
            None,
            "Unschedulable",
            None,
            "Not enough GPUs in node pool default: 2 requested, 0 free",
        )
    },
)

# 5c. ... and no reclaim beyond the reclaimer's fair share: b over quota but a asks for more
#     than its fair share
B_TRAIN = workload("b-train", "b", 3, priority=50, created=1)
NO_RECLAIM_BEYOND_FAIR_SHARE = Case(
    nodes=[node("n0", 4)],
    queues=[
        DEPT,
        project("a", gpu=1, weight=0, created=1),
        project("b", gpu=3, weight=0, created=2),
    ],
    workloads=[B_TRAIN, workload("a-train", "a", 2, priority=50, created=2)],
    running=[running(B_TRAIN, ("n0", (0, 1, 2)))],
    fair_shares={"a": 1, "b": 3},
    gangs={"a-train": 0, "b-train": 1},
)

# 5d'. the case before it in KAI's file ("... - reclaim the job with quota of 0"): q0
#      (deserved 1, weight 1) runs a 2-GPU and a 1-GPU train job, q2 (deserved 0, weight 0) one
#      1-GPU job, q1 (deserved 1) waits with one: q2's job is the victim.
Q0_TWO = workload("running_job0", "q0", 2, priority=50, created=1)
Q0_ONE = workload("running_job1", "q0", 1, priority=50, created=2)
Q2_ZERO = workload("running_job2", "q2", 1, priority=50, created=3)
RECLAIM_FROM_ZERO_QUOTA_QUEUE = Case(
    nodes=[node("node0", 4)],
    queues=[
        DEPT,
        project("q0", gpu=1, weight=1, created=1),
        project("q1", gpu=1, weight=1, created=2),
        project("q2", gpu=0, weight=0, created=3),
    ],
    workloads=[Q0_TWO, Q0_ONE, Q2_ZERO, workload("pending_job0", "q1", 1, priority=50, created=4)],
    running=[
        running(Q0_TWO, ("node0", (0, 1))),
        running(Q0_ONE, ("node0", (2,))),
        running(Q2_ZERO, ("node0", (3,))),
    ],
    gangs={"running_job0": 1, "running_job1": 1, "running_job2": 0, "pending_job0": 1},
    layout={"pending_job0": [("node0", (3,))]},
    evictions=[("running_job2", "reclaim", "pending_job0")],
)

# 5d. KAI reclaim_test.go, "2 train job for overquota project 1, 1 job for overquota project
#     with deserved of 0, 1 job recalim from different project - reclaim from less prioritized
#     queue" (sic): 4 GPUs; q0 (deserved 1, weight 1) runs two 1-GPU train jobs, q2 (deserved 1,
#     weight 0, queue priority 101) runs two, q1 (deserved 1, weight 1) waits with one. Fair
#     shares 2 / 1 / 1: q2 is above its share in GPUs only (CPU and memory deserved unlimited),
#     which is no "over fair share" for the queue order (that takes every resource), so the
#     lower queue priority makes q0 the victim queue, its newest job the victim. In the cycles
#     after, q0's evicted job may not take q2's GPUs back: re-allocated in queue order, q2's
#     (priority 101) evicted jobs take their GPUs back before q0's job is tried.
Q0_FIRST = workload("running_job0", "q0", 1, priority=50, created=1)
Q0_SECOND = workload("running_job1", "q0", 1, priority=50, created=2)
Q2_FIRST = workload("running_job2", "q2", 1, priority=50, created=3)
Q2_SECOND = workload("running_job3", "q2", 1, priority=50, created=4)
RECLAIM_FROM_LESS_PRIORITIZED_QUEUE = Case(
    nodes=[node("node0", 4)],
    queues=[
        DEPT,
        project("q0", gpu=1, weight=1, created=1),
        project("q1", gpu=1, weight=1, created=2),
        project("q2", gpu=1, weight=0, created=3, priority=101),
    ],
    workloads=[
        Q0_FIRST,
        Q0_SECOND,
        Q2_FIRST,
        Q2_SECOND,
        workload("pending_job0", "q1", 1, priority=50, created=5),
    ],
    running=[
        running(Q0_FIRST, ("node0", (0,))),
        running(Q0_SECOND, ("node0", (1,))),
        running(Q2_FIRST, ("node0", (2,))),
        running(Q2_SECOND, ("node0", (3,))),
    ],
    fair_shares={"q0": 2, "q1": 1, "q2": 1},
    gangs={
        "running_job0": 1,
        "running_job1": 0,
        "running_job2": 1,
        "running_job3": 1,
        "pending_job0": 1,
    },
    layout={"pending_job0": [("node0", (1,))]},
    evictions=[("running_job1", "reclaim", "pending_job0")],
)

# 6. limit: queue limit 1 GPU, two 1-GPU jobs -> the second is OverLimit
OVER_LIMIT = Case(
    nodes=[node("n0", 4)],
    queues=[DEPT, project("p", gpu=0, limit=1)],
    workloads=[workload("first", "p", 1, created=1), workload("second", "p", 1, created=2)],
    gangs={"first": 1, "second": 0},
    reasons={
        "second": (
            "OverLimit",
            "OverLimit",
            "PROJECT",
            "Project p would exceed its GPU limit in node pool default",
        )
    },
)

# 6b. a department limit caps the sum of its projects
OVER_DEPARTMENT_LIMIT = Case(
    nodes=[node("n0", 8)],
    queues=[department("capped", gpu=0, limit=3), project("a", "capped"), project("b", "capped")],
    workloads=[workload("a2", "a", 2, created=1), workload("b2", "b", 2, created=2)],
    gangs={"a2": 1, "b2": 0},
    reasons={
        "b2": (
            "OverLimit",
            "OverLimit",
            "DEPARTMENT",
            "Department capped would exceed its GPU limit",
        )
    },
)

# 7. gang: 3 pods (leader + 2 workers), room for 2 -> none bound
GANG_ALL_OR_NOTHING = Case(
    nodes=[node("n0", 1), node("n1", 1)],
    queues=[DEPT, project("p")],
    workloads=[workload("gang", "p", 1, workers=2)],
    gangs={"gang": 0},
    reasons={
        "gang": (
            None,
            "Unschedulable",
            None,
            "Not enough GPUs in node pool default: 3 requested, 2 free",
        )
    },
)

# 7b. ... a gang that fits goes whole; pods of one gang may share a node
GANG_PLACED_WHOLE = Case(
    nodes=[node("n0", 2), node("n1", 4)],
    queues=[DEPT, project("p")],
    workloads=[workload("gang", "p", 2, workers=2)],
    gangs={"gang": 1},
    layout={"gang": [("n0", (0, 1)), ("n1", (0, 1)), ("n1", (2, 3))]},
)

# 7c. stale gang: 2 of its 3 pods left (a node went away) for more than 60 s -> evicted whole;
#     with room for 2 only it then waits
STALE = workload("gang", "p", 1, workers=2)
STALE_GANG_EVICTED = Case(
    nodes=[node("n0", 1), node("n1", 1)],
    queues=[DEPT, project("p")],
    workloads=[STALE],
    running=[running(STALE, ("n0", (0,)), ("n1", (0,)), ("gone", (0,)), stale_since=0.0)],
    now=61.0,
    gangs={"gang": 0},
    evictions=[("gang", "stale-gang", None)],
    reasons={"gang": (None, "Unschedulable", None, "3 requested, 2 free")},
)

# 7d. ... within the grace period it keeps its pods and waits for the missing one
STALE_GANG_WITHIN_GRACE = Case(
    nodes=[node("n0", 1), node("n1", 1)],
    queues=[DEPT, project("p")],
    workloads=[STALE],
    running=[running(STALE, ("n0", (0,)), ("n1", (0,)), ("gone", (0,)), stale_since=0.0)],
    now=30.0,
    gangs={"gang": 0},
    layout={"gang": [("n0", (0,)), ("n1", (0,))]},
)

# 7e. ... and gets its missing pod back when there is room, no longer stale
STALE_GANG_REPAIRED = Case(
    nodes=[node("n0", 1), node("n1", 1), node("n2", 1)],
    queues=[DEPT, project("p")],
    workloads=[STALE],
    running=[running(STALE, ("n0", (0,)), ("n1", (0,)), ("gone", (0,)), stale_since=0.0)],
    now=30.0,
    gangs={"gang": 1},
    layout={"gang": [("n0", (0,)), ("n1", (0,)), ("n2", (0,))]},
)

# 7f. grace period negative: never evicted
STALE_GANG_NEVER = Case(
    nodes=[node("n0", 1), node("n1", 1)],
    queues=[DEPT, project("p")],
    workloads=[STALE],
    running=[running(STALE, ("n0", (0,)), ("n1", (0,)), ("gone", (0,)), stale_since=0.0)],
    now=10_000.0,
    config=SchedulerConfig(stale_gang_grace_seconds=-1),
    gangs={"gang": 0},
    layout={"gang": [("n0", (0,)), ("n1", (0,))]},
)

# replicas: N independent gangs, as many as fit
REPLICAS_INDEPENDENT = Case(
    nodes=[node("n0", 2)],
    queues=[DEPT, project("p")],
    workloads=[workload("svc", "p", 1, replicas=3)],
    gangs={"svc": 2},
    reasons={"svc": (None, "Unschedulable", None, "1 requested, 0 free")},
)

# over quota is fine while idle: preemptible work may use everything, non-preemptible not
IDLE_RESOURCES_LENT = Case(
    nodes=[node("n0", 4)],
    queues=[DEPT, project("p", gpu=1, limit=UNLIMITED)],
    workloads=[
        workload("train", "p", 3, priority="low", created=1),
        workload("np", "p", 1, priority="high", created=2),
    ],
    gangs={"train": 1, "np": 1},
)

GOLDEN = [
    pytest.param(FAIR_70_30, id="fair-share-70-30"),
    pytest.param(FRACTIONAL_RECLAIM, id="reclaim-4-gpu-fractions"),
    pytest.param(NON_PREEMPTIBLE_OVER_QUOTA, id="non-preemptible-over-quota"),
    pytest.param(NON_PREEMPTIBLE_OVER_DEPARTMENT_QUOTA, id="non-preemptible-over-department-quota"),
    pytest.param(PREEMPT_BY_PRIORITY, id="preempt-inference-over-train"),
    pytest.param(NO_PREEMPTION_OF_NON_PREEMPTIBLE, id="no-preempt-of-build"),
    pytest.param(NO_PREEMPTION_AT_EQUAL_PRIORITY, id="no-preempt-at-equal-priority"),
    pytest.param(RECLAIM_ACROSS_QUEUES, id="reclaim-higher-priority-preemptible"),
    pytest.param(NO_RECLAIM_OF_NON_PREEMPTIBLE, id="no-reclaim-of-non-preemptible"),
    pytest.param(NO_RECLAIM_BEYOND_FAIR_SHARE, id="no-reclaim-beyond-fair-share"),
    pytest.param(RECLAIM_FROM_ZERO_QUOTA_QUEUE, id="reclaim-from-zero-quota-queue"),
    pytest.param(RECLAIM_FROM_LESS_PRIORITIZED_QUEUE, id="reclaim-from-less-prioritized-queue"),
    pytest.param(OVER_LIMIT, id="over-limit"),
    pytest.param(OVER_DEPARTMENT_LIMIT, id="over-department-limit"),
    pytest.param(GANG_ALL_OR_NOTHING, id="gang-all-or-nothing"),
    pytest.param(GANG_PLACED_WHOLE, id="gang-placed-whole"),
    pytest.param(STALE_GANG_EVICTED, id="stale-gang-evicted"),
    pytest.param(STALE_GANG_WITHIN_GRACE, id="stale-gang-within-grace"),
    pytest.param(STALE_GANG_REPAIRED, id="stale-gang-repaired"),
    pytest.param(STALE_GANG_NEVER, id="stale-gang-never-evicted"),
    pytest.param(REPLICAS_INDEPENDENT, id="replicas-independent"),
    pytest.param(IDLE_RESOURCES_LENT, id="idle-resources-lent"),
]


@pytest.mark.parametrize("case", GOLDEN)
def test_golden(case: Case) -> None:
    check(case)


def test_reclaim_evicts_only_what_the_reclaimer_needs() -> None:
    """Victims the pending gang did not need are put back (KAI re-allocates them)."""
    b_small = [workload(f"b{i}", "b", 1, priority=50, created=i) for i in range(4)]
    case = Case(
        nodes=[node("n0", 4)],
        queues=[DEPT, project("a", gpu=2, created=1), project("b", gpu=2, created=2)],
        workloads=[*b_small, workload("a1", "a", 1, priority=50, created=10)],
        running=[running(w, ("n0", (i,))) for i, w in enumerate(b_small)],
        gangs={"a1": 1, "b0": 1, "b1": 1, "b2": 1, "b3": 0},
        evictions=[("b3", "reclaim", "a1")],
    )
    result = check(case)
    (eviction,) = result.evictions
    assert "reclaim resources for a1" in eviction.message
    assert eviction.pods[0].node == "n0"


def test_victims_are_reallocated_with_the_reclaimer_in_queue_order() -> None:
    """The state KAI's "reclaim from less prioritized queue" case ends in: q0's evicted job
    waits; it may evict a job of q2 (above its fair share, so a valid victim queue), but in
    the re-allocation q2 (priority 101) comes first and takes its GPU back, so no scenario
    places q0's job and nothing is evicted (KAI: TryToVirtuallyAllocatePreemptorAndGetVictims)."""
    case = Case(
        nodes=RECLAIM_FROM_LESS_PRIORITIZED_QUEUE.nodes,
        queues=RECLAIM_FROM_LESS_PRIORITIZED_QUEUE.queues,
        workloads=RECLAIM_FROM_LESS_PRIORITIZED_QUEUE.workloads,
        running=[
            running(Q0_FIRST, ("node0", (0,))),
            running(RECLAIM_FROM_LESS_PRIORITIZED_QUEUE.workloads[-1], ("node0", (1,))),
            running(Q2_FIRST, ("node0", (2,))),
            running(Q2_SECOND, ("node0", (3,))),
        ],
        fair_shares={"q0": 2, "q1": 1, "q2": 1},
        gangs=RECLAIM_FROM_LESS_PRIORITIZED_QUEUE.gangs,
        evictions=[],
    )
    check(case)
