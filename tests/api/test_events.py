"""GET /api/v1/workloads/{id}/events: Run:ai's Event shape, paging and order, 404s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.events import WorkloadEvent
from tests.conftest import nim_request

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _workload_with_events(client: TestClient, admin: dict[str, str], state: AppState) -> str:
    wid = str(
        client.post(
            "/api/v2/workloads/nim-services", json=nim_request("evented"), headers=admin
        ).json()["metadata"]["id"]
    )
    events = [
        WorkloadEvent(wid, T0 + timedelta(seconds=i), "Normal", f"Step{i}", f"step {i}", "test")
        for i in range(3)
    ]
    state.store.write(lambda tx: tx.events.add(events))
    return wid


@pytest.mark.parametrize(
    ("params", "reasons", "has_next"),
    [
        pytest.param({}, ["Step2", "Step1", "Step0"], False, id="newest-first-by-default"),
        pytest.param({"sortOrder": "asc"}, ["Step0", "Step1", "Step2"], False, id="oldest-first"),
        pytest.param({"limit": 2}, ["Step2", "Step1"], True, id="first-page"),
        pytest.param({"limit": 2, "offset": 2}, ["Step0"], False, id="last-page"),
    ],
)
def test_events_page_and_order(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    params: dict[str, object],
    reasons: list[str],
    has_next: bool,
) -> None:
    wid = _workload_with_events(client, admin, state)
    body = client.get(f"/api/v1/workloads/{wid}/events", params=params, headers=admin).json()
    assert [e["reason"] for e in body["events"]] == reasons
    assert ("next" in body) is has_next
    first = body["events"][0]
    assert first["clusterId"] == state.cluster_id
    assert first["type"] == "Normal"
    assert first["createdAt"].endswith("Z")
    assert uuid.UUID(first["id"])


@pytest.mark.parametrize("workload_id", [str(uuid.uuid4()), "nope"])
def test_events_of_unknown_workload_are_404(
    client: TestClient, admin: dict[str, str], workload_id: str
) -> None:
    assert client.get(f"/api/v1/workloads/{workload_id}/events", headers=admin).status_code == 404


def test_events_need_a_token(client: TestClient) -> None:
    assert client.get(f"/api/v1/workloads/{uuid.uuid4()}/events").status_code == 401
