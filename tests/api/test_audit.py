"""The audit trail: every mutating call is recorded: who, what, which object, how it ended."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.conftest import nim_request

NIM = "/api/v2/workloads/nim-services"


def test_mutating_calls_are_recorded_and_reads_are_not(client: TestClient, admin: dict) -> None:
    created = client.post(NIM, json=nim_request("audited"), headers=admin).json()
    wid = created["metadata"]["id"]
    client.patch(f"{NIM}/{wid}", json={"spec": {"replicas": 2}}, headers=admin)
    client.get(f"{NIM}/{wid}", headers=admin)
    client.post(NIM, json=nim_request("audited"), headers=admin)  # 409
    client.delete(f"/api/v2/workloads/{wid}", headers=admin)
    client.post(NIM, json=nim_request("nobody"))  # 401: no token
    logs = client.get("/api/v1/audit-logs", params={"limit": 5}, headers=admin).json()["auditLogs"]
    got = [(e["action"], e["entityType"], e["statusCode"], e["subject"]) for e in logs]
    assert got == [
        ("create", "inferences", 401, None),
        ("delete", "workloads", 202, "test-admin"),
        ("create", "inferences", 409, "test-admin"),
        ("update", "inferences", 202, "test-admin"),
        ("create", "inferences", 202, "test-admin"),
    ]
    assert logs[1]["entityId"] == wid
    assert logs[1]["outcome"] == "success"
    assert logs[2]["outcome"] == "failure"
    assert all(e["timestamp"].endswith("Z") for e in logs)


def test_a_call_with_a_nul_in_its_path_is_refused_before_the_audit_trail(
    client: TestClient, admin: dict
) -> None:
    """PostgreSQL text cannot hold a NUL: the edge refuses it (400) before authentication, so
    like every call refused before authentication it writes no audit row."""
    client.delete(f"/api/v2/workloads/{uuid.uuid4()}", headers=admin)  # 404, recorded
    response = client.delete("/api/v2/workloads/abc%00def", headers=admin)
    assert response.status_code == 400
    logs = client.get("/api/v1/audit-logs", params={"limit": 1}, headers=admin).json()["auditLogs"]
    assert logs[0]["statusCode"] == 404
    assert "%00" not in logs[0]["url"]


def test_audit_logs_need_a_token_and_page(client: TestClient, admin: dict) -> None:
    assert client.get("/api/v1/audit-logs").status_code == 401
    for _ in range(3):
        client.delete(f"/api/v2/workloads/{uuid.uuid4()}", headers=admin)
    page = client.get("/api/v1/audit-logs", params={"limit": 2}, headers=admin).json()
    assert len(page["auditLogs"]) == 2
    assert page["next"] == 2
