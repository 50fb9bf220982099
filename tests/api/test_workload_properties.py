"""Workload properties, read-only: the NIMService workload type with its defaults, the seven
priority classes, the Build/Train/Deploy categories; stable ids; readable by every role."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from tests.support.identity import ALL_ROLES, store_account, validate

TYPES = "/api/v1/workload-types"
PRIORITIES = "/api/v1/workload-priorities"
CATEGORIES = "/api/v1/workload-categories"

PRIORITY_VALUES = {
    "very-low": 25,
    "low": 40,
    "medium-low": 65,
    "medium": 80,
    "medium-high": 90,
    "high": 125,
    "very-high": 150,
}
"""Run:ai's priority dictionary (docs/decisions.md S2.1)."""
DEPLOY_ID = "ecc25e2c-172f-5b6e-a7d5-14e3ad7f0068"
VERY_HIGH_ID = "e6b11f4d-dd49-51ca-8c90-8097f4828224"
"""Pinned: clients may keep these ids, so they never change."""


def get(client: TestClient, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    validate(client.app, "GET", path, response)  # type: ignore[arg-type]
    return response.json()


def test_the_nim_service_type_and_its_defaults(client: TestClient, admin: dict[str, str]) -> None:
    types = get(client, admin, TYPES)["types"]
    assert len(types) == 1
    nim = types[0]
    assert (nim["name"], nim["group"]) == ("NIMService", "apps.nvidia.com")
    assert (nim["categoryName"], nim["priorityName"]) == ("Deploy", "very-high")
    assert (nim["categoryId"], nim["priorityId"]) == (DEPLOY_ID, VERY_HIGH_ID)
    assert [i["version"] for i in nim["resourceInterfaces"]] == ["v1alpha1"]
    categories = {c["id"]: c["name"] for c in get(client, admin, CATEGORIES)["categories"]}
    priorities = {p["id"]: p["name"] for p in get(client, admin, PRIORITIES)["priorities"]}
    assert categories[nim["categoryId"]] == "Deploy"
    assert priorities[nim["priorityId"]] == "very-high"


def test_the_defaults_are_what_a_nim_service_gets(
    client: TestClient, admin: dict[str, str]
) -> None:
    from tests.conftest import nim_request

    nim = get(client, admin, TYPES)["types"][0]
    created = client.post("/api/v2/workloads/nim-services", json=nim_request("dflt"), headers=admin)
    assert created.status_code == 202, created.text
    spec = created.json()["spec"]
    assert (spec["priorityClass"], spec["category"]) == (nim["priorityName"], nim["categoryName"])


@pytest.mark.parametrize(
    ("params", "names"),
    [
        pytest.param({}, ["NIMService"], id="all"),
        pytest.param({"externalTypesOnly": True}, ["NIMService"], id="external-only"),
        pytest.param({"externalTypesOnly": False}, ["NIMService"], id="not-external-only"),
        pytest.param({"filterBy": "name==NIMService"}, ["NIMService"], id="by-name"),
        pytest.param({"filterBy": "name==Deployment"}, [], id="by-other-name"),
        pytest.param({"filterBy": "group=^apps."}, ["NIMService"], id="by-group"),
        pytest.param({"filterBy": "group!=apps.nvidia.com"}, [], id="by-not-group"),
    ],
)
def test_type_filters(
    client: TestClient, admin: dict[str, str], params: dict[str, Any], names: list[str]
) -> None:
    assert [t["name"] for t in get(client, admin, TYPES, **params)["types"]] == names


def test_the_seven_priorities(client: TestClient, admin: dict[str, str], state: AppState) -> None:
    priorities = get(client, admin, PRIORITIES)["priorities"]
    assert {p["name"]: p["value"] for p in priorities} == PRIORITY_VALUES
    for priority in priorities:
        uuid.UUID(priority["id"])
        assert priority["source"] == "Run:ai"
        assert priority["scopeType"] == "tenant"
        assert priority["scopeId"] == str(state.settings.tenant_id)
    again = get(client, admin, PRIORITIES)["priorities"]
    assert [p["id"] for p in again] == [p["id"] for p in priorities]
    assert len({p["id"] for p in priorities}) == 7


@pytest.mark.parametrize(
    ("params", "names"),
    [
        pytest.param(
            {"sortBy": "value"},
            ["very-low", "low", "medium-low", "medium", "medium-high", "high", "very-high"],
            id="by-value",
        ),
        pytest.param(
            {"sortBy": "value", "sortOrder": "desc"},
            ["very-high", "high", "medium-high", "medium", "medium-low", "low", "very-low"],
            id="by-value-desc",
        ),
        pytest.param(
            {"sortBy": "name"},
            ["high", "low", "medium", "medium-high", "medium-low", "very-high", "very-low"],
            id="by-name",
        ),
        pytest.param({"filterBy": "value>=100"}, ["high", "very-high"], id="value-at-least"),
        pytest.param({"filterBy": "value<=40"}, ["very-low", "low"], id="value-at-most"),
        pytest.param(
            {"filterBy": "name=@medium", "sortBy": "value"},
            ["medium-low", "medium", "medium-high"],
            id="name-contains",
        ),
        pytest.param(
            {"filterBy": "name=$high,value>=100", "sortBy": "value", "sortOrder": "desc"},
            ["very-high", "high"],
            id="two-filters",
        ),
        pytest.param({"filterBy": "source!=Run:ai"}, [], id="source"),
    ],
)
def test_priority_sort_and_filter(
    client: TestClient, admin: dict[str, str], params: dict[str, Any], names: list[str]
) -> None:
    got = get(client, admin, PRIORITIES, **params)["priorities"]
    if "sortBy" not in params:
        got.sort(key=lambda p: p["value"])
    assert [p["name"] for p in got] == names


def test_the_three_categories(client: TestClient, admin: dict[str, str]) -> None:
    categories = get(client, admin, CATEGORIES)["categories"]
    assert [c["name"] for c in categories] == ["Build", "Train", "Deploy"]
    assert all(c["description"] for c in categories)
    assert len({str(uuid.UUID(c["id"])) for c in categories}) == 3
    assert categories[2]["id"] == DEPLOY_ID
    assert get(client, admin, CATEGORIES)["categories"] == categories


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param(TYPES, {"filterBy": "kind==NIMService"}, id="types-unknown-field"),
        pytest.param(TYPES, {"filterBy": "name~NIM"}, id="types-bad-operator"),
        pytest.param(TYPES, {"externalTypesOnly": "maybe"}, id="types-not-a-boolean"),
        pytest.param(PRIORITIES, {"sortBy": "colour"}, id="priorities-unknown-sort"),
        pytest.param(PRIORITIES, {"sortOrder": "sideways"}, id="priorities-unknown-order"),
        pytest.param(PRIORITIES, {"filterBy": "id==x"}, id="priorities-unknown-field"),
    ],
)
def test_bad_parameters_are_400(
    client: TestClient, admin: dict[str, str], path: str, params: dict[str, Any]
) -> None:
    response = client.get(path, params=params, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


@pytest.mark.parametrize("path", [TYPES, PRIORITIES, CATEGORIES])
@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_may_read_them(
    client: TestClient, state: AppState, path: str, role: str
) -> None:
    reader = store_account(state, ((role, "project", "1"),))
    assert client.get(path, headers=reader.headers).status_code == 200


@pytest.mark.parametrize("path", [TYPES, PRIORITIES, CATEGORIES])
def test_no_token_401_no_rules_403(client: TestClient, state: AppState, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer a.b.c"}).status_code == 401
    nobody = store_account(state)
    assert client.get(path, headers=nobody.headers).status_code == 403
