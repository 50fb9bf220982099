"""Token revocation: a credential change, disable or delete ends every token issued before it
(access and refresh), refresh tokens rotate and a reused one revokes its sign-in, a sign-in
has an absolute lifetime, and a token never acts for a re-created account of the same name.
Time is injected wherever the code reads it; nothing sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimplane.api.state import AppState
from nimplane.domain.errors import Unauthenticated
from nimplane.domain.identity import revokes_tokens
from nimplane.domain.ports import Transaction
from nimplane.services.auth import Authenticator, Credentials
from nimplane.services.tokens import TokenService
from tests.api.test_auth import signing_key
from tests.support.identity import KNOWN_HASH, KNOWN_SECRET, SA, USERS, bearer, unique

V1 = "/api/v1/token"
V2 = "/api/v2/token"
ME = "/api/v1/authorization/me/access-rules"
ME_PASSWORD = "/api/v1/me/password"
NEW_PASSWORD = "a much better passphrase"


@dataclass
class Session:
    """One sign-in's tokens."""

    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


def _session(response: Any) -> Session:
    assert response.status_code == 200, response.text
    body = response.json()
    if "accessToken" in body:
        return Session(body["accessToken"], body["refreshToken"])
    return Session(body["access_token"], body["refresh_token"])


def _client_credentials(client: TestClient, client_id: str, secret: str) -> Session:
    body = {"grantType": "client_credentials", "clientID": client_id, "clientSecret": secret}
    return _session(client.post(V1, json=body))


def _password(client: TestClient, username: str, password: str) -> Session:
    body = {"grantType": "password", "username": username, "password": password}
    return _session(client.post(V1, json=body))


def _refresh_v1(client: TestClient, refresh: str) -> Any:
    return client.post(V1, json={"grantType": "refresh_token", "refreshToken": refresh})


def _refresh_v2(client: TestClient, refresh: str) -> Any:
    return client.post(V2, data={"grant_type": "refresh_token", "refresh_token": refresh})


def _works(client: TestClient, session: Session) -> bool:
    return client.get(ME, headers=session.headers).status_code == 200


# --- every credential change x every token kind -----------------------------------------------

SignIn = Callable[[], Session]
Change = Callable[[TestClient, dict[str, str], AppState], tuple[Session, SignIn]]
"""Makes an account, signs in, changes it; the tokens from before, and a way to sign in now."""


def _service_account(client: TestClient, admin: dict[str, str]) -> tuple[str, str, str]:
    created = client.post(SA, json={"name": unique("rev")}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], body["clientId"], body["clientSecret"]


def _user(client: TestClient, admin: dict[str, str]) -> tuple[str, str, str]:
    created = client.post(USERS, json={"email": f"{unique('rev')}@example.com"}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], body["username"], body["tempPassword"]


