"""The simulated cluster's pods (`Pod`) and how one behaves over time: a pure function of its
plan, its faults and `now`.

A pod's life is fixed when it is created (`PodPlan`: how long the image pull and the model
load take, whether the pull fails, the readiness probe) and changed only by faults injected
later (a crash loop, a failing readiness probe, its node failing). `observe(pod, now)` says
what Kubernetes would report at `now`, and when that will next change by itself, so the
lifecycle engine knows when to look again. Nothing here ticks: the same pod and `now` always
give the same answer, which makes the simulated cluster deterministic under any clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from nimplane.domain.images import parse_image_reference

CRASH_BACKOFF_START: Final = 10.0
CRASH_BACKOFF_MAX: Final = 300.0
"""Kubernetes' restart back-off: 10 s doubling up to 5 minutes."""


class Stage(StrEnum):
    """Where a pod is in its life (what `kubectl describe` would show as the container state)."""

    PULLING = "Pulling"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    LOADING_MODEL = "LoadingModel"
    PROBING = "Probing"
    READY = "Ready"
    NOT_READY = "NotReady"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    NODE_LOST = "NodeLost"


UNHEALTHY: Final = frozenset({Stage.NOT_READY, Stage.CRASH_LOOP_BACK_OFF, Stage.NODE_LOST})
"""Stages of a pod that was up and is not any more."""


@dataclass(frozen=True)
class ReadinessProbe:
    """`probes.readiness` with Kubernetes' defaults (docs/decisions.md D5)."""

    initial_delay_seconds: float = 0
    period_seconds: float = 10
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class PodPlan:
    """What a pod will do, decided when it is created."""

    pull_seconds: float
    load_seconds: float
    probe: ReadinessProbe
    pull_error: str | None = None
    """Why the image cannot be pulled (the pod then stays in ImagePullBackOff)."""


@dataclass(frozen=True)
class PodFaults:
    crash_since: datetime | None = None
    unready_since: datetime | None = None
    node_lost: bool = False


@dataclass(frozen=True)
class PodState:
    """What the cluster reports about a pod at one instant."""

    stage: Stage
    k8s_phase: str  # Pending | Running | Unknown
    ready: bool
    restarts: int
    message: str
    next_change: datetime | None
    """When this state will change by itself (None: not without something happening)."""


_PENDING_STAGES: Final = frozenset({Stage.PULLING, Stage.IMAGE_PULL_BACK_OFF})


def last_reported(stage: str | None, restarts: int) -> PodState:
    """A pod's state as the lifecycle engine last recorded it (`stage` None: not seen yet)."""
    seen = Stage(stage) if stage else Stage.PULLING
    if seen is Stage.NODE_LOST:
        k8s_phase = "Unknown"
    elif seen in _PENDING_STAGES:
        k8s_phase = "Pending"
    else:
        k8s_phase = "Running"
    return PodState(seen, k8s_phase, seen is Stage.READY, restarts, seen.value, None)


def _crash_restarts(seconds: float) -> tuple[int, float]:
    """Restarts after crashing for `seconds`, and seconds until the next one."""
    restarts, elapsed, backoff = 1, 0.0, CRASH_BACKOFF_START
    while elapsed + backoff <= seconds:
        elapsed += backoff
        restarts += 1
        backoff = min(CRASH_BACKOFF_MAX, backoff * 2)
    return restarts, elapsed + backoff - seconds


def ready_at(plan: PodPlan, started: datetime) -> datetime:
    """When a healthy pod started at `started` turns ready: the first probe after the model
    is loaded, then `success_threshold - 1` more periods."""
    loaded = plan.pull_seconds + plan.load_seconds
    probe = plan.probe
    period = max(probe.period_seconds, 1e-9)
    first = probe.initial_delay_seconds + plan.pull_seconds
    ticks = max(0, math.ceil((loaded - first) / period - 1e-9))
    seconds = first + (ticks + max(1, probe.success_threshold) - 1) * period
    return max(started + timedelta(seconds=seconds), _loaded_at(plan, started))


def _loaded_at(plan: PodPlan, started: datetime) -> datetime:
    """When the model is loaded, in the very datetime arithmetic `observe` uses (summing the
    seconds first could round a microsecond differently)."""
    return started + timedelta(seconds=plan.pull_seconds) + timedelta(seconds=plan.load_seconds)


