"""How many lifecycle workers a server process runs (`wiring.lifecycle_workers`): as
configured, else two on PostgreSQL with the simulated cluster, whose round trips one worker
would wait out alone, and one otherwise: SQLite's single writer a second would only contend
for, and the Kubernetes adapter's syncs side by side were not measured."""

from __future__ import annotations

import pytest

from nimplane.settings import LifecycleSettings
from nimplane.wiring import lifecycle_workers


@pytest.mark.parametrize(
    ("configured", "dialect", "backend", "expected"),
    [
        pytest.param(None, "postgresql", "simulated", 2, id="postgresql-default"),
        pytest.param(None, "sqlite", "simulated", 1, id="sqlite-default"),
        pytest.param(None, "postgresql", "kubernetes", 1, id="kubernetes-default"),
        pytest.param(3, "postgresql", "simulated", 3, id="postgresql-configured"),
        pytest.param(2, "sqlite", "simulated", 2, id="sqlite-configured"),
        pytest.param(2, "postgresql", "kubernetes", 2, id="kubernetes-configured"),
    ],
)
def test_lifecycle_workers(
    configured: int | None, dialect: str, backend: str, expected: int
) -> None:
    settings = LifecycleSettings(workers=configured)
    assert lifecycle_workers(settings, dialect, backend) == expected


@pytest.mark.parametrize("workers", [0, 9])
def test_the_worker_count_is_bounded(workers: int) -> None:
    with pytest.raises(ValueError, match="workers"):
        LifecycleSettings(workers=workers)