def regenerate_secret(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    account_id, client_id, secret = _service_account(client, admin)
    before = _client_credentials(client, client_id, secret)
    regenerated = client.post(f"{SA}/{account_id}/secret", headers=admin)
    assert regenerated.status_code == 200, regenerated.text
    new_secret = regenerated.json()["clientSecret"]
    return before, lambda: _client_credentials(client, client_id, new_secret)


def disable_service_account(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    account_id, client_id, secret = _service_account(client, admin)
    before = _client_credentials(client, client_id, secret)
    assert client.patch(f"{SA}/{account_id}", json={"enabled": False}, headers=admin).is_success
    # enabled again at once: the tokens issued before the disable stay revoked
    assert client.patch(f"{SA}/{account_id}", json={"enabled": True}, headers=admin).is_success
    return before, lambda: _client_credentials(client, client_id, secret)


def delete_service_account(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    account_id, client_id, secret = _service_account(client, admin)
    before = _client_credentials(client, client_id, secret)
    assert client.delete(f"{SA}/{account_id}", headers=admin).status_code == 204
    # a new account takes the name at once (within the same second, as a rule)
    again = client.post(SA, json={"name": client_id}, headers=admin)
    assert again.status_code == 201, again.text
    new_secret = again.json()["clientSecret"]
    return before, lambda: _client_credentials(client, client_id, new_secret)


def reset_password(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    user_id, username, password = _user(client, admin)
    before = _password(client, username, password)
    reset = client.post(f"{USERS}/{user_id}/password", headers=admin)
    assert reset.status_code == 200, reset.text
    new_password = reset.json()["tempPassword"]
    return before, lambda: _password(client, username, new_password)


def change_own_password(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    _, username, password = _user(client, admin)
    before = _password(client, username, password)
    body = {"currentPassword": password, "newPassword": NEW_PASSWORD}
    changed = client.post(ME_PASSWORD, json=body, headers=before.headers)
    assert changed.status_code == 200, changed.text
    return before, lambda: _password(client, username, NEW_PASSWORD)


def disable_user(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    """Users are disabled by the config file or the store (no route); the same rule applies."""
    user_id, username, password = _user(client, admin)
    before = _password(client, username, password)

    def set_enabled(enabled: bool) -> Callable[[Transaction], bool]:
        return lambda tx: tx.identity.update_user(
            user_id,
            now=datetime.now(UTC),
            by="test",
            enabled=enabled,
            revoke_tokens=revokes_tokens(credentials_changed=False, enabled=enabled),
        )

    state.store.write(set_enabled(False))
    state.store.write(set_enabled(True))
    state.auth.forget(username)
    return before, lambda: _password(client, username, password)


def delete_user(client: TestClient, admin: dict[str, str], state: AppState) -> Any:
    user_id, username, password = _user(client, admin)
    before = _password(client, username, password)
    assert client.delete(f"{USERS}/{user_id}", headers=admin).status_code == 204
    again = client.post(USERS, json={"email": username}, headers=admin)
    assert again.status_code == 201, again.text
    new_password = again.json()["tempPassword"]
    return before, lambda: _password(client, username, new_password)


CHANGES = [
    pytest.param(regenerate_secret, id="service-account-regenerate-secret"),
    pytest.param(disable_service_account, id="service-account-disable"),
    pytest.param(delete_service_account, id="service-account-delete-and-recreate"),
    pytest.param(reset_password, id="user-reset-password"),
    pytest.param(change_own_password, id="user-change-own-password"),
    pytest.param(disable_user, id="user-disable"),
    pytest.param(delete_user, id="user-delete-and-recreate"),
]


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_revokes_the_access_tokens_issued_before(
    client: TestClient, admin: dict[str, str], state: AppState, change: Change
) -> None:
    before, sign_in = change(client, admin, state)
    refused = client.get(ME, headers=before.headers)  # right after the change, no waiting
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert _works(client, sign_in())


@pytest.mark.parametrize("refresh", [_refresh_v1, _refresh_v2], ids=["v1", "v2"])
@pytest.mark.parametrize("change", CHANGES)
def test_a_change_revokes_the_refresh_tokens_issued_before(
    client: TestClient,
    admin: dict[str, str],
    state: AppState,
    change: Change,
    refresh: Callable[[TestClient, str], Any],
) -> None:
    before, sign_in = change(client, admin, state)
    refused = refresh(client, before.refresh)
    assert refused.status_code == 401, refused.text
    if refresh is _refresh_v2:
        assert refused.json()["error"] == "invalid_grant"
    assert before.refresh not in refused.text
    after = sign_in()
    renewed = _session(refresh(client, after.refresh))
    assert _works(client, renewed)


# --- refresh rotation and reuse -----------------------------------------------------------------


@pytest.fixture
def account(client: TestClient, admin: dict[str, str]) -> tuple[str, str]:
    _, client_id, secret = _service_account(client, admin)
    return client_id, secret


@pytest.mark.parametrize("refresh", [_refresh_v1, _refresh_v2], ids=["v1", "v2"])
def test_a_refresh_rotates_and_a_reused_token_revokes_its_sign_in(
    client: TestClient,
    account: tuple[str, str],
    refresh: Callable[[TestClient, str], Any],
) -> None:
    signed_in = _client_credentials(client, *account)
    other_sign_in = _client_credentials(client, *account)
    first = _session(refresh(client, signed_in.refresh))
    assert first.refresh != signed_in.refresh
    assert _works(client, first)
    second = _session(refresh(client, first.refresh))  # the new refresh token works once
    assert _works(client, second)

    reused = refresh(client, first.refresh)  # already used: a stolen copy, or a replay
    assert reused.status_code == 401, reused.text
    assert "already used" in reused.text
    # the whole sign-in is revoked: the newest refresh token and every access token it minted
    assert refresh(client, second.refresh).status_code == 401
    for session in (signed_in, first, second):
        assert client.get(ME, headers=session.headers).status_code == 401
    # another sign-in of the same account is untouched
    assert _works(client, other_sign_in)
    assert _works(client, _session(refresh(client, other_sign_in.refresh)))


def test_the_first_refresh_token_reused_revokes_the_family(
    client: TestClient, account: tuple[str, str]
) -> None:
    signed_in = _client_credentials(client, *account)
    first = _session(_refresh_v1(client, signed_in.refresh))
    assert _refresh_v1(client, signed_in.refresh).status_code == 401
    assert _refresh_v1(client, first.refresh).status_code == 401
    assert client.get(ME, headers=first.headers).status_code == 401


def test_a_refresh_keeps_the_wire_shapes(client: TestClient, account: tuple[str, str]) -> None:
    signed_in = _client_credentials(client, *account)
    v1 = _refresh_v1(client, signed_in.refresh).json()
    assert set(v1) == {"accessToken", "refreshToken", "expiresIn"}
    assert v1["expiresIn"] == 3600
    v2 = _refresh_v2(client, v1["refreshToken"]).json()
    assert set(v2) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (v2["token_type"], v2["expires_in"]) == ("Bearer", 3600)


def test_a_refresh_token_unknown_to_the_server_is_refused(
    client: TestClient, state: AppState, account: tuple[str, str]
) -> None:
    """A refresh token signed with the server's key but never recorded (a forged jti)."""
    signed_in = _client_credentials(client, *account)
    claims = jwt.decode(signed_in.refresh, options={"verify_signature": False})
    claims["jti"] = "00000000-0000-0000-0000-000000000000"
    forged = jwt.encode(
        claims, signing_key(state.settings), "HS256", headers={"kid": state.auth.tokens.kid}
    )
    assert _refresh_v1(client, forged).status_code == 401
    assert _works(client, _session(_refresh_v1(client, signed_in.refresh)))


# --- injected clocks: absolute lifetime, re-creation in the same second, replicas -----------------


class Clock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time())) if start is None else start

    def __call__(self) -> float:
        return self.now


def _authenticator(
    state: AppState,
    clock: Clock,
    *,
    max_lifetime: int = 86_400,
    cache_seconds: float = 0,
    monotonic: Callable[[], float] | None = None,
) -> Authenticator:
    tokens = TokenService(
        signing_key(state.settings), issuer=state.settings.auth.issuer, ttl_seconds=600, clock=clock
    )
    return Authenticator(
        state.store,
        tokens,
        cache_seconds,
        refresh_max_lifetime_seconds=max_lifetime,
        monotonic=monotonic or clock,
    )


def _store_account(state: AppState, name: str) -> str:
    now = datetime.now(UTC)
    return state.store.write(
        lambda tx: tx.identity.insert_service_account(name, name, KNOWN_HASH, now, "test").id
    )


def _sign_in(auth: Authenticator, client_id: str) -> Any:
    return auth.grant(Credentials("client_credentials", client_id, KNOWN_SECRET))


def _refresh(auth: Authenticator, refresh_token: str) -> Any:
    return auth.grant(Credentials("refresh_token", refresh_token=refresh_token))


def test_a_sign_in_ends_after_its_absolute_lifetime(state: AppState) -> None:
    clock = Clock()
    auth = _authenticator(state, clock, max_lifetime=3_600)
    name = unique("life")
    _store_account(state, name)
    issued = _sign_in(auth, name)
    started = clock.now
    for _ in range(5):  # refreshed every 10 minutes, each refresh token is fresh...
        clock.now += 600
        issued = _refresh(auth, issued.refresh_token)
        auth.authenticate(f"Bearer {issued.access_token}")
    # ...but no token of the chain outlives the sign-in by more than the lifetime
    assert clock.now == started + 3_000
    assert issued.expires_in == 600
    for token in (issued.access_token, issued.refresh_token):
        assert jwt.decode(token, options={"verify_signature": False})["exp"] <= started + 3_600
    clock.now += 500
    last = _refresh(auth, issued.refresh_token)
    assert last.expires_in == 100  # capped at the end of the sign-in
    clock.now = started + 3_600
    with pytest.raises(Unauthenticated):
        _refresh(auth, last.refresh_token)
    with pytest.raises(Unauthenticated):
        auth.authenticate(f"Bearer {last.access_token}")
    # signing in again starts a new chain
    again = _sign_in(auth, name)
    assert auth.authenticate(f"Bearer {again.access_token}").subject == name


def test_the_lifetime_is_checked_server_side_too(state: AppState) -> None:
    """A refresh token whose own `exp` is later than the sign-in's end is still refused
    (the family's start time, kept in the database, decides)."""
    clock = Clock()
    short = _authenticator(state, clock, max_lifetime=3_600)
    long = _authenticator(state, clock, max_lifetime=10 * 86_400)
    name = unique("life")
    _store_account(state, name)
    issued = _sign_in(long, name)  # its refresh token lives 4 h (24 x 600 s)
    clock.now += 3_601
    with pytest.raises(Unauthenticated, match="too old"):
        _refresh(short, issued.refresh_token)


def test_a_recreated_account_in_the_same_second_does_not_honour_old_tokens(
    state: AppState,
) -> None:
    """Delete and re-create with the same name at one frozen instant: equal `iat`s, equal
    creation times; only the account's uid tells the two apart."""
    frozen = Clock()
    auth = _authenticator(state, frozen)
    name = unique("again")
    old_id = _store_account(state, name)
    old = _sign_in(auth, name)
    assert auth.authenticate(f"Bearer {old.access_token}").subject == name
    state.store.write(lambda tx: tx.identity.delete_service_account(old_id))
    _store_account(state, name)
    auth.forget(name)
    new = _sign_in(auth, name)
    old_claims = jwt.decode(old.access_token, options={"verify_signature": False})
    new_claims = jwt.decode(new.access_token, options={"verify_signature": False})
    assert old_claims["iat"] == new_claims["iat"]
    assert old_claims["account_id"] != new_claims["account_id"]
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate(f"Bearer {old.access_token}")
    with pytest.raises(Unauthenticated):
        _refresh(auth, old.refresh_token)
    assert auth.authenticate(f"Bearer {new.access_token}").subject == name


def test_other_replicas_honour_a_revocation_within_the_principal_cache_bound(
    state: AppState,
) -> None:
    """Replica A changes the account; replica B had it cached: B refuses the old token once
    its cache entry is `principal_cache_seconds` old, and A at once."""
    clock = Clock()
    monotonic = Clock(0.0)
    replica_a = _authenticator(state, clock, cache_seconds=2.0, monotonic=monotonic)
    replica_b = _authenticator(state, clock, cache_seconds=2.0, monotonic=monotonic)
    name = unique("replica")
    account_id = _store_account(state, name)
    issued = _sign_in(replica_a, name)
    header = f"Bearer {issued.access_token}"
    replica_a.authenticate(header)
    replica_b.authenticate(header)  # B caches the account
    state.store.write(
        lambda tx: tx.identity.update_service_account(
            account_id, now=datetime.now(UTC), by="test", secret_hash=KNOWN_HASH, revoke_tokens=True
        )
    )
    replica_a.forget(name)  # what the identity service does after its write
    with pytest.raises(Unauthenticated):
        replica_a.authenticate(header)
    monotonic.now += 1.9
    assert replica_b.authenticate(header).subject == name  # within the bound
    monotonic.now += 0.1
    with pytest.raises(Unauthenticated):
        replica_b.authenticate(header)
    # a token issued after the change passes on B at once (a newer binding re-reads)
    fresh = _sign_in(replica_a, name)
    assert replica_b.authenticate(f"Bearer {fresh.access_token}").subject == name


@dataclass
class _Chain:
    """The model: which refresh tokens of one sign-in may still be exchanged."""

    tokens: list[str]
    used: set[int]
    revoked: bool = False


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=8))
def test_refresh_exchanges_follow_the_rotation_model(state: AppState, steps: list[int]) -> None:
    """Whatever order refresh tokens of one sign-in are presented in, an exchange succeeds
    iff the token is unused and its family unrevoked; a reuse revokes the family."""
    auth = _authenticator(state, Clock())
    name = unique("model")
    _store_account(state, name)
    chain = _Chain([_sign_in(auth, name).refresh_token], set())
    for step in steps:
        index = min(step, len(chain.tokens) - 1)
        expected_ok = not chain.revoked and index not in chain.used
        try:
            issued = _refresh(auth, chain.tokens[index])
        except Unauthenticated:
            assert not expected_ok
            chain.revoked = True  # every refusal here is a reuse or a revoked family
            continue
        assert expected_ok
        chain.used.add(index)
        chain.tokens.append(issued.refresh_token)


def test_concurrent_exchanges_of_one_refresh_token_let_one_win_and_revoke_the_family(
    state: AppState,
) -> None:
    """However the two exchanges interleave (a row lock on PostgreSQL, the single writer on
    SQLite), one gets a new pair, the other is a reuse, and the reuse revokes the sign-in."""
    auth = _authenticator(state, Clock())
    name = unique("race")
    _store_account(state, name)
    token = _sign_in(auth, name).refresh_token

    def exchange(_: int) -> Any:
        try:
            return _refresh(auth, token)
        except Unauthenticated as exc:
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(exchange, range(2)))
    winners = [o for o in outcomes if not isinstance(o, Unauthenticated)]
    assert len(winners) == 1, outcomes
    with pytest.raises(Unauthenticated):
        _refresh(auth, winners[0].refresh_token)
    with pytest.raises(Unauthenticated):
        auth.authenticate(f"Bearer {winners[0].access_token}")


def test_sign_ins_past_their_lifetime_are_pruned(state: AppState) -> None:
    now = float(int(time.time()))
    long_ago = _authenticator(state, Clock(now - 3 * 86_400), max_lifetime=86_400)
    name = unique("prune")
    _store_account(state, name)
    old = _sign_in(long_ago, name)
    _sign_in(_authenticator(state, Clock(now), max_lifetime=86_400), name)  # prunes
    with pytest.raises(Unauthenticated, match="unknown"):
        _refresh(long_ago, old.refresh_token)
