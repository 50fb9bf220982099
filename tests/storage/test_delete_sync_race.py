"""A workload deleted while the simulated cluster's sync makes its pods: whichever takes the
workload's row first wins, and no pod is left behind for a torn-down workload. The sync
share-locks the rows of what it syncs (`lock_undeleted`), the delete's mark waits for it and
asks for the teardown only once committed: it sees the new pods, so the lifecycle engine
tears them down later. A sync that waits for a delete sees it, and makes no pod.

Driven by hand on PostgreSQL (`tests/support/races.py`): no timing, each step waits for a
state."""

from __future__ import annotations

from datetime import UTC, datetime

from nimplane.api.state import AppState
from nimplane.backends.simulated import SimulatedCluster, timings_from
from nimplane.domain.backend import DesiredState
from nimplane.domain.lifecycle import desired_state
from nimplane.domain.scheduling.model import GangPlacement, GpuRequest, PodPlacement, PodRequest
from nimplane.domain.workloads import Workload
from nimplane.services.workloads import WorkloadService
from tests.conftest import nim_request
from tests.support.races import (
    DEADLINE,
    HeldStore,
    Outcome,
    pg_fixture,
    tenant_admin,
    wait_until_a_backend_waits_for_a_lock,
)

__all__ = ["pg_fixture"]


def _created(state: AppState, name: str) -> Workload:
    created = WorkloadService(state.store, state.cluster).create(
        tenant_admin(state), nim_request(name)
    )
    return created.workload


def _wanted(state: AppState, workload: Workload) -> DesiredState:
    """One replica on the simulated cluster's first node, as the scheduler would place it
    (placed by hand: what the scheduler makes of the shared cluster is not this test's)."""
    node = state.settings.simulator.inventory()[0].name
    pod = PodPlacement(0, node, (0,), PodRequest(GpuRequest.whole(1)))
    return desired_state(workload, 1, [GangPlacement(workload.id, 0, "default", (pod,))])


def _simulator(state: AppState, store: object) -> SimulatedCluster:
    simulator = state.settings.simulator
    return SimulatedCluster(simulator.inventory(), store, timings_from(simulator))  # type: ignore[arg-type]


def _pods(state: AppState, workload_id: str) -> int:
    now = datetime.now(UTC)
    return len(state.cluster.observe([workload_id], now)[workload_id].pods)


def test_a_delete_waiting_for_a_sync_sees_its_pods_and_leaves_them_to_the_engine(
    pg: AppState,
) -> None:
    workload = _created(pg, "synced-then-deleted")
    held = HeldStore(pg.store)
    sync = Outcome(lambda: _simulator(pg, held).sync([_wanted(pg, workload)], datetime.now(UTC)))
    assert held.worked.wait(DEADLINE)  # its pods are written, not committed
    delete = Outcome(
        lambda: WorkloadService(pg.store, pg.cluster).delete(tenant_admin(pg), workload.id)
    )
    wait_until_a_backend_waits_for_a_lock(pg)
    held.release.set()
    assert sync.join().error is None
    assert delete.join().error is None

    with pg.store.read() as tx:
        stored = tx.workloads.get(workload.id, include_deleted=True)
    assert stored is not None
    assert stored.deleted_at is not None
    assert stored.torn_down_at is None, "torn down with its pods left behind"
    assert _pods(pg, workload.id) == 1


def test_a_sync_waiting_for_a_delete_makes_no_pod(pg: AppState) -> None:
    workload = _created(pg, "deleted-then-synced")
    held = HeldStore(pg.store)
    delete = Outcome(
        lambda: WorkloadService(held, pg.cluster).delete(tenant_admin(pg), workload.id)
    )
    assert held.worked.wait(DEADLINE)  # marked deleted, not committed
    sync = Outcome(lambda: pg.cluster.sync([_wanted(pg, workload)], datetime.now(UTC)))
    wait_until_a_backend_waits_for_a_lock(pg)
    held.release.set()
    assert delete.join().error is None
    observed = sync.join().value[workload.id]
    assert observed.pods == ()
    assert _pods(pg, workload.id) == 0
    with pg.store.read() as tx:
        assert tx.workloads.get(workload.id) is None  # torn down: nothing was left
