"""The error envelope: unexpected failures are a plain 500, unknown routes and methods too."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState


def test_unexpected_error_is_500_without_a_stack_trace(
    client: TestClient, admin: dict[str, str], state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(state.workloads, "get", broken)
    with TestClient(client.app, raise_server_exceptions=False) as raw:
        response = raw.get(f"/api/v2/workloads/nim-services/{uuid.uuid4()}", headers=admin)
    assert response.status_code == 500
    assert response.json() == {"code": 500, "message": "Something went wrong."}
    assert "secret internals" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("get", "/api/v9/nothing", 404, id="unknown-path"),
        pytest.param("put", "/api/v2/workloads/nim-services", 405, id="wrong-method"),
    ],
)
def test_framework_errors_use_the_envelope(
    client: TestClient, admin: dict[str, str], method: str, path: str, status: int
) -> None:
    response = client.request(method, path, headers=admin)
    assert response.status_code == status
    assert response.json()["code"] == status
    assert response.json()["message"]
