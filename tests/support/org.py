"""Helpers for the organisation API tests: a clean organisation per test, callers with one
access rule each, and request bodies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from nimplane.api.state import AppState
from nimplane.domain.ports import Transaction
from nimplane.services.workloads import utc_now
from nimplane.storage import tables
from tests.support.tokens import issue_token

DEPARTMENTS = "/api/v1/org-unit/departments"
PROJECTS = "/api/v1/org-unit/projects"
NODE_POOLS = "/api/v1/node-pools"
CLUSTERS = "/api/v1/clusters"
NIM = "/api/v2/workloads/nim-services"

_DEFAULT_ROWS = ((tables.departments, 1), (tables.projects, 1))


def reset_org(state: AppState) -> None:
    """Only the embedded organisation (the default department, project and pool), without
    the quotas seeded at start (tests/api/test_bootstrap.py covers those)."""
    with state.engine.begin() as conn:
        conn.execute(delete(tables.workload_events))
        conn.execute(delete(tables.workload_phase_updates))
        conn.execute(delete(tables.workloads))
        for table in (tables.sim_pods, tables.sim_node_faults, tables.sim_metrics):
            conn.execute(delete(table))
        conn.execute(delete(tables.projects).where(tables.projects.c.id != 1))
        conn.execute(delete(tables.departments).where(tables.departments.c.id != 1))
        conn.execute(delete(tables.node_pools).where(tables.node_pools.c.name != "default"))
        conn.execute(
            update(tables.node_pools).values(label_key=None, label_value=None, settings=None)
        )
        for table, key in _DEFAULT_ROWS:
            conn.execute(
                update(table)
                .where(table.c.id == key)
                .values(
                    resources=[],  # no quotas: the tests set what they need
                    description=None,
                    default_node_pools=None,
                    scheduling_rules=None,
                    node_types=None,
                )
            )


@pytest.fixture(name="clean_org")
def clean_org_fixture(state: AppState) -> Iterator[AppState]:
    """A test that starts, and leaves, only the embedded organisation."""
    reset_org(state)
    yield state
    reset_org(state)


def caller(state: AppState, role: str, scope_type: str, scope_id: str) -> dict[str, str]:
    """Headers of a new service account with one access rule (no secret: it gets its token
    straight from the token service)."""
    client_id = f"test-{role.split()[0].lower()}-{uuid.uuid4().hex[:10]}"
    now = utc_now()

    def add(tx: Transaction) -> None:
        tx.identity.upsert_service_account(client_id, client_id, "not-a-hash", now, "test")
        tx.identity.ensure_access_rule(
            "service-account", client_id, role, scope_type, scope_id, now, "test"
        )

    state.store.write(add)
    return {"Authorization": f"Bearer {issue_token(state, client_id)}"}


def gpu(deserved: float, pool: str | None = None, **extra: Any) -> dict[str, Any]:
    """A `Resources` item: `deserved` GPUs in a node pool (by name; none: `default`)."""
    item: dict[str, Any] = {"gpu": {"deserved": deserved}, **extra}
    if pool is not None:
        item["nodePool"] = {"name": pool}
    return item


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if status != 204 else None


def department(
    client: TestClient, headers: dict[str, str], name: str, *resources: dict[str, Any]
) -> dict[str, Any]:
    body = {"name": name, "resources": list(resources)}
    return dict(ok(client.post(DEPARTMENTS, json=body, headers=headers), 201))


def project(
    client: TestClient,
    headers: dict[str, str],
    name: str,
    parent: str | None,
    *resources: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    body = {"name": name, "resources": list(resources), **extra}
    if parent is not None:
        body["parentId"] = parent
    return dict(ok(client.post(PROJECTS, json=body, headers=headers), 201))


def node_pool(
    client: TestClient, headers: dict[str, str], name: str, label_value: str | None = None
) -> dict[str, Any]:
    body = {"name": name, "labelKey": "pool", "labelValue": label_value or name}
    return dict(ok(client.post(NODE_POOLS, json=body, headers=headers), 201))


def cluster_id(state: AppState) -> str:
    with state.store.read() as tx:
        return tx.org.clusters()[0].id
