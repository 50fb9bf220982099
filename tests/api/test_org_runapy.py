"""Run:ai's own Python client (`runapy`) models against the organisation API, in process: the
bodies runapy builds are accepted, and runapy's models read the answers.

runapy's generator gave the names `Project` and `Department` to Run:ai's reporting schemas
(`metadata`/`current`), so it has no model for an org-unit project, and a department is read
with its `DepartmentForList` (a subset of `Department`)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from runai import models
from runai.api_client import ApiClient

from nimplane.api.state import AppState
from tests.support.org import (  # noqa: F401 - fixtures
    CLUSTERS,
    DEPARTMENTS,
    NODE_POOLS,
    PROJECTS,
    clean_org_fixture,
    cluster_id,
    ok,
)

pytestmark = pytest.mark.usefixtures("clean_org")


def wire(model: BaseModel | list[BaseModel]) -> Any:
    """The JSON runapy sends for `model` (its own serialiser, without its network setup)."""
    serialiser = object.__new__(ApiClient)
    return serialiser.sanitize_for_serialization(model)


def read(model: type[BaseModel], data: Any) -> Any:
    parsed = model.from_dict(data)  # type: ignore[attr-defined]
    assert parsed is not None
    return parsed


def test_runapy_builds_an_organisation(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    cid = cluster_id(state)
    quota = models.ResourcesNullable.from_dict(
        {
            "nodePool": {"id": "1", "name": "default"},
            "gpu": {"deserved": 2, "limit": -1, "overQuotaWeight": 2},
            "cpu": {"deserved": 4000},
            "memory": {"deserved": 16, "units": "GB"},
        }
    )
    assert quota is not None
    body = wire(
        models.DepartmentCreationRequest(name="research", cluster_id=cid, resources=[quota])
    )
    created = read(
        models.DepartmentForList, ok(client.post(DEPARTMENTS, json=body, headers=admin), 201)
    )
    assert created.resources[0].gpu.deserved == 2

    body = wire(
        models.ProjectCreationRequest(
            name="team-a", cluster_id=cid, parent_id=created.id, resources=[quota]
        )
    )
    project = ok(client.post(PROJECTS, json=body, headers=admin), 201)
    assert (project["parentId"], project["status"]["namespace"]) == (created.id, "runai-team-a")
    url = f"{PROJECTS}/{project['id']}"
    update = wire(models.ProjectUpdateRequest(resources=[quota], description="now described"))
    updated = ok(client.put(url, json=update, headers=admin))
    assert updated["description"] == "now described"
    assert read(models.DepartmentForList, updated).resources[0].gpu.deserved == 2  # shared part
    resources = ok(client.patch(f"{url}/resources", json=wire([quota]), headers=admin))
    assert [read(models.Resources, r).gpu.deserved for r in resources] == [2]

    listed = ok(client.get(DEPARTMENTS, headers=admin))
    assert [d.name for d in read(models.GetDepartments200Response, listed).departments] == [
        "default",
        "research",
    ]
    read(models.DepartmentForList, ok(client.get(f"{DEPARTMENTS}/{created.id}", headers=admin)))
    department_update = wire(models.DepartmentUpdateRequest(resources=[quota]))
    url = f"{DEPARTMENTS}/{created.id}"
    read(models.DepartmentForList, ok(client.put(url, json=department_update, headers=admin)))

    pool_body = wire(
        models.NodepoolCreateFields(
            name="h100",
            label_key="kubernetes.io/hostname",
            label_value="sim-node-0",
            cluster_id=cid,
        )
    )
    pool = read(models.Nodepool, ok(client.post(NODE_POOLS, json=pool_body, headers=admin), 201))
    assert pool.status.nodes == ["sim-node-0"]
    patch = wire(models.NodepoolUpdateFields(over_provisioning_ratio=2))
    read(models.Nodepool, ok(client.patch(f"{NODE_POOLS}/{pool.id}", json=patch, headers=admin)))
    read(models.GetNodepools200Response, ok(client.get(NODE_POOLS, headers=admin)))

    (cluster,) = ok(client.get(CLUSTERS, headers=admin))
    assert read(models.DisplayedCluster, cluster).uuid == cid
    nodes = read(models.Nodes, ok(client.get(f"{CLUSTERS}/{cid}/nodes", headers=admin)))
    assert [(n.name, n.node_pool, n.gpu_info.gpu_count) for n in nodes.nodes][:2] == [
        ("sim-node-0", "h100", 8),
        ("sim-node-1", "default", 8),
    ]
