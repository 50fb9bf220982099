"""Brute-force and flood protection of the token endpoints: failed sign-ins per account and all
sign-ins per address are rate-limited (429 with `Retry-After`), and concurrent secret hashing is
bounded (503 with `Retry-After` rather than a queue). Every test runs its own limits over an
injected clock, so nothing here depends on timing or on the rest of the suite."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from nimplane.api.app import create_app
from nimplane.api.client_address import client_address
from nimplane.services.auth import Credentials, TokenGrant
from nimplane.wiring import AppState, sign_in_guard
from tests.support.identity import USERS, store_account, unique

V1 = "/api/v1/token"
V2 = "/api/v2/token"


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Attempt = Callable[[TestClient, str, str], httpx.Response]


def v1_client(client: TestClient, name: str, secret: str) -> httpx.Response:
    body = {"grantType": "client_credentials", "clientId": name, "clientSecret": secret}
    return client.post(V1, json=body)


def v1_app_token(client: TestClient, name: str, secret: str) -> httpx.Response:
    return client.post(V1, json={"grantType": "app_token", "AppId": name, "AppSecret": secret})


def v2_client(client: TestClient, name: str, secret: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": name, "client_secret": secret}
    return client.post(V2, data=form)


def v1_password(client: TestClient, name: str, secret: str) -> httpx.Response:
    return client.post(V1, json={"grantType": "password", "username": name, "password": secret})


def v2_password(client: TestClient, name: str, secret: str) -> httpx.Response:
    form = {"grant_type": "password", "username": name, "password": secret}
    return client.post(V2, data=form)


SERVICE_ACCOUNT_GRANTS = [
    pytest.param(v1_client, id="v1-client-credentials"),
    pytest.param(v1_app_token, id="v1-app-token"),
    pytest.param(v2_client, id="v2-client-credentials"),
]
USER_GRANTS = [
    pytest.param(v1_password, id="v1-password"),
    pytest.param(v2_password, id="v2-password"),
]

LIMITS: dict[str, Any] = {
    "login_burst": 3,
    "login_attempts_per_minute": 6,  # one more failure every 10 s
    "address_burst": 20,
    "address_attempts_per_minute": 60,
    "max_concurrent_hashes": 2,
    "hash_wait_seconds": 0,
}


class Limited:
    """The session's state with its own sign-in limits and clock, served to any address."""

    def __init__(self, state: AppState, **limits: Any) -> None:
        self.clock = Clock()
        auth = state.settings.auth.model_copy(update={**LIMITS, **limits})
        settings = state.settings.model_copy(update={"auth": auth})
        self.guard = sign_in_guard(auth, state.auth, self.clock)
        self.state = dataclasses.replace(state, settings=settings, sign_in=self.guard)
        self.app = create_app(settings, state=self.state)
        self._clients: list[TestClient] = []

    def client(self, address: str = "192.0.2.1") -> TestClient:
        client = TestClient(self.app, client=(address, 40000))
        client.__enter__()
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.__exit__(None, None, None)


@pytest.fixture
def limited(state: AppState) -> Iterator[Limited]:
    made = Limited(state)
    yield made
    made.close()


@pytest.fixture
def account(state: AppState) -> tuple[str, str]:
    made = store_account(state)
    return made.client_id, made.secret


