"""The simulated cluster's controller (pure) under the lifecycle engine's decision: what the
pods and the phase become as a workload comes up, loses a node, crash-loops, rolls to a new
spec, stops or is deleted, and that a second sync and decision of their own result change
nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimplane.backends.simulated.controller import Change, ClusterState, converge
from nimplane.backends.simulated.model import Pod, PodFaults, Timings
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.lifecycle import Decision, decide, desired_state
from nimplane.domain.phases import Phase, PhaseState
from nimplane.domain.scheduling import GangPlacement, GpuRequest, PodPlacement, PodRequest
from nimplane.domain.workloads import DesiredPhase, Project, Workload, WorkloadStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TIMINGS = Timings(image_pull_seconds=10, model_load_nim_cache_seconds=20)
PROJECT = Project("1", "default", "runai-default", "1", "default", "c", 1001)
SPEC: dict[str, Any] = {
    "image": "nvcr.io/nim/meta/llama:1",
    "modelStore": {"nimCache": {"name": "c"}},
    "compute": {"gpuDevicesRequest": 1},
    "replicas": 2,
    "priorityClass": "medium",
    "preemptibility": "preemptible",
    "category": "Deploy",
}


def workload(
    phase: Phase = Phase.Creating,
    desired: DesiredPhase = DesiredPhase.Running,
    *,
    serving: int = 0,
    generation: int = 1,
    observed: int = 0,
    spec: dict[str, Any] | None = None,
) -> Workload:
    return Workload(
        id="w1",
        name="llama",
        project=PROJECT,
        workload_type="NIMService",
        spec=spec or SPEC,
        desired_phase=desired,
        status=WorkloadStatus(
            phase=phase,
            phase_updated_at=T0,
            serving_replicas=serving,
            observed_generation=observed,
        ),
        resource_version=1,
        generation=generation,
        created_at=T0,
        created_by="t",
        updated_at=T0,
        updated_by="t",
    )


def gang(replica: int, gpus: int = 1) -> GangPlacement:
    request = PodRequest(GpuRequest.whole(gpus))
    devices = tuple(range(gpus))
    return GangPlacement(
        "w1", replica, "default", (PodPlacement(0, f"n{replica}", devices, request),)
    )


def gangs(count: int = 2) -> list[GangPlacement]:
    return [gang(r) for r in range(count)]


@dataclass
class Step:
    """One sync of the controller and the decision on what it observed."""

    change: Change
    decision: Decision

    @property
    def create(self) -> list[Pod]:
        return self.change.create

    @property
    def delete(self) -> list[Pod]:
        return self.change.delete

    @property
    def events(self) -> list[WorkloadEvent]:
        return self.change.events

    @property
    def phases(self) -> list[PhaseState]:
        return self.decision.phases

    @property
    def torn_down(self) -> bool:
        return self.decision.torn_down


def apply(pods: list[Pod], change: Change) -> list[Pod]:
    """What the simulator's tables hold after the change is written."""
    gone = {p.id for p in change.delete}
    kept = [p for p in pods if p.id not in gone] + change.create
    return [
        replace(p, last_stage=change.stages[p.id][0], restarts=change.stages[p.id][1])
        if p.id in change.stages
        else p
        for p in kept
    ]


def run(
    w: Workload,
    placed: list[GangPlacement],
    pods: list[Pod],
    now: datetime,
    *,
    lost: frozenset[str] = frozenset(),
    timings: Timings = TIMINGS,
) -> tuple[Workload, list[Pod], Step]:
    desired = desired_state(w, 2, placed)
    change = converge(desired, pods, ClusterState(lost, {}, timings), now)
    decision = decide(desired, change.observation, now)
    if decision.status is not None:
        w = replace(w, status=decision.status)
    return w, apply(pods, change), Step(change, decision)


def running_workload() -> tuple[Workload, list[Pod]]:
    w, pods, _ = run(workload(), gangs(), [], T0)
    w, pods, _ = run(w, gangs(), pods, T0 + timedelta(seconds=60))
    assert w.status.phase is Phase.Running
    return w, pods


