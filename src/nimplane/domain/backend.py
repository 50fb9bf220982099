"""What the lifecycle engine and a cluster backend say to each other.

The engine hands each backend the state a workload should have on the cluster
(`DesiredState`); the backend converges towards it and reports what runs (`Observation`, its
pods as `ObservedPod`). Both backends, the simulated cluster and Kubernetes (the NIM Operator
and KAI-Scheduler), speak this and nothing else, and the engine decides phases from
observations only, the same way for both. Events about pods are the cluster's: a backend
records them itself (the simulated cluster as it changes its pods, the Kubernetes adapter from
the cluster's Event objects), the engine records phase changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple

from nimplane.domain.conditions import Condition
from nimplane.domain.scheduling.model import GangPlacement
from nimplane.domain.workloads import Workload

POD_PHASES: Final = frozenset({"Pending", "Running", "Succeeded", "Failed", "Unknown"})
"""Kubernetes' pod phases (`ObservedPod.k8s_phase`)."""


@dataclass(frozen=True)
class DesiredState:
    """What one workload should be on the cluster now."""

    workload: Workload
    """Its identity, project (namespace), spec and desired phase; a deleted one (`deleted_at`
    set, or desired phase Deleted) should have nothing left on the cluster."""
    replicas: int
    """Replicas wanted now: 0 when stopped or deleted; the spec's count, or the autoscaler's
    choice on the simulated cluster (on Kubernetes an HPA the NIM Operator makes scales)."""
    gangs: tuple[GangPlacement, ...] = ()
    """Where nimplane's scheduler placed each replica (the simulated cluster only; on
    Kubernetes KAI-Scheduler places the pods and this is empty)."""
    surge: int = 0
    """Replicas placed beyond `replicas` while pods roll to a new spec (simulated cluster)."""

    @property
    def running(self) -> bool:
        return self.replicas > 0


@dataclass(frozen=True)
class ObservedPod:
    """One pod of a workload as the cluster reports it."""

    id: str
    name: str
    replica: int
    """Which replica it serves (a multi-node replica is one leader and its workers)."""
    index: int
    """0 for a replica's leader, i for its worker i."""
    node: str | None
    """The node it is bound to (None: not scheduled yet)."""
    k8s_phase: str
    """Pending | Running | Succeeded | Failed | Unknown."""
    ready: bool
    restarts: int
    state: str
    """What its container does, as `kubectl describe` would say: Pulling, ContainerCreating,
    LoadingModel, Probing, Ready, NotReady, CrashLoopBackOff, ImagePullBackOff, NodeLost..."""
    message: str | None
    current: bool
    """Made from the workload's current spec (False: an old pod a roll still has to replace)."""
    created_at: datetime
    gpus: float = 0.0
    """GPUs it holds: whole devices, or the share of one."""
    gpu_devices: tuple[int, ...] = ()
    """Which devices of its node (where the backend knows)."""

    @property
    def image_unavailable(self) -> bool:
        """The image cannot be pulled: the workload is Failed until its spec changes."""
        return self.state in {"ImagePullBackOff", "ErrImagePull", "InvalidImageName"}


@dataclass(frozen=True)
class PendingReason:
    """Why a workload's pods wait for a node (KAI's PodGroup condition, or nimplane's
    scheduler on the simulated cluster)."""

    reason: str
    message: str


@dataclass(frozen=True)
class Observation:
    """What the cluster runs for one workload, as last observed."""

    pods: tuple[ObservedPod, ...] = ()
    present: bool = False
    """Anything of the workload is left on the cluster (objects or pods): teardown waits."""
    pending: tuple[PendingReason, ...] = ()
    conditions: tuple[Condition, ...] = ()
    """The cluster's own conditions about the workload (the NIMService's on Kubernetes)."""
    urls: tuple[str, ...] = ()
    """Where the service answers (the NIMService's endpoints on Kubernetes)."""
    failure: str | None = None
    """Why the cluster keeps refusing the workload (a permanent error): shown as its phase
    message; None when it is fine or the error is one to retry."""
    replaced_replicas: tuple[int, ...] = ()
    """Replicas whose pods a roll removed to have them placed anew (simulated cluster)."""
    next_change: datetime | None = None
    """When this observation will change by itself (the simulated cluster knows; None:
    only when something happens, which the backend signals by making the workload due)."""


class ClusterError(Exception):
    """The cluster refused or could not be reached. `retryable`: a conflict, throttling, a
    5xx or a timeout, tried again with back-off and never failing a workload; else the
    cluster will keep refusing the same request (shown in `phaseMessage`)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Forwarded(NamedTuple):
    """A NIM service's answer to one HTTP request forwarded to it (`ClusterBackend.forward`)."""

    status: int
    headers: dict[str, str]
    """The answer's headers worth passing on (`content-type` at least), lower-case names."""
    body: bytes


__all__ = [
    "POD_PHASES",
    "ClusterError",
    "DesiredState",
    "Forwarded",
    "Observation",
    "ObservedPod",
    "PendingReason",
]
