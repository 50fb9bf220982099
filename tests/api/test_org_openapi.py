"""The organisation endpoints in the OpenAPI document use Run:ai's paths, operation ids,
parameter names and schema names (the wire contract: tests/data/runai/runai-org-subset.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from tests.api.test_openapi import operations, parameter_names
from tests.support.org import (  # noqa: F401 - fixtures
    clean_org_fixture,
    cluster_id,
)

RUNAI_ORG = Path(__file__).resolve().parents[1] / "data" / "runai" / "runai-org-subset.json"

ORG_OPERATIONS = [
    ("post", "/api/v1/org-unit/departments", "DepartmentCreationRequest"),
    ("get", "/api/v1/org-unit/departments", None),
    ("get", "/api/v1/org-unit/departments/{departmentId}", None),
    ("put", "/api/v1/org-unit/departments/{departmentId}", "DepartmentUpdateRequest"),
    ("delete", "/api/v1/org-unit/departments/{departmentId}", None),
    ("put", "/api/v1/org-unit/departments/{departmentId}/resources", "ResourcesUpdateRequest"),
    ("patch", "/api/v1/org-unit/departments/{departmentId}/resources", "ResourcesUpdateRequest"),
    ("post", "/api/v1/org-unit/projects", "ProjectCreationRequest"),
    ("get", "/api/v1/org-unit/projects", None),
    ("get", "/api/v1/org-unit/projects/{projectId}", None),
    ("put", "/api/v1/org-unit/projects/{projectId}", "ProjectUpdateRequest"),
    ("delete", "/api/v1/org-unit/projects/{projectId}", None),
    ("put", "/api/v1/org-unit/projects/{projectId}/resources", "ResourcesUpdateRequest"),
    ("patch", "/api/v1/org-unit/projects/{projectId}/resources", "ResourcesUpdateRequest"),
    ("post", "/api/v1/node-pools", "NodepoolCreateFields"),
    ("get", "/api/v1/node-pools", None),
    ("get", "/api/v1/node-pools/{nodepoolId}", None),
    ("put", "/api/v1/node-pools/{nodepoolId}", "NodepoolUpdateFields"),
    ("patch", "/api/v1/node-pools/{nodepoolId}", "NodepoolUpdateFields"),
    ("delete", "/api/v1/node-pools/{nodepoolId}", None),
    ("get", "/api/v1/clusters", None),
    ("get", "/api/v1/clusters/{clusterUuid}", None),
    ("get", "/api/v1/clusters/{clusterUuid}/nodes", None),
]


@pytest.fixture(scope="module")
def runai() -> dict[str, Any]:
    return dict(json.loads(RUNAI_ORG.read_text()))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document the app serves (built once: it depends on the routes only)."""
    return json.loads(json.dumps(create_app().openapi()))


@pytest.mark.parametrize(
    ("method", "path", "body"), [pytest.param(*op, id=f"{op[0]}-{op[1]}") for op in ORG_OPERATIONS]
)
def test_runai_names(
    document: dict[str, Any], runai: dict[str, Any], method: str, path: str, body: str | None
) -> None:
    ours, theirs = operations(document), operations(runai)
    assert (method, path) in theirs, "the table names a Run:ai operation"
    mine, runais = ours[(method, path)], theirs[(method, path)]
    assert mine["operationId"] == runais["operationId"]
    assert parameter_names(document, mine, "path") == parameter_names(runai, runais, "path")
    extra = parameter_names(document, mine, "query") - parameter_names(runai, runais, "query")
    assert not extra, f"query parameters Run:ai does not have: {sorted(extra)}"
    assert mine.get("security") == [{"bearerAuth": []}]
    if body is not None:
        schema = mine["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{body}"}
        assert body in document["components"]["schemas"]
        assert body in runai["components"]["schemas"]


@pytest.mark.parametrize(
    "name",
    [
        "Project",
        "Department",
        "DepartmentForList",
        "Resources",
        "ResourcesNullable",
        "Nodepool",
        "DisplayedCluster",
        "Nodes",
        "Node",
        "TotalResources",
        "AggregatedResources",
        "ProjectFilterSortFields",
        "DepartmentFilterSortFields",
        "NodepoolSortFilterFields",
        "NodeFilterSortFields",
    ],
)
def test_runai_schema_names(document: dict[str, Any], runai: dict[str, Any], name: str) -> None:
    assert name in runai["components"]["schemas"]
    assert name in document["components"]["schemas"]


def test_fields_of_runai_responses_are_there(
    document: dict[str, Any], runai: dict[str, Any]
) -> None:
    """Every field Run:ai marks required in a response is one we document."""

    def required(schema: dict[str, Any]) -> set[str]:
        found = set(schema.get("required", []))
        for part in schema.get("allOf", []):
            if "$ref" in part:
                part = runai["components"]["schemas"][part["$ref"].rsplit("/", 1)[1]]
            found |= required(part)
        return found

    def ours(name: str) -> set[str]:
        return set(document["components"]["schemas"][name]["properties"])

    for name in ("Project", "Department", "DepartmentForList", "Nodepool", "Node"):
        missing = required(runai["components"]["schemas"][name]) - ours(name)
        assert not missing, (name, missing)