@pytest.mark.parametrize(
    ("before", "placed", "seconds", "phase", "creates"),
    [
        pytest.param(Phase.Creating, 0, 0, Phase.Creating, 0, id="before-the-scheduler-looks"),
        pytest.param(Phase.Creating, 2, 0, Phase.Initializing, 2, id="placed-initializing"),
        pytest.param(Phase.Creating, 2, 60, Phase.Running, 2, id="ready-running"),
        pytest.param(Phase.Creating, 1, 60, Phase.Initializing, 1, id="half-placed-not-running"),
    ],
)
def test_coming_up(before: Phase, placed: int, seconds: float, phase: Phase, creates: int) -> None:
    w, pods, _ = run(workload(before), gangs(placed), [], T0)
    if seconds:
        w, pods, _ = run(w, gangs(placed), pods, T0 + timedelta(seconds=seconds))
    assert w.status.phase is phase
    assert len(pods) == creates


def test_a_workload_the_scheduler_cannot_place_is_pending_with_its_reason() -> None:
    waiting = (
        {
            "nodePool": "default",
            "phaseReason": "OverLimit",
            "reason": "OverLimit",
            "userMessage": "Project p would exceed its GPU limit",
        },
    )
    w = workload()
    w = replace(w, status=replace(w.status, pending_messages=waiting))
    w, pods, _ = run(w, [], [], T0)
    assert w.status.phase is Phase.Pending
    assert w.status.phase_reason == "OverLimit"
    assert w.status.phase_message == "Project p would exceed its GPU limit"
    assert pods == []


def test_a_lost_node_degrades_then_the_moved_replica_recovers() -> None:
    w, pods = running_workload()
    later = T0 + timedelta(seconds=100)
    w, pods, decision = run(w, gangs(), pods, later, lost=frozenset({"n1"}))
    assert w.status.phase is Phase.Degraded
    assert [e.reason for e in decision.events] == ["NodeNotReady"]
    moved = [gangs()[0], replace(gangs()[1], pods=(replace(gangs()[1].pods[0], node="n9"),))]
    w, pods, decision = run(w, moved, pods, later + timedelta(seconds=1), lost=frozenset({"n1"}))
    assert {p.node for p in pods} == {"n0", "n9"}
    assert w.status.phase is Phase.Degraded  # the new pod is still coming up
    w, pods, _ = run(w, moved, pods, later + timedelta(seconds=60), lost=frozenset({"n1"}))
    assert w.status.phase is Phase.Running


def test_a_crash_loop_degrades() -> None:
    w, pods = running_workload()
    pods = [replace(pods[0], faults=PodFaults(crash_since=T0 + timedelta(seconds=70))), pods[1]]
    w, pods, decision = run(w, gangs(), pods, T0 + timedelta(seconds=80))
    assert w.status.phase is Phase.Degraded
    assert "BackOff" in [e.reason for e in decision.events]
    assert w.status.running_pods == 1


def test_an_image_that_cannot_be_pulled_fails() -> None:
    spec = {**SPEC, "image": "blocked.example.com/nim/llama:1"}
    blocked = replace(TIMINGS, unreachable=("blocked.example.com",))
    w, pods, _ = run(workload(spec=spec), gangs(), [], T0, timings=blocked)
    w, pods, step = run(w, gangs(), pods, T0 + timedelta(seconds=11), timings=blocked)
    assert step.decision.status is not None
    assert w.status.phase is Phase.Failed
    assert w.status.phase_reason == "ImagePullBackOff"
    assert "unreachable" in (w.status.phase_message or "")


@pytest.mark.parametrize(
    ("desired", "deleted", "phase", "torn_down"),
    [
        pytest.param(DesiredPhase.Stopped, False, Phase.Stopped, False, id="suspend"),
        pytest.param(DesiredPhase.Deleted, True, Phase.Deleting, True, id="delete"),
    ],
)
def test_going_away_removes_every_pod(
    desired: DesiredPhase, deleted: bool, phase: Phase, torn_down: bool
) -> None:
    w, pods = running_workload()
    w = replace(w, desired_phase=desired, deleted_at=T0 if deleted else None)
    w, pods, decision = run(w, gangs(), pods, T0 + timedelta(seconds=90))
    assert pods == []
    assert w.status.phase is phase
    assert decision.torn_down is torn_down
    assert [s.phase for s in decision.phases][-1] is phase


