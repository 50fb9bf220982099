"""`/api/v1/org-unit/departments`: create, list, get, update, delete and quotas, with Run:ai's
shapes and status codes, the department-covers-its-projects rule, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.errors import Invalid
from nimplane.domain.org import PoolQuota, Quota
from tests.support.org import (  # noqa: F401 - fixtures
    DEPARTMENTS,
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


# --- create, get, update ---------------------------------------------------------------------


def test_create_answers_201_with_runai_department(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    body = {
        "name": "research",
        "clusterId": cluster_id(state),
        "description": "people who research",
        "resources": [
            {
                "nodePool": {"id": "1"},
                "gpu": {"deserved": 8, "limit": 16, "overQuotaWeight": 2},
                "cpu": {"deserved": 64000},
                "memory": {"deserved": 512, "units": "GB"},
                "priority": "High",
            }
        ],
        "defaultNodePools": ["default"],
        "nodeTypes": {"training": ["t1"], "names": {"t1": "fast"}},
    }
    created = ok(client.post(DEPARTMENTS, json=body, headers=admin), 201)
    assert created["id"].isdigit()
    assert created["name"] == "research"
    assert created["clusterId"] == cluster_id(state)
    assert created["description"] == "people who research"
    assert created["resources"] == [
        {
            "nodePool": {"id": "1", "name": "default"},
            "gpu": {"deserved": 8, "limit": 16, "overQuotaWeight": 2},
            "cpu": {"deserved": 64000, "limit": None, "overQuotaWeight": None},
            "memory": {"deserved": 512, "limit": None, "overQuotaWeight": None, "units": "GB"},
            "priority": "High",
        }
    ]
    assert created["totalResources"] == {"gpuQuota": 8, "cpuQuota": 64000, "memoryQuota": 512000}
    assert created["children"] == []
    assert created["projectsAggregatedResources"] == [
        {
            "nodePool": {"id": "1", "name": "default"},
            "gpu": {"deserved": 0},
            "cpu": {"deserved": None},
            "memory": {"deserved": None, "units": "MB"},
        }
    ]
    assert created["defaultNodePools"] == ["default"]
    assert created["nodeTypes"] == {"training": ["t1"], "names": {"t1": "fast"}}
    assert created["createdBy"] == "test-admin"
    assert ok(client.get(f"{DEPARTMENTS}/{created['id']}", headers=admin)) == created


def test_get_shows_the_projects_and_their_sums(client: TestClient, admin: dict[str, str]) -> None:
    node_pool(client, admin, "h100")
    dept = department(client, admin, "research", gpu(6), gpu(2, "h100"))
    project(client, admin, "team-a", dept["id"], gpu(2, cpu={"deserved": 1000}))
    project(client, admin, "team-b", dept["id"], gpu(1.5), gpu(2, "h100"))
    shown = ok(client.get(f"{DEPARTMENTS}/{dept['id']}", headers=admin))
    assert [c["name"] for c in shown["children"]] == ["team-a", "team-b"]
    assert [
        (a["nodePool"]["name"], a["gpu"]["deserved"], a["cpu"]["deserved"])
        for a in shown["projectsAggregatedResources"]
    ] == [("default", 3.5, 1000), ("h100", 2, None)]
    assert shown["totalResources"]["gpuQuota"] == 8


def test_put_replaces_the_updatable_fields(client: TestClient, admin: dict[str, str]) -> None:
    created = department(client, admin, "research", gpu(4))
    body = {"resources": [gpu(6)], "description": "now described", "schedulingRules": None}
    updated = ok(client.put(f"{DEPARTMENTS}/{created['id']}", json=body, headers=admin))
    assert updated["description"] == "now described"
    assert updated["resources"][0]["gpu"]["deserved"] == 6
    assert updated["name"] == "research"
    assert updated["createdAt"] == created["createdAt"]


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        pytest.param({"name": "Research"}, ["name"], id="upper-case-name"),
        pytest.param({"name": "-r"}, ["name"], id="starts-with-dash"),
        pytest.param({}, ["name"], id="no-name"),
        pytest.param({"name": "r", "parentId": "1"}, ["parentId"], id="unknown-field"),
        pytest.param(
            {"name": "r", "clusterId": "00000000-0000-4000-8000-000000000000"},
            ["clusterId"],
            id="unknown-cluster",
        ),
        pytest.param(
            {"name": "r", "resources": [{"gpu": {"deserved": 2, "limit": 1}}]},
            ["resources[0].gpu.limit"],
            id="limit-below-deserved",
        ),
        pytest.param(
            {"name": "r", "resources": [{"nodePool": {"name": "a100"}}]},
            ["resources[0].nodePool.name"],
            id="unknown-node-pool",
        ),
        pytest.param(
            {"name": "r", "resources": [{"memory": {"deserved": 1, "units": "TB"}}]},
            ["resources[0].memory.units"],
            id="unknown-memory-unit",
        ),
        pytest.param(
            {"name": "r", "resources": [{"cpu": {"overQuotaWeight": -1}}]},
            ["resources[0].cpu.overQuotaWeight"],
            id="negative-weight",
        ),
        pytest.param(
            {"name": "r", "schedulingRules": {"trainingJobTimeLimitSeconds": 0}},
            ["schedulingRules.trainingJobTimeLimitSeconds"],
            id="scheduling-rule-bound",
        ),
        pytest.param(
            {"name": "r", "defaultNodePools": ["nope"]}, ["defaultNodePools[0]"], id="pools"
        ),
    ],
)
def test_bad_creates_are_400(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], problems: list[str]
) -> None:
    response = client.post(DEPARTMENTS, json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert [i["field"] for i in response.json()["complianceIssues"]] == problems
    listed = ok(client.get(DEPARTMENTS, headers=admin))["departments"]
    assert [d["name"] for d in listed] == ["default"]


def test_a_taken_name_is_409(client: TestClient, admin: dict[str, str]) -> None:
    department(client, admin, "research")
    response = client.post(DEPARTMENTS, json={"name": "research"}, headers=admin)
    assert response.status_code == 409, response.text
    assert response.json() == {
        "code": 409,
        "message": "A department named 'research' already exists.",
    }


# --- quotas ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        pytest.param("PUT", "", {"resources": [gpu(4)]}, "resources[0].gpu.deserved", id="put"),
        pytest.param("PUT", "", {"resources": []}, "resources", id="put-without-the-pool"),
        pytest.param("PUT", "/resources", [gpu(4)], "[0].gpu.deserved", id="put-resources"),
        pytest.param("PATCH", "/resources", [gpu(4)], "[0].gpu.deserved", id="patch-resources"),
    ],
)
def test_the_quota_may_not_drop_below_its_projects(
    client: TestClient, admin: dict[str, str], method: str, path: str, body: Any, field: str
) -> None:
    dept = department(client, admin, "research", gpu(8))
    project(client, admin, "team-a", dept["id"], gpu(3))
    project(client, admin, "team-b", dept["id"], gpu(2.5))
    url = f"{DEPARTMENTS}/{dept['id']}{path}"
    response = client.request(method, url, json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    quota = 4 if body not in ({"resources": []},) else 0
    details = (
        f"node pool 'default': the department's gpu quota ({quota} GPUs) is less than the sum "
        "of its projects' quotas (5.5 GPUs: team-a 3, team-b 2.5)"
    )
    assert error["message"] == (
        "The quota of department 'research' would be less than the sum of its projects' "
        f"quotas: {details}"
    )
    assert error["complianceIssues"] == [{"field": field, "details": details, "rule": "min"}]
    assert (
        ok(client.get(f"{DEPARTMENTS}/{dept['id']}", headers=admin))["resources"][0]["gpu"][
            "deserved"
        ]
        == 8
    )


def test_cpu_and_memory_quotas_are_checked_too(client: TestClient, admin: dict[str, str]) -> None:
    dept = department(
        client,
        admin,
        "research",
        gpu(1, cpu={"deserved": 4000}, memory={"deserved": 1, "units": "GB"}),
    )
    response = client.post(
        PROJECTS,
        json={
            "name": "team-a",
            "parentId": dept["id"],
            "resources": [
                gpu(1, cpu={"deserved": 5000}, memory={"deserved": 1000, "units": "Mib"})
            ],
        },
        headers=admin,
    )
    assert response.status_code == 400, response.text
    details = [i["details"] for i in response.json()["complianceIssues"]]
    assert details == [
        "node pool 'default': the department's cpu quota (4000 millicores) is less than the "
        "sum of its projects' quotas (5000 millicores: team-a 5000)",
        "node pool 'default': the department's memory quota (1000 MB) is less than the sum of "
        "its projects' quotas (1048.576 MB: team-a 1048.576)",
    ]


def test_patch_changes_only_the_pools_given(client: TestClient, admin: dict[str, str]) -> None:
    node_pool(client, admin, "h100")
    dept = department(client, admin, "research", gpu(4), gpu(2, "h100"))
    url = f"{DEPARTMENTS}/{dept['id']}/resources"
    patched = ok(client.patch(url, json=[gpu(6)], headers=admin))
    assert [(r["nodePool"]["name"], r["gpu"]["deserved"]) for r in patched] == [
        ("default", 6),
        ("h100", 2),
    ]
    replaced = ok(client.put(url, json=[gpu(1, "h100")], headers=admin))
    assert [(r["nodePool"]["name"], r["gpu"]["deserved"]) for r in replaced] == [
        ("default", 0),
        ("h100", 1),
    ]


def test_the_default_department_quota_can_be_set(client: TestClient, admin: dict[str, str]) -> None:
    """What the configuration file does at start: the default department first, then its
    default project."""
    ok(client.put(f"{DEPARTMENTS}/1/resources", json=[gpu(32)], headers=admin))
    ok(client.put(f"{PROJECTS}/1/resources", json=[gpu(32)], headers=admin))
    assert ok(client.get(f"{PROJECTS}/1", headers=admin))["totalResources"]["gpuQuota"] == 32


def test_the_service_sets_quotas_without_a_caller(state: AppState) -> None:
    """`OrgService.set_resources`: for the configuration file, every rule, no permission."""
    quota = (PoolQuota(node_pool_name="default", gpu=Quota(32)),)
    none = (PoolQuota(node_pool_name="default", gpu=Quota(0)),)
    state.org.set_resources("project", "1", none)  # start from 0 GPUs (the seed gives 32)
    state.org.set_resources("department", "1", none)
    with pytest.raises(Invalid, match=r"\(0 GPUs\) is less than .* \(32 GPUs: default 32\)"):
        state.org.set_resources("project", "1", quota)
    state.org.set_resources("department", "1", quota)
    (shown,) = state.org.set_resources("project", "1", quota)
    assert (shown.node_pool_id, shown.deserved("gpu")) == ("1", 32)


# --- delete ----------------------------------------------------------------------------------


def test_a_department_with_projects_cannot_be_deleted(
    client: TestClient, admin: dict[str, str]
) -> None:
    dept = department(client, admin, "research")
    created = project(client, admin, "team-a", dept["id"])
    url = f"{DEPARTMENTS}/{dept['id']}"
    response = client.delete(url, headers=admin)
    assert response.status_code == 409, response.text
    assert response.json() == {
        "code": 409,
        "message": "Department 'research' still has projects (team-a); delete them first.",
    }
    ok(client.delete(f"{PROJECTS}/{created['id']}", headers=admin), 204)
    ok(client.delete(url, headers=admin), 204)
    assert client.get(url, headers=admin).status_code == 404


def test_the_default_department_stays(client: TestClient, admin: dict[str, str]) -> None:
    ok(client.delete(f"{PROJECTS}/{project(client, admin, 'p', None)['id']}", headers=admin), 204)
    response = client.delete(f"{DEPARTMENTS}/1", headers=admin)
    assert response.status_code == 409
    assert "embedded default" in response.json()["message"]


@pytest.mark.parametrize(
    "department_id",
    [
        pytest.param("999", id="unknown"),
        pytest.param("research", id="a-name"),
        pytest.param("-1", id="negative"),
        pytest.param("99999999999", id="beyond-int32"),
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
def test_unknown_departments_are_404(
    client: TestClient,
    admin: dict[str, str],
    department_id: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    url = f"{DEPARTMENTS}/{department_id}{path}"
    response = client.request(method, url, json=body, headers=admin)
    assert response.status_code == 404, response.text


# --- list ------------------------------------------------------------------------------------


@pytest.fixture
def three(client: TestClient, admin: dict[str, str], clean_org: AppState) -> None:
    department(client, admin, "sales", gpu(1))
    department(client, admin, "engineering", gpu(8))
    department(client, admin, "research", gpu(4))


@pytest.mark.usefixtures("three")
@pytest.mark.parametrize(
    ("params", "names", "next_offset"),
    [
        pytest.param({}, ["default", "sales", "engineering", "research"], None, id="by-id"),
        pytest.param(
            {"sortBy": "name"}, ["default", "engineering", "research", "sales"], None, id="name"
        ),
        pytest.param(
            {"sortBy": "totalGpuQuota", "sortOrder": "desc"},
            ["engineering", "research", "sales", "default"],
            None,
            id="gpu-quota-desc",
        ),
        pytest.param({"filterBy": "totalGpuQuota>=4"}, ["engineering", "research"], None, id="ge"),
        pytest.param({"filterBy": "name=^e"}, ["engineering"], None, id="starts-with"),
        pytest.param({"filterBy": "name!=default", "limit": 1}, ["sales"], 1, id="page-1"),
        pytest.param({"offset": 3, "limit": 1}, ["research"], None, id="last-page"),
        pytest.param(
            {"verbosity": "verbose"},
            ["default", "sales", "engineering", "research"],
            None,
            id="verbose",
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
    listed = ok(client.get(DEPARTMENTS, params=params, headers=admin))
    assert [d["name"] for d in listed["departments"]] == names
    assert listed.get("next") == next_offset
    assert all("projectsAggregatedResources" not in d for d in listed["departments"])


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"filterBy": "parentId==1"}, id="project-only-field"),
        pytest.param({"sortBy": "phase"}, id="project-only-sort"),
        pytest.param({"verbosity": "loud"}, id="bad-verbosity"),
        pytest.param({"filterBy": "createdAt>=yesterday"}, id="bad-date"),
    ],
)
def test_bad_list_queries_are_400(
    client: TestClient, admin: dict[str, str], params: dict[str, Any]
) -> None:
    response = client.get(DEPARTMENTS, params=params, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


# --- 401 / 403 -------------------------------------------------------------------------------

ENDPOINTS = [
    pytest.param("POST", "", {"name": "d"}, id="create"),
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
        pytest.param({"Authorization": "Basic dGVzdDp0ZXN0"}, id="basic"),
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_needs_a_token(
    client: TestClient, headers: dict[str, str], method: str, path: str, body: Any
) -> None:
    response = client.request(method, f"{DEPARTMENTS}{path}", json=body, headers=headers)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    ("role", "scope", "visible", "allowed"),
    [
        pytest.param("Viewer", "own", ["research"], set(), id="viewer-of-the-department"),
        pytest.param("Viewer", "cluster", ["default", "research", "sales"], set(), id="viewer"),
        pytest.param("ML engineer", "project", [], set(), id="engineer-of-a-project"),
        pytest.param(
            "Department administrator",
            "own",
            ["research"],
            {"describe"},
            id="department-administrator",
        ),
        pytest.param(
            "Department administrator",
            "cluster",
            ["default", "research", "sales"],
            {"create", "describe", "update", "quota", "delete"},
            id="department-administrator-of-the-cluster",
        ),
        pytest.param(
            "System administrator",
            "tenant",
            ["default", "research", "sales"],
            {"create", "describe", "update", "quota", "delete"},
            id="system-administrator",
        ),
    ],
)
def test_who_may_do_what(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    role: str,
    scope: str,
    visible: list[str],
    allowed: set[str],
) -> None:
    research = department(client, admin, "research", gpu(2))
    sales = department(client, admin, "sales")
    team = project(client, admin, "team", research["id"])
    scope_type, scope_id = {
        "own": ("department", research["id"]),
        "cluster": ("cluster", cluster_id(state)),
        "project": ("project", team["id"]),
        "tenant": ("tenant", str(state.settings.tenant_id)),
    }[scope]
    headers = caller(state, role, scope_type, scope_id)

    listed = ok(client.get(DEPARTMENTS, headers=headers))["departments"]
    assert [d["name"] for d in listed] == visible
    for shown in (research, sales):
        expected = 200 if shown["name"] in visible else 403
        assert client.get(f"{DEPARTMENTS}/{shown['id']}", headers=headers).status_code == expected

    url = f"{DEPARTMENTS}/{research['id']}"
    ok(client.delete(f"{PROJECTS}/{team['id']}", headers=admin), 204)
    attempts = {
        "create": lambda: client.post(DEPARTMENTS, json={"name": "new"}, headers=headers),
        # its own quota unchanged: its administrators may describe it
        "describe": lambda: client.put(
            url, json={"resources": [gpu(2)], "description": "ours"}, headers=headers
        ),
        "update": lambda: client.put(url, json={"resources": [gpu(3)]}, headers=headers),
        "quota": lambda: client.patch(f"{url}/resources", json=[gpu(4)], headers=headers),
        "delete": lambda: client.delete(url, headers=headers),
    }
    for action, attempt in attempts.items():
        response = attempt()
        if action in allowed:
            assert response.status_code in (200, 201, 204), (action, response.text)
        else:
            assert response.status_code == 403, (action, response.text)
            assert response.json()["code"] == 403


def test_changes_are_in_the_audit_trail(client: TestClient, admin: dict[str, str]) -> None:
    created = department(client, admin, "audited")
    ok(client.delete(f"{DEPARTMENTS}/{created['id']}", headers=admin), 204)
    entries = ok(client.get("/api/v1/audit-logs", headers=admin))["auditLogs"]
    recent = [(e["action"], e["entityType"], e["entityId"], e["statusCode"]) for e in entries[:2]]
    assert recent == [
        ("delete", "department", created["id"], 204),
        ("create", "department", None, 201),
    ]


# --- a department's own quota and deletion belong to the scope above it ----------------------

OWN_QUOTA_CHANGES = [
    pytest.param("PUT", "/resources", [gpu(100_000)], id="put-resources"),
    pytest.param("PATCH", "/resources", [gpu(100_000)], id="patch-resources"),
    pytest.param("PUT", "", {"resources": [gpu(100_000)]}, id="put-department-quota"),
    pytest.param("PUT", "", {"resources": []}, id="put-department-clearing-quota"),
    pytest.param("DELETE", "", None, id="delete"),
]


@pytest.mark.parametrize(("method", "suffix", "body"), OWN_QUOTA_CHANGES)
@pytest.mark.parametrize(
    ("role", "scope", "allowed"),
    [
        pytest.param("Department administrator", "own", False, id="its-own-administrator"),
        pytest.param("Department administrator", "cluster", True, id="cluster-administrator"),
        pytest.param("System administrator", "own", False, id="its-own-system-administrator"),
        pytest.param("System administrator", "tenant", True, id="tenant-administrator"),
    ],
)
def test_a_departments_quota_and_deletion_belong_to_the_scope_above(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    method: str,
    suffix: str,
    body: Any,
    role: str,
    scope: str,
    allowed: bool,
) -> None:
    research = department(client, admin, "research", gpu(2))
    url = f"{DEPARTMENTS}/{research['id']}"
    scope_type, scope_id = {
        "own": ("department", research["id"]),
        "cluster": ("cluster", cluster_id(state)),
        "tenant": ("tenant", str(state.settings.tenant_id)),
    }[scope]
    headers = caller(state, role, scope_type, scope_id)
    response = client.request(method, f"{url}{suffix}", json=body, headers=headers)
    if allowed:
        assert response.status_code in (200, 204), response.text
        return
    assert response.status_code == 403, response.text
    message = response.json()["message"]
    assert "department 'research'" in message
    assert "belongs to cluster" in message
    # nothing changed: the quota, the department and the caller's own rule are all there
    shown = ok(client.get(url, headers=admin))
    assert [r["gpu"]["deserved"] for r in shown["resources"]] == [2]
    mine = ok(client.get("/api/v1/authorization/me/access-rules", headers=headers))
    assert mine["accessRules"]["totalRecords"] == 1


OVER_PROVISIONED = [
    pytest.param("POST", "", {"name": "big", "resources": [gpu(100_000)]}, id="create"),
    pytest.param("PUT", "/{id}", {"resources": [gpu(100_000)]}, id="put-department"),
    pytest.param("PUT", "/{id}/resources", [gpu(100_000)], id="put-resources"),
    pytest.param("PATCH", "/{id}/resources", [gpu(100_000)], id="patch-resources"),
    pytest.param(
        "PATCH",
        "/{id}/resources",
        [{"cpu": {"deserved": 10**9}, "gpu": {"deserved": 1}}],
        id="patch-cpu",
    ),
    pytest.param("PATCH", "/{id}/resources", [gpu(1)], id="within-capacity"),
    pytest.param("PATCH", "/{id}/resources", [gpu(-1)], id="unlimited"),
]


@pytest.mark.parametrize(("method", "suffix", "body"), OVER_PROVISIONED)
def test_a_quota_beyond_the_pool_is_accepted_with_a_warning(
    client: TestClient, admin: dict[str, str], state: AppState, method: str, suffix: str, body: Any
) -> None:
    """Run:ai lets administrators over-provision a node pool; nimplane accepts it and says so
    in a `Warning: 299` header naming the pool, the resource, what was asked and what is there."""
    research = department(client, admin, "research")
    url = DEPARTMENTS + suffix.format(id=research["id"])
    response = client.request(method, url, json=body, headers=admin)
    assert response.status_code in (200, 201), response.text
    gpus = sum(n.gpu_count for n in state.cluster.nodes())  # all in `default` here
    warning = response.headers.get("Warning")
    text = str(body)
    if "100000" not in text and "1000000000" not in text:
        assert warning is None
        return
    assert warning is not None
    assert warning.startswith('299 - "')
    assert "department '" in warning
    assert "over-provisioned" in warning
    if "cpu" in text:
        assert "deserved cpu 1000000000 millicores in node pool 'default'" in warning
    else:
        have = f"is more than its nodes have ({gpus} GPUs)"
        assert f"deserved gpu 100000 GPUs in node pool 'default' {have}" in warning
