"""The phase transition table and function, and Kubernetes condition semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nimplane.domain.conditions import set_condition
from nimplane.domain.phases import (
    TRANSITIONS,
    IllegalTransition,
    Phase,
    PhaseState,
    totals,
    transition,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)

ALLOWED = [
    (Phase.Creating, Phase.Pending),
    (Phase.Pending, Phase.Initializing),
    (Phase.Initializing, Phase.Running),
    (Phase.Running, Phase.Updating),
    (Phase.Updating, Phase.Running),
    (Phase.Running, Phase.Degraded),
    (Phase.Degraded, Phase.Running),
    (Phase.Running, Phase.Stopping),
    (Phase.Stopping, Phase.Stopped),
    (Phase.Stopped, Phase.Resuming),
    (Phase.Resuming, Phase.Pending),
    (Phase.Running, Phase.Failed),
    (Phase.Failed, Phase.Pending),
    (Phase.Running, Phase.Deleting),
    (Phase.Running, Phase.Unknown),
    (Phase.Unknown, Phase.Running),
]


@pytest.mark.parametrize(
    ("source", "target"), [pytest.param(s, t, id=f"{s}->{t}") for s, t in ALLOWED]
)
def test_allowed_transitions(source: Phase, target: Phase) -> None:
    state = transition(PhaseState(source, T0), target, T0 + timedelta(seconds=5), message="m")
    assert (state.phase, state.since, state.message) == (target, T0 + timedelta(seconds=5), "m")


@pytest.mark.parametrize(
    ("source", "target"),
    [
        pytest.param(Phase.Creating, Phase.Running, id="skip-scheduling"),
        pytest.param(Phase.Stopped, Phase.Running, id="stopped-without-resume"),
        pytest.param(Phase.Deleting, Phase.Running, id="deleting-is-final"),
        pytest.param(Phase.Deleting, Phase.Unknown, id="deleting-never-unknown"),
        pytest.param(Phase.Stopping, Phase.Running, id="stopping-cannot-run"),
        pytest.param(Phase.Pending, Phase.Running, id="pending-needs-initializing"),
    ],
)
def test_refused_transitions(source: Phase, target: Phase) -> None:
    with pytest.raises(IllegalTransition):
        transition(PhaseState(source, T0), target, T0)


def test_every_phase_has_a_row_and_deleting_is_the_end() -> None:
    assert set(TRANSITIONS) == set(Phase)
    assert TRANSITIONS[Phase.Deleting] == frozenset()
    assert all(
        Phase.Deleting in targets for p, targets in TRANSITIONS.items() if p is not Phase.Deleting
    )


def test_same_phase_refreshes_message_without_moving_time() -> None:
    state = transition(
        PhaseState(Phase.Pending, T0), Phase.Pending, T0 + timedelta(seconds=9), message="x"
    )
    assert (state.since, state.message) == (T0, "x")


def test_pending_and_running_time_accumulate() -> None:
    state = PhaseState(Phase.Pending, T0)
    state = transition(state, Phase.Initializing, T0 + timedelta(seconds=30))
    state = transition(state, Phase.Running, T0 + timedelta(seconds=40))
    state = transition(state, Phase.Pending, T0 + timedelta(seconds=100))
    assert (state.pending_seconds, state.running_seconds) == (30, 60)
    assert totals(state, T0 + timedelta(seconds=110)) == (40, 60)


def test_condition_transition_time_moves_only_on_a_flip() -> None:
    conditions = set_condition((), "Ready", False, T0, reason="Pulling")
    later = T0 + timedelta(seconds=10)
    conditions = set_condition(conditions, "Ready", False, later, reason="Loading")
    [ready] = conditions
    assert (ready.status, ready.reason, ready.last_transition_time) == ("False", "Loading", T0)
    conditions = set_condition(conditions, "Ready", True, later)
    assert conditions[0].last_transition_time == later
    conditions = set_condition(conditions, "Scheduled", None, later)
    assert [c.type for c in conditions] == ["Ready", "Scheduled"]
    assert conditions[1].status == "Unknown"
