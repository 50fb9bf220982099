"""`SignInGuard` alone, around a fake grant: what counts against an account, and a limited
attempt never reaches the (slow) secret check."""

from __future__ import annotations

import pytest

from nimplane.domain.errors import DomainError, Invalid, Overloaded, RateLimited, Unauthenticated
from nimplane.domain.ratelimit import Rate
from nimplane.services.auth import Credentials, TokenGrant
from nimplane.services.rate_limits import HashingGate
from nimplane.services.sign_in import SignInGuard, SignInLimits, account_key

GRANT = TokenGrant("access", "refresh", 60)


class FakeGrant:
    def __init__(self) -> None:
        self.calls = 0
        self.error: DomainError | None = None

    def __call__(self, _creds: Credentials) -> TokenGrant:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return GRANT


def guard(grant: FakeGrant, *, burst: int = 2, max_keys: int = 100) -> SignInGuard:
    limits = SignInLimits(
        account=Rate(per_minute=1, burst=burst),
        address=Rate(per_minute=1, burst=1_000),
        max_keys=max_keys,
    )
    return SignInGuard(grant, limits, HashingGate(1, 0), lambda: 0.0)


CLIENT = Credentials("client_credentials", client_id="ci", client_secret="s")


def test_a_limited_attempt_never_reaches_the_secret_check() -> None:
    grant = FakeGrant()
    grant.error = Unauthenticated("Invalid client id or client secret.")
    limited = guard(grant)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            limited.grant(CLIENT, "a")
    for _ in range(5):
        with pytest.raises(RateLimited) as refused:
            limited.grant(CLIENT, "a")
        assert refused.value.retry_after == 60
    assert grant.calls == 2


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(Invalid("grant password needs a username and a password"), id="invalid"),
        pytest.param(Overloaded("busy", 1), id="overloaded"),
        pytest.param(None, id="success"),
    ],
)
def test_only_a_wrong_secret_counts_against_the_account(error: DomainError | None) -> None:
    grant = FakeGrant()
    grant.error = error
    limited = guard(grant)
    for _ in range(10):
        if error is None:
            assert limited.grant(CLIENT, "a") is GRANT
        else:
            with pytest.raises(type(error)):
                limited.grant(CLIENT, "a")
    assert len(limited.accounts) == 0


@pytest.mark.parametrize(
    ("creds", "expected"),
    [
        pytest.param(CLIENT, ("client id", "client:ci"), id="client-credentials"),
        pytest.param(
            Credentials("app_token", client_id="ci"), ("client id", "client:ci"), id="app-token"
        ),
        pytest.param(
            Credentials("password", username="u@x"), ("username", "user:u@x"), id="password"
        ),
        pytest.param(Credentials("refresh_token", refresh_token="t"), None, id="refresh"),
        pytest.param(Credentials("password"), None, id="no-name"),
        pytest.param(Credentials("nope", client_id="ci"), None, id="unknown-grant"),
    ],
)
def test_the_account_an_attempt_counts_against(
    creds: Credentials, expected: tuple[str, str] | None
) -> None:
    assert account_key(creds) == expected


def test_a_long_name_is_keyed_by_its_digest() -> None:
    what, key = account_key(Credentials("password", username="u" * 10_000)) or ("", "")
    assert what == "username"
    assert key.startswith("user:sha256:")
    assert len(key) < 100