@pytest.mark.usefixtures("clean_org")
def test_success_responses_conform_to_the_document(
    client: TestClient, admin: dict[str, str], state: AppState, document: dict[str, Any]
) -> None:
    """Random input rarely builds an organisation, so the happy path is walked on purpose, with
    every optional field, and each answer is checked against the served document."""
    schema = schemathesis.openapi.from_dict(document)
    cid = cluster_id(state)
    resources = [
        {
            "nodePool": {"name": "default"},
            "gpu": {"deserved": 2, "limit": 4, "overQuotaWeight": 2},
            "cpu": {"deserved": 8000, "limit": -1},
            "memory": {"deserved": 64, "units": "GB"},
            "priority": "High",
        }
    ]
    extras = {
        "description": "d",
        "schedulingRules": {"trainingJobTimeLimitSeconds": 60},
        "defaultNodePools": ["default"],
        "nodeTypes": {"training": ["a"], "workspace": [], "names": {"a": "b"}},
    }
    pool_body = {
        "name": "h100",
        "labelKey": "kubernetes.io/hostname",
        "labelValue": "sim-node-0",
        "clusterId": cid,
        "overProvisioningRatio": 1,
        "placementStrategy": {"cpu": "spread", "gpu": "binpack"},
        "gpuNetworkAccelerationLabelKey": "k",
        "gpuNetworkAccelerationDetection": "Auto",
        "gpuResourceOptimization": {"swapEnabled": False, "nodeLevelSchedulerEnabled": True},
        "schedulingConfiguration": {"minGuaranteedRuntime": "1h"},
        "networkTopologyId": "123e4567-e89b-12d3-a456-426614174000",
    }
    departments, projects, pools = (
        "/api/v1/org-unit/departments",
        "/api/v1/org-unit/projects",
        "/api/v1/node-pools",
    )
    dept = client.post(
        departments, json={"name": "r", "resources": resources, **extras}, headers=admin
    )
    did = dept.json()["id"]
    proj_body = {
        "name": "p",
        "parentId": did,
        "resources": resources,
        "requestedNamespace": "ns",
        **extras,
    }
    proj = client.post(projects, json=proj_body, headers=admin)
    pid = proj.json()["id"]
    pool = client.post(pools, json=pool_body, headers=admin)
    npid = pool.json()["id"]
    calls = [
        ("POST", departments, dept),
        ("GET", departments, client.get(departments, params={"limit": 1}, headers=admin)),
        ("GET", departments + "/{departmentId}", client.get(f"{departments}/{did}", headers=admin)),
        (
            "PUT",
            departments + "/{departmentId}",
            client.put(
                f"{departments}/{did}", json={"resources": resources, **extras}, headers=admin
            ),
        ),
        (
            "PATCH",
            departments + "/{departmentId}/resources",
            client.patch(f"{departments}/{did}/resources", json=resources, headers=admin),
        ),
        (
            "PUT",
            departments + "/{departmentId}/resources",
            client.put(f"{departments}/{did}/resources", json=resources, headers=admin),
        ),
        ("POST", projects, proj),
        ("GET", projects, client.get(projects, params={"limit": 1}, headers=admin)),
        ("GET", projects + "/{projectId}", client.get(f"{projects}/{pid}", headers=admin)),
        (
            "PUT",
            projects + "/{projectId}",
            client.put(f"{projects}/{pid}", json={"resources": resources, **extras}, headers=admin),
        ),
        (
            "PATCH",
            projects + "/{projectId}/resources",
            client.patch(f"{projects}/{pid}/resources", json=resources, headers=admin),
        ),
        (
            "PUT",
            projects + "/{projectId}/resources",
            client.put(f"{projects}/{pid}/resources", json=resources, headers=admin),
        ),
        ("POST", pools, pool),
        ("GET", pools, client.get(pools, headers=admin)),
        ("GET", pools + "/{nodepoolId}", client.get(f"{pools}/{npid}", headers=admin)),
        (
            "PUT",
            pools + "/{nodepoolId}",
            client.put(f"{pools}/{npid}", json={"overProvisioningRatio": 2}, headers=admin),
        ),
        (
            "PATCH",
            pools + "/{nodepoolId}",
            client.patch(f"{pools}/{npid}", json={"labelValue": "sim-node-1"}, headers=admin),
        ),
        ("GET", "/api/v1/clusters", client.get("/api/v1/clusters", headers=admin)),
        (
            "GET",
            "/api/v1/clusters/{clusterUuid}",
            client.get(f"/api/v1/clusters/{cid}", headers=admin),
        ),
        (
            "GET",
            "/api/v1/clusters/{clusterUuid}",
            client.get(f"/api/v1/clusters/{cid}", params={"verbosity": "metadata"}, headers=admin),
        ),
        (
            "GET",
            "/api/v1/clusters/{clusterUuid}/nodes",
            client.get(f"/api/v1/clusters/{cid}/nodes", headers=admin),
        ),
        ("DELETE", pools + "/{nodepoolId}", client.delete(f"{pools}/{npid}", headers=admin)),
        ("DELETE", projects + "/{projectId}", client.delete(f"{projects}/{pid}", headers=admin)),
        (
            "DELETE",
            departments + "/{departmentId}",
            client.delete(f"{departments}/{did}", headers=admin),
        ),
    ]
    for method, path, response in calls:
        assert response.status_code in (200, 201, 204), (method, path, response.text)
        schema[path][method].validate_response(response)
