"""Token abuse beyond `test_auth.py`: every forged or broken token kind on the identity
endpoints, and tokens whose account changed: deleted, disabled, re-created under the same
name, of the wrong subject type; and the signing key: generated once and kept, or configured,
named by its `kid`."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.errors import Unauthenticated
from nimplane.domain.identity import AccountBinding
from nimplane.services.auth import Authenticator
from nimplane.services.tokens import TokenService
from nimplane.services.workloads import utc_now
from nimplane.settings import AuthSettings, Settings
from nimplane.wiring import SIGNING_KEY_FILE, load_signing_key
from tests.api.test_auth import BAD_TOKENS, BadToken, signing_key
from tests.support.identity import (
    RULES,
    SA,
    TOKEN,
    USERS,
    VIEWER,
    api_account,
    bearer,
    grant,
    rule_body,
    store_account,
    unique,
)
from tests.support.server import CLIENT_ID
from tests.support.tokens import binding_of, issue_token

ME = "/api/v1/authorization/me/access-rules"

ENDPOINTS = [
    pytest.param("GET", SA, None, id="list-service-accounts"),
    pytest.param("POST", SA, {"name": "forged-made"}, id="create-service-account"),
    pytest.param("POST", SA + "/{sa}/secret", None, id="regenerate-secret"),
    pytest.param("GET", USERS, None, id="list-users"),
    pytest.param("POST", USERS, {"email": "forged@example.com"}, id="create-user"),
    pytest.param("GET", RULES, None, id="list-access-rules"),
    pytest.param("POST", RULES, rule_body("{victim}", VIEWER, "project", "1"), id="create-rule"),
    pytest.param("GET", ME, None, id="me"),
    pytest.param("GET", "/api/v1/authorization/roles", None, id="roles"),
    pytest.param("GET", "/api/v1/workload-types", None, id="workload-types"),
]


@pytest.fixture(scope="module")
def victim(app_state: AppState) -> Any:
    return store_account(app_state, name=unique("victim"))


@pytest.mark.parametrize("bad", BAD_TOKENS)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_identity_endpoints_refuse_every_bad_token(
    client: TestClient,
    state: AppState,
    admin: dict[str, str],
    victim: Any,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    bad: BadToken,
) -> None:
    if body is not None and body.get("subjectId") == "{victim}":
        body = {**body, "subjectId": victim.client_id}
    response = client.request(
        method,
        path.replace("{sa}", victim.id),
        json=body,
        headers=bad(state.settings, state),
    )
    assert response.status_code == 401, response.text
    assert response.json()["code"] == 401
    # nothing changed behind the refusal
    assert client.get(ME, headers=victim.headers).json()["accessRules"]["totalRecords"] == 0
    names = {a["name"] for a in client.get(SA, headers=admin).json()}
    assert victim.client_id in names
    assert "forged-made" not in names
    users = client.get(USERS, params={"search": "forged@"}, headers=admin).json()
    assert users == []


# --- tokens whose account changed -------------------------------------------------------------


def _signed(
    state: AppState,
    subject: str,
    subject_type: str,
    binding: AccountBinding | None = None,
    **changes: Any,
) -> dict[str, str]:
    """A genuine token (the server's key and kid) with chosen claims, bound to the account
    the subject names now (or to `binding`)."""
    binding = binding or binding_of(state, subject, subject_type)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": state.settings.auth.issuer,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "subject_type": subject_type,
        "token_use": "access",
        "account_id": binding.uid,
        "credentials_epoch": binding.epoch,
    }
    claims.update(changes)
    token = jwt.encode(
        claims, signing_key(state.settings), "HS256", headers={"kid": state.auth.tokens.kid}
    )
    return bearer(token)


def _user(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    created = client.post(USERS, json={"email": f"{unique('u')}@example.com"}, headers=admin)
    assert created.status_code == 201, created.text
    user: dict[str, Any] = created.json()
    login = client.post(
        TOKEN,
        json={
            "grantType": "password",
            "username": user["username"],
            "password": user["tempPassword"],
        },
    )
    assert login.status_code == 200, login.text
    user["headers"] = bearer(login.json()["accessToken"])
    user["refresh"] = login.json()["refreshToken"]
    return user


Abuse = Callable[[TestClient, dict[str, str], AppState], dict[str, str]]


def deleted_service_account(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    account = api_account(client, admin)
    grant(client, admin, account.client_id, VIEWER, "project", "1")
    assert client.delete(f"{SA}/{account.id}", headers=admin).status_code == 204
    return account.headers


def disabled_service_account(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    account = api_account(client, admin)
    patched = client.patch(f"{SA}/{account.id}", json={"enabled": False}, headers=admin)
    assert patched.status_code == 200
    return account.headers


def recreated_service_account(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    """A token of an earlier account of the same name, deleted and re-created at once (in
    the same second, as a rule): the token is bound to the earlier account's uid."""
    old = api_account(client, admin)
    assert client.delete(f"{SA}/{old.id}", headers=admin).status_code == 204
    account = api_account(client, admin, name=old.client_id)
    grant(client, admin, account.client_id, VIEWER, "project", "1")
    return old.headers


def deleted_user(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    user = _user(client, admin)
    assert client.delete(f"{USERS}/{user['id']}", headers=admin).status_code == 204
    return user["headers"]


def disabled_user(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    user = _user(client, admin)
    state.store.write(
        lambda tx: tx.identity.update_user(user["id"], now=utc_now(), by="test", enabled=False)
    )
    state.auth.forget(user["username"])
    return user["headers"]


def recreated_user(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    old = _user(client, admin)
    assert client.delete(f"{USERS}/{old['id']}", headers=admin).status_code == 204
    assert client.post(USERS, json={"email": old["username"]}, headers=admin).status_code == 201
    return old["headers"]


def user_token_naming_a_service_account(
    client: TestClient, admin: dict[str, str], state: AppState
) -> Any:
    """Subject types never mix: a service account's client id is no username."""
    return _signed(state, CLIENT_ID, "user", binding_of(state, CLIENT_ID))


def unknown_subject_type(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    return _signed(state, CLIENT_ID, "group", binding_of(state, CLIENT_ID))


def issued_in_the_future(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    return _signed(state, CLIENT_ID, "service-account", iat=int(time.time()) + 3600)


ACCOUNT_ABUSES = [
    pytest.param(deleted_service_account, id="deleted-service-account"),
    pytest.param(disabled_service_account, id="disabled-service-account"),
    pytest.param(recreated_service_account, id="recreated-service-account"),
    pytest.param(deleted_user, id="deleted-user"),
    pytest.param(disabled_user, id="disabled-user"),
    pytest.param(recreated_user, id="recreated-user"),
    pytest.param(user_token_naming_a_service_account, id="user-token-of-a-service-account"),
    pytest.param(unknown_subject_type, id="unknown-subject-type"),
    pytest.param(issued_in_the_future, id="issued-in-the-future"),
]


@pytest.mark.parametrize("abuse", ACCOUNT_ABUSES)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", ME, id="me"),
        pytest.param("GET", "/api/v1/workloads", id="workloads"),
        pytest.param("GET", "/api/v1/workload-priorities", id="workload-priorities"),
    ],
)
def test_tokens_of_changed_accounts_are_401(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    abuse: Abuse,
    method: str,
    path: str,
) -> None:
    headers = abuse(client, admin, state)
    response = client.request(method, path, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_same_claims_now_are_accepted(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    """Guards the table above: a token made the same way for a live account works."""
    name = unique("fresh")
    api_account(client, admin, name=name)
    assert client.get(ME, headers=_signed(state, name, "service-account")).status_code == 200


@pytest.mark.parametrize(
    "kind",
    ["deleted-service-account", "disabled-service-account", "deleted-user", "recreated-user"],
)
def test_refresh_tokens_of_changed_accounts_are_refused(
    client: TestClient, admin: dict[str, str], state: AppState, kind: str
) -> None:
    if kind.endswith("service-account"):
        account = api_account(client, admin)
        first = client.post(
            TOKEN,
            json={
                "grantType": "client_credentials",
                "clientID": account.client_id,
                "clientSecret": account.secret,
            },
        ).json()
        refresh = first["refreshToken"]
        if kind.startswith("deleted"):
            client.delete(f"{SA}/{account.id}", headers=admin)
        else:
            client.patch(f"{SA}/{account.id}", json={"enabled": False}, headers=admin)
    else:
        user = _user(client, admin)
        refresh = user["refresh"]
        client.delete(f"{USERS}/{user['id']}", headers=admin)
        if kind == "recreated-user":
            # re-created at once, within the second of the refresh token's `iat` as a rule
            client.post(USERS, json={"email": user["username"]}, headers=admin)
    v1 = client.post(TOKEN, json={"grantType": "refresh_token", "refreshToken": refresh})
    assert v1.status_code == 401, v1.text
    v2 = client.post(
        "/api/v2/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert (v2.status_code, v2.json()["error"]) == (401, "invalid_grant")


def test_a_regenerated_secret_refuses_the_old_one_at_once(
    client: TestClient, admin: dict[str, str]
) -> None:
    account = api_account(client, admin)
    client.post(f"{SA}/{account.id}/secret", headers=admin)
    body = {
        "grantType": "client_credentials",
        "clientID": account.client_id,
        "clientSecret": account.secret,
    }
    assert client.post(TOKEN, json=body).status_code == 401


# --- the signing key --------------------------------------------------------------------------


def _settings(data_dir: Path, key: str | None = None) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=data_dir, auth=AuthSettings(signing_key=key))


def test_a_generated_key_is_kept_and_survives_a_restart(tmp_path: Path) -> None:
    first_key = load_signing_key(_settings(tmp_path))
    path = tmp_path / SIGNING_KEY_FILE
    assert path.read_bytes().strip() == first_key
    assert len(first_key) == 64
    int(first_key, 16)
    assert load_signing_key(_settings(tmp_path)) == first_key  # a restart reads it back
    before = TokenService(first_key, issuer="nimplane", ttl_seconds=3600)
    token = before.issue("someone", "service-account", AccountBinding("uid", 0))
    after = TokenService(load_signing_key(_settings(tmp_path)), issuer="nimplane", ttl_seconds=60)
    assert after.verify(token).subject == "someone"
    assert jwt.get_unverified_header(token)["kid"] == hashlib.sha256(first_key).hexdigest()[:16]


def test_each_data_dir_generates_its_own_key(tmp_path: Path) -> None:
    one = load_signing_key(_settings(tmp_path / "one"))
    two = load_signing_key(_settings(tmp_path / "two"))
    assert one != two
    token = TokenService(one, issuer="nimplane", ttl_seconds=60).issue(
        "x", "service-account", AccountBinding("uid", 0)
    )
    other = TokenService(two, issuer="nimplane", ttl_seconds=60)
    assert other.kid != TokenService(one, issuer="nimplane", ttl_seconds=60).kid
    with pytest.raises(Unauthenticated, match="kid"):
        other.verify(token)


def test_a_configured_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    key = load_signing_key(_settings(tmp_path / "one", "configured-key-0123456789abcdef"))
    assert key == b"configured-key-0123456789abcdef"
    assert not (tmp_path / "one" / SIGNING_KEY_FILE).exists()


def test_a_changed_key_refuses_earlier_tokens(state: AppState) -> None:
    """Rotating the configured key (a restart with another) ends every token issued before."""
    old = issue_token(state, CLIENT_ID)
    rotated = Authenticator(
        state.store, TokenService(b"rotated-key-" * 4, issuer="nimplane", ttl_seconds=60), 0
    )
    with pytest.raises(Unauthenticated, match="kid"):
        rotated.authenticate(f"Bearer {old}")
    assert (
        rotated.authenticate(f"Bearer {issue_token(state, CLIENT_ID, auth=rotated)}").subject
        == CLIENT_ID
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"grantType": "password", "username": "\u0000", "password": "x"}, id="user"),
        pytest.param(
            {"grantType": "client_credentials", "clientID": "a\u0000", "clientSecret": "x"},
            id="client",
        ),
    ],
)
def test_nul_characters_in_credentials_are_400_not_500(
    client: TestClient, body: dict[str, str]
) -> None:
    """PostgreSQL text cannot hold NUL: the edge refuses it in any field, naming the field
    (found by fuzzing)."""
    field = "username" if "username" in body else "clientID"
    response = client.post(TOKEN, json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}: contains a NUL character")
    form = {
        "grant_type": body["grantType"],
        "username": body.get("username", ""),
        "password": body.get("password", ""),
        "client_id": body.get("clientID", ""),
        "client_secret": body.get("clientSecret", ""),
    }
    response = client.post("/api/v2/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "NUL" in response.json()["error_description"]