@pytest.fixture
def user(client: TestClient, admin: dict[str, str]) -> tuple[str, str]:
    response = client.post(USERS, json={"email": f"{unique('u')}@example.com"}, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()["username"], response.json()["tempPassword"]


def assert_limited(response: httpx.Response, status: int, names: str) -> int:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == status
    assert names in body["message"]
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    return int(retry_after)


def credentials(request: pytest.FixtureRequest, attempt: Attempt) -> tuple[str, str, str]:
    """(name, right secret, what the limit calls the name) for the grant's kind of account."""
    if attempt in (v1_password, v2_password):
        name, secret = request.getfixturevalue("user")
        return name, secret, "username"
    name, secret = request.getfixturevalue("account")
    return name, secret, "client id"


@pytest.mark.parametrize("attempt", SERVICE_ACCOUNT_GRANTS + USER_GRANTS)
def test_failures_then_429_refusing_even_the_right_secret_until_the_clock_moves(
    limited: Limited, request: pytest.FixtureRequest, attempt: Attempt
) -> None:
    name, secret, what = credentials(request, attempt)
    client = limited.client()
    assert [attempt(client, name, "wrong").status_code for _ in range(3)] == [401] * 3
    retry_after = assert_limited(attempt(client, name, "wrong"), 429, f"this {what}")
    assert retry_after == 10
    # no oracle: while limited, the right secret gets the same answer as a wrong one
    right = attempt(client, name, secret)
    assert assert_limited(right, 429, f"this {what}") == 10
    limited.clock.advance(retry_after - 1)
    assert attempt(client, name, secret).status_code == 429
    limited.clock.advance(1)
    assert attempt(client, name, secret).status_code == 200


@pytest.mark.parametrize("attempt", SERVICE_ACCOUNT_GRANTS + USER_GRANTS)
def test_an_unknown_account_is_limited_exactly_like_a_known_one(
    limited: Limited, request: pytest.FixtureRequest, attempt: Attempt
) -> None:
    name, _secret, _what = credentials(request, attempt)
    client = limited.client()
    answers = []
    for who in (name, unique("nobody")):
        responses = [attempt(client, who, "wrong") for _ in range(4)]
        answers.append([(r.status_code, r.text, r.headers.get("retry-after")) for r in responses])
    assert answers[0] == answers[1]


@pytest.mark.parametrize("attempt", SERVICE_ACCOUNT_GRANTS + USER_GRANTS)
def test_a_limited_account_leaves_other_accounts_alone(
    limited: Limited, state: AppState, request: pytest.FixtureRequest, attempt: Attempt
) -> None:
    name, _secret, _what = credentials(request, attempt)
    other = store_account(state)
    client = limited.client()
    for _ in range(4):
        attempt(client, name, "wrong")
    assert attempt(client, name, "wrong").status_code == 429
    assert v1_client(client, other.client_id, other.secret).status_code == 200
    # and from another address the limited account is still limited: it is the account's
    assert attempt(limited.client("198.51.100.7"), name, "wrong").status_code == 429


def test_successful_sign_ins_never_count_against_the_account(
    limited: Limited, account: tuple[str, str]
) -> None:
    client = limited.client()
    name, secret = account
    assert {v1_client(client, name, secret).status_code for _ in range(10)} == {200}
    assert [v1_client(client, name, "wrong").status_code for _ in range(4)] == [401] * 3 + [429]


@pytest.mark.parametrize(
    "attempt", [pytest.param(v1_client, id="v1"), pytest.param(v2_client, id="v2")]
)
def test_every_attempt_counts_against_the_address_and_only_that_address(
    state: AppState, account: tuple[str, str], attempt: Attempt
) -> None:
    limited = Limited(state, address_burst=5, address_attempts_per_minute=12)
    try:
        name, secret = account
        flooder = limited.client("203.0.113.9")
        statuses = [attempt(flooder, unique("guess"), "x").status_code for _ in range(3)]
        statuses += [attempt(flooder, name, secret).status_code for _ in range(2)]
        assert statuses == [401, 401, 401, 200, 200]
        path = V1 if attempt is v1_client else V2
        labels = {"route": path, "reason": "rate_limited"}
        metric = "nimplane_api_rejected_requests_total"
        counted = state.metrics.registry.get_sample_value(metric, labels) or 0
        assert assert_limited(attempt(flooder, name, secret), 429, "this address") == 5
        assert state.metrics.registry.get_sample_value(metric, labels) == counted + 1
        assert attempt(limited.client("203.0.113.10"), name, secret).status_code == 200
        limited.clock.advance(5)
        assert attempt(flooder, name, secret).status_code == 200
    finally:
        limited.close()


def test_the_hashing_bound_refuses_the_extra_attempt_at_once(
    limited: Limited, account: tuple[str, str]
) -> None:
    """Two sign-ins hold both hashing slots (their grant blocks on an event); a third is
    refused with 503 and `Retry-After` while they are still blocked, not queued behind them."""
    entered = threading.Semaphore(0)
    release = threading.Event()
    real = limited.state.auth.grant

    def blocking(creds: Credentials) -> TokenGrant:
        if creds.grant_type == "refresh_token":
            return real(creds)
        entered.release()
        assert release.wait(timeout=30)
        return real(creds)

    name, secret = account
    client = limited.client()
    refresh_token = v1_client(client, name, secret).json()["refreshToken"]
    limited.guard._grant = blocking
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(v1_client(client, name, secret).status_code))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in threads:
            assert entered.acquire(timeout=30), "the blocked sign-ins never started hashing"
        busy = v2_client(client, name, secret)
        assert assert_limited(busy, 503, "busy") == 1
        assert v1_client(client, name, secret).status_code == 503
        # a refresh grant checks no secret: it does not wait for a hashing slot
        refresh = client.post(
            V1, json={"grantType": "refresh_token", "refreshToken": refresh_token}
        )
        assert refresh.status_code == 200, refresh.text
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=30)
    assert results == [200, 200]
    assert v1_client(client, name, secret).status_code == 200  # the slots came back


@pytest.mark.parametrize(
    ("headers", "trusted", "expected"),
    [
        pytest.param([], False, "10.1.1.1", id="peer"),
        pytest.param([(b"x-forwarded-for", b"1.2.3.4")], False, "10.1.1.1", id="untrusted"),
        pytest.param([(b"x-forwarded-for", b"1.2.3.4")], True, "1.2.3.4", id="trusted"),
        pytest.param([(b"x-forwarded-for", b"6.6.6.6, 1.2.3.4")], True, "1.2.3.4", id="last-entry"),
        pytest.param(
            [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"1.2.3.4")],
            True,
            "1.2.3.4",
            id="last-header",
        ),
        pytest.param([(b"x-forwarded-for", b" ")], True, "10.1.1.1", id="empty"),
    ],
)
def test_the_client_address(
    headers: list[tuple[bytes, bytes]], trusted: bool, expected: str
) -> None:
    scope = {"type": "http", "headers": headers, "client": ("10.1.1.1", 5555)}
    assert client_address(scope, trusted) == expected


def test_no_peer_is_one_address() -> None:
    assert client_address({"type": "http", "headers": []}, False) == "unknown"
