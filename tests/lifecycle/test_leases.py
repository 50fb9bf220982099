"""The lifecycle engine's leases and backoff, on the real database: a lapsed lease is taken
over, the worker that lost it can write nothing, a change made while reconciling is not lost,
and a failing reconcile backs off exponentially."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.backend import ClusterError, DesiredState, Forwarded, Observation
from nimplane.domain.cluster import Node
from nimplane.domain.ports import ClusterBackend
from nimplane.domain.workloads import Workload
from nimplane.services import lifecycle as lifecycle_module
from nimplane.services.lifecycle import LifecycleService, LifecycleSettings
from nimplane.services.workloads import utc_now
from tests.conftest import nim_request
from tests.support.clock import ManualClock
from tests.support.lifecycle import Harness, harness_fixture, sim_pods
from tests.support.org import clean_org_fixture, ok

NIM = "/api/v2/workloads/nim-services"
__all__ = ["clean_org_fixture", "harness_fixture"]


def _created(client: TestClient, admin: dict[str, str]) -> str:
    return str(
        ok(client.post(NIM, json=nim_request("leased"), headers=admin), 202)["metadata"]["id"]
    )


def _after_first_look(state: AppState) -> datetime:
    """A time by which every workload created so far is due (its first look at the latest)."""
    return utc_now() + timedelta(seconds=state.settings.lifecycle.resync_seconds + 60)


def _worker(state: AppState, clock: ManualClock, owner: str) -> LifecycleService:
    settings = LifecycleSettings(lease_seconds=5)
    return LifecycleService(state.store, state.cluster, clock, settings, owner=owner)


def test_replicas_claim_disjoint_batches_that_cover_the_due_work(
    state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    """How replicas share the lifecycle work: a claim leases at most its batch, a second
    owner's claim skips what is leased and takes the rest (each due workload goes to one)."""
    ids = {
        ok(client.post(NIM, json=nim_request(f"shared-{n}"), headers=admin), 202)["metadata"]["id"]
        for n in range(6)
    }
    later = utc_now() + timedelta(days=1)
    until = later + timedelta(seconds=30)
    first = state.store.write(lambda tx: tx.workloads.claim_due("replica-a", later, until, 4))
    second = state.store.write(lambda tx: tx.workloads.claim_due("replica-b", later, until, 10))
    a, b = {wid for wid, _ in first}, {wid for wid, _ in second}
    assert len(a) == 4
    assert a.isdisjoint(b)
    assert ids <= a | b


