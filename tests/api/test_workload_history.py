"""GET /api/v1/workloads/{id}/history: phase updates and events merged oldest first, Run:ai's
`HistoryRecord1` shape, paging with `next`, and the same 401/403/404 as the events endpoint."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.events import WorkloadEvent
from tests.conftest import nim_request
from tests.support.identity import ML_ENGINEER, Org, make_org, store_account

NIM = "/api/v2/workloads/nim-services"


def history(client: TestClient, wid: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(f"/api/v1/workloads/{wid}/history", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def labels(records: list[dict[str, Any]]) -> list[str]:
    """`PhaseUpdate:<phase>` or `Event:<reason>` for each record."""
    return [
        f"PhaseUpdate:{r['spec']['phaseUpdate']['phase']}"
        if r["meta"]["type"] == "PhaseUpdate"
        else f"Event:{r['spec']['event']['reason']}"
        for r in records
    ]


def create(client: TestClient, admin: dict[str, str], name: str, project_id: str = "1") -> str:
    response = client.post(NIM, json=nim_request(name, project_id), headers=admin)
    assert response.status_code == 202, response.text
    return str(response.json()["metadata"]["id"])


def add_events(state: AppState, wid: str, at: list[tuple[str, datetime]]) -> None:
    events = [
        WorkloadEvent(wid, when, "Normal", reason, reason.lower(), "test") for reason, when in at
    ]
    state.store.write(lambda tx: tx.events.add(events))


def created_at(client: TestClient, admin: dict[str, str], wid: str) -> datetime:
    raw = client.get(f"{NIM}/{wid}", headers=admin).json()["metadata"]["createdAt"]
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def test_a_new_workload_has_one_record_creating(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    wid = create(client, admin, "fresh")
    body = history(client, wid, admin)
    assert body == {
        "records": [
            {
                "meta": {
                    "creationTimestamp": body["records"][0]["meta"]["creationTimestamp"],
                    "type": "PhaseUpdate",
                },
                "spec": {"phaseUpdate": {"phase": "Creating", "phaseMessage": ""}},
            }
        ]
    }
    stamp = body["records"][0]["meta"]["creationTimestamp"]
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) == created_at(client, admin, wid)


def test_events_and_phase_updates_merge_oldest_first_and_delete_adds_deleting(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    wid = create(client, admin, "merged")
    t0 = created_at(client, admin, wid)
    # Tie with the Creating update (the phase update comes first), then one before, two after.
    add_events(
        state,
        wid,
        [
            ("Later", t0 + timedelta(hours=2)),
            ("Tie", t0),
            ("Earlier", t0 - timedelta(seconds=1)),
            ("Soon", t0 + timedelta(hours=1)),
        ],
    )
    assert client.delete(f"/api/v2/workloads/{wid}", headers=admin).status_code == 202
    body = history(client, wid, admin)
    assert labels(body["records"]) == [
        "Event:Earlier",
        "PhaseUpdate:Creating",
        "Event:Tie",
        "PhaseUpdate:Deleting",
        "Event:Soon",
        "Event:Later",
    ]
    assert "next" not in body
    event = body["records"][0]["spec"]
    assert set(event) == {"event"}
    assert event["event"]["clusterId"] == state.cluster_id
    assert event["event"]["type"] == "Normal"
    assert uuid.UUID(event["event"]["id"])
    stamps = [r["meta"]["creationTimestamp"] for r in body["records"]]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    ("params", "expected", "next_offset"),
    [
        pytest.param(
            {}, ["PhaseUpdate:Creating", "Event:E0", "Event:E1", "Event:E2"], None, id="all"
        ),
        pytest.param({"limit": 2}, ["PhaseUpdate:Creating", "Event:E0"], 2, id="first-page"),
        pytest.param({"limit": 2, "offset": 2}, ["Event:E1", "Event:E2"], None, id="last-page"),
        pytest.param({"limit": 1, "offset": 2}, ["Event:E1"], 3, id="middle"),
        pytest.param({"offset": 9}, [], None, id="past-the-end"),
    ],
)
def test_history_pages_with_next(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    params: dict[str, int],
    expected: list[str],
    next_offset: int | None,
) -> None:
    wid = create(client, admin, "paged")
    t0 = created_at(client, admin, wid)
    add_events(state, wid, [(f"E{i}", t0 + timedelta(seconds=i + 1)) for i in range(3)])
    body = history(client, wid, admin, **params)
    assert labels(body["records"]) == expected
    assert body.get("next") == next_offset


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 0}, id="limit-zero"),
        pytest.param({"limit": 501}, id="limit-too-big"),
        pytest.param({"offset": -1}, id="negative-offset"),
        pytest.param({"limit": "many"}, id="limit-not-a-number"),
    ],
)
def test_bad_paging_is_400(
    client: TestClient, admin: dict[str, str], params: dict[str, object]
) -> None:
    wid = create(client, admin, "badpage")
    response = client.get(f"/api/v1/workloads/{wid}/history", params=params, headers=admin)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("workload_id", [str(uuid.uuid4()), "nope"])
def test_history_of_unknown_workload_is_404(
    client: TestClient, admin: dict[str, str], workload_id: str
) -> None:
    response = client.get(f"/api/v1/workloads/{workload_id}/history", headers=admin)
    assert response.status_code == 404
    assert response.json()["code"] == 404


def test_history_needs_a_token(client: TestClient) -> None:
    assert client.get(f"/api/v1/workloads/{uuid.uuid4()}/history").status_code == 401


@pytest.fixture(scope="module")
def org(app_state: AppState) -> Org:
    return make_org(app_state)


def test_history_needs_read_permission_like_events(
    client: TestClient, admin: dict[str, str], state: AppState, org: Org
) -> None:
    engineer = store_account(state, ((ML_ENGINEER, "project", org.project_id),))
    mine = create(client, admin, "mine", org.project_id)
    theirs = create(client, admin, "theirs", org.sibling_project_id)
    assert labels(history(client, mine, engineer.headers)["records"]) == ["PhaseUpdate:Creating"]
    for path in ("history", "events"):
        response = client.get(f"/api/v1/workloads/{theirs}/{path}", headers=engineer.headers)
        assert response.status_code == 404, (path, response.text)  # not readable: as missing
