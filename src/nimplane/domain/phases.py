"""Run:ai's workload phases: the one transition table and the one function that changes phase.

Every phase change of a workload goes through `transition()`. It refuses an edge the table
does not list, stamps `phaseUpdatedAt`, and keeps the running totals Run:ai reports
(`totalPendingTimeSeconds`, `totalRunningTimeSeconds`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final


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


P = Phase
TRANSITIONS: Final[dict[Phase, frozenset[Phase]]] = {
    P.Creating: frozenset({P.Pending, P.Failed, P.Stopping, P.Deleting}),
    P.Pending: frozenset({P.Initializing, P.Failed, P.Stopping, P.Deleting}),
    P.Initializing: frozenset({P.Running, P.Pending, P.Degraded, P.Failed, P.Stopping, P.Deleting}),
    P.Running: frozenset({P.Updating, P.Degraded, P.Pending, P.Failed, P.Stopping, P.Deleting}),
    P.Updating: frozenset({P.Running, P.Degraded, P.Pending, P.Failed, P.Stopping, P.Deleting}),
    P.Degraded: frozenset({P.Running, P.Updating, P.Pending, P.Failed, P.Stopping, P.Deleting}),
    P.Failed: frozenset({P.Pending, P.Updating, P.Stopping, P.Deleting}),
    P.Stopping: frozenset({P.Stopped, P.Deleting}),
    P.Stopped: frozenset({P.Resuming, P.Deleting}),
    P.Resuming: frozenset({P.Pending, P.Initializing, P.Failed, P.Stopping, P.Deleting}),
    P.Deleting: frozenset(),
    P.Completed: frozenset({P.Deleting}),
    P.Terminating: frozenset({P.Deleting}),
    P.Unknown: frozenset(set(Phase) - {P.Unknown}),
}
"""From each phase, the phases a workload may move to. Any phase may become Unknown (the
cluster stopped answering); Deleting is the end."""

for _source in Phase:
    if _source is not P.Deleting:
        TRANSITIONS[_source] = TRANSITIONS[_source] | {P.Unknown}


class IllegalTransition(ValueError):
    """A phase change the table does not allow: a bug in the caller, never user input."""


@dataclass(frozen=True)
class PhaseState:
    """A workload's phase with its message, reason and time accounting."""

    phase: Phase
    since: datetime
    message: str | None = None
    reason: str | None = None
    pending_seconds: int = 0
    running_seconds: int = 0


def transition(
    state: PhaseState,
    to: Phase,
    now: datetime,
    *,
    message: str | None = None,
    reason: str | None = None,
) -> PhaseState:
    """Move to `to` (or refresh message and reason when already there)."""
    if to is state.phase:
        return replace(state, message=message, reason=reason)
    if to not in TRANSITIONS[state.phase]:
        raise IllegalTransition(f"{state.phase.value} -> {to.value} is not a workload transition")
    elapsed = elapsed_seconds(state.since, now)
    return PhaseState(
        phase=to,
        since=now,
        message=message,
        reason=reason,
        pending_seconds=state.pending_seconds + (elapsed if state.phase is P.Pending else 0),
        running_seconds=state.running_seconds + (elapsed if state.phase is P.Running else 0),
    )


def epoch_micros(t: datetime) -> int:
    """An instant as whole microseconds since the epoch (how the list's SQL sees it)."""
    return (t - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def elapsed_seconds(since: datetime, now: datetime) -> int:
    """Whole seconds from `since` to `now` (0 if `now` is earlier). The workload list computes
    the same in SQL, from `epoch_micros` of both (`storage/list_sql.py`): integer arithmetic,
    so both agree to the second."""
    return max(0, (now - since) // _SECOND)


def totals(state: PhaseState, now: datetime) -> tuple[int, int]:
    """(total pending, total running) seconds up to `now`, the current stretch included:
    Run:ai's `totalPendingTimeSeconds` and `totalRunningTimeSeconds`."""
    elapsed = elapsed_seconds(state.since, now)
    pending = state.pending_seconds + (elapsed if state.phase is P.Pending else 0)
    running = state.running_seconds + (elapsed if state.phase is P.Running else 0)
    return pending, running
