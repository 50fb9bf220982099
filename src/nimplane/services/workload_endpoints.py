"""A NIM service's container logs and HTTP endpoint, as its cluster serves them (nimplane's own
additions to the API, for `nimplane inference nim logs|port-forward`).

Both take the `read` permission on the workload's project (a workload the caller may not read
is a NotFound, as every by-id use case); the cluster does the rest (`ClusterBackend.logs`,
`ClusterBackend.forward`). A cluster that cannot answer is Unavailable (503), never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final

from nimplane.domain.backend import ClusterError, Forwarded
from nimplane.domain.errors import NotFound, Unavailable
from nimplane.domain.identity import Principal
from nimplane.domain.pods import container_name
from nimplane.domain.ports import ClusterBackend
from nimplane.services.workloads import WorkloadService, utc_now

FORWARDED_HEADERS: Final = frozenset({"accept", "content-type"})
"""The request headers passed on to the NIM service: never the caller's bearer token."""


class WorkloadEndpoints:
    """Logs and forwarded requests of the workloads a caller may read."""

    def __init__(
        self,
        workloads: WorkloadService,
        backend: ClusterBackend,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._workloads = workloads
        self._backend = backend
        self._clock = clock

    def logs(
        self, principal: Principal, workload_id: str, *, pod: str | None, tail: int | None
    ) -> list[str]:
        """The NIM container's log lines of one pod of the workload (None: its first pod, the
        leader of replica 0 when it has one), the last `tail` of them (None: all)."""
        workload = self._workloads.get(principal, workload_id)
        if pod is None:
            observed = self._backend.observe([workload.id], self._clock()).get(workload.id)
            pods = sorted(observed.pods if observed else (), key=lambda p: (p.replica, p.index))
            if not pods:
                raise NotFound(f"Workload {workload_id} has no pods yet: there is no log to read.")
            pod = pods[0].name
        try:
            return self._backend.logs(
                workload, pod, tail=tail, container=container_name(workload.name)
            )
        except ClusterError as exc:
            raise Unavailable(f"The cluster cannot read the logs of pod {pod}: {exc}") from exc

    def forward(
        self,
        principal: Principal,
        workload_id: str,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Forwarded:
        """One HTTP request sent to the workload's NIM service, and its answer."""
        workload = self._workloads.get(principal, workload_id)
        passed = {k.lower(): v for k, v in headers.items() if k.lower() in FORWARDED_HEADERS}
        try:
            return self._backend.forward(workload, method, path, body, passed)
        except ClusterError as exc:
            raise Unavailable(f"The cluster cannot reach workload {workload_id}: {exc}") from exc
