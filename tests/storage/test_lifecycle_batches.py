"""The lifecycle engine's batched reads and writes, on the real database (SQLite and
PostgreSQL): `leased` returns exactly what `get` returned for each workload whose lease is
held, `settle_many` settles exactly the outcomes a per-workload `settle` would have and
leaves every other row as it was, and the simulated cluster's `pods_of_many` is `pods_of`
for each id."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from nimplane.api.state import AppState
from nimplane.backends.simulated.storage import SqlSimRepo
from nimplane.domain.phases import Phase
from nimplane.domain.ports import Transaction
from nimplane.domain.workloads import WorkloadStatus
from nimplane.services.workloads import utc_now
from nimplane.storage.store import SqlTransaction
from nimplane.storage.tables import workloads
from tests.conftest import nim_request
from tests.support.lifecycle import Harness, harness_fixture
from tests.support.org import clean_org_fixture, ok

NIM = "/api/v2/workloads/nim-services"
COUNT = 4
__all__ = ["clean_org_fixture", "harness_fixture"]

# one workload's lease as a test sets it: owner, lease end (seconds from now), torn down,
# change counter
Lease = tuple[str | None, int, bool, int]
leases = st.tuples(
    st.sampled_from([None, "a", "b"]),
    st.sampled_from([-5, 0, 5]),
    st.booleans(),
    st.integers(1, 3),
)
examples = settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Rollback(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def _created(client: TestClient, admin: dict[str, str]) -> list[str]:
    return [
        str(
            ok(client.post(NIM, json=nim_request(f"batch-{i}"), headers=admin), 202)["metadata"][
                "id"
            ]
        )
        for i in range(COUNT)
    ]


def _set_leases(state: AppState, ids: list[str], drawn: list[Lease], now: datetime) -> None:
    with state.engine.begin() as conn:
        for workload_id, (owner, until, torn_down, seq) in zip(ids, drawn, strict=True):
            conn.execute(
                update(workloads)
                .where(workloads.c.id == workload_id)
                .values(
                    lease_owner=owner,
                    lease_until=None if owner is None else now + timedelta(seconds=until),
                    torn_down_at=now if torn_down else None,
                    change_seq=seq,
                )
            )


def _rows(tx: Transaction, ids: list[str]) -> dict[str, dict[str, Any]]:
    conn = cast(SqlTransaction, tx).conn
    rows = conn.execute(select(workloads).where(workloads.c.id.in_(ids)))
    return {row.id: dict(row._mapping) for row in rows}


@given(drawn=st.lists(leases, min_size=COUNT, max_size=COUNT), asked=st.sets(st.integers(0, COUNT)))
@examples
def test_leased_is_what_the_per_workload_reads_returned(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    drawn: list[Lease],
    asked: set[int],
) -> None:
    """Whatever the leases, owners, lease ends and deletions: one read gives exactly the
    workloads `get` gave for each id `holds_lease` said yes to, in id order (an unknown id,
    index COUNT, is left out like a missing one)."""
    ids = state_ids(state) or _created(client, admin)
    now = utc_now()
    _set_leases(state, ids, drawn, now)
    known = [*ids, "no-such-workload"]
    wanted = [known[i] for i in asked]
    with state.store.read() as tx:
        one_by_one = [
            w
            for workload_id in sorted(wanted)
            if tx.workloads.holds_lease(workload_id, "a", now)
            and (w := tx.workloads.get(workload_id)) is not None
        ]
        batched = tx.workloads.leased(wanted, "a", now)
    assert batched == one_by_one


def state_ids(state: AppState) -> list[str]:
    """The workloads an earlier example of the same test created (the fixture's state is
    emptied only between tests), oldest first."""
    with state.engine.connect() as conn:
        rows = conn.execute(select(workloads.c.id).order_by(workloads.c.created_at))
        return [row.id for row in rows]


@given(
    drawn=st.lists(leases, min_size=COUNT, max_size=COUNT),
    outcomes=st.dictionaries(
        st.integers(0, COUNT - 1), st.tuples(st.integers(1, 3), st.booleans()), max_size=COUNT
    ),
)
@examples
def test_settle_many_settles_exactly_what_settle_would(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    drawn: list[Lease],
    outcomes: dict[int, tuple[int, bool]],
) -> None:
    """An outcome is settled iff the workload is live, `a` holds its lease at `now` and its
    change counter is the one the outcome was read at (the per-workload `settle`'s rule):
    its status, due time (or torn-down time) are written and its lease given back; every
    other row of the batch is left exactly as it was."""
    ids = state_ids(state) or _created(client, admin)
    now = utc_now()
    _set_leases(state, ids, drawn, now)
    status = WorkloadStatus(phase=Phase.Running, phase_updated_at=now, running_pods=1)
    due = now + timedelta(seconds=30)
    batch = [
        (ids[i], seen, status, None if torn_down else due)
        for i, (seen, torn_down) in outcomes.items()
    ]

    def settle(tx: Transaction) -> None:
        before = _rows(tx, ids)
        settled = tx.workloads.settle_many("a", now, batch)
        raise _Rollback((before, settled, _rows(tx, ids)))

    with pytest.raises(_Rollback) as raised:
        state.store.write(settle)
    before, settled, after = raised.value.value
    expected = {
        ids[i]
        for i, (seen, _) in outcomes.items()
        if drawn[i][0] == "a" and drawn[i][1] > 0 and not drawn[i][2] and drawn[i][3] == seen
    }
    assert settled == expected
    for workload_id, _, _, due_at in batch:
        row = after[workload_id]
        if workload_id not in expected:
            assert row == before[workload_id]
            continue
        assert (row["lease_owner"], row["lease_until"]) == (None, None)
        assert (row["phase"], row["running_pods"]) == ("Running", 1)
        assert row["reconcile_due_at"] == due_at
        assert row["torn_down_at"] == (now if due_at is None else None)
    untouched = set(ids) - {w for w, _, _, _ in batch}
    assert all(after[w] == before[w] for w in untouched)


def test_pods_of_many_is_pods_of_for_each_workload(harness: Harness) -> None:
    """Workloads with pods (one of two replicas), and ids without any: one read gives each
    id its pods in `pods_of`'s order."""
    ids = [harness.create(nim_request(f"pods-{i}", replicas=1 + i % 2)) for i in range(3)]
    harness.settle(120)
    wanted = [*ids, "no-such-workload", ids[0]]
    with harness.state.store.read() as tx:
        sim = SqlSimRepo(cast(SqlTransaction, tx).conn)
        one_by_one = {workload_id: sim.pods_of(workload_id) for workload_id in wanted}
        batched = sim.pods_of_many(wanted)
    assert batched == one_by_one
    assert sum(len(pods) for pods in batched.values()) >= 4
