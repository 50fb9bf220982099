"""Workload events: what happened to a workload and why (scheduling decisions, evictions,
image pulls, readiness, failures, scaling), in Kubernetes' Normal/Warning terms."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class WorkloadEvent:
    workload_id: str
    timestamp: datetime
    type: str  # Normal | Warning
    reason: str  # CamelCase, e.g. Scheduled, Evicted, Pulling, FailedScheduling
    message: str
    source: str  # the component that saw it: scheduler, lifecycle, api
    involved_object: str | None = None  # e.g. a pod name
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def of(
        cls,
        workload_id: str,
        timestamp: datetime,
        reason: str,
        message: str,
        *,
        source: str,
        warning: bool = False,
        pod: str | None = None,
    ) -> WorkloadEvent:
        """A Normal event (a Warning with `warning`), about `pod` if given."""
        return cls(
            workload_id=workload_id,
            timestamp=timestamp,
            type="Warning" if warning else "Normal",
            reason=reason,
            message=message,
            source=source,
            involved_object=pod,
        )
