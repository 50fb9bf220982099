"""The lifecycle engine's decision for one workload: level-based and pure.

`desired_state(workload, replicas, gangs)` says what the cluster should run for a workload;
`decide(desired, observed, now)` maps what the cluster reports (`Observation`, or the
`ClusterError` it refused with) to the workload's new status: phase through the one transition
function, conditions, counts, and when to look again. It knows nothing of a backend: the same
decision serves the simulated cluster and Kubernetes. Run it twice on the same input and the
second run changes nothing.

Phases (docs/decisions.md D8): Creating -> Pending (nothing scheduled) -> Initializing (pods
pulling, loading, probing) -> Running (every wanted replica ready); Updating while pods roll to
a new spec; Degraded when a replica that was serving is not; Failed when an image cannot be
pulled; Stopping -> Stopped and Resuming for suspend/resume; Deleting until torn down. A phase
reached through others (Stopped -> Resuming -> Pending) passes through each, so every step is
recorded. A cluster that keeps refusing a workload leaves its phase alone and shows why in
its phase message; one that fails for a while (`ClusterError.retryable`) changes nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from nimplane.domain.backend import ClusterError, DesiredState, Observation, ObservedPod
from nimplane.domain.conditions import Condition, set_condition
from nimplane.domain.phases import TRANSITIONS, Phase, PhaseState, transition
from nimplane.domain.scheduling.model import GangPlacement
from nimplane.domain.workloads import DesiredPhase, Workload, WorkloadStatus

_SERVING: Final = frozenset({Phase.Running, Phase.Degraded, Phase.Updating})
UNHEALTHY_STATES: Final = frozenset({"NotReady", "CrashLoopBackOff", "NodeLost"})
"""Container states of a pod that was up and is not any more."""
IMAGE_PULL_REASON: Final = "ImagePullBackOff"


@dataclass
class Decision:
    status: WorkloadStatus | None = None
    """The new status, or None when it did not change."""
    phases: list[PhaseState] = field(default_factory=list)
    """Every phase passed through, in order (for the history)."""
    torn_down: bool = False
    next_check: datetime | None = None
    """When the observed state will next change by itself (None: only when told)."""
    retry: bool = False
    """The cluster failed for a while: back off and look again, nothing changed."""


def wants_running(workload: Workload) -> bool:
    return workload.desired_phase is DesiredPhase.Running and workload.deleted_at is None


def desired_state(
    workload: Workload, replicas: int, gangs: Sequence[GangPlacement] = ()
) -> DesiredState:
    """What the cluster should run for `workload`: `replicas` (the spec's or the
    autoscaler's) on the stored placement while it should run, nothing once it is stopped or
    deleted; while pods roll, the scheduler's surge replica too."""
    if not wants_running(workload):
        return DesiredState(workload, 0)
    return DesiredState(workload, replicas, tuple(gangs), workload.status.surge_replicas)


def gang_size(spec: Mapping[str, Any]) -> int:
    """Pods per replica: a leader and the spec's `multiNode.workers`."""
    multi = spec.get("multiNode") or {}
    return 1 + int(multi.get("workers") or 0)


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


def _pending(status: WorkloadStatus, observation: Observation) -> tuple[str, str | None]:
    """Why nothing is scheduled: the cluster's reason when it gives one, else the one
    nimplane's scheduler stored."""
    if observation.pending:
        first = observation.pending[0]
        return first.message, first.reason
    pending = status.pending_messages
    if pending:
        reason = pending[0].get("phaseReason")
        return str(pending[0]["userMessage"]), None if reason is None else str(reason)
    return "Waiting for the scheduler", None


@dataclass(frozen=True)
class _Seen:
    """The observation grouped by replica."""

    pods: tuple[ObservedPod, ...]
    ready: set[int]
    """Replicas whose every pod (a full gang) is ready."""
    placed: int
    """Replicas whose pods are all bound to a node."""
    by_replica: dict[int, list[ObservedPod]]


def _seen(desired: DesiredState, observation: Observation) -> _Seen:
    size = gang_size(desired.workload.spec)
    by_replica: dict[int, list[ObservedPod]] = {}
    for pod in observation.pods:
        by_replica.setdefault(pod.replica, []).append(pod)
    ready = {
        r
        for r, members in by_replica.items()
        if len(members) >= size and all(p.ready for p in members)
    }
    placed = sum(1 for members in by_replica.values() if all(p.node for p in members))
    return _Seen(observation.pods, ready, placed, by_replica)


def _target(
    desired: DesiredState, seen: _Seen, observation: Observation
) -> tuple[Phase, str | None, str | None]:
    """The phase the observation calls for, its message and reason."""
    workload = desired.workload
    status = workload.status
    wanted = desired.replicas
    ready = seen.ready
    failed = [p for p in seen.pods if p.image_unavailable]
    current = {r for r in ready if r < wanted and all(p.current for p in seen.by_replica[r])}
    if failed:
        return Phase.Failed, failed[0].message, IMAGE_PULL_REASON
    if len(current) == wanted:
        return Phase.Running, None, None
    rolling = any(not p.current for p in seen.pods) or (
        workload.generation > status.observed_generation
    )
    serving = min(status.serving_replicas, wanted)
    if status.phase in _SERVING and rolling:
        return Phase.Updating, f"{len(current)} of {wanted} replicas updated", None
    if status.phase in _SERVING:
        lost = [r for r in range(serving) if r not in ready]
        unhealthy = any(p.state in UNHEALTHY_STATES for p in seen.pods)
        if lost or unhealthy:
            return Phase.Degraded, f"{len(ready)} of {wanted} replicas ready", None
        return Phase.Running, None, None  # only new replicas are still starting
    if seen.placed == 0 and not observation.replaced_replicas:
        message, reason = _pending(status, observation)
        return Phase.Pending, message, reason
    return Phase.Initializing, f"{len(ready)} of {wanted} replicas ready", None


def _refused(desired: DesiredState, message: str, now: datetime) -> Decision:
    """A permanent refusal: the phase stays, its message says why."""
    decision = Decision()
    status = desired.workload.status
    new = _with_phase(status, status.phase, message, None, now, decision)
    decision.status = new if new != status else None
    return decision


def decide(desired: DesiredState, observed: Observation | ClusterError, now: datetime) -> Decision:
    """The workload's new status from what the cluster reports (module docstring)."""
    workload = desired.workload
    status = workload.status
    if isinstance(observed, ClusterError):
        if observed.retryable:
            return Decision(retry=True)
        return _refused(desired, str(observed), now)
    observation = observed
    if not wants_running(workload):
        return _going_away(desired, observation, now)
    if observation.failure is not None:
        return _refused(desired, observation.failure, now)
    if (
        status.phase is Phase.Creating
        and not desired.gangs
        and not status.pending_messages
        and not observation.pods
        and not observation.pending
    ):
        return Decision()  # the scheduler has not looked yet: its answer makes this due again
    decision = Decision()
    seen = _seen(desired, observation)
    target, message, reason = _target(desired, seen, observation)
    new = _with_phase(status, target, message, reason, now, decision)
    running = target is Phase.Running
    new = replace(
        new,
        surge_replicas=1 if target is Phase.Updating else 0,
        replaced_replicas=observation.replaced_replicas,
        running_pods=sum(1 for p in seen.pods if p.ready),
        observed_generation=workload.generation if running else status.observed_generation,
        serving_replicas=desired.replicas
        if running
        else min(status.serving_replicas, desired.replicas),
        conditions=_conditions(new, desired, seen, observation, now),
    )
    decision.status = new if new != status else None
    decision.next_check = observation.next_change
    return decision


def _going_away(desired: DesiredState, observation: Observation, now: datetime) -> Decision:
    """Stopped or deleted: Stopping while pods are left, then Stopped (a stopped workload's
    objects stay, scaled to zero: the NIMService on Kubernetes); Deleting while anything is
    left, then torn down."""
    workload = desired.workload
    status = workload.status
    decision = Decision()
    if workload.deleted_at is not None or workload.desired_phase is DesiredPhase.Deleted:
        target, message = Phase.Deleting, "Tearing down"
        decision.torn_down = not (observation.present or observation.pods)
    else:
        target, message = (Phase.Stopping if observation.pods else Phase.Stopped), None
    new = _with_phase(status, target, message, None, now, decision)
    new = replace(
        new,
        running_pods=sum(1 for p in observation.pods if p.ready),
        replaced_replicas=(),
    )
    conditions = set_condition(new.conditions, "Ready", False, now, reason=target.value)
    new = replace(new, conditions=conditions)
    decision.status = new if new != status else None
    decision.next_check = observation.next_change
    return decision


def _conditions(
    status: WorkloadStatus,
    desired: DesiredState,
    seen: _Seen,
    observation: Observation,
    now: datetime,
) -> tuple[Condition, ...]:
    wanted = desired.replicas
    placed = max(seen.placed, len(desired.gangs))
    conditions = set_condition(
        status.conditions,
        "Scheduled",
        placed >= wanted,
        now,
        reason=None if placed >= wanted else "Unschedulable",
        message=f"{placed} of {wanted} replicas placed",
    )
    conditions = set_condition(
        conditions,
        "Ready",
        status.phase is Phase.Running,
        now,
        reason=status.phase.value,
        message=f"{len(seen.ready)} of {wanted} replicas ready",
    )
    for condition in observation.conditions:  # the cluster's own (the NIMService's)
        flag = {"True": True, "False": False}.get(condition.status)
        conditions = set_condition(
            conditions,
            condition.type,
            flag,
            now,
            reason=condition.reason,
            message=condition.message,
        )
    return conditions


__all__ = ["Decision", "decide", "desired_state", "gang_size", "phase_path", "wants_running"]
