"""The reclaim rules one by one (docs/decisions.md S2.3), the spec adapter and the wire shapes."""

from __future__ import annotations

from typing import Any

import pytest

from nimplane.domain.scheduling import (
    UNLIMITED,
    GpuKind,
    PendingSchedulingMessage,
    Queue,
    QueueResources,
    ResourceQuota,
)
from nimplane.domain.scheduling.actions import _leveled, _may_reclaim_from, _saturation_kept
from nimplane.domain.scheduling.nimservice import workload_from_spec
from nimplane.domain.scheduling.ordering import job_order_key
from nimplane.domain.scheduling.queues import PoolQueues, QueueNode
from nimplane.domain.spec import NimServiceSpec

G = 1000


def tree() -> PoolQueues:
    def queue(name: str, parent: str | None, deserved: float, created: float) -> Queue:
        gpu = ResourceQuota(deserved, UNLIMITED, 1)
        return Queue(name, parent, {"default": QueueResources(gpu=gpu)}, created=created)

    queues = PoolQueues(
        "default",
        [
            queue("d1", None, 2, 0),
            queue("d2", None, 2, 1),
            queue("p1", "d1", 1, 2),
            queue("p2", "d1", 1, 3),
            queue("p3", "d2", 2, 4),
        ],
    )
    return queues


def state(queues: PoolQueues, **gpus: tuple[float, float]) -> dict[str, QueueNode]:
    """Set (allocated, fair share) in GPUs per queue; allocatable follows."""
    for name, (alloc, fair) in gpus.items():
        node = queues.nodes[name]
        node.alloc = [round(alloc * G), 0, 0]
        node.fair = [round(fair * G), 0, 0]
    for node in queues.nodes.values():
        node.set_allocatable((8 * G, 0, 0))
    return queues.nodes


def test_leveled_queues_meet_below_the_common_ancestor() -> None:
    nodes = tree().nodes
    assert _leveled(nodes["p1"], nodes["p2"]) == (nodes["p1"], nodes["p2"])
    assert _leveled(nodes["p1"], nodes["p3"]) == (nodes["d1"], nodes["d2"])


RECLAIM_STRATEGIES = [
    # victim side above its allocatable share (max(deserved, fair share)): maintain fair share
    pytest.param((0, 1), (3, 2), 1, True, id="victim-over-fair-share"),
    pytest.param((1, 1), (2, 2), 1, False, id="victim-at-fair-share-reclaimer-over-deserved"),
    # victim over deserved and the reclaimer within its deserved with the job
    pytest.param((0, 3), (2, 3), 1, True, id="guarantee-deserved-quota"),
    pytest.param((1, 3), (2, 3), 1, False, id="reclaimer-would-exceed-deserved"),
    pytest.param((0, 3), (1, 3), 1, False, id="victim-within-deserved"),
]


@pytest.mark.parametrize(("mine", "theirs", "job", "allowed"), RECLAIM_STRATEGIES)
def test_reclaim_strategies(
    mine: tuple[float, float], theirs: tuple[float, float], job: float, allowed: bool
) -> None:
    nodes = state(tree(), p1=mine, p2=theirs)
    assert _may_reclaim_from(nodes["p1"], nodes["p2"], (round(job * G), 0, 0)) is allowed


SATURATION = [
    # after the move d1 holds 3 of a fair share of 2 (1.5); d2, which lost the victim, 2 of 2
    pytest.param((3, 2), (2, 2), 1.0, False, id="reclaimer-would-end-more-saturated"),
    pytest.param((3, 2), (4, 2), 1.0, True, id="reclaimer-stays-less-saturated"),
    pytest.param((3, 2), (4, 2), 1.5, False, id="multiplier-tightens"),
    pytest.param((2, 2), (1, 2), 1.0, True, id="reclaimer-within-fair-share"),
    pytest.param((3, 2), (1, 0), 1.0, True, id="sibling-without-fair-share-ignored"),
]


@pytest.mark.parametrize(("d1", "d2", "multiplier", "kept"), SATURATION)
def test_saturation_check(
    d1: tuple[float, float], d2: tuple[float, float], multiplier: float, kept: bool
) -> None:
    queues = tree()
    nodes = state(queues, d1=d1, d2=d2, p1=(1, 1), p3=(d2[0], d2[1]))
    victim_slots: list[Any] = []
    evicted: list[Any] = [(object(), nodes["p3"], victim_slots)]
    result = _saturation_kept(nodes["p1"], queues.roots, evicted, (G, 0, 0), multiplier)
    assert result is kept


