"""Tokens (docs/decisions.md D9) and who may do what (docs/decisions.md D7, D10): every grant, every
bad token, 401 versus 403."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.domain.identity import AccountBinding
from nimplane.domain.ports import Transaction
from nimplane.services.secrets_hashing import hash_secret
from nimplane.services.workloads import utc_now
from nimplane.settings import Settings
from tests.conftest import nim_request
from tests.support.server import CLIENT_ID, CLIENT_SECRET
from tests.support.tokens import binding_of, issue_token

NIM = "/api/v2/workloads/nim-services"
V1 = "/api/v1/token"
V2 = "/api/v2/token"


def signing_key(settings: Settings) -> bytes:
    assert settings.auth.signing_key is not None
    return settings.auth.signing_key.get_secret_value().encode()


def kid_of(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(
    settings: Settings, binding: AccountBinding | None = None, **changes: Any
) -> dict[str, Any]:
    """The claims of a valid access token of the bootstrap administrator (bound to its
    account when `binding` is given), with changes."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": settings.auth.issuer,
        "sub": CLIENT_ID,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "subject_type": "service-account",
        "token_use": "access",
    }
    if binding is not None:
        payload.update(account_id=binding.uid, credentials_epoch=binding.epoch)
    payload.update(changes)
    return payload


def sign(payload: dict[str, Any], key: bytes, kid: str | None, algorithm: str = "HS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


# --- POST /api/v1/token ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"grantType": "app_token", "AppId": CLIENT_ID, "AppSecret": CLIENT_SECRET},
            id="app_token-runapy-spelling",
        ),
        pytest.param(
            {"grantType": "app_token", "appID": CLIENT_ID, "appSecret": CLIENT_SECRET},
            id="app_token-openapi-spelling",
        ),
        pytest.param(
            {
                "grantType": "client_credentials",
                "clientID": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
            },
            id="client_credentials",
        ),
    ],
)
def test_v1_grants_issue_a_jwt(client: TestClient, settings: Settings, body: dict) -> None:
    response = client.post(V1, json=body)
    assert response.status_code == 200, response.text
    issued = response.json()
    assert issued["expiresIn"] == 3600
    assert issued["refreshToken"]
    token = issued["accessToken"]
    header = jwt.get_unverified_header(token)
    key = signing_key(settings)
    assert header["kid"] == kid_of(key)
    decoded = jwt.decode(token, key, algorithms=["HS256"], issuer=settings.auth.issuer)
    assert {"exp", "iat", "iss", "sub"} <= decoded.keys()
    assert decoded["sub"] == CLIENT_ID
    assert decoded["exp"] - decoded["iat"] == 3600
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/workloads", headers=headers).status_code == 200


def test_v1_refresh_token_grant_issues_a_new_access_token(client: TestClient) -> None:
    first = client.post(
        V1,
        json={
            "grantType": "client_credentials",
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
        },
    ).json()
    response = client.post(
        V1, json={"grantType": "refresh_token", "refreshToken": first["refreshToken"]}
    )
    assert response.status_code == 200, response.text
    token = response.json()["accessToken"]
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == CLIENT_ID
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/workloads/count", headers=headers).status_code == 200


