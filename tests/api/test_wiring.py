"""What `build_state` runs: the background loops of a server process."""

from __future__ import annotations

from nimplane.api.state import AppState


def test_the_server_runs_a_lifecycle_loop_per_worker(state: AppState) -> None:
    """Two lifecycle workers on PostgreSQL, one on SQLite (the session's database decides),
    each with a loop of its own beside the scheduler's."""
    names = [loop.name for loop in state.workers.loops]
    expected = 2 if state.engine.dialect.name == "postgresql" else 1
    assert names == ["scheduler", "lifecycle", *[f"lifecycle-{n}" for n in range(1, expected)]]
