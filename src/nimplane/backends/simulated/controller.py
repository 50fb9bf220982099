"""The simulated cluster's controller: pure, it makes a workload's pods match its desired state.

`converge(desired, pods, cluster, now)` plays the NIM Operator and the kubelet of the simulated
cluster: it creates and removes pods so that they match the placement nimplane's scheduler
stored (`DesiredState.gangs`), rolls pods of an old spec one replica at a time, observes each
pod at `now` (the pure pod model in `model.py`), and says what changed (pods to create and
remove, stages to record, the pod events) and what runs now (`Observation`). Run it again on
its own result at the same instant and it changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from nimplane.backends.simulated.model import (
    Pod,
    PodState,
    Stage,
    Timings,
    observe,
    plan_pod,
)
from nimplane.domain.backend import DesiredState, Observation, ObservedPod
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.phases import Phase
from nimplane.domain.pods import pod_name, pod_template
from nimplane.domain.scheduling.model import GangPlacement, PodRequest
from nimplane.domain.scheduling.nimservice import placed_as_asked, pod_request
from nimplane.domain.scheduling.placement_codec import held_gpus
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.workloads import Workload

SOURCE: Final = "lifecycle"
"""The events' source (what Run:ai's event listing shows for the pods' events)."""
_SERVING: Final = frozenset({Phase.Running, Phase.Degraded, Phase.Updating})


@dataclass(frozen=True)
class ClusterState:
    """What the controller knows of the cluster beyond the workload's pods."""

    lost_nodes: frozenset[str] = frozenset()
    """Nodes that failed or were drained: their pods are gone."""
    device_memory_mib: dict[str, int] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)


