"""Authentication: credentials -> tokens (Run:ai's grants, docs/decisions.md D9), and a bearer
token -> Principal."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from nimplane.domain.access import SERVICE_ACCOUNT, USER
from nimplane.domain.errors import Invalid, Unauthenticated
from nimplane.domain.identity import Principal
from nimplane.domain.ports import Store
from nimplane.services.secrets_hashing import DUMMY_HASH, verify_secret
from nimplane.services.tokens import TokenService

__all__ = ["SERVICE_ACCOUNT", "USER", "Authenticator", "Credentials", "TokenGrant"]

SUPPORTED_GRANTS = ("app_token", "client_credentials", "refresh_token", "password")
SUBJECT_TYPES = (SERVICE_ACCOUNT, USER)


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


@dataclass(frozen=True)
class _Resolved:
    principal: Principal
    created_at: int
    """When the account was created (epoch seconds): older tokens belong to a predecessor."""


def _epoch(moment: datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp())


class Authenticator:
    """Checks credentials, issues tokens, and resolves bearer tokens to principals.

    The subject of a token is a service account's client id or a user's username, told apart
    by the token's `subject_type`. A resolved principal (the account and its access rules) is
    kept for `principal_ttl_seconds`, so a hot path does not re-read them on every request;
    `forget()` drops one at once when this process changes it. Other replicas see a change
    within the TTL. A token issued before its account was created (the account was deleted and
    another one took its name) is refused.
    """

    def __init__(self, store: Store, tokens: TokenService, principal_ttl_seconds: float) -> None:
        self._store = store
        self.tokens = tokens
        self._ttl = principal_ttl_seconds
        self._principals: dict[tuple[str, str], tuple[float, _Resolved]] = {}

    def grant(self, creds: Credentials) -> TokenGrant:
        """Check the credentials of a token request and issue an access and a refresh token."""
        if creds.grant_type in ("app_token", "client_credentials"):
            if not creds.client_id or not creds.client_secret:
                raise Invalid(f"grant {creds.grant_type} needs a client id and a client secret")
            subject = self._check_service_account(creds.client_id, creds.client_secret)
            subject_type = SERVICE_ACCOUNT
        elif creds.grant_type == "password":
            if not creds.username or not creds.password:
                raise Invalid("grant password needs a username and a password")
            subject = self._check_user(creds.username, creds.password)
            subject_type = USER
        elif creds.grant_type == "refresh_token":
            if not creds.refresh_token:
                raise Invalid("grant refresh_token needs a refresh token")
            claims = self.tokens.verify(creds.refresh_token, token_use="refresh")
            subject, subject_type = claims.subject, claims.subject_type
            self.forget(subject)
            # the account must still exist, be enabled, and be the one the token was issued to
            self._principal(subject, subject_type, claims.issued_at)
        else:
            raise UnsupportedGrant(
                f"unsupported grant type '{creds.grant_type}'; "
                f"use one of {', '.join(SUPPORTED_GRANTS)}"
            )
        return TokenGrant(
            access_token=self.tokens.issue(subject, subject_type),
            refresh_token=self.tokens.issue(subject, subject_type, token_use="refresh"),
            expires_in=self.tokens.ttl_seconds,
        )

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal behind an `Authorization: Bearer <jwt>` header, or Unauthenticated."""
        if not authorization:
            raise Unauthenticated("Missing Authorization header with a bearer token.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        claims = self.tokens.verify(token.strip())
        return self._principal(claims.subject, claims.subject_type, claims.issued_at)

    def principal(self, subject: str, subject_type: str = SERVICE_ACCOUNT) -> Principal:
        """The subject's account and access rules; Unauthenticated if it is gone or disabled."""
        return self._resolve(subject, subject_type).principal

    def _principal(self, subject: str, subject_type: str, issued_at: int) -> Principal:
        resolved = self._resolve(subject, subject_type)
        if issued_at < resolved.created_at:
            raise Unauthenticated("The token was issued to an account that no longer exists.")
        return resolved.principal

    def _resolve(self, subject: str, subject_type: str) -> _Resolved:
        key = (subject_type, subject)
        now = time.monotonic()
        cached = self._principals.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        resolved = self._load(subject, subject_type)
        if resolved is None:
            self._principals.pop(key, None)
            raise Unauthenticated("The token's subject no longer exists or is disabled.")
        self._principals[key] = (now, resolved)
        return resolved

    def _load(self, subject: str, subject_type: str) -> _Resolved | None:
        with self._store.read() as tx:
            if subject_type == SERVICE_ACCOUNT:
                account = tx.identity.service_account_by_client_id(subject)
                if account is None or not account.enabled:
                    return None
                created_at = _epoch(account.created_at)
            elif subject_type == USER:
                user = tx.identity.user_by_username(subject)
                if user is None or not user.enabled:
                    return None
                created_at = _epoch(user.created_at)
            else:
                return None
            rules = tx.identity.access_rules_for(subject_type, subject)
        principal = Principal(subject=subject, subject_type=subject_type, rules=tuple(rules))
        return _Resolved(principal, created_at)

    def forget(self, subject: str) -> None:
        """Drop a cached principal (its account or access rules changed), of either kind."""
        for subject_type in SUBJECT_TYPES:
            self._principals.pop((subject_type, subject), None)

    def _check_service_account(self, client_id: str, secret: str) -> str:
        with self._store.read() as tx:
            account = tx.identity.service_account_by_client_id(client_id)
        valid = verify_secret(secret, account.secret_hash if account else DUMMY_HASH)
        if account is None or not valid or not account.enabled:
            raise Unauthenticated("Invalid client id or client secret.")
        return account.client_id

    def _check_user(self, username: str, password: str) -> str:
        with self._store.read() as tx:
            user = tx.identity.user_by_username(username)
        valid = verify_secret(password, user.password_hash if user else DUMMY_HASH)
        if user is None or not valid or not user.enabled:
            raise Unauthenticated("Invalid username or password.")
        return user.username
