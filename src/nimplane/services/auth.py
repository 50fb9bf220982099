"""Authentication: credentials -> tokens (Run:ai's grants, D9), and a bearer token -> Principal."""

from __future__ import annotations

import time
from dataclasses import dataclass

from nimplane.domain.errors import Invalid, Unauthenticated
from nimplane.domain.identity import Principal
from nimplane.domain.ports import Store
from nimplane.services.secrets_hashing import DUMMY_HASH, verify_secret
from nimplane.services.tokens import TokenService

SERVICE_ACCOUNT = "service-account"
SUPPORTED_GRANTS = ("app_token", "client_credentials", "refresh_token", "password")


@dataclass(frozen=True)
class Credentials:
    """What a token request carries, whichever endpoint and spelling it came in."""

    grant_type: str | None
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int


class UnsupportedGrant(Invalid):
    """The grant type is unknown or not offered."""


class Authenticator:
    """Checks credentials, issues tokens, and resolves bearer tokens to principals.

    A resolved principal (the subject's account and access rules) is kept for
    `principal_ttl_seconds`, so a hot path does not re-read them on every request;
    `forget()` drops one at once when this process changes it. Other replicas see a change
    within the TTL.
    """

    def __init__(self, store: Store, tokens: TokenService, principal_ttl_seconds: float) -> None:
        self._store = store
        self.tokens = tokens
        self._ttl = principal_ttl_seconds
        self._principals: dict[str, tuple[float, Principal]] = {}

    def grant(self, creds: Credentials) -> TokenGrant:
        """Check the credentials of a token request and issue an access and a refresh token."""
        if creds.grant_type in ("app_token", "client_credentials"):
            if not creds.client_id or not creds.client_secret:
                raise Invalid(f"grant {creds.grant_type} needs a client id and a client secret")
            subject = self._check_service_account(creds.client_id, creds.client_secret)
        elif creds.grant_type == "refresh_token":
            if not creds.refresh_token:
                raise Invalid("grant refresh_token needs a refresh token")
            subject = self.tokens.verify(creds.refresh_token, token_use="refresh").subject
            self.forget(subject)
            self.principal(subject)  # the account must still exist and be enabled
        elif creds.grant_type == "password":
            # Local users arrive with the organisation issue; until then no password is valid.
            if not creds.username or not creds.password:
                raise Invalid("grant password needs a username and a password")
            raise Unauthenticated("Invalid username or password.")
        else:
            raise UnsupportedGrant(
                f"unsupported grant type '{creds.grant_type}'; "
                f"use one of {', '.join(SUPPORTED_GRANTS)}"
            )
        return TokenGrant(
            access_token=self.tokens.issue(subject, SERVICE_ACCOUNT),
            refresh_token=self.tokens.issue(subject, SERVICE_ACCOUNT, token_use="refresh"),
            expires_in=self.tokens.ttl_seconds,
        )

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal behind an `Authorization: Bearer <jwt>` header, or Unauthenticated."""
        if not authorization:
            raise Unauthenticated("Missing Authorization header with a bearer token.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        return self.principal(self.tokens.verify(token.strip()).subject)

    def principal(self, subject: str) -> Principal:
        """The subject's account and access rules; Unauthenticated if it is gone or disabled."""
        now = time.monotonic()
        cached = self._principals.get(subject)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        with self._store.read() as tx:
            account = tx.identity.service_account_by_client_id(subject)
            if account is None or not account.enabled:
                self._principals.pop(subject, None)
                raise Unauthenticated("The token's subject no longer exists or is disabled.")
            rules = tx.identity.access_rules_for(SERVICE_ACCOUNT, account.client_id)
        principal = Principal(subject=subject, subject_type=SERVICE_ACCOUNT, rules=tuple(rules))
        self._principals[subject] = (now, principal)
        return principal

    def forget(self, subject: str) -> None:
        """Drop a cached principal (its account or access rules changed)."""
        self._principals.pop(subject, None)

    def _check_service_account(self, client_id: str, secret: str) -> str:
        with self._store.read() as tx:
            account = tx.identity.service_account_by_client_id(client_id)
        valid = verify_secret(secret, account.secret_hash if account else DUMMY_HASH)
        if account is None or not valid or not account.enabled:
            raise Unauthenticated("Invalid client id or client secret.")
        return account.client_id
