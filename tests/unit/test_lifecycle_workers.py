"""How many lifecycle workers a server process runs (`wiring.lifecycle_workers`): as
configured, else two on PostgreSQL, whose round trips one worker would wait out alone, and
one on SQLite, whose single writer a second would only contend for."""

from __future__ import annotations

import pytest

from nimplane.settings import LifecycleSettings
from nimplane.wiring import lifecycle_workers


@pytest.mark.parametrize(
    ("configured", "dialect", "expected"),
    [
        pytest.param(None, "postgresql", 2, id="postgresql-default"),
        pytest.param(None, "sqlite", 1, id="sqlite-default"),
        pytest.param(3, "postgresql", 3, id="postgresql-configured"),
        pytest.param(2, "sqlite", 2, id="sqlite-configured"),
    ],
)
def test_lifecycle_workers(configured: int | None, dialect: str, expected: int) -> None:
    assert lifecycle_workers(LifecycleSettings(workers=configured), dialect) == expected


@pytest.mark.parametrize("workers", [0, 9])
def test_the_worker_count_is_bounded(workers: int) -> None:
    with pytest.raises(ValueError, match="workers"):
        LifecycleSettings(workers=workers)
