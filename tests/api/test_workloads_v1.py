"""`GET /api/v1/workloads` (list, count, get): Run:ai's `Workload` shape and its query language."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.domain.phases import Phase
from tests.conftest import nim_request

NIM = "/api/v2/workloads/nim-services"
LIST = "/api/v1/workloads"
COUNT = "/api/v1/workloads/count"

# Run:ai's `Workload.required`, verbatim from runai-nim-subset.json.
REQUIRED = (
    "type",
    "name",
    "id",
    "source",
    "priority",
    "priorityClassName",
    "clusterId",
    "projectName",
    "projectId",
    "departmentName",
    "departmentId",
    "namespace",
    "createdAt",
    "phase",
    "conditions",
    "k8sPhase",
    "tenantId",
    "runningPods",
    "phaseUpdatedAt",
    "k8sPhaseUpdatedAt",
    "updatedAt",
    "deletedAt",
    "category",
)

# Created in this order: name -> (priorityClass, category, extra spec sections).
FLEET: dict[str, tuple[str, str, dict[str, Any]]] = {
    "alpha": ("very-high", "Deploy", {}),
    "alpine": ("medium-high", "Deploy", {}),
    "bravo": ("low", "Build", {}),
    "charlie": ("medium", "Train", {"nodePools": ["default"]}),
    "delta": ("high", "Deploy", {}),
}
ALL = set(FLEET)
PRIORITY = {"very-high": 150, "high": 125, "medium-high": 90, "medium": 80, "low": 40}


@pytest.fixture
def fleet(client: TestClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The five workloads of FLEET, as the list shows them, by name."""
    for name, (priority, category, extra) in FLEET.items():
        body = nim_request(name, priorityClass=priority, category=category, **extra)
        response = client.post(NIM, json=body, headers=admin)
        assert response.status_code == 202, response.text
    listed = client.get(LIST, headers=admin).json()["workloads"]
    return {w["name"]: w for w in listed}


def names(client: TestClient, admin: dict[str, str], **params: Any) -> list[str]:
    response = client.get(LIST, params=params, headers=admin)
    assert response.status_code == 200, response.text
    return [w["name"] for w in response.json()["workloads"]]


def count(client: TestClient, admin: dict[str, str], **params: Any) -> int:
    response = client.get(COUNT, params=params, headers=admin)
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


# --- shape -----------------------------------------------------------------------------------


