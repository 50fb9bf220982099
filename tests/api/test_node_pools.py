"""`/api/v1/node-pools`: create with a label selector, list, get, update, delete; `default`
always exists; a pool still in use cannot be deleted."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from tests.conftest import nim_request
from tests.support.org import (  # noqa: F401 - fixtures
    CLUSTERS,
    NIM,
    NODE_POOLS,
    PROJECTS,
    caller,
    clean_org_fixture,
    cluster_id,
    department,
    gpu,
    node_pool,
    ok,
    project,
)

pytestmark = pytest.mark.usefixtures("clean_org")
HOSTNAME = "kubernetes.io/hostname"


def test_default_always_exists_and_holds_every_node(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    (default,) = ok(client.get(NODE_POOLS, headers=admin))["nodepools"]
    assert default["name"] == "default"
    assert default["isDefault"] is True
    assert (default["labelKey"], default["labelValue"]) == ("kai.scheduler/node-pool", "default")
    assert default["phase"] == "Ready"
    assert default["status"]["nodes"] == [f"sim-node-{i}" for i in range(4)]
    assert default["clusterId"] == cluster_id(state)
    assert default["tenantId"] == state.settings.tenant_id


def test_create_answers_201_and_takes_the_nodes_it_selects(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    body = {
        "name": "last-node",
        "labelKey": HOSTNAME,
        "labelValue": "sim-node-3",
        "clusterId": cluster_id(state),
        "placementStrategy": {"gpu": "binpack"},
        "gpuResourceOptimization": {"swapEnabled": True, "cpuSwapMemorySize": "50G"},
    }
    created = ok(client.post(NODE_POOLS, json=body, headers=admin), 201)
    assert created["id"].isdigit()
    assert (created["name"], created["labelKey"], created["labelValue"]) == (
        "last-node",
        HOSTNAME,
        "sim-node-3",
    )
    assert created["isDefault"] is False
    assert created["phase"] == "Ready"
    assert created["status"]["nodes"] == ["sim-node-3"]
    assert created["placementStrategy"] == {"gpu": "binpack"}
    assert created["gpuResourceOptimization"] == {"swapEnabled": True, "cpuSwapMemorySize": "50G"}
    assert created["createdBy"] == "test-admin"
    assert ok(client.get(f"{NODE_POOLS}/{created['id']}", headers=admin)) == created
    default = ok(client.get(f"{NODE_POOLS}/1", headers=admin))
    assert default["status"]["nodes"] == ["sim-node-0", "sim-node-1", "sim-node-2"]
    nodes = ok(client.get(f"{CLUSTERS}/{cluster_id(state)}/nodes", headers=admin))["nodes"]
    assert [(n["name"], n["nodePool"]) for n in nodes][-1] == ("sim-node-3", "last-node")


def test_a_pool_without_nodes_is_empty(client: TestClient, admin: dict[str, str]) -> None:
    created = node_pool(client, admin, "h100")
    assert (created["phase"], created["status"]["nodes"]) == ("Empty", [])


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        pytest.param({"name": "H100", "labelKey": "k", "labelValue": "v"}, ["name"], id="name"),
        pytest.param({"labelKey": "k", "labelValue": "v"}, ["name"], id="no-name"),
        pytest.param({"name": "p", "labelValue": "v"}, ["labelKey"], id="no-key"),
        pytest.param({"name": "p", "labelKey": "k", "labelValue": ""}, ["labelValue"], id="empty"),
        pytest.param(
            {"name": "p", "labelKey": "bad key", "labelValue": "v"}, ["labelKey"], id="bad-key"
        ),
        pytest.param(
            {"name": "p", "labelKey": "k", "labelValue": "v v"}, ["labelValue"], id="bad-value"
        ),
        pytest.param(
            {"name": "p", "labelKey": "k", "labelValue": "v", "overProvisioningRatio": 9},
            ["overProvisioningRatio"],
            id="ratio-bound",
        ),
        pytest.param(
            {"name": "p", "labelKey": "k", "labelValue": "v", "placementStrategy": {"gpu": "x"}},
            ["placementStrategy.gpu"],
            id="placement-enum",
        ),
        pytest.param(
            {"name": "p", "labelKey": "k", "labelValue": "v", "nodes": ["a"]},
            ["nodes"],
            id="unknown-field",
        ),
        pytest.param(
            {"name": "p", "labelKey": "k", "labelValue": "v", "clusterId": "nope"},
            ["clusterId"],
            id="bad-cluster",
        ),
    ],
)
def test_bad_creates_are_400(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], problems: list[str]
) -> None:
    response = client.post(NODE_POOLS, json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert [i["field"] for i in response.json()["complianceIssues"]] == problems
    assert len(ok(client.get(NODE_POOLS, headers=admin))["nodepools"]) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {"name": "h100", "labelKey": "pool", "labelValue": "other"},
            "A node pool named 'h100' already exists.",
            id="name",
        ),
        pytest.param(
            {"name": "default", "labelKey": "pool", "labelValue": "other"},
            "A node pool named 'default' already exists.",
            id="default",
        ),
        pytest.param(
            {"name": "again", "labelKey": "pool", "labelValue": "h100"},
            "Node pool 'h100' already selects the nodes labelled pool=h100.",
            id="same-label",
        ),
    ],
)
def test_taken_names_and_labels_are_409(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], message: str
) -> None:
    node_pool(client, admin, "h100")
    response = client.post(NODE_POOLS, json=body, headers=admin)
    assert response.status_code == 409, response.text
    assert response.json() == {"code": 409, "message": message}


def test_put_replaces_and_patch_merges_the_settings(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = node_pool(client, admin, "h100")
    url = f"{NODE_POOLS}/{created['id']}"
    body = {"overProvisioningRatio": 2, "placementStrategy": {"cpu": "spread"}}
    put = ok(client.put(url, json=body, headers=admin))
    assert (put["overProvisioningRatio"], put["placementStrategy"]) == (2, {"cpu": "spread"})
    assert (put["labelKey"], put["labelValue"]) == ("pool", "h100")
    patched = ok(client.patch(url, json={"labelValue": "hopper"}, headers=admin))
    assert (patched["labelValue"], patched["overProvisioningRatio"]) == ("hopper", 2)
    replaced = ok(client.put(url, json={"gpuNetworkAccelerationDetection": "Use"}, headers=admin))
    assert "overProvisioningRatio" not in replaced
    assert replaced["gpuNetworkAccelerationDetection"] == "Use"
    assert replaced["labelValue"] == "hopper"
    assert replaced["updatedAt"] >= created["updatedAt"]


@pytest.mark.parametrize(
    ("pool_id", "body", "status"),
    [
        pytest.param("1", {"labelKey": "pool"}, 400, id="default-has-no-label"),
        pytest.param("1", {"overProvisioningRatio": 3}, 200, id="default-settings"),
        pytest.param("own", {"labelKey": "bad key"}, 400, id="bad-key"),
        pytest.param("own", {"name": "renamed"}, 400, id="name-is-fixed"),
        pytest.param("own", {"labelValue": "a100"}, 409, id="label-of-another-pool"),
        pytest.param("999", {}, 404, id="unknown"),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_statuses(
    client: TestClient,
    admin: dict[str, str],
    method: str,
    pool_id: str,
    body: dict[str, Any],
    status: int,
) -> None:
    own = node_pool(client, admin, "h100")
    node_pool(client, admin, "a100")
    target = own["id"] if pool_id == "own" else pool_id
    response = client.request(method, f"{NODE_POOLS}/{target}", json=body, headers=admin)
    assert response.status_code == status, response.text


# --- delete ----------------------------------------------------------------------------------


def test_delete(client: TestClient, admin: dict[str, str]) -> None:
    created = node_pool(client, admin, "h100")
    url = f"{NODE_POOLS}/{created['id']}"
    ok(client.delete(url, headers=admin), 204)
    assert client.get(url, headers=admin).status_code == 404
    assert client.delete(url, headers=admin).status_code == 404


def test_default_cannot_be_deleted(client: TestClient, admin: dict[str, str]) -> None:
    response = client.delete(f"{NODE_POOLS}/1", headers=admin)
    assert response.status_code == 409
    assert (
        response.json()["message"] == "The 'default' node pool always exists; it cannot be deleted."
    )


@pytest.mark.parametrize(
    ("use", "message"),
    [
        pytest.param(
            "department-quota", "the quota of department 'research'", id="department-quota"
        ),
        pytest.param("project-quota", "the quota of project 'team'", id="project-quota"),
        pytest.param(
            "default-node-pools", "the defaultNodePools of project 'team'", id="default-pools"
        ),
        pytest.param("workload", "the spec.nodePools of workloads llm", id="workload"),
    ],
)
def test_a_pool_in_use_cannot_be_deleted(
    client: TestClient, admin: dict[str, str], use: str, message: str
) -> None:
    pool = node_pool(client, admin, "h100")
    dept = department(client, admin, "research", gpu(1, "h100"))
    team = project(client, admin, "team", dept["id"])
    url = f"{PROJECTS}/{team['id']}"
    if use != "department-quota":  # then only what `use` names still names the pool
        dept_url = f"/api/v1/org-unit/departments/{dept['id']}/resources"
        ok(client.put(dept_url, json=[], headers=admin))
    if use == "project-quota":
        ok(client.put(f"{url}/resources", json=[gpu(0, "h100", priority="High")], headers=admin))
    if use == "default-node-pools":
        ok(client.put(url, json={"resources": [], "defaultNodePools": ["h100"]}, headers=admin))
    if use == "workload":
        body = nim_request("llm", team["id"], nodePools=["h100"])
        ok(client.post(NIM, json=body, headers=admin), 202)
    response = client.delete(f"{NODE_POOLS}/{pool['id']}", headers=admin)
    assert response.status_code == 409, response.text
    assert response.json()["message"] == f"Node pool 'h100' is still in use: {message}."
    assert client.get(f"{NODE_POOLS}/{pool['id']}", headers=admin).status_code == 200


def test_deleting_a_pool_drops_quota_items_that_only_restate_defaults(
    client: TestClient, admin: dict[str, str]
) -> None:
    pool = node_pool(client, admin, "h100")
    team = project(client, admin, "team", None, gpu(0, "h100"))
    ok(client.delete(f"{NODE_POOLS}/{pool['id']}", headers=admin), 204)
    shown = ok(client.get(f"{PROJECTS}/{team['id']}", headers=admin))
    assert [r["nodePool"]["name"] for r in shown["resources"]] == ["default"]
    again = node_pool(client, admin, "h200")  # may reuse the id on SQLite
    shown = ok(client.get(f"{PROJECTS}/{team['id']}", headers=admin))
    assert [(r["nodePool"]["name"], r["gpu"]["deserved"]) for r in shown["resources"]] == [
        ("default", 0),
        ("h200", 0),
    ]
    assert again["name"] == "h200"


# --- list ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "names"),
    [
        pytest.param({}, ["default", "h100", "a100"], id="by-id"),
        pytest.param({"sortBy": "name"}, ["a100", "default", "h100"], id="name"),
        pytest.param(
            {"sortBy": "name", "sortOrder": "desc"}, ["h100", "default", "a100"], id="name-desc"
        ),
        pytest.param({"filterBy": "phase==Empty"}, ["h100", "a100"], id="phase"),
        pytest.param({"filterBy": "name=$100"}, ["h100", "a100"], id="ends-with"),
        pytest.param({"offset": 1, "limit": 1}, ["h100"], id="page"),
    ],
)
def test_list(
    client: TestClient, admin: dict[str, str], params: dict[str, Any], names: list[str]
) -> None:
    node_pool(client, admin, "h100")
    node_pool(client, admin, "a100")
    listed = ok(client.get(NODE_POOLS, params=params, headers=admin))["nodepools"]
    assert [p["name"] for p in listed] == names


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"filterBy": "labelKey==pool"}, id="not-a-filter-field"),
        pytest.param({"sortBy": "labelKey"}, id="not-a-sort-field"),
        pytest.param({"limit": 1000}, id="limit"),
    ],
)
def test_bad_list_queries_are_400(
    client: TestClient, admin: dict[str, str], params: dict[str, Any]
) -> None:
    assert client.get(NODE_POOLS, params=params, headers=admin).status_code == 400


@pytest.mark.parametrize("pool_id", ["999", "default", "1.0"])
def test_unknown_pools_are_404(client: TestClient, admin: dict[str, str], pool_id: str) -> None:
    assert client.get(f"{NODE_POOLS}/{pool_id}", headers=admin).status_code == 404


# --- 401 / 403 -------------------------------------------------------------------------------

ENDPOINTS = [
    pytest.param("POST", "", {"name": "p", "labelKey": "k", "labelValue": "v"}, id="create"),
    pytest.param("GET", "", None, id="list"),
    pytest.param("GET", "/1", None, id="get"),
    pytest.param("PUT", "/1", {}, id="put"),
    pytest.param("PATCH", "/1", {}, id="patch"),
    pytest.param("DELETE", "/1", None, id="delete"),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_needs_a_token(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    response = client.request(method, f"{NODE_POOLS}{path}", json=body)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    ("role", "scope", "reads", "writes"),
    [
        # node pools are read from beneath too: a project's engineer picks from them
        pytest.param("ML engineer", "project", True, False, id="engineer-of-a-project"),
        pytest.param("Viewer", "gone-project", False, False, id="viewer-of-a-project-gone"),
        pytest.param("Viewer", "cluster", True, False, id="viewer-of-the-cluster"),
        pytest.param("Department administrator", "tenant", True, False, id="department-admin"),
        pytest.param("System administrator", "cluster", True, True, id="system-administrator"),
    ],
)
def test_who_may_do_what(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    role: str,
    scope: str,
    reads: bool,
    writes: bool,
) -> None:
    pool = node_pool(client, admin, "h100")
    scope_type, scope_id = {
        "project": ("project", "1"),
        "gone-project": ("project", "999"),
        "cluster": ("cluster", cluster_id(state)),
        "tenant": ("tenant", str(state.settings.tenant_id)),
    }[scope]
    headers = caller(state, role, scope_type, scope_id)
    listed = ok(client.get(NODE_POOLS, headers=headers))["nodepools"]
    assert [p["name"] for p in listed] == (["default", "h100"] if reads else [])
    url = f"{NODE_POOLS}/{pool['id']}"
    assert client.get(url, headers=headers).status_code == (200 if reads else 403)
    attempts = [
        client.post(
            NODE_POOLS, json={"name": "a100", "labelKey": "k", "labelValue": "a"}, headers=headers
        ),
        client.patch(url, json={"overProvisioningRatio": 2}, headers=headers),
        client.delete(url, headers=headers),
    ]
    assert [r.status_code for r in attempts] == ([201, 200, 204] if writes else [403] * 3)
