"""Workload batch operations (Run:ai's `POST /api/v1/workloads/batch`): delete, suspend or
resume many workloads, each in its own transaction, reporting per id what succeeded and what
failed and why."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from nimplane.domain.errors import Conflict, DomainError, Forbidden, NotFound
from nimplane.domain.identity import Principal
from nimplane.domain.workloads import DesiredPhase
from nimplane.services.workloads import WorkloadService

_PER_ID_ERRORS = (NotFound, Forbidden, Conflict)
"""What fails one id and not the batch; anything else (say, the database down) fails the call."""


class BatchAction(StrEnum):
    """Run:ai's `Action1`."""

    delete = "delete"
    suspend = "suspend"
    resume = "resume"


@dataclass
class BatchResult:
    """The batch's id, the ids acted on, and the ids that failed with their error."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    succeeded: list[str] = field(default_factory=list)
    failed: list[tuple[str, DomainError]] = field(default_factory=list)


def _key(workload_id: str) -> str:
    """Two spellings of one UUID are one workload."""
    try:
        return str(uuid.UUID(workload_id))
    except ValueError:
        return workload_id


def run_batch(
    workloads: WorkloadService, principal: Principal, ids: list[str], action: BatchAction
) -> BatchResult:
    """Act on each distinct id once, in request order; one failure never undoes another."""
    result = BatchResult()
    seen: set[str] = set()
    for workload_id in ids:
        if _key(workload_id) in seen:
            continue
        seen.add(_key(workload_id))
        try:
            if action is BatchAction.delete:
                workloads.delete(principal, workload_id)
            elif action is BatchAction.suspend:
                workloads.set_desired_phase(principal, workload_id, DesiredPhase.Stopped)
            else:
                workloads.set_desired_phase(principal, workload_id, DesiredPhase.Running)
        except _PER_ID_ERRORS as exc:
            result.failed.append((workload_id, exc))
        else:
            result.succeeded.append(workload_id)
    return result
