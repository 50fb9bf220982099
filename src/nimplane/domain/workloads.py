"""The workload aggregate: what nimplane stores about one NIM service, and its vocabularies."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from nimplane.domain.conditions import Condition
from nimplane.domain.phases import Phase, PhaseState
from nimplane.domain.queries import Kind


class DesiredPhase(StrEnum):
    """What the user wants (Run:ai's `DesiredPhase`)."""

    Running = "Running"
    Stopped = "Stopped"
    Deleted = "Deleted"


@dataclass(frozen=True)
class Project:
    """A project with what a workload's metadata needs of its organisation."""

    id: str
    name: str
    namespace: str
    department_id: str
    department_name: str
    cluster_id: str
    tenant_id: int


@dataclass(frozen=True)
class WorkloadStatus:
    """What the scheduler and the lifecycle engine observed; the API never writes it."""

    phase: Phase
    phase_updated_at: datetime
    phase_message: str | None = None
    phase_reason: str | None = None
    conditions: tuple[Condition, ...] = ()
    pending_messages: tuple[dict[str, Any], ...] = ()
    placement: dict[str, Any] | None = None
    observed_generation: int = 0
    pending_seconds: int = 0
    running_seconds: int = 0
    running_pods: int = 0
    serving_replicas: int = 0
    """How many replicas were wanted when the workload was last Running: fewer ready than
    that (and than wanted now) is Degraded; replicas beyond it are still coming up."""
    surge_replicas: int = 0
    """Replicas placed beyond the wanted count: 1 while pods roll to a new spec, so the roll
    replaces a serving replica only once a new one serves (where capacity allows)."""
    autoscaler: dict[str, Any] | None = None
    """The autoscaler's state: its current replica count and recent recommendations."""
    replaced_replicas: tuple[int, ...] = ()
    """Replicas whose pods a roll removed because the new spec asks for other resources: the
    scheduler gives up their old placement and places them anew."""

    @property
    def phase_state(self) -> PhaseState:
        return PhaseState(
            phase=self.phase,
            since=self.phase_updated_at,
            message=self.phase_message,
            reason=self.phase_reason,
            pending_seconds=self.pending_seconds,
            running_seconds=self.running_seconds,
        )

    def with_phase(self, state: PhaseState) -> WorkloadStatus:
        return replace(
            self,
            phase=state.phase,
            phase_updated_at=state.since,
            phase_message=state.message,
            phase_reason=state.reason,
            pending_seconds=state.pending_seconds,
            running_seconds=state.running_seconds,
        )


@dataclass
class Workload:
    """One NIM service as stored: metadata, desired state and spec, and the observed status.

    `resource_version` changes with every write of metadata, desired phase or spec (what the
    NIM API returns and `If-Match` guards); status writes do not change it.
    """

    id: str
    name: str
    project: Project
    workload_type: str
    spec: dict[str, Any]
    desired_phase: DesiredPhase
    status: WorkloadStatus
    resource_version: int
    generation: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    deleted_at: datetime | None = None
    deleted_by: str | None = None
    torn_down_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    change_seq: int = 0
    """Bumped by every write of the spec, desired phase or placement and by everything that
    makes a workload due (a fault on its pods or nodes, a metric): what a reconcile saw."""

    @property
    def priority_class(self) -> str:
        return str(self.spec["priorityClass"])

    @property
    def preemptibility(self) -> str:
        return str(self.spec["preemptibility"])

    @property
    def category(self) -> str:
        return str(self.spec["category"])


@dataclass(frozen=True)
class SchedulingRecord:
    """What the scheduler reads of a live workload every cycle: its identity and what it
    wants. Its spec changes only with `generation` and its placement only with `change_seq`,
    so the scheduler fetches those (`WorkloadRepo.specs`, `WorkloadRepo.placements`) only
    when they are new to it."""

    id: str
    name: str
    project_id: str
    namespace: str
    generation: int
    change_seq: int
    """As `Workload.change_seq`."""
    wants_to_run: bool
    """Desired phase Running and not deleted."""
    phase: Phase
    surge_replicas: int
    autoscaler: dict[str, Any] | None
    replaced_replicas: tuple[int, ...]


@dataclass(frozen=True)
class StoredPlacement:
    """A workload's placement and pending scheduling messages (the scheduler's columns)."""

    change_seq: int
    placement: dict[str, Any] | None
    pending_messages: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class StoredSpec:
    """A workload's spec at one generation, with its creation time (the scheduler's model of
    a workload is built from these)."""

    generation: int
    created_at: datetime
    spec: dict[str, Any]


_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_SUFFIX_RANDOM = random.Random()  # names are not secrets; a clash is retried by the caller


def name_with_random_suffix(prefix: str) -> str:
    """docs/decisions.md D3: `useGivenNameAsPrefix` appends `-` and five random characters of
    [a-z0-9]."""
    return prefix + "-" + "".join(_SUFFIX_RANDOM.choices(_SUFFIX_ALPHABET, k=5))


# --- the v1 workload list's fields ----------------------------------------------------------

WORKLOAD_FIELDS: Final[dict[str, Kind]] = {
    "type": Kind.text,
    "name": Kind.text,
    "clusterId": Kind.text,
    "projectId": Kind.text,
    "projectName": Kind.text,
    "departmentId": Kind.text,
    "departmentName": Kind.text,
    "createdAt": Kind.date,
    "deletedAt": Kind.date,
    "submittedBy": Kind.text,
    "phase": Kind.text,
    "completedAt": Kind.date,
    "nodepool": Kind.text,
    "distributedFramework": Kind.text,
    "allocatedGPU": Kind.number,
    "idleGpus": Kind.number,
    "idleAllocatedGpus": Kind.number,
    "phaseUpdatedAt": Kind.date,
    "category": Kind.text,
    "totalPendingTimeSeconds": Kind.number,
    "totalRunningTimeSeconds": Kind.number,
    "priority": Kind.number,
    "priorityClassName": Kind.text,
    "guaranteedRuntimeEndsAt": Kind.date,
    "aiApplicationId": Kind.text,
    "aiApplicationName": Kind.text,
}
"""Run:ai's `filterBy`/`sortBy` fields of `GET /api/v1/workloads`, with their kinds. The ids
(`projectId`, `departmentId`) are text, as the list shows them. Fields nimplane has no value
for (NIM services are not distributed, have no AI application, completion, guaranteed runtime
or idle-GPU metrics) are null for every workload: only `!=` and `!@` match them."""

UNVALUED_FIELDS: Final = frozenset(
    {
        "completedAt",
        "distributedFramework",
        "idleGpus",
        "idleAllocatedGpus",
        "guaranteedRuntimeEndsAt",
        "aiApplicationId",
        "aiApplicationName",
    }
)


def allocated_gpus(placement: dict[str, Any] | None) -> float:
    """The GPUs a placement holds (`allocatedResources.gpu`, `allocatedGPU`): the sum over its
    pods. Stored with the placement by its one writer, the scheduler."""
    gangs = (placement or {}).get("gangs", [])
    return float(sum(float(pod["gpus"]) for gang in gangs for pod in gang["pods"]))


def requested_node_pools(spec: dict[str, Any]) -> str | None:
    """`nodepool` as the list filters and sorts on it: the requested node pools in order,
    comma-joined (None when the spec names none). Stored with the spec by the API."""
    pools = [str(p) for p in spec.get("nodePools") or []]
    return ",".join(pools) if pools else None