def test_an_update_asks_for_a_surge_replica_and_never_drops_below_the_count() -> None:
    w, pods = running_workload()
    w = replace(w, spec={**SPEC, "image": "nvcr.io/nim/meta/llama:2"}, generation=2)
    now = T0 + timedelta(seconds=100)
    w, pods, decision = run(w, gangs(), pods, now)
    assert w.status.phase is Phase.Updating
    assert w.status.surge_replicas == 1
    assert (decision.create, decision.delete) == ([], [])  # waits for the scheduler's answer
    for step in range(1, 12):
        placed = gangs(2 + w.status.surge_replicas)  # the scheduler places the surge
        w, pods, _ = run(w, placed, pods, now + timedelta(seconds=20 * step))
        assert w.status.running_pods >= 2
    assert w.status.phase is Phase.Running
    assert w.status.observed_generation == 2
    assert w.status.surge_replicas == 0
    w, pods, _ = run(w, gangs(2), pods, now + timedelta(seconds=300))
    assert sorted(p.name for p in pods) == ["llama-0", "llama-1"]


def test_an_update_without_room_for_a_surge_rolls_in_place() -> None:
    w, pods = running_workload()
    w = replace(w, spec={**SPEC, "image": "nvcr.io/nim/meta/llama:2"}, generation=2)
    now = T0 + timedelta(seconds=100)
    w, pods, _ = run(w, gangs(), pods, now)
    refused = ({"nodePool": "default", "reason": "Unschedulable", "userMessage": "no room"},)
    w = replace(w, status=replace(w.status, pending_messages=refused))
    w, pods, decision = run(w, gangs(), pods, now + timedelta(seconds=1))
    assert len(decision.delete) == 1
    assert len(decision.create) == 1
    for step in range(1, 8):
        w, pods, _ = run(w, gangs(), pods, now + timedelta(seconds=60 * step))
    assert w.status.phase is Phase.Running
    assert w.status.observed_generation == 2


def test_an_update_to_other_resources_has_each_replica_placed_anew() -> None:
    """1 GPU -> 2 GPUs per pod: a replica cannot roll in place on its old devices; its pods
    go, the scheduler places it anew (here: a stand-in that honours `replaced_replicas`, one
    cycle every other pass), and the roll goes on once it serves. Never fewer than two
    replicas serve."""
    w, pods = running_workload()
    w = replace(w, spec={**SPEC, "compute": {"gpuDevicesRequest": 2}}, generation=2)
    request = PodRequest(GpuRequest.whole(2))
    placed = {g.replica: g for g in gangs()}
    now = T0 + timedelta(seconds=100)
    seen_replaced: set[int] = set()
    for step in range(60):
        wanted = 2 + w.status.surge_replicas
        for replica in range(wanted if step % 2 == 0 else 0):  # a cycle every other pass
            old = placed.get(replica)
            if old is None or (
                replica in w.status.replaced_replicas and old.pods[0].request != request
            ):
                placed[replica] = gang(replica, gpus=2)
        if step % 2 == 0:
            placed = {r: g for r, g in placed.items() if r < wanted}
        w, pods, decision = run(w, list(placed.values()), pods, now + timedelta(seconds=15 * step))
        seen_replaced |= set(w.status.replaced_replicas)
        for replica in w.status.replaced_replicas:  # waiting to be placed anew: no pods
            assert all(p.replica != replica for p in decision.create)
        if step:
            assert w.status.running_pods >= 2, step
        if w.status.phase is Phase.Running and w.status.surge_replicas == 0 and step > 1:
            break
    assert w.status.phase is Phase.Running
    assert seen_replaced == {0, 1}
    assert w.status.replaced_replicas == ()
    w, pods, _ = run(w, [gang(0, 2), gang(1, 2)], pods, now + timedelta(hours=1))
    assert sorted((p.name, p.gpus) for p in pods) == [("llama-0", 2.0), ("llama-1", 2.0)]


@given(st.integers(0, 3), st.integers(0, 200), st.sampled_from(list(DesiredPhase)))
def test_reconciling_its_own_result_again_does_nothing(
    placed: int, seconds: int, desired: DesiredPhase
) -> None:
    w, pods = running_workload() if placed == 3 else (workload(), [])
    placement = gangs(min(placed, 2))
    w = replace(w, desired_phase=desired)
    now = T0 + timedelta(seconds=seconds)
    w, pods, first = run(w, placement, pods, now)
    if first.torn_down:
        return
    _, _, second = run(w, placement, pods, now)
    assert (second.create, second.delete, second.decision.status, second.phases) == (
        [],
        [],
        None,
        [],
    )