@dataclass
class Change:
    """What one `converge` does."""

    observation: Observation
    create: list[Pod] = field(default_factory=list)
    delete: list[Pod] = field(default_factory=list)
    stages: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Pod id -> the stage and restart count now observed, for pods where they changed."""
    events: list[WorkloadEvent] = field(default_factory=list)


@dataclass
class _Work:
    desired: DesiredState
    pods: Sequence[Pod]
    cluster: ClusterState
    now: datetime
    template: str
    request: PodRequest | None
    create: list[Pod] = field(default_factory=list)
    delete: list[Pod] = field(default_factory=list)
    events: list[WorkloadEvent] = field(default_factory=list)
    replaced: set[int] = field(default_factory=set)

    @property
    def workload(self) -> Workload:
        return self.desired.workload

    def event(
        self, reason: str, message: str, *, warning: bool = False, pod: str | None = None
    ) -> None:
        self.events.append(
            WorkloadEvent.of(
                self.workload.id,
                self.now,
                reason,
                message,
                source=SOURCE,
                warning=warning,
                pod=pod,
            )
        )

    def add(self, pod: Pod, why: str = "") -> None:
        self.create.append(pod)
        self.event("Created", f"Created pod {pod.name} on {pod.node}{why}", pod=pod.name)

    def remove(self, pod: Pod) -> None:
        self.delete.append(pod)
        self.event("Killing", "Stopping container nim", pod=pod.name)


_STAGE_EVENTS: Final[dict[Stage, tuple[str, str, bool]]] = {
    Stage.PULLING: ("Pulling", 'Pulling image "{image}"', False),
    Stage.LOADING_MODEL: ("Started", "Started container nim; loading the model", False),
    Stage.PROBING: ("ModelLoaded", "Model loaded; waiting for the readiness probe", False),
    Stage.READY: ("Ready", "Readiness probe succeeded; the pod serves", False),
    Stage.IMAGE_PULL_BACK_OFF: ("Failed", "{message}", True),
    Stage.CRASH_LOOP_BACK_OFF: ("BackOff", "Back-off restarting failed container nim", True),
    Stage.NOT_READY: ("Unhealthy", "Readiness probe failed", True),
    Stage.NODE_LOST: ("NodeNotReady", "Node {node} is not ready; the pod is lost", True),
}
_PROGRESSION: Final = (Stage.PULLING, Stage.LOADING_MODEL, Stage.PROBING, Stage.READY)


def _stage_events(work: _Work, pod: Pod, state: PodState) -> None:
    """Events for a pod whose stage changed since it was last seen; stages a time jump went
    past in the normal progression are reported too, in order."""
    stages = [state.stage]
    if state.stage in _PROGRESSION:
        start = 0
        if pod.last_stage in _PROGRESSION:
            start = _PROGRESSION.index(Stage(pod.last_stage)) + 1
        stages = list(_PROGRESSION[start : _PROGRESSION.index(state.stage) + 1])
    image = str(work.workload.spec.get("image", ""))
    for stage in stages:
        reason, template, warning = _STAGE_EVENTS[stage]
        text = template.format(image=image, message=state.message, node=pod.node)
        work.event(reason, text, warning=warning, pod=pod.name)


def _new_pod(work: _Work, gang: GangPlacement, position: int) -> Pod:
    placed = gang.pods[position]
    workload = work.workload
    return Pod(
        id=str(uuid.uuid4()),
        workload_id=workload.id,
        name=pod_name(workload.name, gang.replica, placed.index),
        replica=gang.replica,
        index=placed.index,
        template=work.template,
        node=placed.node,
        gpu_devices=placed.gpu_devices,
        gpus=held_gpus(placed, work.cluster.device_memory_mib.get(placed.node, 0)),
        created_at=work.now,
        started_at=work.now,
        plan=plan_pod(workload.spec, work.cluster.timings),
    )


def _observe(work: _Work, pod: Pod) -> PodState:
    """What the kubelet reports about `pod` at `now` (its node may have failed)."""
    faults = pod.faults
    if pod.node in work.cluster.lost_nodes:
        faults = replace(faults, node_lost=True)
    return observe(pod.plan, pod.started_at, faults, work.now)


def _surge_settled(work: _Work) -> bool:
    """Whether a roll may replace a replica now: a serving workload first asks the scheduler
    for one more replica (`surge_replicas`), and waits until it is placed or refused."""
    status = work.workload.status
    if status.phase not in _SERVING:
        return True
    if status.surge_replicas == 0:
        return False  # asked for in this pass; the scheduler answers in its next cycle
    return len(work.desired.gangs) > work.desired.replicas or bool(status.pending_messages)


def _outdated(work: _Work) -> set[int]:
    """Replicas placed for resources the spec no longer asks for."""
    if work.request is None:
        return set()
    return {g.replica for g in work.desired.gangs if not placed_as_asked(g, work.request)}


def _place(work: _Work) -> list[Pod]:
    """Make the pods match the placement; roll old-template pods one replica at a time.
    Returns the pods there will be.

    A replica rolls in place (new pods on its devices) unless the new spec asks for other
    resources: then its pods go and the scheduler places it anew (`replaced_replicas`); until
    it has, its old placement gets no pods and the roll waits. A replica placed for other
    resources that has no pod at all waits the same way (its pods went in an earlier sync)."""
    template = work.template
    outdated = _outdated(work)
    existing = {pod.key: pod for pod in work.pods}
    with_pods = {pod.replica for pod in work.pods}
    awaiting = outdated & ({*work.workload.status.replaced_replicas} | (outdated - with_pods))
    kept: list[Pod] = []
    wanted_keys: set[tuple[int, int]] = set()
    stale_replicas: set[int] = set()
    for gang in work.desired.gangs:
        if gang.replica in awaiting:
            continue
        for position, placed in enumerate(gang.pods):
            key = (gang.replica, placed.index)
            wanted_keys.add(key)
            pod = existing.get(key)
            if pod is not None and (pod.node, pod.gpu_devices) == (placed.node, placed.gpu_devices):
                kept.append(pod)
                if pod.template != template:
                    stale_replicas.add(gang.replica)
                continue
            if pod is not None:  # rescheduled elsewhere: the old pod goes
                if pod.node in work.cluster.lost_nodes and pod.last_stage != Stage.NODE_LOST:
                    # the scheduler moved it before its loss was observed: report it still
                    _stage_events(work, pod, _observe(work, pod))
                work.remove(pod)
            work.add(_new_pod(work, gang, position))
    for pod in work.pods:
        if pod.key not in wanted_keys:
            work.remove(pod)
    pods = kept + work.create
    renewed = [p for p in pods if p.template == template]
    if (
        stale_replicas
        and not awaiting
        and _surge_settled(work)
        and all(_observe(work, p).ready for p in renewed)
    ):
        # every pod of the new spec serves (the surge replica's first, if it could be placed):
        # replace the next replica
        replica = min(stale_replicas)
        gang = next(g for g in work.desired.gangs if g.replica == replica)
        for position, placed in enumerate(gang.pods):
            old = next(p for p in pods if p.key == (replica, placed.index))
            if old.template == template:
                continue
            work.remove(old)
            if replica in outdated:
                work.replaced.add(replica)
                pods = [p for p in pods if p is not old]
                continue
            new = _new_pod(work, gang, position)
            work.add(new, " (rolling to the new spec)")
            pods = [new if p is old else p for p in pods]
    work.replaced |= awaiting
    return pods


def observed_pod(pod: Pod, state: PodState, template: str) -> ObservedPod:
    """A simulated pod as the cluster reports it (`template`: the spec's now)."""
    return ObservedPod(
        id=pod.id,
        name=pod.name,
        replica=pod.replica,
        index=pod.index,
        node=pod.node,
        k8s_phase=state.k8s_phase,
        ready=state.ready,
        restarts=state.restarts,
        state=state.stage.value,
        message=state.message,
        current=pod.template == template,
        created_at=pod.created_at,
        gpus=pod.gpus,
        gpu_devices=pod.gpu_devices,
    )


def converge(
    desired: DesiredState, pods: Sequence[Pod], cluster: ClusterState, now: datetime
) -> Change:
    """Make `pods` (the workload's pods now) match `desired` at `now` (module docstring)."""
    spec = desired.workload.spec
    request = None
    if desired.running:
        request = pod_request(NimServiceSpec.model_validate(spec))
    work = _Work(desired, pods, cluster, now, pod_template(spec), request)
    if not desired.running:
        for pod in pods:
            work.remove(pod)
        return Change(Observation(), delete=work.delete, events=work.events)
    now_pods = _place(work)
    deleted = {p.id for p in work.delete}
    now_pods = [p for p in now_pods if p.id not in deleted]
    stages: dict[str, tuple[str, int]] = {}
    shown: list[ObservedPod] = []
    changes: list[datetime] = []
    for pod in now_pods:
        state = _observe(work, pod)
        if (pod.last_stage, pod.restarts) != (state.stage.value, state.restarts):
            stages[pod.id] = (state.stage.value, state.restarts)
        if pod.last_stage != state.stage.value:
            _stage_events(work, pod, state)
        if state.next_change is not None:
            changes.append(state.next_change)
        shown.append(observed_pod(pod, state, work.template))
    shown.sort(key=lambda p: (p.replica, p.index))
    observation = Observation(
        pods=tuple(shown),
        present=bool(shown),
        replaced_replicas=tuple(sorted(work.replaced & _outdated(work))),
        next_change=min(changes) if changes else None,
    )
    return Change(observation, work.create, work.delete, stages, work.events)


__all__ = ["Change", "ClusterState", "converge", "observed_pod"]
