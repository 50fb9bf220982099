"""Pods: what the cluster runs for a NIM service, how its pods are named (the leader of each
replica, and its workers when the service spans several nodes), and what makes two pods the
same template."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nimplane.domain.simulation import PodFaults, PodPlan


def pod_name(workload_name: str, replica: int, index: int) -> str:
    """Replica `replica`'s leader is `<name>-<replica>`; its worker `i` is `<name>-<replica>-<i>`
    (the LeaderWorkerSet convention the NIM Operator uses for multi-node services)."""
    base = f"{workload_name}-{replica}"
    return base if index == 0 else f"{base}-{index}"


@dataclass(frozen=True)
class Pod:
    """A pod of a NIM service as the cluster holds it: where it runs, what it holds, and (on
    the simulated cluster) its plan and injected faults."""

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
    """The stage the lifecycle engine last reported (for events on a change)."""
    restarts: int = 0
    """The restart count the lifecycle engine last reported."""

    @property
    def key(self) -> tuple[int, int]:
        return (self.replica, self.index)


def pod_template(spec: Mapping[str, Any]) -> str:
    """What a pod is made from: the spec without the replica count and the autoscaling policy
    (changing those adds or removes pods, it does not replace them)."""
    template = {k: v for k, v in spec.items() if k not in {"replicas", "autoscaling"}}
    encoded = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
