"""The workload aggregate: what nimplane stores about one NIM service, and its vocabularies."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DesiredPhase(StrEnum):
    """What the user wants (Run:ai's `DesiredPhase`)."""

    Running = "Running"
    Stopped = "Stopped"
    Deleted = "Deleted"


class Phase(StrEnum):
    """What the workload is observed to be (Run:ai's `Phase`)."""

    Creating = "Creating"
    Initializing = "Initializing"
    Resuming = "Resuming"
    Pending = "Pending"
    Deleting = "Deleting"
    Running = "Running"
    Updating = "Updating"
    Stopped = "Stopped"
    Stopping = "Stopping"
    Degraded = "Degraded"
    Failed = "Failed"
    Completed = "Completed"
    Terminating = "Terminating"
    Unknown = "Unknown"


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


@dataclass
class Workload:
    """One NIM service as stored: metadata, desired state, spec, and the observed phase."""

    id: str
    name: str
    project: Project
    workload_type: str
    spec: dict[str, Any]
    desired_phase: DesiredPhase
    phase: Phase
    phase_message: str | None
    phase_updated_at: datetime
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

    @property
    def priority_class(self) -> str:
        return str(self.spec["priorityClass"])

    @property
    def preemptibility(self) -> str:
        return str(self.spec["preemptibility"])

    @property
    def category(self) -> str:
        return str(self.spec["category"])


_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_SUFFIX_RANDOM = random.Random()  # names are not secrets; a clash is retried by the caller


def name_with_random_suffix(prefix: str) -> str:
    """D3: `useGivenNameAsPrefix` appends `-` and five random characters of [a-z0-9]."""
    return prefix + "-" + "".join(_SUFFIX_RANDOM.choices(_SUFFIX_ALPHABET, k=5))
