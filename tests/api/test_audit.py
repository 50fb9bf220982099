"""The audit trail: every mutating call is recorded: who, what, which object, how it ended."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.audit import REDACTED, redact_query
from tests.conftest import nim_request

NIM = "/api/v2/workloads/nim-services"


def test_mutating_calls_are_recorded_and_reads_are_not(client: TestClient, admin: dict) -> None:
    created = client.post(NIM, json=nim_request("audited"), headers=admin).json()
    wid = created["metadata"]["id"]
    client.patch(f"{NIM}/{wid}", json={"spec": {"replicas": 2}}, headers=admin)
    client.get(f"{NIM}/{wid}", headers=admin)
    client.post(NIM, json=nim_request("audited"), headers=admin)  # 409
    client.delete(f"/api/v2/workloads/{wid}", headers=admin)
    logs = client.get("/api/v1/audit-logs", params={"limit": 4}, headers=admin).json()["auditLogs"]
    got = [(e["action"], e["entityType"], e["statusCode"], e["subject"]) for e in logs]
    assert got == [
        ("delete", "workloads", 202, "test-admin"),
        ("create", "inferences", 409, "test-admin"),
        ("update", "inferences", 202, "test-admin"),
        ("create", "inferences", 202, "test-admin"),
    ]
    assert logs[0]["entityId"] == wid
    assert logs[0]["outcome"] == "success"
    assert logs[1]["outcome"] == "failure"
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


def audit_rows(state: AppState) -> int:
    with state.store.read() as tx:
        return tx.audit.page(0, 1)[1]


def rejected(state: AppState, route: str, reason: str) -> float:
    labels = {"route": route, "reason": reason}
    value = state.metrics.registry.get_sample_value("nimplane_api_rejected_requests_total", labels)
    return value or 0.0


@pytest.mark.parametrize(
    ("method", "path", "route", "headers", "reason"),
    [
        pytest.param("POST", NIM, NIM, {}, "unauthenticated", id="create-no-token"),
        pytest.param(
            "POST",
            NIM,
            NIM,
            {"Authorization": "Bearer not-a-jwt"},
            "unauthenticated",
            id="create-bad-token",
        ),
        pytest.param(
            "DELETE",
            f"/api/v2/workloads/{uuid.uuid4()}",
            "/api/v2/workloads/{WorkloadV2Id}",
            {},
            "unauthenticated",
            id="delete-no-token",
        ),
        pytest.param(
            "POST",
            "/api/v1/org-unit/departments",
            "/api/v1/org-unit/departments",
            {},
            "unauthenticated",
            id="department-no-token",
        ),
    ],
)
def test_an_anonymous_call_writes_no_audit_row_and_is_counted(
    client: TestClient,
    state: AppState,
    method: str,
    path: str,
    route: str,
    headers: dict[str, str],
    reason: str,
) -> None:
    rows, counted = audit_rows(state), rejected(state, route, reason)
    response = client.request(method, path, json=nim_request("nobody"), headers=headers)
    assert response.status_code == 401
    assert audit_rows(state) == rows
    assert rejected(state, route, reason) == counted + 1


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        pytest.param("/api/v1/token", {"grantType": "nope"}, "invalid", id="v1-400"),
        pytest.param(
            "/api/v1/token",
            {"grantType": "client_credentials", "clientId": "nobody", "clientSecret": "x"},
            "unauthenticated",
            id="v1-401",
        ),
    ],
)
def test_a_refused_sign_in_writes_no_audit_row_and_is_counted(
    client: TestClient, state: AppState, path: str, body: dict[str, Any], reason: str
) -> None:
    rows, counted = audit_rows(state), rejected(state, path, reason)
    assert client.post(path, json=body).status_code in (400, 401)
    assert audit_rows(state) == rows
    assert rejected(state, path, reason) == counted + 1


def test_an_authenticated_call_is_not_counted_as_rejected(
    client: TestClient, state: AppState, admin: dict[str, str]
) -> None:
    route = "/api/v2/workloads/{WorkloadV2Id}"
    counted = rejected(state, route, "not_found")
    assert client.delete(f"/api/v2/workloads/{uuid.uuid4()}", headers=admin).status_code == 404
    assert rejected(state, route, "not_found") == counted


SECRETS = ["s3cr3t-client", "hunter2-password", "eyJ-token-value", "bare-secret-value"]


def test_secrets_in_a_query_string_are_never_stored(
    client: TestClient, state: AppState, admin: dict[str, str]
) -> None:
    query = (
        "dryRun=1&clientSecret=s3cr3t-client&password=hunter2-password&token=eyJ-token-value"
        "&bare-secret-value"
    )
    client.delete(f"/api/v2/workloads/{uuid.uuid4()}?{query}", headers=admin)
    client.post(f"{NIM}?{query}", json=nim_request("nobody"))  # anonymous: not stored at all
    logs = client.get("/api/v1/audit-logs", params={"limit": 1}, headers=admin).json()["auditLogs"]
    url = logs[0]["url"]
    assert url.endswith(
        f"?dryRun=1&clientSecret={REDACTED}&password={REDACTED}&token={REDACTED}&{REDACTED}"
    )
    with state.engine.connect() as conn:
        stored = " ".join(str(row) for row in conn.exec_driver_sql("SELECT url FROM audit_logs"))
    assert not [secret for secret in SECRETS if secret in stored]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("limit=5&offset=2", "limit=5&offset=2", id="plain-kept"),
        pytest.param("client_secret=x", f"client_secret={REDACTED}", id="snake"),
        pytest.param("Client-Secret=x", f"Client-Secret={REDACTED}", id="kebab-case"),
        pytest.param("client%5Fsecret=x", f"client%5Fsecret={REDACTED}", id="percent-encoded"),
        pytest.param("refreshToken=x&a=1", f"refreshToken={REDACTED}&a=1", id="token"),
        pytest.param("apiKey=x", f"apiKey={REDACTED}", id="key"),
        pytest.param("Authorization=Bearer+x", f"Authorization={REDACTED}", id="auth"),
        pytest.param("a=1&&b=2", "a=1&&b=2", id="empty-part"),
        pytest.param("hunter2", REDACTED, id="bare"),
        pytest.param("password=a=b", f"password={REDACTED}", id="value-with-equals"),
    ],
)
def test_redact_query(query: str, expected: str) -> None:
    assert redact_query(query) == expected
