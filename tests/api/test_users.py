"""Local users: create (a temporary password shown once), list, get, delete, reset and change a
password; `grantType: password` and the refresh grant for users; who may manage users."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nimplane.api.state import AppState
from nimplane.domain.ports import Transaction
from nimplane.services.workloads import utc_now
from nimplane.storage import tables
from tests.support.identity import (
    ALL_ROLES,
    CAN,
    DEPT_ADMIN,
    KNOWN_HASH,
    KNOWN_SECRET,
    PLACEMENTS,
    SYSADMIN,
    TARGETS,
    USERS,
    VIEWER,
    Account,
    Org,
    bearer,
    expected,
    grant,
    make_org,
    matrix_actors,
    scope_of,
    store_account,
    unique,
    validate,
)

V1 = "/api/v1/token"
V2 = "/api/v2/token"
ME = "/api/v1/authorization/me/access-rules"
ME_PASSWORD = "/api/v1/me/password"


def email() -> str:
    return f"{unique('user')}@example.com"


def create_user(
    client: TestClient, admin: dict[str, str], username: str | None = None
) -> dict[str, Any]:
    response = client.post(USERS, json={"email": username or email()}, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def password_grant(client: TestClient, username: str, password: str) -> Any:
    return client.post(
        V1, json={"grantType": "password", "username": username, "password": password}
    )


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = password_grant(client, username, password)
    assert response.status_code == 200, response.text
    return bearer(response.json()["accessToken"])


def store_user(state: AppState, rules: tuple[tuple[str, str, str], ...] = ()) -> tuple[str, str]:
    """A user made through the store (password KNOWN_SECRET) with rules; (id, username)."""
    username = email()
    now = utc_now()

    def work(tx: Transaction) -> str:
        user = tx.identity.insert_user(username, KNOWN_HASH, now, "test")
        for role, scope_type, scope_id in rules:
            tx.identity.insert_access_rule(
                "user", username, role, scope_type, scope_id, now, "test"
            )
        return user.id

    return state.store.write(work), username


# --- create, read, log in ---------------------------------------------------------------------


def test_create_then_log_in_with_the_temporary_password(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    username = email()
    created = client.post(USERS, json={"email": username, "notify": False}, headers=admin)
    assert created.status_code == 201, created.text
    validate(client.app, "POST", USERS, created)  # type: ignore[arg-type]
    body = created.json()
    assert body["username"] == username
    password = body["tempPassword"]
    assert len(password) >= 12

    got = client.get(f"{USERS}/{body['id']}", headers=admin)
    validate(client.app, "GET", USERS + "/{userId}", got)  # type: ignore[arg-type]
    assert got.json()["username"] == username
    assert got.json()["isLocal"] is True
    listed = client.get(USERS, headers=admin)
    validate(client.app, "GET", USERS, listed)  # type: ignore[arg-type]
    assert username in [u["username"] for u in listed.json()]
    for response in (got, listed):
        assert password not in response.text
        assert "scrypt" not in response.text
    with state.engine.connect() as conn:
        stored = conn.execute(
            select(tables.users.c.password_hash).where(tables.users.c.username == username)
        ).scalar_one()
    assert stored.startswith("scrypt$")
    assert password not in stored

    headers = login(client, username, password)
    me = client.get(ME, headers=headers)
    assert me.status_code == 200
    assert me.json()["accessRules"]["totalRecords"] == 0
    v2 = client.post(
        V2, data={"grant_type": "password", "username": username, "password": password}
    )
    assert v2.status_code == 200, v2.text
    assert v2.json()["token_type"] == "Bearer"


def test_a_users_token_carries_the_user_subject(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    import jwt

    created = create_user(client, admin)
    token = password_grant(client, created["username"], created["tempPassword"]).json()[
        "accessToken"
    ]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["subject_type"]) == (created["username"], "user")
    assert jwt.get_unverified_header(token)["kid"] == state.auth.tokens.kid


def test_users_get_permissions_from_their_rules(client: TestClient, admin: dict[str, str]) -> None:
    created = create_user(client, admin)
    headers = login(client, created["username"], created["tempPassword"])
    assert client.get("/api/v1/workloads/count", headers=headers).json() == {"count": 0}
    grant(client, admin, created["username"], "ML engineer", "project", "1", subject_type="user")
    made = client.post(
        "/api/v2/workloads/nim-services",
        json={
            "metadata": {"name": unique("u"), "projectId": "1"},
            "spec": {
                "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
                "modelStore": {"nimCache": {"name": "llama-cache"}},
            },
        },
        headers=headers,
    )
    assert made.status_code == 202, made.text
    assert made.json()["metadata"]["createdBy"] == created["username"]


def test_the_refresh_grant_works_for_users(client: TestClient, admin: dict[str, str]) -> None:
    created = create_user(client, admin)
    first = password_grant(client, created["username"], created["tempPassword"]).json()
    refreshed = client.post(
        V1, json={"grantType": "refresh_token", "refreshToken": first["refreshToken"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert client.get(ME, headers=bearer(refreshed.json()["accessToken"])).status_code == 200
    # each refresh returns the next refresh token of the chain
    latest = refreshed.json()["refreshToken"]
    v2 = client.post(V2, data={"grant_type": "refresh_token", "refresh_token": latest})
    assert v2.status_code == 200, v2.text
    latest = v2.json()["refresh_token"]
    client.delete(f"{USERS}/{created['id']}", headers=admin)
    gone = client.post(V1, json={"grantType": "refresh_token", "refreshToken": latest})
    assert gone.status_code == 401
    gone_v2 = client.post(V2, data={"grant_type": "refresh_token", "refresh_token": latest})
    assert (gone_v2.status_code, gone_v2.json()["error"]) == (401, "invalid_grant")


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("{user}", "wrong-password", id="wrong-password"),
        pytest.param("nobody@example.com", "wrong-password", id="unknown-user"),
        pytest.param("{user}", "", id="empty-password-is-400"),
        pytest.param("{USER}", KNOWN_SECRET, id="usernames-are-case-sensitive"),
        pytest.param("{user}", KNOWN_SECRET.upper(), id="passwords-are-case-sensitive"),
    ],
)
def test_bad_passwords_are_refused(
    client: TestClient, state: AppState, username: str, password: str
) -> None:
    _, real = store_user(state)
    name = username.replace("{user}", real).replace("{USER}", real.upper())
    response = password_grant(client, name, password)
    assert response.status_code == (400 if not password else 401), response.text
    assert response.json()["code"] == response.status_code
    v2 = client.post(V2, data={"grant_type": "password", "username": name, "password": password})
    assert v2.status_code == response.status_code
    assert v2.json()["error"] == ("invalid_request" if not password else "invalid_grant")
    assert "Invalid username or password." in response.text or not password


def test_a_disabled_user_cannot_log_in_or_use_its_token(
    client: TestClient, state: AppState
) -> None:
    user_id, username = store_user(state)
    headers = login(client, username, KNOWN_SECRET)
    state.store.write(
        lambda tx: tx.identity.update_user(user_id, now=utc_now(), by="test", enabled=False)
    )
    state.auth.forget(username)
    assert password_grant(client, username, KNOWN_SECRET).status_code == 401
    assert client.get(ME, headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "email", id="missing"),
        pytest.param({"email": "not-an-email"}, "email", id="not-an-email"),
        pytest.param({"email": "a@b"}, "email", id="no-top-level-domain"),
        pytest.param({"email": 42}, "email", id="not-a-string"),
        pytest.param({"email": "x" * 250 + "@example.com"}, "email", id="too-long"),
        pytest.param(
            {"email": "ok@example.com", "password": "mine-1234"}, "password", id="password-field"
        ),
        pytest.param(
            {"email": "ok@example.com", "notify": "yes"}, "notify", id="notify-not-a-boolean"
        ),
    ],
)
def test_create_refuses_bad_bodies_with_400(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = client.post(USERS, json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert field in [i["field"] for i in response.json()["complianceIssues"]]


def test_a_taken_username_is_409(client: TestClient, admin: dict[str, str]) -> None:
    created = create_user(client, admin)
    again = client.post(USERS, json={"email": created["username"]}, headers=admin)
    assert again.status_code == 409
    assert created["tempPassword"] not in again.text


@pytest.mark.parametrize("user_id", ["999999", "abc", "²", "9" * 30])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("DELETE", ""), ("POST", "/password")],
)
def test_unknown_users_are_404(
    client: TestClient, admin: dict[str, str], user_id: str, method: str, suffix: str
) -> None:
    response = client.request(method, f"{USERS}/{user_id}{suffix}", headers=admin)
    assert response.status_code == 404, response.text


# --- delete, reset, change --------------------------------------------------------------------


def test_delete_removes_the_user_its_rules_and_its_tokens(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = create_user(client, admin)
    headers = login(client, created["username"], created["tempPassword"])
    rule = grant(client, admin, created["username"], VIEWER, "project", "1", subject_type="user")
    deleted = client.delete(f"{USERS}/{created['id']}", headers=admin)
    assert deleted.status_code == 204
    assert client.get(f"{USERS}/{created['id']}", headers=admin).status_code == 404
    assert client.get(ME, headers=headers).status_code == 401
    assert password_grant(client, created["username"], created["tempPassword"]).status_code == 401
    rule_path = f"/api/v1/authorization/access-rules/{rule['id']}"
    assert client.get(rule_path, headers=admin).status_code == 404
    # a new user with the same name starts from nothing: no rules, a new password
    again = create_user(client, admin, created["username"])
    assert password_grant(client, created["username"], created["tempPassword"]).status_code == 401
    fresh = login(client, again["username"], again["tempPassword"])
    assert client.get(ME, headers=fresh).json()["accessRules"]["totalRecords"] == 0


def test_reset_password(client: TestClient, admin: dict[str, str]) -> None:
    created = create_user(client, admin)
    response = client.post(f"{USERS}/{created['id']}/password", headers=admin)
    assert response.status_code == 200, response.text
    validate(client.app, "POST", USERS + "/{userId}/password", response)  # type: ignore[arg-type]
    new = response.json()["tempPassword"]
    assert new != created["tempPassword"]
    assert password_grant(client, created["username"], created["tempPassword"]).status_code == 401
    assert password_grant(client, created["username"], new).status_code == 200


def test_change_own_password(
    client: TestClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = create_user(client, admin)
    headers = login(client, created["username"], created["tempPassword"])
    body = {"currentPassword": created["tempPassword"], "newPassword": "a much better passphrase"}
    response = client.post(ME_PASSWORD, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert "passphrase" not in response.text
    assert password_grant(client, created["username"], created["tempPassword"]).status_code == 401
    assert (
        password_grant(client, created["username"], "a much better passphrase").status_code == 200
    )
    # the change revokes every token issued before it, the caller's own included
    assert client.get(ME, headers=headers).status_code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "a much better passphrase" not in logged
    assert created["tempPassword"] not in logged


@pytest.mark.parametrize(
    ("current", "new", "field"),
    [
        pytest.param("wrong", "a much better passphrase", "currentPassword", id="wrong-current"),
        pytest.param("{current}", "short", "newPassword", id="too-short"),
        pytest.param("{current}", "{current}", "newPassword", id="unchanged"),
        pytest.param("{current}", "x" * 300, "newPassword", id="too-long"),
    ],
)
def test_change_own_password_refusals(
    client: TestClient, admin: dict[str, str], current: str, new: str, field: str
) -> None:
    created = create_user(client, admin)
    headers = login(client, created["username"], created["tempPassword"])
    body = {
        "currentPassword": current.replace("{current}", created["tempPassword"]),
        "newPassword": new.replace("{current}", created["tempPassword"]),
    }
    response = client.post(ME_PASSWORD, json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert field in [i["field"] for i in response.json()["complianceIssues"]]
    assert password_grant(client, created["username"], created["tempPassword"]).status_code == 200


def test_service_accounts_have_no_password_to_change(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"currentPassword": "x", "newPassword": "a much better passphrase"}
    assert client.post(ME_PASSWORD, json=body, headers=admin).status_code == 400
    assert client.post(ME_PASSWORD, json=body).status_code == 401


def test_nobody_deletes_or_resets_their_own_user(
    client: TestClient, state: AppState, org: Org
) -> None:
    user_id, username = store_user(state, (("System administrator", "tenant", org.tenant_id),))
    headers = login(client, username, KNOWN_SECRET)
    assert client.delete(f"{USERS}/{user_id}", headers=headers).status_code == 403
    assert client.post(f"{USERS}/{user_id}/password", headers=headers).status_code == 403
    assert client.get(ME, headers=headers).status_code == 200


# --- list -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed(app_state: AppState) -> list[str]:
    tag = unique("lst")
    names = [f"{tag}-{n}@example.com" for n in ("carol", "alice", "bob")]
    now = utc_now()

    def work(tx: Transaction) -> None:
        for name in names:
            tx.identity.insert_user(name, KNOWN_HASH, now, "test")

    app_state.store.write(work)
    return names


@pytest.mark.parametrize(
    ("params", "want"),
    [
        pytest.param({}, ["carol", "alice", "bob"], id="creation-order"),
        pytest.param({"sortBy": "username"}, ["alice", "bob", "carol"], id="sort"),
        pytest.param(
            {"sortBy": "username", "sortOrder": "desc"}, ["carol", "bob", "alice"], id="sort-desc"
        ),
        pytest.param({"sortBy": "username", "limit": 1, "offset": 1}, ["bob"], id="page"),
        pytest.param({"filterBy": "username=@-bob"}, ["bob"], id="filterBy-contains"),
        pytest.param(
            {"filterBy": "isLocal==true"}, ["carol", "alice", "bob"], id="filterBy-isLocal"
        ),
        pytest.param(
            {"filterBy": "creationTime>=2000-01-01"}, ["carol", "alice", "bob"], id="filterBy-date"
        ),
        pytest.param({"filterBy": "createdBy==someone-else"}, [], id="filterBy-createdBy"),
        pytest.param({"search": "ALICE"}, ["alice"], id="search"),
    ],
)
def test_list(
    client: TestClient,
    admin: dict[str, str],
    listed: list[str],
    params: dict[str, Any],
    want: list[str],
) -> None:
    tag = listed[0].split("-carol")[0]
    filters = [f"username=@{tag}", *([params.pop("filterBy")] if "filterBy" in params else [])]
    response = client.get(USERS, params={**params, "filterBy": filters}, headers=admin)
    assert response.status_code == 200, response.text
    got = [u["username"].removeprefix(f"{tag}-").split("@")[0] for u in response.json()]
    assert got == want


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"filterBy": "email==x"}, id="unknown-filter-field"),
        pytest.param({"filterBy": "creationTime=@2024"}, id="date-with-contains"),
        pytest.param({"sortBy": "email"}, id="unknown-sort-field"),
        pytest.param({"limit": 0}, id="limit-0"),
    ],
)
def test_bad_list_parameters_are_400(
    client: TestClient, admin: dict[str, str], params: dict[str, Any]
) -> None:
    assert client.get(USERS, params=params, headers=admin).status_code == 400


# --- 401 and the permission matrix ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", USERS, None, id="list"),
        pytest.param("POST", USERS, {"email": "no-token@example.com"}, id="create"),
        pytest.param("POST", USERS, {"junk": 1}, id="create-bad-body"),
        pytest.param("GET", f"{USERS}/1", None, id="get"),
        pytest.param("DELETE", f"{USERS}/1", None, id="delete"),
        pytest.param("POST", f"{USERS}/1/password", None, id="reset"),
        pytest.param(
            "POST", ME_PASSWORD, {"currentPassword": "a", "newPassword": "b"}, id="change"
        ),
    ],
)
def test_every_endpoint_needs_a_valid_token(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    for headers in ({}, {"Authorization": "Bearer x.y.z"}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, response.text


@pytest.fixture(scope="module")
def org(app_state: AppState) -> Org:
    return make_org(app_state)


@pytest.fixture(scope="module")
def actors(app_state: AppState, org: Org) -> dict[tuple[str, str], Account]:
    return matrix_actors(app_state, org)


ACTIONS = {
    "read": ("GET", "", 200),
    "update": ("POST", "/password", 200),
    "delete": ("DELETE", "", 204),
}


@pytest.mark.parametrize(
    ("role", "placement", "action", "target"),
    [
        pytest.param(r, p, a, t, id=f"{r}@{p}-{a}-{t}")
        for r, p, a, t in itertools.product(ALL_ROLES, PLACEMENTS, ACTIONS, TARGETS)
    ],
)
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
    """Only System administrators manage users (in the scopes they have): a user with a Viewer
    rule in the target scope, acted on by each role from its project or department."""
    user_id, username = store_user(state, ((VIEWER, *scope_of(org, target)),))
    actor = actors[(role, placement)]
    method, suffix, success = ACTIONS[action]
    allowed = expected(role, placement, "users", action, target)
    response = client.request(method, f"{USERS}/{user_id}{suffix}", headers=actor.headers)
    assert response.status_code == (success if allowed else 403), response.text
    if action == "read":
        listing = client.get(USERS, params={"search": username}, headers=actor.headers)
        if "read" in CAN[role].get("users", frozenset()):
            assert [u["id"] for u in listing.json()] == ([user_id] if allowed else [])
        else:
            assert listing.status_code == 403


@pytest.mark.parametrize(
    ("role", "placement"),
    [pytest.param(r, p, id=f"{r}@{p}") for r in ALL_ROLES for p in PLACEMENTS],
)
def test_who_may_create_users(
    client: TestClient, actors: dict[tuple[str, str], Account], role: str, placement: str
) -> None:
    response = client.post(
        USERS, json={"email": email()}, headers=actors[(role, placement)].headers
    )
    may = "create" in CAN[role].get("users", frozenset())
    assert response.status_code == (201 if may else 403), response.text


def test_store_account_helper_is_not_a_user(client: TestClient, state: AppState) -> None:
    """Subject types do not mix: a service account's client id is no username."""
    account = store_account(state)
    assert password_grant(client, account.client_id, KNOWN_SECRET).status_code == 401