def test_list_entries_have_runai_workload_shape(
    client: TestClient, admin: dict[str, str], fleet: dict[str, dict[str, Any]]
) -> None:
    response = client.get(LIST, headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert "next" not in body
    assert len(body["workloads"]) == len(FLEET)
    for w in body["workloads"]:
        missing = [f for f in REQUIRED if f not in w]
        assert not missing, f"{w['name']} lacks Run:ai's required {missing}"
        priority_class, category, _ = FLEET[w["name"]]
        assert w["type"] == "NIMService"
        assert uuid.UUID(w["id"]).version == 4
        assert w["source"] in ("CLI", "Control-plane", "Other")
        assert w["priorityClassName"] == priority_class
        assert w["priority"] == PRIORITY[priority_class]
        assert type(w["priority"]) is int
        assert uuid.UUID(w["clusterId"])
        assert (w["projectId"], w["projectName"]) == ("1", "default")
        assert (w["departmentId"], w["departmentName"]) == ("1", "default")
        assert w["namespace"] == "runai-default"
        assert w["phase"] in {p.value for p in Phase}
        assert isinstance(w["conditions"], list)
        assert isinstance(w["k8sPhase"], str)
        assert type(w["tenantId"]) is int
        assert type(w["runningPods"]) is int
        for stamp in ("createdAt", "phaseUpdatedAt", "k8sPhaseUpdatedAt", "updatedAt"):
            assert w[stamp].endswith("Z"), stamp
        assert w["deletedAt"] is None
        assert w["category"] == category
        assert w["submittedBy"] == "test-admin"
        assert w["images"] == ["nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"]
    assert fleet["alpha"]["priority"] == 150  # very-high, the default class
    assert fleet["charlie"]["requestedNodePools"] == ["default"]


def test_get_one_is_workload_detailed(
    client: TestClient, admin: dict[str, str], fleet: dict[str, dict[str, Any]]
) -> None:
    listed = fleet["charlie"]
    response = client.get(f"{LIST}/{listed['id']}", headers=admin)
    assert response.status_code == 200, response.text
    detailed = response.json()
    assert isinstance(detailed["pendingSchedulingMessages"], list)
    assert not [f for f in REQUIRED if f not in detailed]
    stable = ("id", "name", "type", "priority", "projectId", "createdAt", "category", "namespace")
    assert {k: detailed[k] for k in stable} == {k: listed[k] for k in stable}
    assert response.headers["etag"] == '"1"'


@pytest.mark.parametrize(
    "workload_id",
    [
        pytest.param(str(uuid.uuid4()), id="unknown-uuid"),
        pytest.param("not-a-uuid", id="not-a-uuid"),
        pytest.param("12345", id="digits"),
        pytest.param("count2", id="near-count"),
    ],
)
def test_get_unknown_is_404(client: TestClient, admin: dict[str, str], workload_id: str) -> None:
    response = client.get(f"{LIST}/{workload_id}", headers=admin)
    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert response.json()["message"]


# --- filterBy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_by", "expected"),
    [
        pytest.param(["name==alpha"], {"alpha"}, id="eq"),
        pytest.param(["name!=alpha"], ALL - {"alpha"}, id="ne"),
        pytest.param(["name=@lp"], {"alpha", "alpine"}, id="contains"),
        pytest.param(["name!@lp"], {"bravo", "charlie", "delta"}, id="not-contains"),
        pytest.param(["name=^al"], {"alpha", "alpine"}, id="starts-with"),
        pytest.param(["name=$a"], {"alpha", "delta"}, id="ends-with"),
        pytest.param(["priority<=80"], {"bravo", "charlie"}, id="le-numeric"),
        pytest.param(["priority>=125"], {"alpha", "delta"}, id="ge-numeric"),
        pytest.param(["priority>=90"], {"alpha", "alpine", "delta"}, id="ge-numeric-not-text"),
        pytest.param(["priorityClassName==low"], {"bravo"}, id="priority-class"),
        pytest.param(["category==Deploy"], {"alpha", "alpine", "delta"}, id="category"),
        pytest.param(["type==NIMService"], ALL, id="type"),
        pytest.param(["projectId==1"], ALL, id="project-id"),
        pytest.param(["projectId==2"], set(), id="other-project-id"),
        pytest.param(["projectName==default"], ALL, id="project-name"),
        pytest.param(["departmentName=^def"], ALL, id="department-name"),
        pytest.param(["submittedBy==test-admin"], ALL, id="submitted-by"),
        pytest.param(["nodepool==default"], {"charlie"}, id="nodepool"),
        pytest.param(["name=^al,category==Deploy"], {"alpha", "alpine"}, id="comma-joined"),
        pytest.param(["category==Deploy,priority>=125"], {"alpha", "delta"}, id="comma-joined-2"),
        pytest.param(["name=^al", "priority>=100"], {"alpha"}, id="repeated-parameter"),
        pytest.param(["name==alpha,name==bravo"], set(), id="filters-are-anded"),
        pytest.param(["createdAt>=2000-01-01T00:00:00Z"], ALL, id="date-ge"),
        pytest.param(["createdAt<=2000-01-01T00:00:00Z"], set(), id="date-le"),
        pytest.param(["createdAt==2000-01-01T00:00:00Z"], set(), id="date-eq"),
        pytest.param(["createdAt!=2000-01-01T00:00:00Z"], ALL, id="date-ne"),
        pytest.param(["createdAt>=2000-01-01"], ALL, id="date-without-time"),
        pytest.param(["deletedAt>=2000-01-01T00:00:00Z"], set(), id="null-date"),
    ],
)
def test_filter_by(
    client: TestClient,
    admin: dict[str, str],
    fleet: dict[str, dict[str, Any]],
    filter_by: list[str],
    expected: set[str],
) -> None:
    assert set(names(client, admin, filterBy=filter_by)) == expected
    assert count(client, admin, filterBy=filter_by) == len(expected)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        pytest.param(">=", {"charlie", "delta"}, id="ge"),
        pytest.param("<=", {"alpha", "alpine", "bravo", "charlie"}, id="le"),
        pytest.param("==", {"charlie"}, id="eq"),
        pytest.param("!=", ALL - {"charlie"}, id="ne"),
    ],
)
def test_filter_by_a_stored_timestamp(
    client: TestClient,
    admin: dict[str, str],
    fleet: dict[str, dict[str, Any]],
    op: str,
    expected: set[str],
) -> None:
    """Dates compare as instants, to the microsecond the list shows (both databases)."""
    filter_by = f"createdAt{op}{fleet['charlie']['createdAt']}"
    assert set(names(client, admin, filterBy=filter_by)) == expected
    assert count(client, admin, filterBy=filter_by) == len(expected)