def test_a_claim_takes_its_batch_once_earliest_due_first_then_by_id(
    state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    """Among workloads due at the same moment a claim of `limit` takes exactly `limit`, the
    lowest ids: the due rows are chosen once and in a total order (a sub-select that
    PostgreSQL could run again per joined row once claimed 6 for a batch of 4)."""
    ids = sorted(
        ok(client.post(NIM, json=nim_request(f"tied-{n}"), headers=admin), 202)["metadata"]["id"]
        for n in range(6)
    )
    due = utc_now() + timedelta(days=1)
    state.store.write(lambda tx: tx.workloads.mark_due(ids, due))  # every one due at once
    until = due + timedelta(seconds=30)
    first = state.store.write(lambda tx: tx.workloads.claim_due("a", due, until, 2))
    second = state.store.write(lambda tx: tx.workloads.claim_due("b", due, until, 3))
    assert sorted(w for w, _ in first) == ids[:2]
    assert sorted(w for w, _ in second) == ids[2:5]


def test_a_lapsed_lease_is_taken_over_and_its_old_holder_writes_nothing(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    workload_id = _created(client, admin)
    clock = ManualClock(_after_first_look(state))
    now = clock()
    claim_a = state.store.write(
        lambda tx: tx.workloads.claim_due("a", now, now + timedelta(seconds=5), 10)
    )
    assert [w for w, _ in claim_a] == [workload_id]
    # while A holds it, nobody else gets it
    assert state.store.write(lambda tx: tx.workloads.claim_due("b", now, now, 10)) == []
    later = now + timedelta(seconds=6)
    claim_b = state.store.write(
        lambda tx: tx.workloads.claim_due("b", later, later + timedelta(seconds=5), 10)
    )
    assert [w for w, _ in claim_b] == [workload_id]
    with state.store.read() as tx:
        assert not tx.workloads.holds_lease(workload_id, "a", later)
        assert tx.workloads.holds_lease(workload_id, "b", later)
    # A, stale, releases: B's lease stands
    seq = claim_a[0][1]
    state.store.write(lambda tx: tx.workloads.release_lease(workload_id, "a", seq, later, 0, later))
    with state.store.read() as tx:
        assert tx.workloads.holds_lease(workload_id, "b", later)
    # and A's reconcile writes nothing: the phase stays as it was
    clock.now = later
    _worker(state, clock, "a")._reconcile_batch([(workload_id, seq)])
    with state.store.read() as tx:
        shown = tx.workloads.get(workload_id)
    assert shown is not None
    assert shown.status.phase.value == "Creating"


def test_a_new_workload_is_due_once_the_scheduler_answers(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    """The lifecycle engine has nothing to do for a workload the scheduler has not looked at:
    it is due once the scheduler placed it or said why it waits, or after `resync_seconds`."""
    workload_id = _created(client, admin)
    now = utc_now()
    assert state.store.write(lambda tx: tx.workloads.claim_due("a", now, now, 10)) == []
    resync = state.settings.lifecycle.resync_seconds
    later = now + timedelta(seconds=resync + 1)  # due whatever happened
    assert state.store.write(lambda tx: tx.workloads.claim_due("a", later, later, 10)) != []
    state.store.write(lambda tx: tx.workloads.release_lease(workload_id, "a", 0, later, 0, now))
    state.scheduling.run_cycle()
    now = utc_now()
    claimed = state.store.write(lambda tx: tx.workloads.claim_due("b", now, now, 10))
    assert [w for w, _ in claimed] == [workload_id]


def test_a_change_while_reconciling_makes_it_due_again_at_once(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    workload_id = _created(client, admin)
    clock = ManualClock(_after_first_look(state))
    now = clock()
    [(claimed, seq)] = state.store.write(
        lambda tx: tx.workloads.claim_due("a", now, now + timedelta(seconds=5), 10)
    )
    state.store.write(lambda tx: tx.workloads.mark_due([claimed], now))  # e.g. a PATCH
    state.store.write(
        lambda tx: tx.workloads.release_lease(claimed, "a", seq, now + timedelta(hours=1), 0, now)
    )
    again = state.store.write(lambda tx: tx.workloads.claim_due("b", now, now, 10))
    assert [w for w, _ in again] == [workload_id]


def test_a_decision_made_before_a_change_is_discarded_and_made_again(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    """A reconcile reads, syncs the cluster and decides outside the write: if the workload
    changed in between (here a suspend), the write keeps nothing of the stale decision and
    the workload is due again at once; the next reconcile acts on what is stored now (and
    converges the cluster again: what the stale sync started is removed)."""
    workload_id = _created(client, admin)
    clock = ManualClock(_after_first_look(state))
    state.scheduling.run_cycle()  # placed or told why it waits: the decision moves it on
    worker = _worker(state, clock, "a")
    now = clock()
    [(_, seq)] = state.store.write(
        lambda tx: tx.workloads.claim_due("a", now, now + timedelta(seconds=5), 10)
    )
    [plan], failed = worker._plan([(workload_id, seq)], now)
    assert failed == []
    observed = state.cluster.sync([plan.desired], now)[workload_id]
    outcome = worker._decide(plan, observed, now)
    assert outcome is not None
    assert outcome.decision.phases, outcome  # what it would have done
    body = {"ids": [workload_id], "action": "suspend"}
    ok(client.post("/api/v1/workloads/batch", json=body, headers=admin))
    settled, failed = state.store.write(
        lambda tx: worker._settle_batch(tx, [plan], {workload_id: observed}, now)
    )
    assert (settled, failed) == ([], [])
    with state.store.read() as tx:
        shown = tx.workloads.get(workload_id)
        assert shown is not None
        assert shown.status.phase.value == "Creating"
        assert not tx.workloads.holds_lease(workload_id, "a", now)
    assert worker.run_pass() == 1  # due again at once: now it stops instead
    with state.store.read() as tx:
        shown = tx.workloads.get(workload_id)
    assert shown is not None
    assert shown.status.phase.value == "Stopped"
    assert state.cluster.observe([workload_id], clock())[workload_id].pods == ()


def test_a_failing_reconcile_backs_off_exponentially(
    client: TestClient, admin: dict[str, str], state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision is replaced by one that raises (a stand-in for a bug or an outage): the
    service under test is the loop around it."""
    workload_id = _created(client, admin)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(lifecycle_module, "decide", broken)
    clock = ManualClock(_after_first_look(state))
    worker = _worker(state, clock, "a")
    assert worker.run_pass() == 1  # the first failure
    waits = []
    for expected in (2, 3, 4):
        waited = 0.0
        while worker.run_pass() == 0:  # not retried before its back-off is over
            clock.advance(0.25)
            waited += 0.25
        with state.store.read() as tx:
            assert tx.workloads.failures(workload_id) == expected
        waits.append(waited)
    assert waits == sorted(waits)
    assert waits[-1] >= 2 * waits[0]


def test_a_decision_that_raises_backs_off_alone(
    client: TestClient, admin: dict[str, str], state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workloads reconciled in one batch; the decision for one of them raises (a stand-in
    for a bug): the other's outcome is written, only the failing one backs off."""
    broken_id = _created(client, admin)
    healthy_id = str(
        ok(client.post(NIM, json=nim_request("healthy"), headers=admin), 202)["metadata"]["id"]
    )
    real = lifecycle_module.decide

    def decide(desired: Any, observed: Any, now: Any) -> Any:
        if desired.workload.id == broken_id:
            raise RuntimeError("injected failure")
        return real(desired, observed, now)

    monkeypatch.setattr(lifecycle_module, "decide", decide)
    state.scheduling.run_cycle()  # both placed or told why they wait: both due
    worker = _worker(state, ManualClock(_after_first_look(state)), "a")
    assert worker.run_pass() >= 2
    with state.store.read() as tx:
        healthy = tx.workloads.get(healthy_id)
        broken = tx.workloads.get(broken_id)
        assert healthy is not None
        assert broken is not None
        assert healthy.status.phase.value != "Creating"  # its decision was written
        assert broken.status.phase.value == "Creating"
        assert tx.workloads.failures(broken_id) >= 1
        assert tx.workloads.failures(healthy_id) == 0


class _Refusing:
    """A cluster that answers every sync with `error` (and is the real one otherwise)."""

    def __init__(self, inner: ClusterBackend, error: ClusterError) -> None:
        self._inner = inner
        self._error = error

    def nodes(self) -> tuple[Node, ...]:
        return self._inner.nodes()

    def sync(
        self, desired: Sequence[DesiredState], now: datetime
    ) -> dict[str, Observation | ClusterError]:
        return {d.workload.id: self._error for d in desired}

    def observe(self, workload_ids: Sequence[str], now: datetime) -> dict[str, Observation]:
        return self._inner.observe(workload_ids, now)

    def teardown(self, workload: Workload) -> bool:
        return self._inner.teardown(workload)

    def metrics(self, workload_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        return self._inner.metrics(workload_ids)

    def logs(
        self, workload: Workload, pod_name: str, *, tail: int | None, container: str
    ) -> list[str]:
        return self._inner.logs(workload, pod_name, tail=tail, container=container)

    def forward(
        self,
        workload: Workload,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Forwarded:
        return self._inner.forward(workload, method, path, body, headers)


@pytest.mark.parametrize(
    ("error", "failures", "message"),
    [
        pytest.param(
            ClusterError("the API server timed out", retryable=True), 1, None, id="retryable"
        ),
        pytest.param(
            ClusterError("the NIMService CRD is not installed", retryable=False),
            0,
            "the NIMService CRD is not installed",
            id="permanent",
        ),
    ],
)
def test_a_cluster_error_never_changes_the_phase(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    error: ClusterError,
    failures: int,
    message: str | None,
) -> None:
    """A cluster failing for a while backs the workload off; one that keeps refusing shows
    why in the phase message; neither moves the phase."""
    workload_id = _created(client, admin)
    state.scheduling.run_cycle()  # placed: due for the lifecycle engine
    clock = ManualClock(_after_first_look(state))
    worker = LifecycleService(state.store, _Refusing(state.cluster, error), clock, owner="a")
    assert worker.run_pass() == 1
    with state.store.read() as tx:
        shown = tx.workloads.get(workload_id)
        assert shown is not None
        assert shown.status.phase.value == "Creating"
        assert shown.status.phase_message == message
        assert tx.workloads.failures(workload_id) == failures
    assert state.cluster.observe([workload_id], clock())[workload_id].pods == ()


def test_a_sync_for_a_workload_torn_down_meanwhile_leaves_no_pods(harness: Harness) -> None:
    """The engine read a placed workload; before its sync, the workload (no pods yet) is
    deleted and torn down at once: the sync must not create pods nobody would remove."""
    h = harness
    workload_id = h.create(nim_request("leased"))
    h.scheduling.run_cycle()
    worker = LifecycleService(h.state.store, h.cluster, h.clock, owner="a")
    now = h.clock()
    [(_, seq)] = h.state.store.write(
        lambda tx: tx.workloads.claim_due("a", now, now + timedelta(seconds=5), 10)
    )
    [plan], _ = worker._plan([(workload_id, seq)], now)
    assert plan.desired.gangs  # placed: a sync would create its pods
    ok(h.client.delete(f"/api/v2/workloads/{workload_id}", headers=h.headers), 202)
    observed = h.cluster.sync([plan.desired], now)[workload_id]
    assert isinstance(observed, Observation)
    assert observed.pods == ()
    assert sim_pods(h.state, workload_id) == []
