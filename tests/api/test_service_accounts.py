"""Service accounts: create (the secret shown once), list, get, update, delete, regenerate the
secret; secrets stored only as scrypt hashes; who may do what where (the permission matrix)."""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nimplane.api.state import AppState
from nimplane.services.workloads import utc_now
from nimplane.storage import tables
from tests.support.identity import (
    ALL_ROLES,
    CAN,
    DEPT_ADMIN,
    ML_ENGINEER,
    PLACEMENTS,
    RULES,
    SA,
    SYSADMIN,
    TARGETS,
    TOKEN,
    VIEWER,
    Account,
    Org,
    api_account,
    expected,
    grant,
    make_org,
    matrix_actors,
    scope_of,
    store_account,
    token_headers,
    unique,
    validate,
)
from tests.support.server import CLIENT_ID

ME = "/api/v1/authorization/me/access-rules"


def _my_rules(client: TestClient, headers: dict[str, str]) -> int | None:
    """How many access rules the token's account has; None when the token is refused (401)."""
    response = client.get(ME, headers=headers)
    if response.status_code == 401:
        return None
    assert response.status_code == 200, response.text
    return int(response.json()["accessRules"]["totalRecords"])


def _admin_id(client: TestClient, admin: dict[str, str]) -> str:
    return str(
        next(a["id"] for a in client.get(SA, headers=admin).json() if a["clientId"] == CLIENT_ID)
    )


def _grant_status(client: TestClient, client_id: str, secret: str) -> int:
    body = {"grantType": "client_credentials", "clientID": client_id, "clientSecret": secret}
    return client.post(TOKEN, json=body).status_code


# --- create, read, shapes ---------------------------------------------------------------------


