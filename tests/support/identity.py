"""Helpers for the identity and authorization tests: organisation objects made through the
store (the org API is another module's), accounts and access rules through the API or the
store, tokens through the token endpoint or issued directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.ports import Transaction
from nimplane.domain.rbac import ROLES_BY_NAME
from nimplane.services.secrets_hashing import hash_secret
from nimplane.services.workloads import utc_now
from tests.support.tokens import issue_token

SA = "/api/v1/service-accounts"
USERS = "/api/v1/users"
RULES = "/api/v1/authorization/access-rules"
TOKEN = "/api/v1/token"
NIM = "/api/v2/workloads/nim-services"

ROLE_ID = {name: role.id for name, role in ROLES_BY_NAME.items()}
SYSADMIN, DEPT_ADMIN, ML_ENGINEER, L1_RESEARCHER, VIEWER = (
    "System administrator",
    "Department administrator",
    "ML engineer",
    "L1 researcher",
    "Viewer",
)
ALL_ROLES = (SYSADMIN, DEPT_ADMIN, ML_ENGINEER, L1_RESEARCHER, VIEWER)

KNOWN_SECRET = "known-secret-0123456789abcdef"
KNOWN_HASH = hash_secret(KNOWN_SECRET)
"""Accounts made through the store share one precomputed hash (hashing is slow on purpose)."""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Org:
    """A department with two projects, made for one test module."""

    tenant_id: str
    cluster_id: str
    department_id: str
    project_id: str
    sibling_project_id: str


def make_department(state: AppState, name: str | None = None) -> str:
    now = utc_now()
    return state.store.write(
        lambda tx: tx.org.ensure_department(state.cluster_id, name or unique("dep"), now)
    )


def make_project(state: AppState, department_id: str, name: str | None = None) -> str:
    now = utc_now()
    name = name or unique("prj")
    return state.store.write(
        lambda tx: tx.org.ensure_project(
            state.cluster_id, department_id, name, f"runai-{name}", now
        )
    )


def make_org(state: AppState) -> Org:
    department = make_department(state)
    return Org(
        tenant_id=str(state.settings.tenant_id),
        cluster_id=state.cluster_id,
        department_id=department,
        project_id=make_project(state, department),
        sibling_project_id=make_project(state, department),
    )


@dataclass(frozen=True)
class Account:
    """A service account, its credentials, and the headers of a token of it."""

    id: str
    client_id: str
    secret: str
    headers: dict[str, str]


def store_account(
    state: AppState,
    rules: tuple[tuple[str, str, str], ...] = (),
    name: str | None = None,
    by: str = "test",
) -> Account:
    """A service account made through the store, with `(role, scope type, scope id)` rules
    and a token issued directly."""
    name = name or unique("sa")
    now = utc_now()

    def work(tx: Transaction) -> str:
        account = tx.identity.insert_service_account(name, name, KNOWN_HASH, now, by)
        for role, scope_type, scope_id in rules:
            tx.identity.insert_access_rule(
                "service-account", name, role, scope_type, scope_id, now, by
            )
        return account.id

    account_id = state.store.write(work)
    token = issue_token(state, name)
    return Account(account_id, name, KNOWN_SECRET, bearer(token))


def api_account(client: TestClient, headers: dict[str, str], name: str | None = None) -> Account:
    """A service account made through the API, and a token got with its secret."""
    response = client.post(SA, json={"name": name or unique("sa")}, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    return Account(
        created["id"],
        created["clientId"],
        created["clientSecret"],
        token_headers(client, created["clientId"], created["clientSecret"]),
    )


def token_headers(client: TestClient, client_id: str, secret: str) -> dict[str, str]:
    response = client.post(
        TOKEN,
        json={"grantType": "client_credentials", "clientID": client_id, "clientSecret": secret},
    )
    assert response.status_code == 200, response.text
    return bearer(response.json()["accessToken"])


def rule_body(
    subject_id: str,
    role: str,
    scope_type: str,
    scope_id: str,
    subject_type: str = "service-account",
) -> dict[str, Any]:
    return {
        "subjectId": subject_id,
        "subjectType": subject_type,
        "roleId": ROLE_ID[role],
        "scopeId": scope_id,
        "scopeType": scope_type,
    }


def grant(
    client: TestClient,
    headers: dict[str, str],
    subject_id: str,
    role: str,
    scope_type: str,
    scope_id: str,
    subject_type: str = "service-account",
) -> dict[str, Any]:
    """Create an access rule through the API; its body."""
    body = rule_body(subject_id, role, scope_type, scope_id, subject_type)
    response = client.post(RULES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


_SCHEMA: list[Any] = []


def validate(app: FastAPI, method: str, path: str, response: Any) -> None:
    """Check a response against the OpenAPI document's schema for the operation (the document
    is the same for every app of a test session; `test_openapi.py` checks it is current)."""
    import schemathesis

    if not _SCHEMA:
        _SCHEMA.append(schemathesis.openapi.from_dict(app.openapi()))
    _SCHEMA[0][path][method].validate_response(response)


# --- the permission matrix, written out by hand from the role descriptions (docs/decisions.md D10)

CRUD = frozenset({"create", "read", "update", "delete"})
CAN: dict[str, dict[str, frozenset[str]]] = {
    SYSADMIN: {
        "inferences": CRUD,
        "service-account": CRUD,
        "access_rules": CRUD,
        "users": CRUD,
    },
    DEPT_ADMIN: {"inferences": CRUD, "service-account": CRUD, "access_rules": CRUD},
    ML_ENGINEER: {"inferences": CRUD},
    L1_RESEARCHER: {"inferences": CRUD},
    VIEWER: {"inferences": frozenset({"read"})},
}
"""What each role may do, per resource type, inside the scopes it is given."""

PLACEMENTS = ("project", "department")
"""Where a matrix actor's rule is: its own project, or the department holding it."""
TARGETS = ("own-project", "sibling-project", "department", "tenant")
"""Where the object acted on is, seen from the actor's own project."""
COVERS: dict[str, frozenset[str]] = {
    "project": frozenset({"own-project"}),
    "department": frozenset({"own-project", "sibling-project", "department"}),
}


def expected(role: str, placement: str, resource_type: str, action: str, target: str) -> bool:
    return action in CAN[role].get(resource_type, frozenset()) and target in COVERS[placement]


def scope_of(org: Org, where: str) -> tuple[str, str]:
    """(scope type, scope id) of a placement or a target."""
    return {
        "project": ("project", org.project_id),
        "own-project": ("project", org.project_id),
        "sibling-project": ("project", org.sibling_project_id),
        "department": ("department", org.department_id),
        "tenant": ("tenant", org.tenant_id),
    }[where]


def matrix_actors(state: AppState, org: Org) -> dict[tuple[str, str], Account]:
    """One service account per role and placement."""
    return {
        (role, placement): store_account(state, ((role, *scope_of(org, placement)),))
        for role in ALL_ROLES
        for placement in PLACEMENTS
    }