def test_v1_access_token_is_not_a_refresh_token(client: TestClient, admin_token: str) -> None:
    response = client.post(V1, json={"grantType": "refresh_token", "refreshToken": admin_token})
    assert response.status_code == 401
    assert response.json()["code"] == 401


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"grantType": "client_credentials", "clientID": CLIENT_ID, "clientSecret": "wrong-0"},
            id="wrong-secret",
        ),
        pytest.param(
            {"grantType": "app_token", "AppId": CLIENT_ID, "AppSecret": "wrong-1"},
            id="wrong-app-secret",
        ),
        pytest.param(
            {"grantType": "client_credentials", "clientID": "nobody", "clientSecret": "wrong-2"},
            id="unknown-client",
        ),
        pytest.param(
            {"grantType": "refresh_token", "refreshToken": "not-a-token"},
            id="garbage-refresh-token",
        ),
    ],
)
def test_v1_bad_credentials_are_401(client: TestClient, body: dict) -> None:
    response = client.post(V1, json=body)
    assert response.status_code == 401
    error = response.json()
    assert error["code"] == 401
    assert error["message"]
    secret = body.get("clientSecret") or body.get("AppSecret") or body.get("refreshToken")
    assert secret not in response.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"grantType": "client_credentials", "clientID": CLIENT_ID}, id="no-secret"),
        pytest.param(
            {"grantType": "client_credentials", "clientSecret": CLIENT_SECRET}, id="no-client-id"
        ),
        pytest.param({"grantType": "app_token", "AppId": CLIENT_ID}, id="app-token-no-secret"),
        pytest.param({"grantType": "refresh_token"}, id="refresh-without-token"),
        pytest.param({"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET}, id="no-grant-type"),
        pytest.param(
            {"grantType": "magic", "clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET},
            id="unknown-grant-type",
        ),
        pytest.param(
            {"grantType": 7, "clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET},
            id="grant-type-not-a-string",
        ),
        pytest.param({}, id="empty-object"),
    ],
)
def test_v1_incomplete_requests_are_400(client: TestClient, body: dict) -> None:
    response = client.post(V1, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400
    assert response.json()["message"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"{not json", "application/json", id="malformed-json"),
        pytest.param(b"", "application/json", id="empty-body"),
        pytest.param(b"[1]", "application/json", id="array-body"),
        pytest.param(b"grantType=app_token", "application/x-www-form-urlencoded", id="form"),
    ],
)
def test_v1_bad_bodies_are_400(client: TestClient, content: bytes, content_type: str) -> None:
    response = client.post(V1, content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400


# --- POST /api/v2/token (OAuth2, form-encoded) -----------------------------------------------


def test_v2_client_credentials(client: TestClient, settings: Settings) -> None:
    response = client.post(
        V2,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == kid_of(signing_key(settings))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/workloads", headers=headers).status_code == 200


def test_v2_refresh_token_grant(client: TestClient) -> None:
    first = client.post(
        V2,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    ).json()
    response = client.post(
        V2, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        pytest.param(
            {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "nope-1"},
            401,
            "invalid_client",
            id="wrong-secret",
        ),
        pytest.param(
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "nope-2"},
            401,
            "invalid_client",
            id="unknown-client",
        ),
        pytest.param(
            {"grant_type": "authorization_code", "code": "abc"},
            400,
            "unsupported_grant_type",
            id="authorization-code-unsupported",
        ),
        pytest.param(
            {"grant_type": "magic", "client_id": CLIENT_ID},
            400,
            "unsupported_grant_type",
            id="unknown-grant",
        ),
        pytest.param(
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            400,
            "invalid_request",
            id="missing-grant-type",
        ),
        pytest.param(
            {"grant_type": "client_credentials", "client_id": CLIENT_ID},
            400,
            "invalid_request",
            id="missing-secret",
        ),
    ],
)
def test_v2_errors_are_oauth2_errors(
    client: TestClient, form: dict, status: int, error: str
) -> None:
    response = client.post(V2, data=form)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert "nope" not in response.text


def test_v2_json_content_type_is_400(client: TestClient) -> None:
    response = client.post(
        V2,
        json={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- 401 on every protected endpoint, for every kind of bad token ----------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # `{id}` is an existing workload's id
    body: dict[str, Any] | None = None


ENDPOINTS = [
    pytest.param(Endpoint("POST", NIM, nim_request("unauthorised")), id="create-nim"),
    pytest.param(Endpoint("GET", NIM + "/{id}"), id="get-nim"),
    pytest.param(Endpoint("PATCH", NIM + "/{id}", {"spec": {"replicas": 2}}), id="patch-nim"),
    pytest.param(Endpoint("DELETE", "/api/v2/workloads/{id}"), id="delete-v2"),
    pytest.param(Endpoint("GET", "/api/v1/workloads"), id="list-v1"),
    pytest.param(Endpoint("GET", "/api/v1/workloads/count"), id="count-v1"),
    pytest.param(Endpoint("GET", "/api/v1/workloads/{id}"), id="get-v1"),
]


BadToken = Callable[[Settings, AppState], dict[str, str]]
FORGING_KEY = b"another-key-0123456789abcdef0123"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _signed(
    key: bytes | None = None, kid: str | None = "same", **changes: Any
) -> Callable[[Settings, AppState], dict[str, str]]:
    """A token with the administrator's claims (changed), signed with `key` (the server's by
    default) and carrying `kid` ("same": the server's kid; None: no kid)."""

    def make(settings: Settings, state: AppState) -> dict[str, str]:
        server_key = signing_key(settings)
        header_kid = kid_of(server_key) if kid == "same" else kid
        payload = claims(settings, binding_of(state, CLIENT_ID), **changes)
        payload = {k: v for k, v in payload.items() if v is not None}
        return _bearer(sign(payload, key or server_key, header_kid))

    return make


def _tampered_sub(_settings: Settings, state: AppState) -> dict[str, str]:
    """A genuine token of an unknown subject whose payload now names the administrator, with
    the original signature: would be an administrator's token if signatures went unchecked."""
    admin = binding_of(state, CLIENT_ID)
    header, payload, signature = state.auth.tokens.issue("nobody", "service-account", admin).split(
        "."
    )
    changed = json.loads(b64url_decode(payload))
    changed["sub"] = CLIENT_ID
    return _bearer(f"{header}.{b64url(json.dumps(changed).encode())}.{signature}")


def _unsigned(settings: Settings, _state: AppState) -> dict[str, str]:
    """`alg: none`: the administrator's claims with no signature at all."""
    header = {"alg": "none", "typ": "JWT", "kid": kid_of(signing_key(settings))}
    segments = [b64url(json.dumps(header).encode()), b64url(json.dumps(claims(settings)).encode())]
    return _bearer(".".join(segments) + ".")


def _admin_token(state: AppState, token_use: str = "access") -> str:
    return issue_token(state, CLIENT_ID, token_use=token_use)


NOW = int(time.time())
BAD_TOKENS: list[Any] = [
    pytest.param(lambda s, st: {}, id="missing-header"),
    pytest.param(
        lambda s, st: {"Authorization": "Basic " + b64url(f"{CLIENT_ID}:{CLIENT_SECRET}".encode())},
        id="basic-scheme",
    ),
    pytest.param(lambda s, st: {"Authorization": "Token " + _admin_token(st)}, id="token-scheme"),
    pytest.param(lambda s, st: {"Authorization": _admin_token(st)}, id="no-scheme"),
    pytest.param(lambda s, st: {"Authorization": "Bearer "}, id="empty-bearer"),
    pytest.param(lambda s, st: _bearer("abc"), id="malformed-abc"),
    pytest.param(lambda s, st: _bearer("a.b.c"), id="malformed-a.b.c"),
    pytest.param(_signed(iat=NOW - 7200, nbf=NOW - 7200, exp=NOW - 60), id="expired"),
    pytest.param(_signed(nbf=NOW + 3600), id="not-yet-valid"),
    pytest.param(_signed(key=FORGING_KEY), id="forged-same-kid"),
    pytest.param(_signed(kid="0123456789abcdef"), id="wrong-kid"),
    pytest.param(_signed(kid=None), id="no-kid"),
    pytest.param(_signed(iss="someone-else"), id="wrong-issuer"),
    pytest.param(_signed(exp=None), id="no-exp"),
    pytest.param(_signed(account_id=None, credentials_epoch=None), id="not-bound-to-an-account"),
    pytest.param(_signed(account_id="00000000-0000-0000-0000-000000000000"), id="other-account"),
    pytest.param(_signed(credentials_epoch=-1), id="older-credentials-epoch"),
    pytest.param(_signed(credentials_epoch="0"), id="credentials-epoch-not-an-int"),
    pytest.param(_signed(exp="9999999999"), id="exp-not-a-number"),
    pytest.param(_unsigned, id="alg-none"),
    pytest.param(_tampered_sub, id="tampered-payload"),
    pytest.param(
        lambda s, st: _bearer(issue_token(st, "nobody-" + uuid.uuid4().hex)),
        id="unknown-subject",
    ),
    pytest.param(lambda s, st: _bearer(_admin_token(st, "refresh")), id="refresh-as-access"),
]


def test_the_forging_helpers_make_valid_tokens_when_nothing_is_wrong(
    client: TestClient, state: AppState
) -> None:
    """Guards the table above: the same helpers with nothing changed give an accepted token."""
    headers = _signed()(state.settings, state)
    assert client.get("/api/v1/workloads", headers=headers).status_code == 200


@pytest.fixture
def workload_id(client: TestClient, admin: dict[str, str]) -> str:
    response = client.post(NIM, json=nim_request("target"), headers=admin)
    assert response.status_code == 202, response.text
    return str(response.json()["metadata"]["id"])


@pytest.mark.parametrize("bad", BAD_TOKENS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_protected_endpoint_refuses_every_bad_token(
    client: TestClient,
    state: AppState,
    admin: dict[str, str],
    workload_id: str,
    endpoint: Endpoint,
    bad: BadToken,
) -> None:
    headers = bad(state.settings, state)
    path = endpoint.path.replace("{id}", workload_id)
    response = client.request(endpoint.method, path, json=endpoint.body, headers=headers)
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == 401
    assert isinstance(body["message"], str)
    assert body["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    # nothing changed behind the refusal
    stored = client.get(f"{NIM}/{workload_id}", headers=admin).json()
    assert stored["spec"]["replicas"] == 1
    assert stored["desiredPhase"] == "Running"
    names = client.get("/api/v1/workloads", headers=admin).json()["workloads"]
    assert [w["name"] for w in names] == ["target"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/healthz", id="healthz"),
        pytest.param("GET", "/readyz", id="readyz"),
        pytest.param("GET", "/openapi.json", id="openapi"),
    ],
)
def test_public_endpoints_need_no_token(client: TestClient, method: str, path: str) -> None:
    assert client.request(method, path).status_code == 200


def test_token_endpoints_need_no_token(client: TestClient) -> None:
    v1 = client.post(
        V1,
        json={
            "grantType": "client_credentials",
            "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
        },
    )
    v2 = client.post(
        V2,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert (v1.status_code, v2.status_code) == (200, 200)


# --- 403: a valid token without the permission -----------------------------------------------

VIEWER_ID, VIEWER_SECRET = "test-viewer", "test-viewer-secret-0123456789"
OUTSIDER_ID, OUTSIDER_SECRET = "test-outsider", "test-outsider-secret-0123456789"


def _add_service_account(
    state: AppState, client_id: str, secret: str, role: str, project_id: str
) -> None:
    now = utc_now()
    secret_hash = hash_secret(secret)

    def work(tx: Transaction) -> None:
        tx.identity.upsert_service_account(client_id, client_id, secret_hash, now, "test")
        tx.identity.ensure_access_rule(
            "service-account", client_id, role, "project", project_id, now, "test"
        )

    state.store.write(work)


@pytest.fixture(scope="module")
def principals(app_state: AppState) -> None:
    """A Viewer of project 1 and a Viewer of a project id that is not project 1."""
    _add_service_account(app_state, VIEWER_ID, VIEWER_SECRET, "Viewer", "1")
    _add_service_account(app_state, OUTSIDER_ID, OUTSIDER_SECRET, "ML engineer", "4242")


def _token_for(client: TestClient, client_id: str, secret: str) -> dict[str, str]:
    response = client.post(
        V1, json={"grantType": "client_credentials", "clientID": client_id, "clientSecret": secret}
    )
    assert response.status_code == 200, response.text
    return _bearer(response.json()["accessToken"])


@pytest.mark.usefixtures("principals")
def test_viewer_reads_but_may_not_write(
    client: TestClient, admin: dict[str, str], workload_id: str
) -> None:
    viewer = _token_for(client, VIEWER_ID, VIEWER_SECRET)
    assert client.get(f"{NIM}/{workload_id}", headers=viewer).status_code == 200
    assert client.get(f"/api/v1/workloads/{workload_id}", headers=viewer).status_code == 200
    listed = client.get("/api/v1/workloads", headers=viewer).json()["workloads"]
    assert [w["id"] for w in listed] == [workload_id]
    assert client.get("/api/v1/workloads/count", headers=viewer).json() == {"count": 1}
    refused = {
        "create": client.post(NIM, json=nim_request("viewer-made"), headers=viewer),
        "patch": client.patch(
            f"{NIM}/{workload_id}", json={"spec": {"replicas": 3}}, headers=viewer
        ),
        "delete": client.delete(f"/api/v2/workloads/{workload_id}", headers=viewer),
    }
    for action, response in refused.items():
        assert response.status_code == 403, (action, response.text)
        assert response.json()["code"] == 403
        assert response.json()["message"]
    stored = client.get(f"{NIM}/{workload_id}", headers=admin).json()
    assert stored["spec"]["replicas"] == 1
    assert stored["desiredPhase"] == "Running"
    assert client.get("/api/v1/workloads/count", headers=admin).json() == {"count": 1}


@pytest.mark.usefixtures("principals")
def test_rule_on_another_project_sees_nothing_of_project_1(
    client: TestClient, workload_id: str
) -> None:
    outsider = _token_for(client, OUTSIDER_ID, OUTSIDER_SECRET)
    for path in (f"{NIM}/{workload_id}", f"/api/v1/workloads/{workload_id}"):
        response = client.get(path, headers=outsider)  # as missing: no existence oracle
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == 404
    listed = client.get("/api/v1/workloads", headers=outsider)
    assert listed.status_code == 200
    assert listed.json()["workloads"] == []
    assert client.get("/api/v1/workloads/count", headers=outsider).json() == {"count": 0}
    assert client.post(NIM, json=nim_request("outsider-made"), headers=outsider).status_code == 403
    patch = client.patch(f"{NIM}/{workload_id}", json={"spec": {"replicas": 3}}, headers=outsider)
    assert patch.status_code == 404
    assert client.delete(f"/api/v2/workloads/{workload_id}", headers=outsider).status_code == 404
