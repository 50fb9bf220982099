"""Only one holder of a named pass at a time, within a process and across replicas."""

from __future__ import annotations

from nimplane.api.state import AppState
from nimplane.storage.leadership import Leadership


def test_one_holder_at_a_time_and_released_after(app_state: AppState) -> None:
    engine = app_state.engine
    first, second = Leadership(engine), Leadership(engine)  # two replicas on one database
    with first.hold("scheduler") as held:
        assert held
        with first.hold("scheduler") as again:
            assert not again  # the same process cannot enter twice
        if engine.dialect.name == "postgresql":
            with second.hold("scheduler") as other:
                assert not other  # another replica is refused while the first holds it
        with first.hold("reconciler") as different:
            assert different  # names are independent
    with second.hold("scheduler") as after:
        assert after
