"""GET by id reads a workload on the DBAPI cursor (`storage/raw_query.py`), not through
SQLAlchemy's execution layer: it must read exactly what SQLAlchemy reads, after every kind of
write (a create, a PATCH, the scheduler's placement, the lifecycle engine's phases, a
delete), and a GET after any of them shows the new value: nothing is cached."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.workloads import Workload
from nimplane.storage.workloads import _GET_ANY, _GET_LIVE, _to_workload
from tests.conftest import nim_request

NIM = "/api/v2/workloads/nim-services"


def read_both(state: AppState, workload_id: str, *, deleted: bool = False) -> Workload | None:
    """The workload as the raw read path and as SQLAlchemy read it; they must agree."""
    with state.store.read() as tx:
        raw = tx.workloads.get(workload_id, include_deleted=deleted)
    with state.engine.connect() as conn:
        row = conn.execute(_GET_ANY if deleted else _GET_LIVE, {"id": workload_id}).first()
    assert raw == (None if row is None else _to_workload(row))
    return raw


def api_get(client: TestClient, admin: dict[str, str], workload_id: str) -> Any:
    response = client.get(f"{NIM}/{workload_id}", headers=admin)
    assert response.status_code == 200, response.text
    return response


def test_get_by_id_reads_what_sqlalchemy_reads_after_every_kind_of_write(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    created = client.post(NIM, json=nim_request("raw-read"), headers=admin)
    assert created.status_code == 202, created.text
    workload_id = created.json()["metadata"]["id"]
    first = read_both(state, workload_id)
    assert first is not None

    patched = client.patch(
        f"{NIM}/{workload_id}",
        json={"spec": {"environmentVariables": [{"name": "A", "value": "patched"}]}},
        headers=admin,
    )
    assert patched.status_code == 202, patched.text
    after_patch = read_both(state, workload_id)
    assert after_patch is not None
    assert after_patch.resource_version > first.resource_version
    got = api_get(client, admin, workload_id)
    assert got.headers["etag"] == f'"{after_patch.resource_version}"'
    assert got.json()["spec"]["environmentVariables"] == [{"name": "A", "value": "patched"}]

    state.scheduling.run_cycle()  # whatever the session's cluster lets it do
    for _ in range(3):
        state.lifecycle.run_pass()
    moved = read_both(state, workload_id)
    assert moved is not None
    view = client.get(f"/api/v1/workloads/{workload_id}", headers=admin).json()
    assert view["phase"] == moved.status.phase.value

    assert client.delete(f"/api/v2/workloads/{workload_id}", headers=admin).status_code == 202
    deleting = read_both(state, workload_id, deleted=True)
    assert deleting is not None
    assert deleting.deleted_at is not None
    assert read_both(state, "00000000-0000-0000-0000-000000000000") is None
