"""The lifecycle engine's decision for one workload: level-based and pure.

`reconcile(view, now)` compares what is wanted (spec, desired phase, the scheduler's
placement, the replica count) with what the cluster has (pods and their observed states) and
returns what to do: pods to create and delete, the new status (phase through the one
transition function, conditions, counts), the events to record, and when to look again.
Run it twice on the same input and the second run does nothing.

Phases (docs/decisions.md D8): Creating -> Pending (no placement) -> Initializing (pods pulling,
loading, probing) -> Running (every wanted replica ready); Updating while pods roll to a new spec;
Degraded when a replica that was serving is not; Failed when an image cannot be pulled; Stopping ->
Stopped and Resuming for suspend/resume; Deleting until torn down. A phase reached through others
(Stopped -> Resuming -> Pending) passes through each, so every step is recorded.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Final

from nimplane.domain.conditions import Condition, set_condition
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.phases import TRANSITIONS, Phase, PhaseState, transition
from nimplane.domain.pods import Pod, pod_name, pod_template
from nimplane.domain.scheduling.model import GangPlacement, PodRequest
from nimplane.domain.scheduling.nimservice import placed_as_asked
from nimplane.domain.scheduling.placement_codec import held_gpus
from nimplane.domain.simulation import (
    UNHEALTHY,
    PodState,
    Stage,
    Timings,
    observe,
    plan_pod,
)
from nimplane.domain.workloads import DesiredPhase, Workload, WorkloadStatus

SOURCE: Final = "lifecycle"
_SERVING: Final = frozenset({Phase.Running, Phase.Degraded, Phase.Updating})


@dataclass(frozen=True)
class WorkloadView:
    """Everything the decision reads about one workload."""

    workload: Workload
    gangs: Sequence[GangPlacement]
    pods: Sequence[Pod]
    replicas: int
    """How many replicas are wanted now (the spec's, or the autoscaler's choice)."""
    lost_nodes: frozenset[str] = frozenset()
    """Nodes that failed or were drained: their pods are gone."""
    request: PodRequest | None = None
    """What the spec asks of each pod (None: whatever the placement holds)."""
    device_memory_mib: dict[str, int] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)

    @cached_property
    def template(self) -> str:
        """What the spec's pods are made from (`pod_template`)."""
        return pod_template(self.workload.spec)