@pytest.mark.parametrize(
    ("filter_by", "bad_index"),
    [
        pytest.param(["foo==bar"], 0, id="unknown-field"),
        pytest.param(["name~=x"], 0, id="unknown-operator"),
        pytest.param(["name"], 0, id="no-operator"),
        pytest.param(["name=="], 0, id="no-value"),
        pytest.param(["==alpha"], 0, id="no-field"),
        pytest.param(["Name==alpha"], 0, id="field-case-matters"),
        pytest.param(["createdAt=@2024"], 0, id="date-contains"),
        pytest.param(["createdAt=^2024"], 0, id="date-starts-with"),
        pytest.param(["createdAt>=yesterday"], 0, id="not-a-date"),
        pytest.param(["name==alpha,bogus==x"], 1, id="second-of-comma-list"),
    ],
)
@pytest.mark.parametrize("path", [pytest.param(LIST, id="list"), pytest.param(COUNT, id="count")])
def test_bad_filter_is_400_naming_filter_by(
    client: TestClient, admin: dict[str, str], path: str, filter_by: list[str], bad_index: int
) -> None:
    response = client.get(path, params={"filterBy": filter_by}, headers=admin)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 400
    assert "filterBy" in body["message"]
    assert [i["field"] for i in body["complianceIssues"]] == [f"filterBy[{bad_index}]"]


# --- sortBy / sortOrder ----------------------------------------------------------------------

CREATION_ORDER = list(FLEET)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, CREATION_ORDER, id="default-createdAt-asc"),
        pytest.param({"sortBy": "name"}, sorted(FLEET), id="name"),
        pytest.param({"sortBy": "name", "sortOrder": "asc"}, sorted(FLEET), id="name-asc"),
        pytest.param(
            {"sortBy": "name", "sortOrder": "desc"}, sorted(FLEET, reverse=True), id="name-desc"
        ),
        pytest.param({"sortBy": "createdAt"}, CREATION_ORDER, id="createdAt"),
        pytest.param(
            {"sortBy": "createdAt", "sortOrder": "desc"}, CREATION_ORDER[::-1], id="createdAt-desc"
        ),
        pytest.param(
            {"sortBy": "priority", "sortOrder": "desc"},
            ["alpha", "delta", "alpine", "charlie", "bravo"],
            id="priority-desc-numeric",
        ),
        pytest.param(
            {"sortBy": "category", "filterBy": "category!=Deploy"},
            ["bravo", "charlie"],
            id="category-with-filter",
        ),
    ],
)
def test_sort(
    client: TestClient,
    admin: dict[str, str],
    fleet: dict[str, dict[str, Any]],
    params: dict[str, str],
    expected: list[str],
) -> None:
    assert names(client, admin, **params) == expected


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"sortBy": "bogus"}, id="unknown-sort-field"),
        pytest.param({"sortOrder": "up"}, id="unknown-sort-order"),
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 501}, id="limit-501"),
        pytest.param({"limit": -1}, id="limit-negative"),
        pytest.param({"limit": "ten"}, id="limit-not-a-number"),
        pytest.param({"offset": -1}, id="offset-negative"),
        pytest.param({"offset": "x"}, id="offset-not-a-number"),
        pytest.param({"deleted": "maybe"}, id="deleted-not-a-boolean"),
    ],
)
def test_bad_list_parameters_are_400(
    client: TestClient, admin: dict[str, str], params: dict[str, Any]
) -> None:
    response = client.get(LIST, params=params, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


# --- offset / limit / next -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "limit", "page", "next_offset"),
    [
        pytest.param(0, 2, ["alpha", "alpine"], 2, id="first-page"),
        pytest.param(2, 2, ["bravo", "charlie"], 4, id="middle-page"),
        pytest.param(4, 2, ["delta"], None, id="last-page"),
        pytest.param(0, 5, CREATION_ORDER, None, id="exactly-all"),
        pytest.param(0, 500, CREATION_ORDER, None, id="max-limit"),
        pytest.param(1, 1, ["alpine"], 2, id="limit-1"),
        pytest.param(5, 2, [], None, id="past-the-end"),
        pytest.param(99, 50, [], None, id="far-past-the-end"),
    ],
)
def test_paging(
    client: TestClient,
    admin: dict[str, str],
    fleet: dict[str, dict[str, Any]],
    offset: int,
    limit: int,
    page: list[str],
    next_offset: int | None,
) -> None:
    response = client.get(LIST, params={"offset": offset, "limit": limit}, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [w["name"] for w in body["workloads"]] == page
    assert body.get("next") == next_offset
    if next_offset is None:
        assert "next" not in body  # absent, not null, on the last page


def test_following_next_visits_every_workload_once(
    client: TestClient, admin: dict[str, str], fleet: dict[str, dict[str, Any]]
) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "sortBy": "name", "sortOrder": "desc"}
    for _ in range(10):
        body = client.get(LIST, params=params, headers=admin).json()
        seen += [w["name"] for w in body["workloads"]]
        if "next" not in body:
            break
        params["offset"] = body["next"]
    assert seen == sorted(FLEET, reverse=True)


