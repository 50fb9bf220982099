"""`/api/v1/org-unit/projects`: create, list, get, update, delete and quotas, with Run:ai's shapes
and status codes, the department-covers-its-projects rule, and who may do what."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.errors import Invalid
from nimplane.domain.org import PoolQuota, Quota
from tests.conftest import nim_request
from tests.support.org import (  # noqa: F401 - fixtures
    NIM,
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


@pytest.fixture
def research(client: TestClient, admin: dict[str, str], clean_org: AppState) -> dict[str, Any]:
    """A department with 4 GPUs in the default pool (in a clean organisation)."""
    return department(client, admin, "research", gpu(4))


# --- create ----------------------------------------------------------------------------------


def test_create_answers_201_with_runai_project(
    client: TestClient, admin: dict[str, str], state: AppState, research: dict[str, Any]
) -> None:
    body = {
        "name": "team-a",
        "parentId": research["id"],
        "clusterId": cluster_id(state),
        "description": "the A team",
        "resources": [{"nodePool": {"name": "default"}, "gpu": {"deserved": 2, "limit": 4}}],
        "defaultNodePools": ["default"],
        "schedulingRules": {"trainingJobTimeLimitSeconds": 3600},
    }
    created = ok(client.post(PROJECTS, json=body, headers=admin), 201)
    assert created["id"].isdigit()
    assert created["name"] == "team-a"
    assert created["parentId"] == research["id"]
    assert created["parent"] == {"id": research["id"], "name": "research"}
    assert created["clusterId"] == cluster_id(state)
    assert created["description"] == "the A team"
    assert created["requestedNamespace"] is None
    assert created["enforceRunaiScheduler"] is True
    assert created["status"]["namespace"] == "runai-team-a"
    assert created["status"]["phase"] == "Ready"
    assert created["totalResources"] == {"gpuQuota": 2, "cpuQuota": None, "memoryQuota": None}
    assert created["resources"] == [
        {
            "nodePool": {"id": "1", "name": "default"},
            "gpu": {"deserved": 2, "limit": 4, "overQuotaWeight": None},
            "cpu": None,
            "memory": None,
            "priority": None,
        }
    ]
    assert created["defaultNodePools"] == ["default"]
    assert created["schedulingRules"] == {"trainingJobTimeLimitSeconds": 3600}
    assert created["effective"]["defaultNodePools"] == ["default"]
    assert created["createdBy"] == created["updatedBy"] == "test-admin"
    assert ok(client.get(f"{PROJECTS}/{created['id']}", headers=admin)) == created


def test_minimal_create_goes_to_the_default_department(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = ok(client.post(PROJECTS, json={"name": "solo"}, headers=admin), 201)
    assert (created["parentId"], created["parent"]["name"]) == ("1", "default")
    assert created["status"]["namespace"] == "runai-solo"
    assert [r["gpu"]["deserved"] for r in created["resources"]] == [0]


@pytest.mark.parametrize(
    ("extra", "namespace", "requested", "enforce"),
    [
        pytest.param({"requestedNamespace": "ml-prod"}, "ml-prod", "ml-prod", True, id="ns"),
        pytest.param({"enforceRunaiScheduler": False}, "runai-p", None, False, id="no-enforce"),
        pytest.param(
            {"parentId": 1, "enforceRunaiScheduler": None}, "runai-p", None, True, id="int-id"
        ),
    ],
)
def test_create_options(
    client: TestClient,
    admin: dict[str, str],
    extra: dict[str, Any],
    namespace: str,
    requested: str | None,
    enforce: bool,
) -> None:
    created = ok(client.post(PROJECTS, json={"name": "p", **extra}, headers=admin), 201)
    assert created["status"]["namespace"] == namespace
    assert created["requestedNamespace"] == requested
    assert created["enforceRunaiScheduler"] is enforce


BAD_CREATES = [
    pytest.param({"name": "Team"}, ["name"], id="upper-case-name"),
    pytest.param({"name": "9lives"}, ["name"], id="name-starts-with-digit"),
    pytest.param({"name": "a" * 58}, ["name"], id="name-overflows-namespace"),
    pytest.param({"name": ""}, ["name"], id="empty-name"),
    pytest.param({}, ["name"], id="no-name"),
    pytest.param({"name": 7}, ["name"], id="name-not-a-string"),
    pytest.param({"name": "p", "requestedNamespace": "Bad_NS"}, ["requestedNamespace"], id="ns"),
    pytest.param({"name": "p", "parentId": "99"}, ["parentId"], id="unknown-department"),
    pytest.param({"name": "p", "clusterId": "not-a-uuid"}, ["clusterId"], id="bad-cluster-id"),
    pytest.param(
        {"name": "p", "clusterId": "00000000-0000-4000-8000-000000000000"},
        ["clusterId"],
        id="other-cluster",
    ),
    pytest.param({"name": "p", "colour": "red"}, ["colour"], id="unknown-field"),
    pytest.param(
        {"name": "p", "resources": [{"gpu": {"deserved": -3}}]},
        ["resources[0].gpu.deserved"],
        id="negative-gpus",
    ),
    pytest.param(
        {"name": "p", "resources": [{"gpu": {"deserved": "2"}}]},
        ["resources[0].gpu.deserved"],
        id="gpus-as-a-string",
    ),
    pytest.param(
        {"name": "p", "resources": [{"nodePool": {"name": "a100"}, "gpu": {"deserved": 0}}]},
        ["resources[0].nodePool.name"],
        id="unknown-node-pool-name",
    ),
    pytest.param(
        {"name": "p", "resources": [{"nodePool": {"id": 42}}]},
        ["resources[0].nodePool.id"],
        id="unknown-node-pool-id",
    ),
    pytest.param(
        {"name": "p", "resources": [{"memory": {"deserved": 10}}]},
        ["resources[0].memory.units"],
        id="memory-without-units",
    ),
    pytest.param(
        {"name": "p", "resources": [{"gpu": {"deserved": 0}}, {"gpu": {"deserved": 0}}]},
        ["resources[1].nodePool"],
        id="pool-twice",
    ),
    pytest.param(
        {"name": "p", "defaultNodePools": ["a100"]}, ["defaultNodePools[0]"], id="default-pools"
    ),
    pytest.param(
        {"name": "P", "parentId": "99", "resources": [{"gpu": {"deserved": -1, "limit": 2}}]},
        ["name", "parentId", "resources[0].gpu.limit"],
        id="every-issue-at-once",
    ),
]


@pytest.mark.parametrize(("body", "problems"), BAD_CREATES)
def test_bad_creates_are_400(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], problems: list[str]
) -> None:
    response = client.post(PROJECTS, json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 400
    assert sorted(i["field"] for i in error["complianceIssues"]) == sorted(problems)
    listed = ok(client.get(PROJECTS, headers=admin))["projects"]
    assert [p["name"] for p in listed] == ["default"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"{not json", "application/json", id="malformed"),
        pytest.param(b"[]", "application/json", id="array"),
        pytest.param(b'{"name": "p"}', "text/plain", id="content-type"),
    ],
)
def test_bad_bodies_are_400(
    client: TestClient, admin: dict[str, str], content: bytes, content_type: str
) -> None:
    headers = {**admin, "Content-Type": content_type}
    response = client.post(PROJECTS, content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


@pytest.mark.parametrize(
    ("second", "message"),
    [
        pytest.param({"name": "team-a"}, "A project named 'team-a' already exists.", id="name"),
        pytest.param(
            {"name": "other", "requestedNamespace": "runai-team-a"},
            "Namespace 'runai-team-a' is already the namespace of project 'team-a'.",
            id="namespace",
        ),
    ],
)
def test_taken_names_are_409(
    client: TestClient, admin: dict[str, str], second: dict[str, Any], message: str
) -> None:
    project(client, admin, "team-a", None)
    response = client.post(PROJECTS, json=second, headers=admin)
    assert response.status_code == 409, response.text
    assert response.json() == {"code": 409, "message": message}


# --- quotas ----------------------------------------------------------------------------------


def test_projects_must_fit_in_their_department(
    client: TestClient, admin: dict[str, str], research: dict[str, Any]
) -> None:
    parent = research["id"]
    project(client, admin, "team-a", parent, gpu(3))
    response = client.post(
        PROJECTS, json={"name": "team-b", "parentId": parent, "resources": [gpu(2)]}, headers=admin
    )
    assert response.status_code == 400, response.text
    error = response.json()
    details = (
        "node pool 'default': the department's gpu quota (4 GPUs) is less than the sum of its "
        "projects' quotas (5 GPUs: team-a 3, team-b 2)"
    )
    assert error["message"] == (
        f"Project 'team-b' does not fit in the quota of department 'research': {details}"
    )
    assert error["complianceIssues"] == [
        {"field": "resources[0].gpu.deserved", "details": details, "rule": "min"}
    ]
    assert [p["name"] for p in ok(client.get(PROJECTS, headers=admin))["projects"]] == [
        "default",
        "team-a",
    ]
    project(client, admin, "team-b", parent, gpu(1))  # exactly the rest fits


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        pytest.param("PUT", "", {"resources": [gpu(5)]}, "resources[0].gpu.deserved", id="put"),
        pytest.param("PUT", "/resources", [gpu(5)], "[0].gpu.deserved", id="put-resources"),
        pytest.param("PATCH", "/resources", [gpu(5)], "[0].gpu.deserved", id="patch-resources"),
    ],
)
def test_every_quota_change_is_checked(
    client: TestClient,
    admin: dict[str, str],
    research: dict[str, Any],
    method: str,
    path: str,
    body: Any,
    field: str,
) -> None:
    created = project(client, admin, "team-a", research["id"], gpu(1, cpu={"deserved": 500}))
    url = f"{PROJECTS}/{created['id']}{path}"
    response = client.request(method, url, json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    assert (
        "(4 GPUs) is less than the sum of its projects' quotas (5 GPUs: team-a 5)"
        in (error["message"])
    )
    assert [i["field"] for i in error["complianceIssues"]] == [field]
    assert ok(client.get(f"{PROJECTS}/{created['id']}", headers=admin)) == created


def test_put_replaces_and_patch_merges_resources(
    client: TestClient, admin: dict[str, str], research: dict[str, Any]
) -> None:
    node_pool(client, admin, "h100")
    department_resources = [gpu(4), gpu(2, "h100")]
    ok(
        client.put(
            f"/api/v1/org-unit/departments/{research['id']}/resources",
            json=department_resources,
            headers=admin,
        )
    )
    created = project(client, admin, "team-a", research["id"], gpu(1, cpu={"deserved": 500}))
    url = f"{PROJECTS}/{created['id']}/resources"

    patched = ok(client.patch(url, json=[gpu(2, "h100")], headers=admin))
    assert [(r["nodePool"]["name"], r["gpu"]["deserved"], r["cpu"]) for r in patched] == [
        ("default", 1, {"deserved": 500, "limit": None, "overQuotaWeight": None}),
        ("h100", 2, None),
    ]
    patched = ok(client.patch(url, json=[{"gpu": {"deserved": 3}}], headers=admin))
    assert [(r["gpu"]["deserved"], r["cpu"] is not None) for r in patched] == [
        (3, True),
        (2, False),
    ]

    replaced = ok(client.put(url, json=[gpu(1, "h100")], headers=admin))
    assert [(r["nodePool"]["name"], r["gpu"]["deserved"], r["cpu"]) for r in replaced] == [
        ("default", 0, None),
        ("h100", 1, None),
    ]
    shown = ok(client.get(f"{PROJECTS}/{created['id']}", headers=admin))
    assert shown["resources"] == replaced
    assert shown["totalResources"]["gpuQuota"] == 1


def test_put_replaces_the_updatable_fields(
    client: TestClient, admin: dict[str, str], research: dict[str, Any]
) -> None:
    created = project(
        client,
        admin,
        "team-a",
        research["id"],
        gpu(1),
        description="old",
        defaultNodePools=["default"],
        requestedNamespace="ml-a",
    )
    body = {"resources": [gpu(2)], "description": "new", "enforceRunaiScheduler": False}
    updated = ok(client.put(f"{PROJECTS}/{created['id']}", json=body, headers=admin))
    assert updated["description"] == "new"
    assert updated["defaultNodePools"] is None
    assert updated["enforceRunaiScheduler"] is False
    assert updated["resources"][0]["gpu"]["deserved"] == 2
    assert (updated["name"], updated["status"]["namespace"]) == ("team-a", "ml-a")
    assert updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] >= created["updatedAt"]


@pytest.mark.parametrize(
    ("method", "path", "body", "problems"),
    [
        pytest.param("PUT", "", {"description": "x"}, ["resources"], id="put-needs-resources"),
        pytest.param("PUT", "", {"resources": [], "name": "x"}, ["name"], id="name-is-fixed"),
        pytest.param("PUT", "/resources", {"gpu": 1}, [], id="resources-need-an-array"),
        pytest.param(
            "PATCH", "/resources", [{"gpu": {"deserved": 1, "max": 2}}], ["[0].gpu.max"], id="key"
        ),
        pytest.param(
            "PUT",
            "/resources",
            [{"nodePool": {"id": "1", "name": "h100"}}],
            ["[0].nodePool.name"],
            id="id-and-name-disagree",
        ),
    ],
)
def test_bad_updates_are_400(
    client: TestClient,
    admin: dict[str, str],
    method: str,
    path: str,
    body: Any,
    problems: list[str],
) -> None:
    response = client.request(method, f"{PROJECTS}/1{path}", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert [i["field"] for i in response.json().get("complianceIssues", [])] == problems


# --- delete ----------------------------------------------------------------------------------


def test_a_project_holding_workloads_cannot_be_deleted(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = project(client, admin, "team-a", None)
    url = f"{PROJECTS}/{created['id']}"
    workload = ok(client.post(NIM, json=nim_request("llm", created["id"]), headers=admin), 202)
    response = client.delete(url, headers=admin)
    assert response.status_code == 409, response.text
    assert response.json() == {
        "code": 409,
        "message": "Project 'team-a' still holds 1 workload(s); delete them first.",
    }
    assert ok(client.get(url, headers=admin)) == created

    ok(client.delete(f"/api/v2/workloads/{workload['metadata']['id']}", headers=admin), 202)
    ok(client.delete(url, headers=admin), 204)
    assert client.get(url, headers=admin).status_code == 404
    gone = client.post(NIM, json=nim_request("llm", created["id"]), headers=admin)
    assert gone.status_code == 400
    assert [i["field"] for i in gone.json()["complianceIssues"]] == ["metadata.projectId"]
    deleted = ok(client.get("/api/v1/workloads", params={"deleted": True}, headers=admin))
    assert deleted["workloads"] == []  # its history went with it


def test_the_default_project_stays(client: TestClient, admin: dict[str, str]) -> None:
    response = client.delete(f"{PROJECTS}/1", headers=admin)
    assert response.status_code == 409
    assert "embedded default" in response.json()["message"]


def test_a_name_is_free_again_after_delete(client: TestClient, admin: dict[str, str]) -> None:
    first = project(client, admin, "team-a", None)
    ok(client.delete(f"{PROJECTS}/{first['id']}", headers=admin), 204)
    again = project(client, admin, "team-a", None)
    assert again["status"]["namespace"] == "runai-team-a"


@pytest.mark.parametrize(
    "project_id",
    [
        pytest.param("999", id="unknown"),
        pytest.param("abc", id="not-a-number"),
        pytest.param("²", id="superscript-two"),
        pytest.param("9" * 30, id="beyond-int32"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "", None, id="get"),
        pytest.param("PUT", "", {"resources": []}, id="put"),
        pytest.param("DELETE", "", None, id="delete"),
        pytest.param("PUT", "/resources", [], id="put-resources"),
        pytest.param("PATCH", "/resources", [], id="patch-resources"),
    ],
)
def test_unknown_projects_are_404(
    client: TestClient,
    admin: dict[str, str],
    project_id: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    response = client.request(method, f"{PROJECTS}/{project_id}{path}", json=body, headers=admin)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == 404


# --- list ------------------------------------------------------------------------------------


@pytest.fixture
def three(client: TestClient, admin: dict[str, str], research: dict[str, Any]) -> None:
    """default (dept default, 0 GPUs), alpha (research, 1), beta (research, 3), gamma (default)."""
    project(client, admin, "beta", research["id"], gpu(3))
    project(client, admin, "alpha", research["id"], gpu(1))
    project(client, admin, "gamma", None)


@pytest.mark.usefixtures("three")
@pytest.mark.parametrize(
    ("params", "names", "next_offset"),
    [
        pytest.param({}, ["default", "beta", "alpha", "gamma"], None, id="creation-order"),
        pytest.param({"sortBy": "name"}, ["alpha", "beta", "default", "gamma"], None, id="name"),
        pytest.param(
            {"sortBy": "name", "sortOrder": "desc"},
            ["gamma", "default", "beta", "alpha"],
            None,
            id="name-desc",
        ),
        pytest.param(
            {"sortBy": "totalGpuQuota", "sortOrder": "desc"},
            ["beta", "alpha", "default", "gamma"],
            None,
            id="gpu-quota-desc",
        ),
        pytest.param({"filterBy": "parentName==research"}, ["beta", "alpha"], None, id="parent"),
        pytest.param({"filterBy": "name=@mm"}, ["gamma"], None, id="contains"),
        pytest.param(
            {"filterBy": "name=@a,name!=beta"}, ["default", "alpha", "gamma"], None, id="and"
        ),
        pytest.param(
            {"filterBy": ["name=^a", "name=$a"]}, ["alpha"], None, id="repeated-parameter"
        ),
        pytest.param({"filterBy": "totalGpuQuota>=1"}, ["beta", "alpha"], None, id="numeric"),
        pytest.param({"filterBy": "departmentId==1"}, ["default", "gamma"], None, id="dept-id"),
        pytest.param({"search": "AMM"}, ["gamma"], None, id="search"),
        pytest.param({"limit": 2}, ["default", "beta"], 2, id="first-page"),
        pytest.param({"limit": 2, "offset": 2}, ["alpha", "gamma"], None, id="last-page"),
        pytest.param(
            {"sortBy": "name", "offset": 1, "limit": 2}, ["beta", "default"], 3, id="sorted-page"
        ),
        pytest.param(
            {"filterBy": "createdAt>=2000-01-01T00:00:00Z", "limit": 1},
            ["default"],
            1,
            id="date-filter",
        ),
    ],
)
def test_list_filters_sorts_and_pages(
    client: TestClient,
    admin: dict[str, str],
    params: dict[str, Any],
    names: list[str],
    next_offset: int | None,
) -> None:
    listed = ok(client.get(PROJECTS, params=params, headers=admin))
    assert [p["name"] for p in listed["projects"]] == names
    assert listed.get("next") == next_offset


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"filterBy": "colour==red"}, id="unknown-filter-field"),
        pytest.param({"filterBy": "name~x"}, id="unknown-operator"),
        pytest.param({"filterBy": "createdAt=@2024"}, id="date-contains"),
        pytest.param({"sortBy": "colour"}, id="unknown-sort-field"),
        pytest.param({"sortOrder": "up"}, id="bad-order"),
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 501}, id="limit-501"),
        pytest.param({"offset": -1}, id="negative-offset"),
    ],
)
def test_bad_list_queries_are_400(
    client: TestClient, admin: dict[str, str], params: dict[str, Any]
) -> None:
    response = client.get(PROJECTS, params=params, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


# --- 401 / 403 -------------------------------------------------------------------------------

ENDPOINTS = [
    pytest.param("POST", "", {"name": "p"}, id="create"),
    pytest.param("GET", "", None, id="list"),
    pytest.param("GET", "/1", None, id="get"),
    pytest.param("PUT", "/1", {"resources": []}, id="update"),
    pytest.param("DELETE", "/1", None, id="delete"),
    pytest.param("PUT", "/1/resources", [], id="put-resources"),
    pytest.param("PATCH", "/1/resources", [], id="patch-resources"),
]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer a.b.c"}, id="malformed-token"),
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_needs_a_token(
    client: TestClient, headers: dict[str, str], method: str, path: str, body: Any
) -> None:
    response = client.request(method, f"{PROJECTS}{path}", json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == 401


def test_a_project_ml_engineer_sees_and_changes_only_what_the_role_allows(
    client: TestClient, admin: dict[str, str], state: AppState, research: dict[str, Any]
) -> None:
    mine = project(client, admin, "mine", research["id"], gpu(1))
    theirs = project(client, admin, "theirs", research["id"], gpu(1))
    engineer = caller(state, "ML engineer", "project", mine["id"])

    assert ok(client.get(f"{PROJECTS}/{mine['id']}", headers=engineer)) == mine
    listed = ok(client.get(PROJECTS, headers=engineer))
    assert [p["name"] for p in listed["projects"]] == ["mine"]
    assert "next" not in listed
    refused = {
        "get-other": client.get(f"{PROJECTS}/{theirs['id']}", headers=engineer),
        "create": client.post(
            PROJECTS, json={"name": "new", "parentId": research["id"]}, headers=engineer
        ),
        "update": client.put(f"{PROJECTS}/{mine['id']}", json={"resources": []}, headers=engineer),
        "quota": client.patch(f"{PROJECTS}/{mine['id']}/resources", json=[], headers=engineer),
        "delete": client.delete(f"{PROJECTS}/{mine['id']}", headers=engineer),
    }
    for action, response in refused.items():
        assert response.status_code == 403, (action, response.text)
        assert response.json()["code"] == 403
    assert ok(client.get(f"{PROJECTS}/{mine['id']}", headers=admin)) == mine


def test_a_department_administrator_manages_projects_of_the_department_only(
    client: TestClient, admin: dict[str, str], state: AppState, research: dict[str, Any]
) -> None:
    boss = caller(state, "Department administrator", "department", research["id"])
    created = project(client, boss, "team-a", research["id"], gpu(2))
    ok(client.patch(f"{PROJECTS}/{created['id']}/resources", json=[gpu(3)], headers=boss))
    assert [p["name"] for p in ok(client.get(PROJECTS, headers=boss))["projects"]] == ["team-a"]
    elsewhere = client.post(PROJECTS, json={"name": "stray", "parentId": "1"}, headers=boss)
    assert elsewhere.status_code == 403, elsewhere.text
    assert client.get(f"{PROJECTS}/1", headers=boss).status_code == 403
    ok(client.delete(f"{PROJECTS}/{created['id']}", headers=boss), 204)


def test_deleting_a_project_removes_the_access_rules_on_it(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    created = project(client, admin, "team-a", None)
    engineer = caller(state, "ML engineer", "project", created["id"])
    assert client.get(f"{PROJECTS}/{created['id']}", headers=engineer).status_code == 200
    ok(client.delete(f"{PROJECTS}/{created['id']}", headers=admin), 204)
    with state.store.read() as tx:
        rules = tx.identity.access_rules()
    assert not [r for r in rules if (r.scope_type, r.scope_id) == ("project", created["id"])]
    again = project(client, admin, "team-b", None)  # may reuse the id on SQLite
    assert client.get(f"{PROJECTS}/{again['id']}", headers=engineer).status_code == 403


def test_done_when_two_projects_each_with_its_own_engineer(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    """The acceptance scenario of docs/decisions.md A2: an administrator sets up a department with
    two projects and quotas, an ML engineer per project; each manages NIM services in its own
    project and gets 403 in the other."""
    dept = department(client, admin, "inference", gpu(8))
    one = project(client, admin, "one", dept["id"], gpu(4))
    two = project(client, admin, "two", dept["id"], gpu(4))
    first = caller(state, "ML engineer", "project", one["id"])
    second = caller(state, "ML engineer", "project", two["id"])
    for headers, own, other in ((first, one, two), (second, two, one)):
        created = ok(client.post(NIM, json=nim_request("llm", own["id"]), headers=headers), 202)
        wid = created["metadata"]["id"]
        ok(client.patch(f"{NIM}/{wid}", json={"spec": {"replicas": 2}}, headers=headers), 202)
        refused = client.post(NIM, json=nim_request("llm", other["id"]), headers=headers)
        assert refused.status_code == 403, refused.text
    listed = ok(client.get("/api/v1/workloads", headers=first))["workloads"]
    assert [(w["projectName"], w["name"]) for w in listed] == [("one", "llm")]


def test_concurrent_quota_changes_never_oversubscribe_the_department(
    client: TestClient, admin: dict[str, str], state: AppState, research: dict[str, Any]
) -> None:
    """Two projects each asking for 3 of the department's 4 GPUs at the same moment: exactly
    one gets them (the department's row lock on PostgreSQL, the one writer on SQLite)."""
    ids = [project(client, admin, name, research["id"])["id"] for name in ("a", "b")]
    zero, three = (PoolQuota(gpu=Quota(0)),), (PoolQuota(gpu=Quota(3)),)

    def ask(project_id: str, barrier: threading.Barrier) -> bool:
        barrier.wait()
        try:
            state.org.set_resources("project", project_id, three)
        except Invalid:
            return False
        return True

    with ThreadPoolExecutor(2) as pool:
        for _ in range(10):
            for project_id in ids:
                state.org.set_resources("project", project_id, zero)
            barrier = threading.Barrier(2)
            won = list(pool.map(ask, ids, [barrier, barrier]))
            assert sorted(won) == [False, True]


def test_concurrent_patches_of_different_pools_both_land(
    client: TestClient, admin: dict[str, str], state: AppState, research: dict[str, Any]
) -> None:
    node_pool(client, admin, "h100")
    ok(
        client.patch(
            f"/api/v1/org-unit/departments/{research['id']}/resources",
            json=[gpu(4, "h100")],
            headers=admin,
        )
    )
    target = project(client, admin, "team", research["id"])["id"]
    changes = [
        (PoolQuota(node_pool_name="default", gpu=Quota(1)),),
        (PoolQuota(node_pool_name="h100", gpu=Quota(2)),),
    ]

    def patch(change: tuple[PoolQuota, ...], barrier: threading.Barrier) -> None:
        barrier.wait()
        state.org.set_resources("project", target, change, merge=True)

    with ThreadPoolExecutor(2) as pool:
        for round_ in range(5):
            state.org.set_resources("project", target, ())
            barrier = threading.Barrier(2)
            list(pool.map(patch, changes, [barrier, barrier]))
            shown = ok(client.get(f"{PROJECTS}/{target}", headers=admin))["resources"]
            assert [r["gpu"]["deserved"] for r in shown] == [1, 2], round_
