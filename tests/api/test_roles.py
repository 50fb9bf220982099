"""`/api/v1/authorization/roles`: the predefined roles in Run:ai's `RoleV1` shape, readable by
every role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from tests.support.identity import ALL_ROLES, ROLE_ID, store_account, validate

ROLES = "/api/v1/authorization/roles"
RUNAI = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "runai" / "runai-org-subset.json").read_text()
)
RUNAI_SCHEMAS = RUNAI["components"]["schemas"]
CRUD = ["create", "read", "update", "delete"]

EXPECTED: dict[str, dict[str, list[str]]] = {
    "ML engineer": {
        "department": ["read"],
        "project": ["read"],
        "cluster": ["read"],
        "nodepools": ["read"],
        "nodes": ["read"],
        "roles": ["read"],
        "workload-properties": ["read"],
        "inferences": CRUD,
        "workloads": ["read"],
    },
    "Viewer": {
        "department": ["read"],
        "project": ["read"],
        "cluster": ["read"],
        "nodepools": ["read"],
        "nodes": ["read"],
        "roles": ["read"],
        "workload-properties": ["read"],
        "inferences": ["read"],
        "workloads": ["read"],
    },
}
"""docs/decisions.md D10 and the role descriptions, written out: what ML engineer and Viewer may
do."""


def permissions(role: dict[str, Any]) -> dict[str, list[str]]:
    return {p["resourceType"]: p["actions"] for p in role["permissions"]}


def test_the_five_predefined_roles(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get(ROLES, headers=admin)
    assert response.status_code == 200, response.text
    validate(client.app, "GET", ROLES, response)  # type: ignore[arg-type]
    roles = response.json()
    assert [(r["id"], r["name"]) for r in roles] == [(ROLE_ID[n], n) for n in ALL_ROLES]
    for role in roles:
        assert role["custom"] is False
        assert role["effectiveEnabled"] is True
        assert role["description"]
        assert set(RUNAI_SCHEMAS["RoleV1"]["required"]) <= role.keys()
        for permission in role["permissions"]:
            assert set(RUNAI_SCHEMAS["Permission"]["required"]) <= permission.keys()
            assert permission["resourceType"] in RUNAI_SCHEMAS["ResourceType"]["enum"]
            assert permission["groupId"] in RUNAI_SCHEMAS["ResourceTypeGroupId"]["enum"]
            assert permission["actions"]
            assert set(permission["actions"]) <= set(RUNAI_SCHEMAS["Action"]["enum"])
            assert permission["displayName"]


def test_what_each_role_grants(client: TestClient, admin: dict[str, str]) -> None:
    roles = {r["name"]: permissions(r) for r in client.get(ROLES, headers=admin).json()}
    for name, grants in EXPECTED.items():
        assert roles[name] == grants, name
    assert all(actions == CRUD for actions in roles["System administrator"].values())
    assert {"users", "roles", "access_rules", "service-account", "tenant"} <= roles[
        "System administrator"
    ].keys()
    department_admin = roles["Department administrator"]
    assert department_admin["access_rules"] == CRUD
    assert department_admin["service-account"] == CRUD
    assert department_admin["inferences"] == CRUD
    assert "users" not in department_admin
    assert roles["L1 researcher"]["workloads"] == CRUD
    assert roles["L1 researcher"]["inferences"] == CRUD


@pytest.mark.parametrize("name", ALL_ROLES)
def test_get_one_role(client: TestClient, admin: dict[str, str], name: str) -> None:
    response = client.get(f"{ROLES}/{ROLE_ID[name]}", headers=admin)
    assert response.status_code == 200
    validate(client.app, "GET", ROLES + "/{roleIdPath}", response)  # type: ignore[arg-type]
    listed = client.get(ROLES, headers=admin).json()
    assert response.json() == next(r for r in listed if r["name"] == name)


@pytest.mark.parametrize(
    ("role_id", "status"),
    [
        pytest.param("0", 404, id="zero"),
        pytest.param("99", 404, id="unknown"),
        pytest.param("2147483647", 404, id="int32-max"),
        pytest.param("2147483648", 400, id="beyond-int32"),
        pytest.param("-1", 400, id="negative"),
        pytest.param("admin", 400, id="a-name"),
    ],
)
def test_unknown_and_bad_role_ids(
    client: TestClient, admin: dict[str, str], role_id: str, status: int
) -> None:
    response = client.get(f"{ROLES}/{role_id}", headers=admin)
    assert response.status_code == status, response.text
    assert response.json()["code"] == status


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("scope", ["project", "department"])
def test_every_role_may_read_the_roles(
    client: TestClient, state: AppState, role: str, scope: str
) -> None:
    scope_id = "1"
    actor = store_account(state, ((role, scope, scope_id),))
    assert client.get(ROLES, headers=actor.headers).status_code == 200
    assert client.get(f"{ROLES}/3", headers=actor.headers).status_code == 200


def test_no_rules_no_roles(client: TestClient, state: AppState) -> None:
    nobody = store_account(state)
    assert client.get(ROLES, headers=nobody.headers).status_code == 403
    assert client.get(f"{ROLES}/1", headers=nobody.headers).status_code == 403
    assert client.get(ROLES).status_code == 401