SPECS = [
    pytest.param({"compute": {"gpuDevicesRequest": 2}}, (GpuKind.WHOLE, 2, 0.0, 0), id="whole"),
    pytest.param(
        {
            "compute": {
                "gpuDevicesRequest": 2,
                "gpuRequestType": "portion",
                "gpuPortionRequest": 0.5,
            }
        },
        (GpuKind.PORTION, 2, 0.5, 0),
        id="portion-on-two-devices",
    ),
    pytest.param(
        {"compute": {"gpuRequestType": "memory", "gpuMemoryRequest": "20Gi"}},
        (GpuKind.MEMORY, 1, 0.0, 20_480),
        id="memory",
    ),
    pytest.param({}, (GpuKind.NONE, 0, 0.0, 0), id="no-compute"),
]


@pytest.mark.parametrize(("compute", "gpu"), SPECS)
def test_workload_from_spec_gpu(compute: dict[str, Any], gpu: tuple[Any, ...]) -> None:
    spec = NimServiceSpec.model_validate({"image": "nvcr.io/nim/x:1", **compute})
    request = workload_from_spec("w", "1", spec).pod.gpu
    assert (request.kind, request.devices, request.portion, request.memory_mib) == gpu


def test_workload_from_spec_defaults_and_fields() -> None:
    spec = NimServiceSpec.model_validate(
        {
            "image": "nvcr.io/nim/x:1",
            "compute": {"cpuCoreRequest": 1.5, "cpuMemoryRequest": "16Gi"},
            "multiNode": {"workers": 2},
            "nodePools": ["a", "default"],
            "tolerations": [
                {"key": "k", "operator": "Exists", "effect": "Any"},
                {"key": "gone", "operator": "Exists", "exclude": True},
            ],
        }
    )
    wl = workload_from_spec("w", "1", spec, created=5.0)
    # very-high, non-preemptible (docs/decisions.md D5)
    assert (wl.priority, wl.preemptible) == (150, False)
    assert (wl.pod.cpu_millicores, wl.pod.memory_mib) == (1_500, 16_384)
    assert (wl.replicas, wl.workers, wl.gang_size, wl.node_pools) == (1, 2, 3, ("a", "default"))
    assert [(t.key, t.operator, t.effect) for t in wl.tolerations] == [("k", "Exists", None)]
    low = NimServiceSpec.model_validate(
        {"image": "nvcr.io/nim/x:1", "priorityClass": "low", "replicas": 3}
    )
    assert (
        workload_from_spec("w", "1", low).priority,
        workload_from_spec("w", "1", low).preemptible,
    ) == (40, True)
    assert workload_from_spec("w", "1", low).replicas == 3
    assert workload_from_spec("w", "1", low, replicas=5).replicas == 5


def test_pending_message_wire_shape() -> None:
    message = PendingSchedulingMessage("default", "OverLimit", "OverLimit", "PROJECT", "text")
    assert message.as_wire() == {
        "nodePool": "default",
        "phaseReason": "OverLimit",
        "reason": "OverLimit",
        "orgType": "PROJECT",
        "userMessage": "text",
    }


OVER_FAIR_SHARE = [
    pytest.param((2, 100, 100), (1, 100, 100), False, id="over-in-gpu-only"),
    pytest.param((2, 0, 0), (1, 0, 0), False, id="over-in-gpu-nothing-else-used"),
    pytest.param((2, 200, 100), (1, 100, 100), False, id="over-in-gpu-and-cpu-not-memory"),
    pytest.param((2, 200, 200), (1, 100, 100), True, id="over-in-every-resource"),
    pytest.param((1, 100, 100), (1, 100, 100), False, id="at-fair-share"),
]


@pytest.mark.parametrize(("alloc", "fair", "over"), OVER_FAIR_SHARE)
def test_queue_order_counts_a_queue_over_its_fair_share_only_if_over_in_every_resource(
    alloc: tuple[int, int, int], fair: tuple[int, int, int], over: bool
) -> None:
    """KAI's first queue-order step, `fairShare.Less(allocated)`: strictly above the fair share
    in every resource; a queue over in some resources only is ordered by what follows."""
    node = tree().nodes["p1"]
    node.alloc = [alloc[0] * G, alloc[1], alloc[2]]
    node.fair = [fair[0] * G, fair[1], fair[2]]
    node.set_allocatable((8 * G, 1000, 1000))
    assert job_order_key(node, (0, 0, 0))[0] is over