def observe(plan: PodPlan, started: datetime, faults: PodFaults, now: datetime) -> PodState:
    """The state at `now` of a pod whose timeline began at `started`."""
    if faults.node_lost:
        return PodState(Stage.NODE_LOST, "Unknown", False, 0, "the node is not ready", None)
    # every instant compared as a datetime, so that `next_change` is exactly when it changes
    pulled = started + timedelta(seconds=plan.pull_seconds)
    if plan.pull_error is not None:
        if now < pulled:
            return PodState(Stage.PULLING, "Pending", False, 0, "Pulling image", pulled)
        return PodState(Stage.IMAGE_PULL_BACK_OFF, "Pending", False, 0, plan.pull_error, None)
    if faults.crash_since is not None:
        restarts, wait = _crash_restarts(max(0.0, (now - faults.crash_since).total_seconds()))
        return PodState(
            Stage.CRASH_LOOP_BACK_OFF,
            "Running",
            False,
            restarts,
            "Back-off restarting failed container",
            now + timedelta(seconds=wait),
        )
    if now < pulled:
        return PodState(Stage.PULLING, "Pending", False, 0, "Pulling image", pulled)
    loaded = _loaded_at(plan, started)
    if now < loaded:
        return PodState(Stage.LOADING_MODEL, "Running", False, 0, "Loading the model", loaded)
    ready = ready_at(plan, started)
    if now < ready:
        return PodState(Stage.PROBING, "Running", False, 0, "Readiness probe pending", ready)
    if faults.unready_since is not None:
        probe = plan.probe
        fails_at = max(faults.unready_since, ready) + timedelta(
            seconds=probe.period_seconds * max(1, probe.failure_threshold)
        )
        if now >= fails_at:
            return PodState(Stage.NOT_READY, "Running", False, 0, "Readiness probe failed", None)
        return PodState(Stage.READY, "Running", True, 0, "Ready", fails_at)
    return PodState(Stage.READY, "Running", True, 0, "Ready", None)


@dataclass(frozen=True)
class Timings:
    """How long the simulated cluster takes, at speed 1 (`speed` divides every duration)."""

    image_pull_seconds: float = 30.0
    model_load_nim_cache_seconds: float = 20.0
    model_load_pvc_seconds: float = 60.0
    model_load_download_seconds: float = 180.0
    speed: float = 1.0
    unreachable: tuple[str, ...] = ()
    """Registries (`nvcr.io`) or repositories (`nvcr.io/nim/meta`) that cannot be reached."""
    catalogue: tuple[str, ...] | None = None
    """The images that exist, as `registry/repository` (None: every image exists)."""


def _pull_error(image: str, timings: Timings) -> str | None:
    reference = parse_image_reference(image)
    if reference is None:
        return f'Failed to pull image "{image}": invalid reference format'
    path = f"{reference.registry}/{reference.repository}"
    for prefix in timings.unreachable:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return (
                f'Back-off pulling image "{image}": {reference.registry} is unreachable '
                f"(no route to {prefix})"
            )
    if timings.catalogue is not None and path not in timings.catalogue:
        return f'Back-off pulling image "{image}": {path} not found in the registry'
    return None


def plan_pod(spec: Mapping[str, Any], timings: Timings) -> PodPlan:
    """A new pod's plan from its NIM service spec: the image decides the pull, the model
    store the load time (a warm NIM cache is fast, a PVC slower, a download slowest)."""
    store = spec.get("modelStore") or {}
    if store.get("nimCache"):
        load = timings.model_load_nim_cache_seconds
    elif store.get("pvc"):
        load = timings.model_load_pvc_seconds
    else:
        load = timings.model_load_download_seconds
    readiness = (spec.get("probes") or {}).get("readiness") or {}
    defaults = ReadinessProbe()
    speed = max(timings.speed, 1e-9)
    probe = ReadinessProbe(
        initial_delay_seconds=readiness.get("initialDelaySeconds", defaults.initial_delay_seconds)
        / speed,
        period_seconds=readiness.get("periodSeconds", defaults.period_seconds) / speed,
        success_threshold=readiness.get("successThreshold", defaults.success_threshold),
        failure_threshold=readiness.get("failureThreshold", defaults.failure_threshold),
    )
    image = str(spec.get("image", ""))
    return PodPlan(
        pull_seconds=timings.image_pull_seconds / speed,
        load_seconds=load / speed,
        probe=probe,
        pull_error=_pull_error(image, timings),
    )


@dataclass(frozen=True)
class Pod:
    """A pod of a NIM service as the simulated cluster holds it: where it runs, what it holds,
    its plan and its injected faults."""

    id: str
    workload_id: str
    name: str
    replica: int
    index: int
    template: str
    """The hash of the spec it was made from (a new one means the pod must be replaced)."""
    node: str
    gpu_devices: tuple[int, ...]
    gpus: float
    created_at: datetime
    started_at: datetime
    plan: PodPlan
    faults: PodFaults = field(default_factory=PodFaults)
    last_stage: str | None = None
    """The stage last reported (for events on a change, and what `observe` shows)."""
    restarts: int = 0
    """The restart count last reported."""

    @property
    def key(self) -> tuple[int, int]:
        return (self.replica, self.index)
