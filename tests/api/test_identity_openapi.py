"""The identity, authorization and workload-property operations follow Run:ai's document
(`runai-org-subset.json`): its paths, operation ids, path and query parameter names, and its
schema names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.app import create_app
from nimplane.api.state import AppState

RUNAI = Path(__file__).resolve().parents[1] / "data" / "runai" / "runai-org-subset.json"
METHODS = ("get", "put", "post", "delete", "patch")
OURS = (
    "/api/v1/service-accounts",
    "/api/v1/authorization",
    "/api/v1/workload-",
)


@pytest.fixture(scope="module")
def runai() -> dict[str, Any]:
    return dict(json.loads(RUNAI.read_text()))


@pytest.fixture(scope="module")
def served(app_state: AppState) -> dict[str, Any]:
    with TestClient(create_app(app_state.settings, state=app_state)) as client:
        return dict(client.get("/openapi.json").json())


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def params(document: dict[str, Any], operation: dict[str, Any], where: str) -> set[str]:
    found = [resolve(document, p) for p in operation.get("parameters", [])]
    return {p["name"] for p in found if p["in"] == where}


def runai_operations(runai: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in runai["paths"].items()
        if path.startswith(OURS)
        for method in item
        if method in METHODS
    ]


def test_every_runai_identity_operation_is_served(
    served: dict[str, Any], runai: dict[str, Any]
) -> None:
    wanted = runai_operations(runai)
    assert len(wanted) == 16
    problems = []
    for method, path in wanted:
        theirs = runai["paths"][path][method]
        mine = served["paths"].get(path, {}).get(method)
        if mine is None:
            problems.append(f"{method} {path}: not served")
            continue
        if mine["operationId"] != theirs["operationId"]:
            problems.append(f"{method} {path}: operationId {mine['operationId']}")
        if params(served, mine, "path") != params(runai, theirs, "path"):
            problems.append(f"{method} {path}: path parameters")
        extra = params(served, mine, "query") - params(runai, theirs, "query")
        if extra:
            problems.append(f"{method} {path}: query parameters Run:ai lacks: {sorted(extra)}")
        missing = params(runai, theirs, "query") - params(served, mine, "query")
        if missing:
            problems.append(f"{method} {path}: query parameters missing: {sorted(missing)}")
        success = next(code for code in theirs["responses"] if code.startswith("2"))
        if success not in mine["responses"]:
            problems.append(f"{method} {path}: success status {success} not documented")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "name",
    [
        "ServiceAccount",
        "ServiceAccountCreationRequest",
        "ServiceAccountPatchRequest",
        "ServiceAccountPostResponse",
        "RegenerateServiceAccountSecretResponse",
        "AccessRule",
        "AccessRuleById",
        "AccessRuleCreationFields",
        "AccessRuleStatusResponse",
        "AccessRulePhase",
        "AccessRulesSortFilterFields",
        "MeAccessRule",
        "MeAccessRules",
        "MeAccessRulesResponse",
        "RoleV1",
        "Permission",
        "KubernetesPermissions",
        "ResourceType",
        "ResourceTypeGroupId",
        "Action",
        "ScopeType",
        "SubjectType",
        "WorkloadTypeConfig",
        "WorkloadPriority",
        "PriorityStatus",
        "WorkloadCategory",
    ],
)
def test_runai_schema_names(served: dict[str, Any], runai: dict[str, Any], name: str) -> None:
    assert name in runai["components"]["schemas"]
    assert name in served["components"]["schemas"]


@pytest.mark.parametrize(
    "name",
    [
        "ServiceAccountCreationRequest",
        "AccessRuleCreationFields",
        "ServiceAccount",
        "ServiceAccountPostResponse",
        "AccessRule",
        "RoleV1",
        "Permission",
        "WorkloadCategory",
    ],
)
def test_field_names_are_runais(served: dict[str, Any], runai: dict[str, Any], name: str) -> None:
    """Every property Run:ai's schema names is ours too (we add only nimplane extensions)."""

    def properties(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
        schema = resolve(document, schema)
        found = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            found |= properties(document, part)
        return found

    theirs = properties(runai, runai["components"]["schemas"][name])
    mine = properties(served, served["components"]["schemas"][name])
    assert theirs <= mine, sorted(theirs - mine)
