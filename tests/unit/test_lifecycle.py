"""The lifecycle engine's decision (pure) from what a cluster reports: the phase paths it
records, table-driven phases from sets of observed pods (of any backend: pods without GPU
devices, replicas that are only a pod's ordinal), a cluster's refusals, teardown, and that a
second decision on its own result changes nothing."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimplane.domain.backend import (
    ClusterError,
    DesiredState,
    Observation,
    ObservedPod,
    PendingReason,
)
from nimplane.domain.lifecycle import decide, desired_state, phase_path
from nimplane.domain.phases import TRANSITIONS, Phase
from nimplane.domain.workloads import DesiredPhase, Project, Workload, WorkloadStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
PROJECT = Project("1", "default", "runai-default", "1", "default", "c", 1001)
SPEC: dict[str, Any] = {"image": "nvcr.io/nim/meta/llama:1", "replicas": 2}
MULTI: dict[str, Any] = {**SPEC, "multiNode": {"workers": 1}}


def workload(
    phase: Phase = Phase.Initializing,
    desired: DesiredPhase = DesiredPhase.Running,
    *,
    spec: dict[str, Any] | None = None,
    serving: int = 0,
    deleted: bool = False,
    message: str | None = None,
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
            phase_message=message,
            serving_replicas=serving,
            observed_generation=1,
        ),
        resource_version=1,
        generation=1,
        created_at=T0,
        created_by="t",
        updated_at=T0,
        updated_by="t",
        deleted_at=T0 if deleted else None,
    )


def pod(
    replica: int,
    index: int = 0,
    *,
    state: str = "Ready",
    node: str | None = "node-a",
    current: bool = True,
    message: str | None = None,
) -> ObservedPod:
    """A pod as a backend without GPU devices reports it (Kubernetes: `replica` is the pod's
    ordinal, no `gpu_devices`)."""
    ready = state == "Ready"
    phase = "Pending" if state in {"Pulling", "ImagePullBackOff"} or node is None else "Running"
    return ObservedPod(
        id=f"uid-{replica}-{index}",
        name=f"llama-{replica}" if index == 0 else f"llama-{replica}-{index}",
        replica=replica,
        index=index,
        node=node,
        k8s_phase=phase,
        ready=ready,
        restarts=0,
        state=state,
        message=message,
        current=current,
        created_at=T0,
    )


def seen(*pods: ObservedPod, **fields: Any) -> Observation:
    return Observation(pods=pods, present=bool(pods), **fields)


def desired(w: Workload, replicas: int = 2) -> DesiredState:
    return desired_state(w, replicas)


@pytest.mark.parametrize(
    ("source", "target", "path"),
    [
        pytest.param(Phase.Creating, Phase.Initializing, ["Pending", "Initializing"], id="create"),
        pytest.param(Phase.Stopped, Phase.Pending, ["Resuming", "Pending"], id="resume"),
        pytest.param(Phase.Running, Phase.Stopped, ["Stopping", "Stopped"], id="stop"),
        pytest.param(Phase.Running, Phase.Deleting, ["Deleting"], id="delete"),
        pytest.param(Phase.Running, Phase.Running, [], id="stay"),
    ],
)
def test_phase_paths(source: Phase, target: Phase, path: list[str]) -> None:
    assert [p.value for p in phase_path(source, target)] == path


@given(st.sampled_from(list(itertools.product(Phase, Phase))))
def test_every_phase_path_follows_the_table(pair: tuple[Phase, Phase]) -> None:
    source, target = pair
    try:
        path = phase_path(source, target)
    except ValueError:
        return  # unreachable without Unknown (Deleting is the end)
    steps = [source, *path]
    assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(steps))


NOT_SCHEDULED = seen(
    pod(0, node=None, state="Pending"),
    pending=(PendingReason("Unschedulable", "Not enough GPUs in node pool default"),),
)

CASES = [
    pytest.param(
        workload(),
        seen(pod(0), pod(1)),
        Phase.Running,
        None,
        id="every-replica-ready-running",
    ),
    pytest.param(
        workload(),
        seen(pod(0), pod(1, state="LoadingModel")),
        Phase.Initializing,
        "1 of 2 replicas ready",
        id="one-loading-initializing",
    ),
    pytest.param(
        workload(),
        NOT_SCHEDULED,
        Phase.Pending,
        "Not enough GPUs in node pool default",
        id="unscheduled-pending-with-the-clusters-reason",
    ),
    pytest.param(
        workload(phase=Phase.Running, serving=2),
        seen(pod(0), pod(1, state="CrashLoopBackOff")),
        Phase.Degraded,
        "1 of 2 replicas ready",
        id="crash-loop-degraded",
    ),
    pytest.param(
        workload(phase=Phase.Running, serving=2),
        seen(pod(0), pod(1, current=False)),
        Phase.Updating,
        "1 of 2 replicas updated",
        id="old-pod-updating",
    ),
    pytest.param(
        workload(),
        seen(pod(0, state="ImagePullBackOff", message="Back-off pulling image"), pod(1)),
        Phase.Failed,
        "Back-off pulling image",
        id="image-pull-back-off-failed",
    ),
    pytest.param(
        workload(spec=MULTI),
        seen(pod(0), pod(0, 1), pod(1), pod(1, 1)),
        Phase.Running,
        None,
        id="multi-node-gangs-ready",
    ),
    pytest.param(
        workload(spec=MULTI),
        seen(pod(0), pod(0, 1), pod(1)),
        Phase.Initializing,
        "1 of 2 replicas ready",
        id="multi-node-worker-missing",
    ),
    pytest.param(
        workload(phase=Phase.Running, serving=2),
        seen(pod(0), pod(1), failure="admission webhook denied the NIMService"),
        Phase.Running,
        "admission webhook denied the NIMService",
        id="permanent-failure-keeps-phase-shows-message",
    ),
]


@pytest.mark.parametrize(("before", "observation", "phase", "message"), CASES)
def test_phase_from_observed_pods(
    before: Workload, observation: Observation, phase: Phase, message: str | None
) -> None:
    decision = decide(desired(before), observation, NOW)
    status = decision.status or before.status
    assert status.phase is phase
    assert status.phase_message == message


def test_pending_falls_back_to_the_schedulers_stored_reason() -> None:
    waiting = ({"phaseReason": "OverLimit", "userMessage": "Project p would exceed its limit"},)
    w = workload(phase=Phase.Creating)
    w = replace(w, status=replace(w.status, pending_messages=waiting))
    decision = decide(desired(w), Observation(), NOW)
    assert decision.status is not None
    assert decision.status.phase is Phase.Pending
    assert decision.status.phase_reason == "OverLimit"
    assert decision.status.phase_message == "Project p would exceed its limit"


@pytest.mark.parametrize(
    ("error", "changed", "retry"),
    [
        pytest.param(ClusterError("etcd timeout", retryable=True), False, True, id="retryable"),
        pytest.param(ClusterError("CRD not installed", retryable=False), True, False, id="perm"),
    ],
)
def test_a_cluster_error_never_changes_the_phase(
    error: ClusterError, changed: bool, retry: bool
) -> None:
    before = workload(phase=Phase.Running, serving=2)
    decision = decide(desired(before), error, NOW)
    assert decision.retry is retry
    assert (decision.status is not None) is changed
    status = decision.status or before.status
    assert status.phase is Phase.Running
    if changed:
        assert status.phase_message == str(error)


@pytest.mark.parametrize(
    ("before", "observation", "phase", "torn_down"),
    [
        pytest.param(
            workload(desired=DesiredPhase.Deleted, deleted=True),
            Observation(),
            Phase.Deleting,
            True,
            id="deleted-nothing-present-torn-down",
        ),
        pytest.param(
            workload(desired=DesiredPhase.Deleted, deleted=True),
            Observation(present=True),
            Phase.Deleting,
            False,
            id="deleted-objects-left-waits",
        ),
        pytest.param(
            workload(desired=DesiredPhase.Stopped),
            seen(pod(0, state="Ready")),
            Phase.Stopping,
            False,
            id="stopped-pods-left-stopping",
        ),
        pytest.param(
            workload(desired=DesiredPhase.Stopped),
            Observation(),
            Phase.Stopped,
            False,
            id="stopped",
        ),
        pytest.param(
            workload(desired=DesiredPhase.Stopped),
            Observation(present=True),
            Phase.Stopped,
            False,
            id="stopped-object-kept-at-zero-replicas",
        ),
    ],
)
def test_going_away(
    before: Workload, observation: Observation, phase: Phase, torn_down: bool
) -> None:
    before = replace(before, status=replace(before.status, phase=Phase.Running))
    wanted = desired(before)
    assert wanted.replicas == 0
    decision = decide(wanted, observation, NOW)
    assert decision.status is not None
    assert decision.status.phase is phase
    assert decision.torn_down is torn_down


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["Pulling", "LoadingModel", "Ready", "CrashLoopBackOff", "NotReady"]),
            st.booleans(),
        ),
        max_size=5,
        unique_by=lambda t: t[0],
    ),
    st.sampled_from([Phase.Creating, Phase.Initializing, Phase.Running, Phase.Degraded]),
    st.sampled_from(list(DesiredPhase)),
)
def test_deciding_on_its_own_result_again_changes_nothing(
    shown: list[tuple[int, str, bool]], phase: Phase, wanted: DesiredPhase
) -> None:
    serving = 2 if phase in {Phase.Running, Phase.Degraded} else 0  # as the engine leaves them
    before = workload(phase, wanted, serving=serving)
    observation = seen(*(pod(r, state=s, current=c) for r, s, c in shown))
    first = decide(desired(before), observation, NOW)
    after = replace(before, status=first.status or before.status)
    second = decide(desired(after), observation, NOW)
    assert (second.status, second.phases) == (None, [])