def test_count_ignores_paging(
    client: TestClient, admin: dict[str, str], fleet: dict[str, dict[str, Any]]
) -> None:
    assert count(client, admin) == len(FLEET)
    assert len(names(client, admin, limit=2)) == 2


# --- search and deleted ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param("alp", {"alpha", "alpine"}, id="name-part"),
        pytest.param("ALP", {"alpha", "alpine"}, id="case-insensitive"),
        pytest.param("charlie", {"charlie"}, id="whole-name"),
        pytest.param("zzz", set(), id="no-match"),
        pytest.param("default", ALL, id="project-name"),
    ],
)
def test_search(
    client: TestClient,
    admin: dict[str, str],
    fleet: dict[str, dict[str, Any]],
    search: str,
    expected: set[str],
) -> None:
    assert set(names(client, admin, search=search)) == expected
    assert count(client, admin, search=search) == len(expected)


def test_search_combines_with_filters(
    client: TestClient, admin: dict[str, str], fleet: dict[str, dict[str, Any]]
) -> None:
    params = {"search": "al", "filterBy": "priority<=100"}
    assert names(client, admin, **params) == ["alpine"]
    assert count(client, admin, **params) == 1


def test_deleted_lists_only_deleted_workloads(
    client: TestClient, admin: dict[str, str], fleet: dict[str, dict[str, Any]]
) -> None:
    gone = fleet["bravo"]["id"]
    assert client.delete(f"/api/v2/workloads/{gone}", headers=admin).status_code == 202
    assert set(names(client, admin)) == ALL - {"bravo"}
    assert set(names(client, admin, deleted="false")) == ALL - {"bravo"}
    assert count(client, admin) == len(FLEET) - 1
    response = client.get(LIST, params={"deleted": "true"}, headers=admin)
    [entry] = response.json()["workloads"]
    assert entry["id"] == gone
    assert entry["deletedAt"]
    assert entry["deletedAt"].endswith("Z")
    assert count(client, admin, deleted="true") == 1
    assert names(client, admin, deleted="true", filterBy="category==Build") == ["bravo"]
    assert names(client, admin, deleted="true", filterBy="deletedAt>=2000-01-01") == ["bravo"]
    assert client.get(f"{LIST}/{gone}", headers=admin).status_code == 404


def test_empty_list(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get(LIST, headers=admin).json() == {"workloads": []}
    assert client.get(COUNT, headers=admin).json() == {"count": 0}