@dataclass
class Decision:
    create: list[Pod] = field(default_factory=list)
    delete: list[Pod] = field(default_factory=list)
    stages: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Pod id -> the stage and restart count now observed, for pods where they changed."""
    status: WorkloadStatus | None = None
    """The new status, or None when it did not change."""
    phases: list[PhaseState] = field(default_factory=list)
    """Every phase passed through, in order (for the history)."""
    events: list[WorkloadEvent] = field(default_factory=list)
    torn_down: bool = False
    next_check: datetime | None = None
    """When the observed state will next change by itself (None: only when told)."""
    replaced: set[int] = field(default_factory=set)
    """Replicas whose old pods this decision removed to have them placed anew."""


def phase_path(source: Phase, target: Phase) -> list[Phase]:
    """The shortest chain of allowed transitions from `source` to `target` (excluding
    `source`); empty when already there."""
    if source is target:
        return []
    queue: deque[tuple[Phase, list[Phase]]] = deque([(source, [])])
    seen = {source}
    while queue:
        phase, path = queue.popleft()
        for nxt in sorted(TRANSITIONS[phase], key=lambda p: p.value):
            if nxt in seen or nxt is Phase.Unknown:
                continue
            if nxt is target:
                return [*path, nxt]
            seen.add(nxt)
            queue.append((nxt, [*path, nxt]))
    raise ValueError(f"no path from {source.value} to {target.value}")


def _event(
    workload: Workload,
    now: datetime,
    reason: str,
    message: str,
    *,
    warning: bool = False,
    pod: str | None = None,
) -> WorkloadEvent:
    return WorkloadEvent.of(
        workload.id, now, reason, message, source=SOURCE, warning=warning, pod=pod
    )


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


def _stage_events(
    workload: Workload, pod: Pod, state: PodState, now: datetime
) -> list[WorkloadEvent]:
    """Events for a pod whose stage changed since it was last seen; stages a time jump went
    past in the normal progression are reported too, in order."""
    stages = [state.stage]
    if state.stage in _PROGRESSION:
        start = 0
        if pod.last_stage in _PROGRESSION:
            start = _PROGRESSION.index(Stage(pod.last_stage)) + 1
        stages = list(_PROGRESSION[start : _PROGRESSION.index(state.stage) + 1])
    image = str(workload.spec.get("image", ""))
    out = []
    for stage in stages:
        reason, template, warning = _STAGE_EVENTS[stage]
        text = template.format(image=image, message=state.message, node=pod.node)
        out.append(_event(workload, now, reason, text, warning=warning, pod=pod.name))
    return out


def _new_pod(
    view: WorkloadView, gang: GangPlacement, index: int, template: str, now: datetime
) -> Pod:
    placed = gang.pods[index]
    workload = view.workload
    return Pod(
        id=str(uuid.uuid4()),
        workload_id=workload.id,
        name=pod_name(workload.name, gang.replica, placed.index),
        replica=gang.replica,
        index=placed.index,
        template=template,
        node=placed.node,
        gpu_devices=placed.gpu_devices,
        gpus=held_gpus(placed, view.device_memory_mib.get(placed.node, 0)),
        created_at=now,
        started_at=now,
        plan=plan_pod(workload.spec, view.timings),
    )


def _observe(pod: Pod, view: WorkloadView, now: datetime) -> PodState:
    """What the cluster reports about `pod` at `now` (its node may have failed)."""
    faults = pod.faults
    if pod.node in view.lost_nodes:
        faults = replace(faults, node_lost=True)
    return observe(pod.plan, pod.started_at, faults, now)


def _create(decision: Decision, workload: Workload, pod: Pod, now: datetime, why: str = "") -> None:
    decision.create.append(pod)
    text = f"Created pod {pod.name} on {pod.node}{why}"
    decision.events.append(_event(workload, now, "Created", text, pod=pod.name))


def _remove(decision: Decision, workload: Workload, pod: Pod, now: datetime) -> None:
    decision.delete.append(pod)
    decision.events.append(_event(workload, now, "Killing", "Stopping container nim", pod=pod.name))


def _delete_all(view: WorkloadView, decision: Decision, now: datetime) -> None:
    for pod in view.pods:
        _remove(decision, view.workload, pod, now)


def _surge_settled(view: WorkloadView) -> bool:
    """Whether a roll may replace a replica now: a serving workload first asks the scheduler
    for one more replica (`surge_replicas`), and waits until it is placed or refused."""
    status = view.workload.status
    if status.phase not in _SERVING:
        return True
    if status.surge_replicas == 0:
        return False  # asked for in this pass; the scheduler answers in its next cycle
    return len(view.gangs) > view.replicas or bool(status.pending_messages)


def _outdated(view: WorkloadView) -> set[int]:
    """Replicas placed for resources the spec no longer asks for."""
    request = view.request
    if request is None:
        return set()
    return {g.replica for g in view.gangs if not placed_as_asked(g, request)}


def _place(view: WorkloadView, decision: Decision, now: datetime) -> list[Pod]:
    """Make the pods match the placement; roll old-template pods one replica at a time.
    Returns the pods there will be.

    A replica rolls in place (new pods on its devices) unless the new spec asks for other
    resources: then its pods go and the scheduler places it anew (`replaced_replicas`); until
    it has, its old placement gets no pods and the roll waits."""
    workload = view.workload
    template = view.template
    outdated = _outdated(view)
    awaiting = outdated & set(workload.status.replaced_replicas)
    existing = {pod.key: pod for pod in view.pods}
    kept: list[Pod] = []
    wanted_keys: set[tuple[int, int]] = set()
    stale_replicas: set[int] = set()
    for gang in view.gangs:
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
                if pod.node in view.lost_nodes and pod.last_stage != Stage.NODE_LOST:
                    # the scheduler moved it before its loss was observed: report it still
                    decision.events += _stage_events(workload, pod, _observe(pod, view, now), now)
                _remove(decision, workload, pod, now)
            _create(decision, workload, _new_pod(view, gang, position, template, now), now)
    for pod in view.pods:
        if pod.key not in wanted_keys:
            _remove(decision, workload, pod, now)
    pods = kept + decision.create
    renewed = [p for p in pods if p.template == template]
    if (
        stale_replicas
        and not awaiting
        and _surge_settled(view)
        and all(_observe(p, view, now).ready for p in renewed)
    ):
        # every pod of the new spec serves (the surge replica's first, if it could be placed):
        # replace the next replica
        replica = min(stale_replicas)
        gang = next(g for g in view.gangs if g.replica == replica)
        for position, placed in enumerate(gang.pods):
            old = next(p for p in pods if p.key == (replica, placed.index))
            if old.template == template:
                continue
            _remove(decision, workload, old, now)
            if replica in outdated:
                decision.replaced.add(replica)
                pods = [p for p in pods if p is not old]
                continue
            new = _new_pod(view, gang, position, template, now)
            _create(decision, workload, new, now, " (rolling to the new spec)")
            pods = [new if p is old else p for p in pods]
    return pods


def _target(
    view: WorkloadView, pods: Sequence[Pod], states: dict[str, PodState]
) -> tuple[Phase, str | None, str | None, int]:
    """The phase the observation calls for, its message and reason, and the ready replicas."""
    workload = view.workload
    status = workload.status
    template = view.template
    failed = [states[p.id] for p in pods if states[p.id].stage is Stage.IMAGE_PULL_BACK_OFF]
    by_replica: dict[int, list[Pod]] = {}
    for pod in pods:
        by_replica.setdefault(pod.replica, []).append(pod)
    gang_size = {g.replica: len(g.pods) for g in view.gangs}
    ready = {
        replica
        for replica, members in by_replica.items()
        if replica in gang_size
        and len(members) == gang_size[replica]
        and all(states[p.id].ready for p in members)
    }
    wanted = view.replicas
    current = {
        r for r in ready if r < wanted and all(p.template == template for p in by_replica[r])
    }
    if failed:
        return Phase.Failed, failed[0].message, "ImagePullBackOff", len(ready)
    if len(current) == wanted:
        return Phase.Running, None, None, len(ready)
    rolling = any(p.template != template for p in pods) or (
        workload.generation > status.observed_generation
    )
    serving = min(status.serving_replicas, wanted)
    if status.phase in _SERVING and rolling:
        return Phase.Updating, f"{len(current)} of {wanted} replicas updated", None, len(ready)
    if status.phase in _SERVING:
        lost = [r for r in range(serving) if r not in ready]
        unhealthy = any(states[p.id].stage in UNHEALTHY for p in pods)
        if lost or unhealthy:
            message = f"{len(ready)} of {wanted} replicas ready"
            return Phase.Degraded, message, None, len(ready)
        return Phase.Running, None, None, len(ready)  # only new replicas are still starting
    if not view.gangs:
        pending = status.pending_messages
        message = str(pending[0]["userMessage"]) if pending else "Waiting for the scheduler"
        reason = pending[0].get("phaseReason") if pending else None
        return Phase.Pending, message, reason, 0
    return Phase.Initializing, f"{len(ready)} of {wanted} replicas ready", None, len(ready)


def _next_check(states: Iterable[PodState]) -> datetime | None:
    times = [s.next_change for s in states if s.next_change is not None]
    return min(times) if times else None


def _with_phase(
    status: WorkloadStatus,
    target: Phase,
    message: str | None,
    reason: str | None,
    now: datetime,
    decision: Decision,
) -> WorkloadStatus:
    state = status.phase_state
    for step in phase_path(state.phase, target):
        last = step is target
        state = transition(
            state, step, now, message=message if last else None, reason=reason if last else None
        )
        decision.phases.append(state)
    if state.phase is target and (state.message, state.reason) != (message, reason):
        state = transition(state, target, now, message=message, reason=reason)
    return status.with_phase(state)


def reconcile(view: WorkloadView, now: datetime) -> Decision:
    """What to do for one workload at `now` (see the module docstring)."""
    workload = view.workload
    decision = Decision()
    status = workload.status
    wants_running = workload.desired_phase is DesiredPhase.Running and workload.deleted_at is None
    if not wants_running:
        _delete_all(view, decision, now)
        if workload.deleted_at is not None or workload.desired_phase is DesiredPhase.Deleted:
            target, message = Phase.Deleting, "Tearing down"
            decision.torn_down = True
        else:
            target, message = Phase.Stopped, None
        new = _with_phase(status, target, message, None, now, decision)
        new = replace(new, running_pods=0, replaced_replicas=())
        conditions = set_condition(new.conditions, "Ready", False, now, reason=target.value)
        new = replace(new, conditions=conditions)
        decision.status = new if new != status else None
        return decision

    if status.phase is Phase.Creating and not view.gangs and not status.pending_messages:
        return decision  # the scheduler has not looked yet: its answer makes this due again
    pods = _place(view, decision, now)
    deleted = {p.id for p in decision.delete}
    pods = [p for p in pods if p.id not in deleted]
    states = {p.id: _observe(p, view, now) for p in pods}
    for pod in pods:
        state = states[pod.id]
        if (pod.last_stage, pod.restarts) != (state.stage.value, state.restarts):
            decision.stages[pod.id] = (state.stage.value, state.restarts)
        if pod.last_stage != state.stage.value:
            decision.events += _stage_events(workload, pod, state, now)
    target, message, reason, ready = _target(view, pods, states)
    new = _with_phase(status, target, message, reason, now, decision)
    running = target is Phase.Running
    replaced = {*status.replaced_replicas, *decision.replaced} & _outdated(view)
    new = replace(
        new,
        surge_replicas=1 if target is Phase.Updating else 0,
        replaced_replicas=tuple(sorted(replaced)),
        running_pods=sum(1 for s in states.values() if s.ready),
        observed_generation=workload.generation if running else status.observed_generation,
        serving_replicas=view.replicas if running else min(status.serving_replicas, view.replicas),
        conditions=_conditions(new, view, ready, now),
    )
    decision.status = new if new != status else None
    decision.next_check = _next_check(states.values())
    return decision


def _conditions(
    status: WorkloadStatus, view: WorkloadView, ready: int, now: datetime
) -> tuple[Condition, ...]:
    placed = len(view.gangs)
    conditions = set_condition(
        status.conditions,
        "Scheduled",
        placed >= view.replicas,
        now,
        reason=None if placed >= view.replicas else "Unschedulable",
        message=f"{placed} of {view.replicas} replicas placed",
    )
    return set_condition(
        conditions,
        "Ready",
        status.phase is Phase.Running,
        now,
        reason=status.phase.value,
        message=f"{ready} of {view.replicas} replicas ready",
    )


__all__ = ["Decision", "WorkloadView", "phase_path", "reconcile"]
