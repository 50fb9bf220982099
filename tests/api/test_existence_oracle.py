"""No existence oracle: a workload the caller may not read answers exactly as a missing one
(404, the same body but for the id it names) on every route that takes a workload id; a
caller that may read it but not change it (a Viewer) gets 403 on the writes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from tests.conftest import nim_request
from tests.support.identity import ML_ENGINEER, VIEWER, Org, make_org, store_account

NIM = "/api/v2/workloads/nim-services"
V1 = "/api/v1/workloads"
SIM = "/api/v1/simulator/workloads"

ROUTES = [
    # (method, path with {id}, body, whether it changes the workload)
    pytest.param("GET", f"{NIM}/{{id}}", None, False, id="nim-get"),
    pytest.param("GET", f"{NIM}/{{id}}/manifests", None, False, id="nim-manifests"),
    pytest.param("PATCH", f"{NIM}/{{id}}", {"spec": {"minReplicas": 1}}, True, id="nim-patch"),
    pytest.param("DELETE", "/api/v2/workloads/{id}", None, True, id="v2-delete"),
    pytest.param("GET", f"{V1}/{{id}}", None, False, id="v1-get"),
    pytest.param("GET", f"{V1}/{{id}}/events", None, False, id="v1-events"),
    pytest.param("GET", f"{V1}/{{id}}/history", None, False, id="v1-history"),
    pytest.param("GET", f"{V1}/{{id}}/pods", None, False, id="v1-pods"),
    pytest.param("BATCH", "suspend", None, True, id="batch-suspend"),
    pytest.param("BATCH", "resume", None, True, id="batch-resume"),
    pytest.param("BATCH", "delete", None, True, id="batch-delete"),
    pytest.param("POST", f"{SIM}/{{id}}/pods/p-0/recover", None, True, id="sim-pod-recover"),
    pytest.param(
        "PUT", f"{SIM}/{{id}}/metrics", {"metric": "m", "value": 1}, True, id="sim-metrics"
    ),
]


@pytest.fixture(scope="module")
def org(app_state: AppState) -> Org:
    return make_org(app_state)


def _call(
    client: TestClient, headers: dict[str, str], method: str, path: str, body: Any, wid: str
) -> tuple[int, Any]:
    """(status, body with the id replaced); a batch answers per id, in its `failed` list."""
    if method == "BATCH":
        response = client.post(f"{V1}/batch", json={"ids": [wid], "action": path}, headers=headers)
        assert response.status_code == 200, response.text
        failed = response.json()["failed"]
        if not failed:
            return 200, None
        (item,) = failed
        return int(item["code"]), {k: str(v).replace(wid, "<id>") for k, v in item.items()}
    response = client.request(method, path.format(id=wid), json=body, headers=headers)
    return response.status_code, response.text.replace(wid, "<id>")


@pytest.mark.parametrize(("method", "path", "body", "writes"), ROUTES)
def test_an_unreadable_workload_answers_as_a_missing_one(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    org: Org,
    method: str,
    path: str,
    body: Any,
    writes: bool,
) -> None:
    created = client.post(NIM, json=nim_request("hidden", org.sibling_project_id), headers=admin)
    assert created.status_code == 202, created.text
    hidden = created.json()["metadata"]["id"]
    outsider = store_account(state, ((ML_ENGINEER, "project", org.project_id),))
    missing = _call(client, outsider.headers, method, path, body, str(uuid.uuid4()))
    unreadable = _call(client, outsider.headers, method, path, body, hidden)
    assert unreadable == missing
    simulator = path.startswith(SIM)
    assert missing[0] == (403 if simulator else 404)
    assert "project" not in str(unreadable[1]).lower()
    # a Viewer of the project reads it, and may change nothing (403 naming the project)
    viewer = store_account(state, ((VIEWER, "project", org.sibling_project_id),))
    status, shown = _call(client, viewer.headers, method, path, body, hidden)
    if writes:
        assert status == 403, shown
        if not simulator:
            assert "project" in str(shown)
    else:
        assert status == 200, shown
