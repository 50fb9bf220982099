"""`/api/v1/clusters`: the cluster and its nodes with their GPUs, read-only, as the backend
reports them (the simulated cluster: 4 nodes x 8 GPUs of 80 GiB)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane import __version__
from nimplane.api.state import AppState
from tests.support.org import (  # noqa: F401 - fixtures
    CLUSTERS,
    caller,
    clean_org_fixture,
    cluster_id,
    node_pool,
    ok,
)

pytestmark = pytest.mark.usefixtures("clean_org")
NODES = [f"sim-node-{i}" for i in range(4)]


def test_list_and_get(client: TestClient, admin: dict[str, str], state: AppState) -> None:
    (cluster,) = ok(client.get(CLUSTERS, headers=admin))
    assert cluster["uuid"] == cluster_id(state)
    assert cluster["tenantId"] == state.settings.tenant_id
    assert cluster["name"] == state.settings.cluster_name
    assert cluster["version"] == __version__
    assert cluster["status"]["state"] == "Connected"
    assert cluster["deletedAt"] is None
    shown = ok(client.get(f"{CLUSTERS}/{cluster['uuid']}", headers=admin))
    assert {k: v for k, v in shown.items() if k != "lastLiveness"} == {
        k: v for k, v in cluster.items() if k != "lastLiveness"
    }


@pytest.mark.parametrize("path", ["", "/{id}"])
def test_metadata_verbosity(
    client: TestClient, admin: dict[str, str], state: AppState, path: str
) -> None:
    url = CLUSTERS + path.replace("{id}", cluster_id(state))
    shown = ok(client.get(url, params={"verbosity": "metadata"}, headers=admin))
    one = shown[0] if isinstance(shown, list) else shown
    assert set(one) == {"uuid", "tenantId", "name", "createdAt"}


@pytest.mark.parametrize(
    "cluster",
    [
        pytest.param("00000000-0000-4000-8000-000000000000", id="unknown"),
        pytest.param("not-a-uuid", id="not-a-uuid"),
    ],
)
@pytest.mark.parametrize("path", ["", "/nodes"])
def test_unknown_clusters_are_404(
    client: TestClient, admin: dict[str, str], cluster: str, path: str
) -> None:
    response = client.get(f"{CLUSTERS}/{cluster}{path}", headers=admin)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == 404


def test_nodes_report_their_gpus(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    nodes = ok(client.get(f"{CLUSTERS}/{cluster_id(state)}/nodes", headers=admin))["nodes"]
    assert [n["name"] for n in nodes] == NODES
    first = nodes[0]
    assert first["clusterUuid"] == cluster_id(state)
    assert first["status"] == "Ready"
    assert first["nodePool"] == "default"
    assert first["gpuInfo"] == {"gpuType": "NVIDIA-H100-80GB-HBM3", "gpuCount": 8}
    assert first["taints"] == []
    assert sum(n["gpuInfo"]["gpuCount"] for n in nodes) == 32
    assert len({n["id"] for n in nodes}) == 4
    again = ok(client.get(f"{CLUSTERS}/{cluster_id(state)}/nodes", headers=admin))["nodes"]
    assert [n["id"] for n in again] == [n["id"] for n in nodes]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        pytest.param({"sortBy": "name", "sortOrder": "desc"}, NODES[::-1], id="name-desc"),
        pytest.param({"filterBy": "nodePool==edge"}, ["sim-node-1"], id="pool"),
        pytest.param(
            {"filterBy": "nodePool!=edge", "limit": 2}, ["sim-node-0", "sim-node-2"], id="page"
        ),
        pytest.param({"offset": 3}, ["sim-node-3"], id="offset"),
        pytest.param({"nodeName": "sim-node-2"}, ["sim-node-2"], id="node-name"),
        pytest.param({"search": "NODE-3"}, ["sim-node-3"], id="search"),
        pytest.param(
            {"sortBy": "nodePool"},
            ["sim-node-0", "sim-node-2", "sim-node-3", "sim-node-1"],
            id="by-pool",
        ),
        pytest.param({"filterBy": "gpuType=@H100"}, NODES, id="gpu-type"),
    ],
)
def test_list_nodes(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    params: dict[str, Any],
    names: list[str],
) -> None:
    ok(
        client.post(
            "/api/v1/node-pools",
            json={"name": "edge", "labelKey": "kubernetes.io/hostname", "labelValue": "sim-node-1"},
            headers=admin,
        ),
        201,
    )
    listed = ok(client.get(f"{CLUSTERS}/{cluster_id(state)}/nodes", params=params, headers=admin))
    assert [n["name"] for n in listed["nodes"]] == names


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"filterBy": "gpuCount>=8"}, id="unknown-field"),
        pytest.param({"sortBy": "gpuCount"}, id="unknown-sort"),
        pytest.param({"limit": 0}, id="limit-0"),
    ],
)
def test_bad_node_queries_are_400(
    client: TestClient, admin: dict[str, str], state: AppState, params: dict[str, Any]
) -> None:
    url = f"{CLUSTERS}/{cluster_id(state)}/nodes"
    assert client.get(url, params=params, headers=admin).status_code == 400


@pytest.mark.parametrize("path", ["", "/{id}", "/{id}/nodes"])
def test_every_endpoint_needs_a_token(client: TestClient, state: AppState, path: str) -> None:
    response = client.get(CLUSTERS + path.replace("{id}", cluster_id(state)))
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    ("role", "scope", "allowed"),
    [
        # a cluster is read from beneath too: a project's engineer sees what it runs on
        pytest.param("ML engineer", "project", True, id="engineer-of-a-project"),
        pytest.param("Viewer", "department", True, id="viewer-of-a-department"),
        pytest.param("Viewer", "gone-project", False, id="viewer-of-a-project-that-is-gone"),
        pytest.param("Viewer", "cluster", True, id="viewer-of-the-cluster"),
        pytest.param("ML engineer", "tenant", True, id="engineer-of-the-tenant"),
    ],
)
def test_who_may_read(
    client: TestClient, state: AppState, role: str, scope: str, allowed: bool
) -> None:
    scope_type, scope_id = {
        "project": ("project", "1"),
        "gone-project": ("project", "999"),
        "department": ("department", "1"),
        "cluster": ("cluster", cluster_id(state)),
        "tenant": ("tenant", str(state.settings.tenant_id)),
    }[scope]
    headers = caller(state, role, scope_type, scope_id)
    listed = ok(client.get(CLUSTERS, headers=headers))
    assert [c["uuid"] for c in listed] == ([cluster_id(state)] if allowed else [])
    for path in (f"/{cluster_id(state)}", f"/{cluster_id(state)}/nodes"):
        response = client.get(CLUSTERS + path, headers=headers)
        assert response.status_code == (200 if allowed else 403), (path, response.text)