def test_changes_are_in_the_audit_trail(client: TestClient, admin: dict[str, str]) -> None:
    created = create_user(client, admin)
    headers = login(client, created["username"], created["tempPassword"])
    body = {"currentPassword": created["tempPassword"], "newPassword": "another passphrase"}
    client.post(ME_PASSWORD, json=body, headers=headers)
    client.post(f"{USERS}/{created['id']}/password", headers=admin)
    client.delete(f"{USERS}/{created['id']}", headers=admin)
    logs = client.get("/api/v1/audit-logs", params={"limit": 4}, headers=admin).json()
    got = [(e["action"], e["entityType"], e["subject"], e["statusCode"]) for e in logs["auditLogs"]]
    assert got == [
        ("delete", "users", "test-admin", 204),
        ("update", "users", "test-admin", 200),
        ("update", "users", created["username"], 200),
        ("create", "users", "test-admin", 201),
    ]
    assert "another passphrase" not in str(logs)


@pytest.mark.parametrize(
    ("role", "where", "allowed"),
    [
        pytest.param(DEPT_ADMIN, "department", True, id="dept-admin-in-department"),
        pytest.param(SYSADMIN, "project", True, id="sysadmin-of-a-project"),
        pytest.param(SYSADMIN, "department", False, id="peer-sysadmin"),
        pytest.param(SYSADMIN, "tenant", False, id="superior-sysadmin"),
    ],
)
def test_setting_a_password_takes_strictly_more_than_the_user_holds(
    client: TestClient,
    state: AppState,
    org: Org,
    actors: dict[tuple[str, str], Account],
    role: str,
    where: str,
    allowed: bool,
) -> None:
    """A System administrator of a department sets the password of a user it outranks, not
    that of a peer or a superior (it could sign in as them)."""
    user_id, _ = store_user(state, ((role, *scope_of(org, where)),))
    caller = actors[(SYSADMIN, "department")]
    response = client.post(f"{USERS}/{user_id}/password", headers=caller.headers)
    assert response.status_code == (200 if allowed else 403), response.text
