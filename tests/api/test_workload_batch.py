"""POST /api/v1/workloads/batch: body validation (400 naming the field), per-id outcomes
(404, 403, 409) next to successes, suspend/resume as desired phases, delete as the v2 DELETE,
idempotency, duplicates, and the audit trail."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.ports import Transaction
from nimplane.domain.workloads import DesiredPhase
from tests.conftest import nim_request
from tests.support.identity import ML_ENGINEER, VIEWER, Org, make_org, store_account

BATCH = "/api/v1/workloads/batch"
NIM = "/api/v2/workloads/nim-services"


def create(client: TestClient, admin: dict[str, str], name: str, project_id: str = "1") -> str:
    response = client.post(NIM, json=nim_request(name, project_id), headers=admin)
    assert response.status_code == 202, response.text
    return str(response.json()["metadata"]["id"])


def batch(client: TestClient, headers: dict[str, str], ids: list[str], action: str) -> Any:
    response = client.post(BATCH, json={"ids": ids, "action": action}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert uuid.UUID(body["id"]).version == 4
    return body


def desired(client: TestClient, admin: dict[str, str], wid: str) -> tuple[str, int]:
    """(desiredPhase, resource version) as the NIM GET shows them."""
    response = client.get(f"{NIM}/{wid}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["desiredPhase"], int(response.headers["ETag"].strip('"'))


# --- validation ------------------------------------------------------------------------------

SOME_ID = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"ids": [], "action": "suspend"}, "ids", id="empty-ids"),
        pytest.param(
            {"ids": [str(uuid.uuid4()) for _ in range(101)], "action": "suspend"},
            "ids",
            id="101-ids",
        ),
        pytest.param({"ids": [SOME_ID], "action": "stop"}, "action", id="bad-action"),
        pytest.param({"ids": [SOME_ID], "action": 1}, "action", id="action-not-a-string"),
        pytest.param({"ids": [SOME_ID]}, "action", id="missing-action"),
        pytest.param({"action": "resume"}, "ids", id="missing-ids"),
        pytest.param({"ids": SOME_ID, "action": "resume"}, "ids", id="ids-not-a-list"),
        pytest.param({"ids": [SOME_ID, 7], "action": "resume"}, "ids[1]", id="id-not-a-string"),
        pytest.param(
            {"ids": [SOME_ID], "action": "resume", "force": True}, "force", id="unknown-field"
        ),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = client.post(BATCH, json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 400
    assert [issue["field"] for issue in error["complianceIssues"]] == [field]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"[]", "application/json", id="array"),
        pytest.param(b'"delete"', "application/json", id="string"),
        pytest.param(b"{", "application/json", id="malformed-json"),
        pytest.param(b'{"ids": [], "action": "delete"}', "text/plain", id="not-json"),
    ],
)
def test_bodies_that_are_not_json_objects_are_400(
    client: TestClient, admin: dict[str, str], content: bytes, content_type: str
) -> None:
    headers = {**admin, "Content-Type": content_type}
    response = client.post(BATCH, content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


def test_batch_needs_a_token(client: TestClient) -> None:
    response = client.post(BATCH, json={"ids": [SOME_ID], "action": "delete"})
    assert response.status_code == 401


def test_a_bad_body_without_a_token_is_401(client: TestClient) -> None:
    assert (
        client.post(BATCH, content=b"{", headers={"Content-Type": "application/json"}).status_code
        == 401
    )


# --- suspend, resume, delete -----------------------------------------------------------------


def test_suspend_then_resume_change_only_the_desired_phase(
    client: TestClient, admin: dict[str, str]
) -> None:
    wid = create(client, admin, "stoppable")
    assert desired(client, admin, wid) == ("Running", 1)

    assert batch(client, admin, [wid], "suspend")["succeeded"] == [wid]
    assert desired(client, admin, wid) == ("Stopped", 2)
    v1 = client.get(f"/api/v1/workloads/{wid}", headers=admin).json()
    assert v1["phase"] == "Creating"  # the lifecycle engine moves the observed phase
    nim = client.get(f"{NIM}/{wid}", headers=admin).json()
    assert nim["metadata"]["updatedBy"] == "test-admin"

    resumed = batch(client, admin, [wid], "resume")
    assert (resumed["succeeded"], resumed["failed"]) == ([wid], [])
    assert desired(client, admin, wid) == ("Running", 3)
    history = client.get(f"/api/v1/workloads/{wid}/history", headers=admin).json()
    assert [r["meta"]["type"] for r in history["records"]] == ["PhaseUpdate"]


@pytest.mark.parametrize(
    ("action", "desired_phase"),
    [
        pytest.param("suspend", "Stopped", id="suspend"),
        pytest.param("resume", "Running", id="resume"),
    ],
)
def test_suspend_and_resume_are_idempotent(
    client: TestClient, admin: dict[str, str], action: str, desired_phase: str
) -> None:
    wid = create(client, admin, f"idem-{action}")
    first = batch(client, admin, [wid], action)
    version = desired(client, admin, wid)
    second = batch(client, admin, [wid], action)
    assert first["succeeded"] == second["succeeded"] == [wid]
    assert first["failed"] == second["failed"] == []
    assert first["id"] != second["id"]
    assert desired(client, admin, wid) == version
    assert version[0] == desired_phase


def test_delete_is_the_v2_delete(client: TestClient, admin: dict[str, str]) -> None:
    wid = create(client, admin, "doomed")
    deleted = batch(client, admin, [wid], "delete")
    assert (deleted["succeeded"], deleted["failed"]) == ([wid], [])
    assert client.get(f"{NIM}/{wid}", headers=admin).status_code == 404
    listed = client.get("/api/v1/workloads", params={"deleted": True}, headers=admin).json()
    gone = [w for w in listed["workloads"] if w["id"] == wid]
    assert len(gone) == 1
    assert gone[0]["deletedAt"] is not None
    history = client.get(f"/api/v1/workloads/{wid}/history", headers=admin).json()
    phases = [r["spec"]["phaseUpdate"]["phase"] for r in history["records"]]
    assert phases == ["Creating", "Deleting"]
    again = batch(client, admin, [wid], "delete")
    assert again["succeeded"] == []
    assert [(f["id"], f["code"]) for f in again["failed"]] == [(wid, 404)]


def test_a_workload_being_deleted_cannot_be_suspended_or_resumed(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    """The simulated cluster tears down at once; a slower backend leaves the workload
    `desiredPhase: Deleted` for a while, which suspend and resume refuse (409)."""
    wid = create(client, admin, "leaving")
    state.store.write(lambda tx: _mark_deleted(tx, wid))
    for action in ("suspend", "resume"):
        body = batch(client, admin, [wid], action)
        assert body["succeeded"] == []
        assert [(f["id"], f["code"]) for f in body["failed"]] == [(wid, 409)]
        assert "being deleted" in body["failed"][0]["message"]


def _mark_deleted(tx: Transaction, wid: str) -> None:
    current = tx.workloads.get(wid)
    assert current is not None
    marked = replace(
        current, desired_phase=DesiredPhase.Deleted, resource_version=current.resource_version + 1
    )
    assert tx.workloads.update(marked, current.resource_version)


def test_duplicates_are_acted_on_and_reported_once(
    client: TestClient, admin: dict[str, str]
) -> None:
    wid = create(client, admin, "twice")
    missing = str(uuid.uuid4())
    body = batch(client, admin, [wid, missing, wid.upper(), missing, wid], "suspend")
    assert body["succeeded"] == [wid]
    assert [(f["id"], f["code"]) for f in body["failed"]] == [(missing, 404)]
    assert desired(client, admin, wid) == ("Stopped", 2)


@pytest.fixture(scope="module")
def org(app_state: AppState) -> Org:
    return make_org(app_state)


@pytest.mark.parametrize("action", ["suspend", "resume", "delete"])
def test_results_mix_successes_and_404s_in_request_order(
    client: TestClient, admin: dict[str, str], state: AppState, org: Org, action: str
) -> None:
    engineer = store_account(state, ((ML_ENGINEER, "project", org.project_id),))
    mine = [create(client, admin, f"mine-{i}", org.project_id) for i in range(2)]
    theirs = create(client, admin, "theirs", org.sibling_project_id)
    unknown, not_uuid = str(uuid.uuid4()), "not-a-uuid"
    ids = [mine[0], theirs, unknown, mine[1], not_uuid]
    body = batch(client, engineer.headers, ids, action)
    assert body["succeeded"] == mine
    assert [(f["id"], f["code"]) for f in body["failed"]] == [
        (theirs, 404),  # not readable: as missing (no existence oracle)
        (unknown, 404),
        (not_uuid, 404),
    ]
    assert all(f["message"] for f in body["failed"])
    # the forbidden one is untouched
    assert desired(client, admin, theirs) == ("Running", 1)


@pytest.mark.parametrize("action", ["suspend", "resume", "delete"])
def test_a_viewer_may_change_nothing(
    client: TestClient, admin: dict[str, str], state: AppState, org: Org, action: str
) -> None:
    viewer = store_account(state, ((VIEWER, "project", org.project_id),))
    wid = create(client, admin, "watched", org.project_id)
    body = batch(client, viewer.headers, [wid], action)
    assert body["succeeded"] == []
    assert [(f["id"], f["code"]) for f in body["failed"]] == [(wid, 403)]
    assert desired(client, admin, wid) == ("Running", 1)


def test_the_call_is_audited(client: TestClient, admin: dict[str, str]) -> None:
    wid = create(client, admin, "audited")
    batch(client, admin, [wid], "suspend")
    entries = client.get("/api/v1/audit-logs", headers=admin).json()["auditLogs"]
    ours = [e for e in entries if e["url"] == BATCH]
    assert ours, entries[:3]
    assert (ours[0]["httpMethod"], ours[0]["statusCode"], ours[0]["outcome"]) == (
        "POST",
        200,
        "success",
    )
    assert ours[0]["action"] == "update"
