"""Workload history: the phases a workload went through, merged with its events in time order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from nimplane.domain.events import WorkloadEvent
from nimplane.domain.phases import Phase


@dataclass(frozen=True)
class PhaseUpdate:
    """A workload entered `phase` at `timestamp` (Run:ai's history record of type PhaseUpdate)."""

    workload_id: str
    timestamp: datetime
    phase: Phase
    message: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


HistoryRecord = PhaseUpdate | WorkloadEvent
"""One entry of a workload's history: a phase change or an event."""
