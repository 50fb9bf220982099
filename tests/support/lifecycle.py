"""Drive the simulated cluster by hand: a manual clock, the scheduler and a lifecycle engine
on it, and `step()`/`settle()`, which run scheduler cycles and lifecycle passes while the
clock moves. The clock starts a minute ahead of the wall clock the API stamps its writes
with, so those writes are always in its past."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.backends.simulated import SimulatedCluster, Timings
from nimplane.backends.simulated.model import Pod
from nimplane.backends.simulated.storage import SqlSimRepo
from nimplane.services.lifecycle import LifecycleService
from nimplane.services.scheduling import SchedulingService
from nimplane.services.workloads import utc_now
from nimplane.storage.leadership import Leadership
from nimplane.storage.store import SqlTransaction
from tests.support.clock import ManualClock
from tests.support.org import DEPARTMENTS, NIM, PROJECTS, gpu, ok

PODS_FAULTS = "/api/v1/simulator/workloads/{workload}/pods/{pod}/{action}"
FAST = Timings(image_pull_seconds=10, model_load_nim_cache_seconds=10)
WORKLOADS = "/api/v1/workloads"


class Harness:
    def __init__(
        self,
        state: AppState,
        client: TestClient,
        headers: dict[str, str],
        timings: Timings = FAST,
    ) -> None:
        self.state = state
        self.client = client
        self.headers = headers
        self.clock = ManualClock(utc_now() + timedelta(minutes=1))
        assert isinstance(state.cluster, SimulatedCluster)
        self.cluster = state.cluster.with_timings(timings)
        self.life = LifecycleService(state.store, self.cluster, self.clock)
        self.scheduling = SchedulingService(
            state.store, state.cluster, Leadership(state.engine), self.clock
        )
        self._steps = 0

    def give_quota(self, gpus: float = 32) -> None:
        for path in (f"{DEPARTMENTS}/1/resources", f"{PROJECTS}/1/resources"):
            ok(self.client.put(path, json=[gpu(gpus)], headers=self.headers))

    def create(self, body: dict[str, Any]) -> str:
        created = ok(self.client.post(NIM, json=body, headers=self.headers), 202)
        return str(created["metadata"]["id"])

    def step(self, seconds: float = 0) -> None:
        """One scheduler cycle, the clock moved on, one lifecycle pass.

        Each cycle is run by the long-lived scheduler and by one that starts cold (nothing
        kept from earlier cycles), taking turns at going first: whichever goes second must
        find nothing to change, so what the long-lived one keeps between cycles is only a
        cache of what is stored."""
        cold = SchedulingService(
            self.state.store, self.state.cluster, Leadership(self.state.engine), self.clock
        )
        self._steps += 1
        first, second = (self.scheduling, cold) if self._steps % 2 else (cold, self.scheduling)
        first.run_cycle()
        report = second.run_cycle()
        assert report is not None
        assert report.workloads_changed == 0, report
        self.clock.advance(seconds)
        self.life.run_pass()

    def settle(self, seconds: float = 60, steps: int = 6) -> None:
        for _ in range(steps):
            self.step(seconds / steps)

    def run_until(
        self, workload_id: str, phase: str, *, seconds: float = 10, most: int = 20
    ) -> None:
        for _ in range(most):
            if self.workload(workload_id)["phase"] == phase:
                return
            self.step(seconds)
        raise AssertionError(f"{workload_id} never reached {phase}: {self.workload(workload_id)}")

    def batch(self, action: str, workload_id: str) -> None:
        body = {"ids": [workload_id], "action": action}
        result = ok(self.client.post(f"{WORKLOADS}/batch", json=body, headers=self.headers))
        assert result["succeeded"] == [workload_id], result

    def workload(self, workload_id: str) -> dict[str, Any]:
        return dict(ok(self.client.get(f"{WORKLOADS}/{workload_id}", headers=self.headers)))

    def events(self, workload_id: str) -> list[dict[str, Any]]:
        url = f"{WORKLOADS}/{workload_id}/events"
        params = {"limit": 500, "sortOrder": "asc"}
        return list(ok(self.client.get(url, params=params, headers=self.headers))["events"])

    def phases(self, workload_id: str) -> list[str]:
        url = f"{WORKLOADS}/{workload_id}/history"
        page = ok(self.client.get(url, params={"limit": 500}, headers=self.headers))
        return [
            r["spec"]["phaseUpdate"]["phase"]
            for r in page["records"]
            if r["meta"]["type"] == "PhaseUpdate"
        ]

    def reasons(self, workload_id: str) -> list[str]:
        return [e["reason"] for e in self.events(workload_id)]

    def shown_pods(self, workload_id: str) -> list[dict[str, Any]]:
        """`GET /api/v1/workloads/{id}/pods`."""
        url = f"{WORKLOADS}/{workload_id}/pods"
        return list(ok(self.client.get(url, headers=self.headers))["pods"])

    def pods(self, workload_id: str) -> dict[str, str]:
        """The workload's pods now: name -> node."""
        return {p.name: p.node for p in sim_pods(self.state, workload_id)}


def sim_pods(state: AppState, workload_id: str) -> list[Pod]:
    """The simulated cluster's own record of a workload's pods (plans, faults, devices)."""
    with state.store.read() as tx:
        return SqlSimRepo(cast(SqlTransaction, tx).conn).pods_of(workload_id)


@pytest.fixture(name="harness")
def harness_fixture(
    clean_org: AppState, client: TestClient, admin: dict[str, str]
) -> Iterator[Harness]:
    """A harness on a clean organisation with 32 GPUs of quota; the simulator admin API
    injects faults at the harness's clock while the test runs."""
    harness = Harness(clean_org, client, admin)
    harness.give_quota()
    original = clean_org.simulator.clock
    clean_org.simulator.clock = harness.clock
    try:
        yield harness
    finally:
        clean_org.simulator.clock = original
