"""The simulated GPU cluster: nimplane's embedded default backend.

For now a shell: it runs no pods yet (the lifecycle engine brings image pulls, model loads and
readiness), so there is nothing to tear down and a deletion completes at once.
"""

from __future__ import annotations

from nimplane.domain.workloads import Workload


class SimulatedCluster:
    """An in-process cluster; deterministic, needs nothing outside the server."""

    def teardown(self, workload: Workload) -> bool:
        return True