def test_create_shows_the_secret_once_and_stores_only_a_hash(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    name = unique("ci")
    created = client.post(SA, json={"name": name}, headers=admin)
    assert created.status_code == 201, created.text
    validate(client.app, "POST", SA, created)  # type: ignore[arg-type]
    body = created.json()
    assert body["name"] == name
    assert body["clientId"] == name
    secret = body["clientSecret"]
    assert len(secret) >= 32

    got = client.get(f"{SA}/{body['id']}", headers=admin)
    assert got.status_code == 200
    validate(client.app, "GET", SA + "/{serviceAccountId}", got)  # type: ignore[arg-type]
    listed = client.get(SA, headers=admin)
    validate(client.app, "GET", SA, listed)  # type: ignore[arg-type]
    shown = next(a for a in listed.json() if a["id"] == body["id"])
    assert shown == got.json()
    assert shown["enabled"] is True
    assert shown["createdBy"] == CLIENT_ID
    assert shown["tenantId"] == str(state.settings.tenant_id)
    assert shown["lastLogin"] is None
    for response in (got, listed):
        assert secret not in response.text
        assert "scrypt" not in response.text
    # no field about a secret on this account (the list also holds other tests' accounts,
    # whose names may say "secret")
    for entry in (got.json(), shown):
        assert not [key for key in entry if "secret" in key.lower()]
        assert "secret" not in json.dumps(entry).lower()

    with state.engine.connect() as conn:
        stored = conn.execute(
            select(tables.service_accounts.c.secret_hash).where(
                tables.service_accounts.c.client_id == name
            )
        ).scalar_one()
    assert stored.startswith("scrypt$")
    assert secret not in stored
    assert _grant_status(client, name, secret) == 200


def test_secrets_are_never_logged(
    client: TestClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = client.post(SA, json={"name": unique("logged")}, headers=admin).json()
    regenerated = client.post(f"{SA}/{created['id']}/secret", headers=admin).json()
    client.post(
        TOKEN,
        json={
            "grantType": "client_credentials",
            "clientID": created["clientId"],
            "clientSecret": regenerated["clientSecret"],
        },
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (created["clientSecret"], regenerated["clientSecret"]):
        assert secret not in logged
    audit = client.get("/api/v1/audit-logs", params={"limit": 5}, headers=admin).text
    assert created["clientSecret"] not in audit
    assert regenerated["clientSecret"] not in audit


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "name", id="missing-name"),
        pytest.param({"name": "Upper"}, "name", id="upper-case"),
        pytest.param({"name": "9lives"}, "name", id="starts-with-a-digit"),
        pytest.param({"name": "ends-"}, "name", id="ends-with-a-hyphen"),
        pytest.param({"name": "a"}, "name", id="one-character"),
        pytest.param({"name": "has space"}, "name", id="space"),
        pytest.param({"name": "a" * 256}, "name", id="too-long"),
        pytest.param({"name": 7}, "name", id="not-a-string"),
        pytest.param({"name": "fine-name", "secret": "mine"}, "secret", id="unknown-field"),
    ],
)
def test_create_refuses_bad_bodies_with_400(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = client.post(SA, json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 400
    assert field in [issue["field"] for issue in error["complianceIssues"]]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"{not json", "application/json", id="malformed-json"),
        pytest.param(b"[]", "application/json", id="array"),
        pytest.param(b"", "application/json", id="empty"),
        pytest.param(b"name=x", "application/x-www-form-urlencoded", id="form"),
    ],
)
def test_create_refuses_non_json_objects_with_400(
    client: TestClient, admin: dict[str, str], content: bytes, content_type: str
) -> None:
    response = client.post(SA, content=content, headers={**admin, "Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


def test_a_taken_name_is_409(client: TestClient, admin: dict[str, str]) -> None:
    name = unique("dup")
    first = client.post(SA, json={"name": name}, headers=admin).json()
    assert client.post(SA, json={"name": name}, headers=admin).status_code == 409
    # a renamed account keeps its client id: the old name stays taken by it
    renamed = client.patch(f"{SA}/{first['id']}", json={"name": unique("new")}, headers=admin)
    assert renamed.status_code == 200
    again = client.post(SA, json={"name": name}, headers=admin)
    assert again.status_code == 409
    assert again.json()["message"]


@pytest.mark.parametrize(
    "account_id",
    [
        pytest.param("999999", id="unknown"),
        pytest.param("abc", id="not-a-number"),
        pytest.param("²", id="superscript-two"),
        pytest.param("9" * 30, id="huge"),
        pytest.param("-1", id="negative"),
    ],
)
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        pytest.param("GET", "", None, id="get"),
        pytest.param("PATCH", "", {"enabled": False}, id="patch"),
        pytest.param("DELETE", "", None, id="delete"),
        pytest.param("POST", "/secret", None, id="regenerate"),
    ],
)
def test_unknown_accounts_are_404(
    client: TestClient,
    admin: dict[str, str],
    account_id: str,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    response = client.request(method, f"{SA}/{account_id}{suffix}", json=body, headers=admin)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == 404


# --- update, regenerate, delete ---------------------------------------------------------------


def test_disable_and_enable(client: TestClient, admin: dict[str, str]) -> None:
    account = api_account(client, admin)
    assert _my_rules(client, account.headers) == 0
    disabled = client.patch(f"{SA}/{account.id}", json={"enabled": False}, headers=admin)
    assert disabled.status_code == 200, disabled.text
    validate(client.app, "PATCH", SA + "/{serviceAccountId}", disabled)  # type: ignore[arg-type]
    assert disabled.json()["enabled"] is False
    # at once, in this process: its token and its secret stop working
    assert _my_rules(client, account.headers) is None
    assert _grant_status(client, account.client_id, account.secret) == 401
    enabled = client.patch(f"{SA}/{account.id}", json={"enabled": True}, headers=admin)
    assert enabled.json()["enabled"] is True
    assert _grant_status(client, account.client_id, account.secret) == 200
    # the disable revoked the tokens issued before it: enabling brings back the secret only
    assert _my_rules(client, account.headers) is None
    fresh = token_headers(client, account.client_id, account.secret)
    assert _my_rules(client, fresh) == 0


def test_rename_keeps_the_client_id_and_the_rules(
    client: TestClient, admin: dict[str, str]
) -> None:
    account = api_account(client, admin)
    grant(client, admin, account.client_id, VIEWER, "project", "1")
    new_name = unique("renamed")
    renamed = client.patch(f"{SA}/{account.id}", json={"name": new_name}, headers=admin).json()
    assert (renamed["name"], renamed["clientId"]) == (new_name, account.client_id)
    assert _my_rules(client, account.headers) == 1
    assert _grant_status(client, account.client_id, account.secret) == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"enabled": "no"}, id="enabled-not-a-boolean"),
        pytest.param({"enabled": 0}, id="enabled-a-number"),
        pytest.param({"name": "Bad Name"}, id="bad-name"),
        pytest.param({"clientId": "other"}, id="client-id-is-not-changeable"),
    ],
)
def test_patch_refuses_bad_bodies_with_400(
    client: TestClient, admin: dict[str, str], state: AppState, body: dict[str, Any]
) -> None:
    account = store_account(state)
    response = client.patch(f"{SA}/{account.id}", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["complianceIssues"]
    assert client.get(f"{SA}/{account.id}", headers=admin).json()["enabled"] is True


def test_an_empty_patch_changes_nothing(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    account = store_account(state)
    before = client.get(f"{SA}/{account.id}", headers=admin).json()
    response = client.patch(f"{SA}/{account.id}", json={}, headers=admin)
    assert response.status_code == 200
    assert response.json() == before


def test_regenerate_replaces_the_secret(client: TestClient, admin: dict[str, str]) -> None:
    account = api_account(client, admin)
    response = client.post(f"{SA}/{account.id}/secret", headers=admin)
    assert response.status_code == 200, response.text
    path = SA + "/{serviceAccountId}/secret"
    validate(client.app, "POST", path, response)  # type: ignore[arg-type]
    secret = response.json()["clientSecret"]
    assert secret != account.secret
    assert _grant_status(client, account.client_id, account.secret) == 401
    assert _grant_status(client, account.client_id, secret) == 200


def test_delete_removes_the_account_its_rules_and_its_tokens(
    client: TestClient, admin: dict[str, str]
) -> None:
    account = api_account(client, admin)
    rule = grant(client, admin, account.client_id, VIEWER, "project", "1")
    assert _my_rules(client, account.headers) == 1
    deleted = client.delete(f"{SA}/{account.id}", headers=admin)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get(f"{SA}/{account.id}", headers=admin).status_code == 404
    assert client.delete(f"{SA}/{account.id}", headers=admin).status_code == 404
    assert _my_rules(client, account.headers) is None
    assert _grant_status(client, account.client_id, account.secret) == 401
    assert client.get(f"{RULES}/{rule['id']}", headers=admin).status_code == 404
    # a new account with the same name starts with no rules and its own secret
    again = api_account(client, admin, name=account.client_id)
    assert _my_rules(client, again.headers) == 0
    assert _grant_status(client, account.client_id, account.secret) == 401


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        pytest.param("PATCH", "", {"enabled": False}, id="disable"),
        pytest.param("DELETE", "", None, id="delete"),
        pytest.param("POST", "/secret", None, id="regenerate"),
    ],
)
def test_nobody_disables_deletes_or_takes_over_their_own_account(
    client: TestClient,
    admin: dict[str, str],
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    own = _admin_id(client, admin)
    response = client.request(method, f"{SA}/{own}{suffix}", json=body, headers=admin)
    assert response.status_code == 403, response.text
    assert "signed in" in response.json()["message"]
    assert _my_rules(client, admin) == 1


# --- 401 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", SA, None, id="list"),
        pytest.param("POST", SA, {"name": "no-token"}, id="create"),
        pytest.param("GET", SA + "/{id}", None, id="get"),
        pytest.param("PATCH", SA + "/{id}", {"enabled": False}, id="patch"),
        pytest.param("DELETE", SA + "/{id}", None, id="delete"),
        pytest.param("POST", SA + "/{id}/secret", None, id="regenerate"),
        pytest.param("POST", SA, {"bad": "body"}, id="create-bad-body"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not.a.token"}, id="garbage-token"),
    ],
)
def test_every_endpoint_needs_a_valid_token(
    client: TestClient,
    admin: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
) -> None:
    own = _admin_id(client, admin)
    response = client.request(method, path.replace("{id}", own), json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == 401
    assert client.get(f"{SA}/{own}", headers=admin).json()["enabled"] is True


# --- the permission matrix --------------------------------------------------------------------


@pytest.fixture(scope="module")
def org(app_state: AppState) -> Org:
    return make_org(app_state)


@pytest.fixture(scope="module")
def actors(app_state: AppState, org: Org) -> dict[tuple[str, str], Account]:
    return matrix_actors(app_state, org)


ACTIONS = {
    "read": ("GET", "", None),
    "update": ("PATCH", "", {"enabled": False}),
    "regenerate": ("POST", "/secret", None),
    "delete": ("DELETE", "", None),
}
SUCCESS = {"read": 200, "update": 200, "regenerate": 200, "delete": 204}
MATRIX = [
    pytest.param(role, placement, action, target, id=f"{role}@{placement}-{action}-{target}")
    for role, placement, action, target in itertools.product(
        ALL_ROLES, PLACEMENTS, ACTIONS, TARGETS
    )
]


@pytest.mark.parametrize(("role", "placement", "action", "target"), MATRIX)
def test_permission_matrix(
    client: TestClient,
    state: AppState,
    org: Org,
    actors: dict[tuple[str, str], Account],
    role: str,
    placement: str,
    action: str,
    target: str,
) -> None:
    """An actor with `role` in its own project or department acts on a service account whose
    one access rule (Viewer) is in the target scope."""
    victim = store_account(state, ((VIEWER, *scope_of(org, target)),))
    actor = actors[(role, placement)]
    method, suffix, body = ACTIONS[action]
    permission = "update" if action == "regenerate" else action
    allowed = expected(role, placement, "service-account", permission, target)
    response = client.request(method, f"{SA}/{victim.id}{suffix}", json=body, headers=actor.headers)
    assert response.status_code == (SUCCESS[action] if allowed else 403), response.text
    if action == "read":
        listed = client.get(SA, headers=actor.headers)
        may_list = "read" in CAN[role].get("service-account", frozenset())
        assert listed.status_code == (200 if may_list else 403)
        if may_list:
            assert (victim.id in {a["id"] for a in listed.json()}) is allowed


@pytest.mark.parametrize(
    ("role", "placement"),
    [pytest.param(r, p, id=f"{r}@{p}") for r in ALL_ROLES for p in PLACEMENTS],
)
def test_who_may_create_service_accounts(
    client: TestClient,
    actors: dict[tuple[str, str], Account],
    role: str,
    placement: str,
) -> None:
    actor = actors[(role, placement)]
    response = client.post(SA, json={"name": unique("made")}, headers=actor.headers)
    may = "create" in CAN[role].get("service-account", frozenset())
    assert response.status_code == (201 if may else 403), response.text
    if may:
        # the creator sees and manages the account it made, though it has no rules yet
        made = response.json()
        assert client.get(f"{SA}/{made['id']}", headers=actor.headers).status_code == 200
        assert made["id"] in {a["id"] for a in client.get(SA, headers=actor.headers).json()}
        assert client.delete(f"{SA}/{made['id']}", headers=actor.headers).status_code == 204


TAKEOVER_TARGETS = [
    # (target's role, where: "department" or "project"), may a Department administrator of
    # the department regenerate its secret, disable it and enable it again?
    pytest.param(ML_ENGINEER, "department", True, id="ml-engineer-in-department"),
    pytest.param(DEPT_ADMIN, "project", True, id="dept-admin-of-a-project"),
    pytest.param(DEPT_ADMIN, "department", False, id="peer-dept-admin"),
    pytest.param(SYSADMIN, "department", False, id="sysadmin-in-department"),
    pytest.param(SYSADMIN, "project", False, id="sysadmin-in-project"),
]


@pytest.mark.parametrize(("role", "where", "allowed"), TAKEOVER_TARGETS)
@pytest.mark.parametrize("caller", ["dept-admin", "sysadmin"])
def test_only_strictly_more_takes_over_an_account(
    client: TestClient,
    state: AppState,
    org: Org,
    admin: dict[str, str],
    actors: dict[tuple[str, str], Account],
    role: str,
    where: str,
    allowed: bool,
    caller: str,
) -> None:
    """Regenerating a secret, disabling and enabling take strictly more than the account
    holds; the tenant's System administrator has it for each of these accounts."""
    headers = actors[(DEPT_ADMIN, "department")].headers if caller == "dept-admin" else admin
    allowed = allowed or caller == "sysadmin"
    target = store_account(state, ((role, *scope_of(org, where)),))
    url = f"{SA}/{target.id}"
    regenerated = client.post(f"{url}/secret", headers=headers)
    assert regenerated.status_code == (200 if allowed else 403), regenerated.text
    disabled = client.patch(url, json={"enabled": False}, headers=headers)
    assert disabled.status_code == (200 if allowed else 403), disabled.text
    assert client.get(url, headers=admin).json()["enabled"] is not allowed
    assert client.patch(url, json={"enabled": False}, headers=admin).status_code == 200
    enabled = client.patch(url, json={"enabled": True}, headers=headers)
    assert enabled.status_code == (200 if allowed else 403), enabled.text
    if not allowed:
        assert "role and scope or above" in regenerated.json()["message"]
        assert _grant_status(client, target.client_id, target.secret) == 401  # still disabled
        # it may still read it and delete it (removing power is no takeover)
        assert client.get(url, headers=headers).status_code == 200
        assert client.delete(url, headers=headers).status_code == 204


def test_an_account_cannot_take_over_its_creator(
    client: TestClient, state: AppState, org: Org
) -> None:
    """A Department administrator that made another and gave it its own role is the other's
    peer: neither may obtain the other's secret or disable it."""
    creator = store_account(state, ((DEPT_ADMIN, *scope_of(org, "department")),))
    made = api_account(client, creator.headers)
    grant(client, creator.headers, made.client_id, DEPT_ADMIN, *scope_of(org, "department"))
    for headers, target in ((made.headers, creator), (creator.headers, made)):
        assert client.post(f"{SA}/{target.id}/secret", headers=headers).status_code == 403
        response = client.patch(f"{SA}/{target.id}", json={"enabled": False}, headers=headers)
        assert response.status_code == 403, response.text


def test_a_new_account_never_inherits_stale_rules(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    """A rule left for a name no account holds (a deletion that raced a grant) is dropped when
    an account takes that name."""
    name = unique("ghost")
    now = utc_now()
    state.store.write(
        lambda tx: tx.identity.insert_access_rule(
            "service-account",
            name,
            "System administrator",
            "tenant",
            str(state.settings.tenant_id),
            now,
            "test",
        )
    )
    account = api_account(client, admin, name=name)
    assert _my_rules(client, account.headers) == 0


def test_changes_are_in_the_audit_trail(client: TestClient, admin: dict[str, str]) -> None:
    account = api_account(client, admin)
    client.patch(f"{SA}/{account.id}", json={"enabled": False}, headers=admin)
    client.post(f"{SA}/{account.id}/secret", headers=admin)
    client.delete(f"{SA}/{account.id}", headers=admin)
    logs = client.get("/api/v1/audit-logs", params={"limit": 4}, headers=admin).json()
    got = [
        (e["action"], e["entityType"], e["entityId"], e["statusCode"]) for e in logs["auditLogs"]
    ]
    assert got == [
        ("delete", "service-account", account.id, 204),
        ("update", "service-account", account.id, 200),
        ("update", "service-account", account.id, 200),
        ("create", "service-account", None, 201),
    ]


def test_an_account_named_system_does_not_own_what_nimplane_made(
    client: TestClient, state: AppState, org: Org
) -> None:
    """Accounts nimplane made itself (bootstrap, config file) are recorded as made by
    `system`; a service account that happens to be named `system` gains nothing from that."""
    made_by_nimplane = store_account(state, by="system")  # no rules: only the maker's right
    caller = store_account(
        state, (("Department administrator", "department", org.department_id),), name="system"
    )
    path = f"{SA}/{made_by_nimplane.id}"
    assert client.get(path, headers=caller.headers).status_code == 403
    assert client.delete(path, headers=caller.headers).status_code == 403
    assert client.post(f"{path}/secret", headers=caller.headers).status_code == 403
    own = store_account(state, by="system-made-this-one")
    other = store_account(
        state,
        (("Department administrator", "department", org.department_id),),
        name="system-made-this-one",
    )
    assert client.get(f"{SA}/{own.id}", headers=other.headers).status_code == 200  # control
