"""Authentication: credentials -> tokens (Run:ai's grants, docs/decisions.md D9), refresh
token rotation, and a bearer token -> Principal."""

from __future__ import annotations

import enum
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nimplane.domain.access import SERVICE_ACCOUNT, USER
from nimplane.domain.errors import Invalid, Unauthenticated
from nimplane.domain.identity import AccountBinding, Principal, RefreshRecord
from nimplane.domain.ports import Store, Transaction
from nimplane.services.lru import LruCache
from nimplane.services.secrets_hashing import DUMMY_HASH, verify_secret
from nimplane.services.tokens import TokenClaims, TokenService

__all__ = ["SERVICE_ACCOUNT", "USER", "Authenticator", "Credentials", "TokenGrant"]

SUPPORTED_GRANTS = ("app_token", "client_credentials", "refresh_token", "password")
SUBJECT_TYPES = (SERVICE_ACCOUNT, USER)
REVOKED = "The token was revoked (its account changed or is gone); sign in again."
REFRESH_REUSED = (
    "The refresh token was already used: every token of its sign-in is revoked; sign in again."
)
PRUNE_EVERY_SECONDS = 60.0
"""How often (at most) a sign-in also removes the token families past their lifetime."""


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
    binding: AccountBinding
    """The account's uid and token epoch as read: a token must carry exactly these."""


@dataclass(frozen=True)
class _SignedIn:
    """A checked account that tokens are about to be issued to."""

    subject: str
    subject_type: str
    binding: AccountBinding


class _Refused(enum.Enum):
    unknown = "The refresh token is unknown to this server; sign in again."
    reused = REFRESH_REUSED
    revoked = "The refresh token's sign-in was revoked; sign in again."
    too_old = "The sign-in this refresh token descends from is too old; sign in again."
    account = REVOKED


@dataclass(frozen=True)
class _Rotated:
    family_id: str
    token_id: str
    started_at: datetime


def _end_of(started_at: datetime, lifetime_seconds: int) -> int:
    """The last instant (epoch seconds, rounded up) a token of a family started then may live."""
    return math.ceil(started_at.timestamp() + lifetime_seconds)


class Authenticator:
    """Checks credentials, issues and rotates tokens, and resolves bearer tokens to principals.

    A token is bound to its account (`AccountBinding`: the immutable uid and the token epoch,
    which every credential change, disable and delete moves on), so it passes only while the
    account is the one it was issued to and nothing revoked it since. A sign-in starts a token
    family, tracked in the database: each refresh exchanges its refresh token (used once) for
    a new pair of the same family; presenting a used one revokes the family, its refresh
    tokens and the access tokens they minted. No token of a family outlives its sign-in by
    more than `refresh_max_lifetime_seconds`.

    A resolved principal (the account, its binding and access rules) and a family's revocation
    are kept for `principal_ttl_seconds`, so a hot path does not re-read them on every request;
    `forget()` drops a principal at once when this process changes it. Other replicas see a
    change within the TTL.
    """

    _CACHE_LIMIT = 10_000

    def __init__(
        self,
        store: Store,
        tokens: TokenService,
        principal_ttl_seconds: float,
        *,
        refresh_max_lifetime_seconds: int = 86_400,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.tokens = tokens
        self._ttl = principal_ttl_seconds
        self._max_lifetime = refresh_max_lifetime_seconds
        self._monotonic = monotonic
        self._principals: LruCache[tuple[str, str], tuple[float, _Resolved]] = LruCache(
            self._CACHE_LIMIT
        )
        self._families: LruCache[str, tuple[float, bool]] = LruCache(self._CACHE_LIMIT)
        self._pruned_at: float | None = None

    # --- grants -------------------------------------------------------------------------------

    def grant(self, creds: Credentials) -> TokenGrant:
        """Check the credentials of a token request and issue an access and a refresh token."""
        if creds.grant_type in ("app_token", "client_credentials"):
            if not creds.client_id or not creds.client_secret:
                raise Invalid(f"grant {creds.grant_type} needs a client id and a client secret")
            return self._sign_in(self._check_service_account(creds.client_id, creds.client_secret))
        if creds.grant_type == "password":
            if not creds.username or not creds.password:
                raise Invalid("grant password needs a username and a password")
            return self._sign_in(self._check_user(creds.username, creds.password))
        if creds.grant_type == "refresh_token":
            if not creds.refresh_token:
                raise Invalid("grant refresh_token needs a refresh token")
            return self._refresh(creds.refresh_token)
        raise UnsupportedGrant(
            f"unsupported grant type '{creds.grant_type}'; use one of {', '.join(SUPPORTED_GRANTS)}"
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.tokens.clock(), UTC)

    def _sign_in(self, account: _SignedIn) -> TokenGrant:
        """A new token family for a checked account, and its first pair of tokens."""
        now = self._now()
        family_id, token_id = str(uuid.uuid4()), str(uuid.uuid4())
        prune = self._prune_due()

        def start(tx: Transaction) -> None:
            if prune:
                tx.tokens.prune_families(now - timedelta(seconds=self._max_lifetime))
            tx.tokens.start_family(
                family_id, account.subject_type, account.binding.uid, token_id, now
            )

        self._store.write(start)
        return self._pair(account, _Rotated(family_id, token_id, now))

    def _prune_due(self) -> bool:
        now = self._monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return False
        self._pruned_at = now
        return True

    def _pair(self, account: _SignedIn, rotated: _Rotated) -> TokenGrant:
        end = _end_of(rotated.started_at, self._max_lifetime)
        access = self.tokens.issue(
            account.subject,
            account.subject_type,
            account.binding,
            family_id=rotated.family_id,
            not_after=end,
        )
        refresh = self.tokens.issue(
            account.subject,
            account.subject_type,
            account.binding,
            token_use="refresh",
            family_id=rotated.family_id,
            token_id=rotated.token_id,
            not_after=end,
        )
        expires_in = min(self.tokens.ttl_seconds, end - int(self.tokens.clock()))
        return TokenGrant(access_token=access, refresh_token=refresh, expires_in=expires_in)

    def _refresh(self, token: str) -> TokenGrant:
        """Exchange a refresh token, once, for a new pair of its family (rotation)."""
        claims = self.tokens.verify(token, token_use="refresh")
        if claims.token_id is None or claims.family_id is None or claims.binding is None:
            raise Unauthenticated(_Refused.unknown.value)
        account = _SignedIn(claims.subject, claims.subject_type, claims.binding)
        now = self._now()
        new_token_id = str(uuid.uuid4())

        def rotate(tx: Transaction) -> _Rotated | _Refused:
            record = tx.tokens.refresh_token(claims.token_id or "")
            refused = self._refusal(tx, record, claims, now)
            if refused is not None:
                return refused
            assert record is not None
            if not tx.tokens.use_refresh_token(record.token_id, now):
                tx.tokens.revoke_family(record.family_id, now)  # a concurrent exchange won
                return _Refused.reused
            tx.tokens.add_refresh_token(new_token_id, record.family_id, now)
            return _Rotated(record.family_id, new_token_id, record.family_started_at)

        outcome = self._store.write(rotate)
        if isinstance(outcome, _Refused):
            if outcome is _Refused.reused:
                self._families.pop(claims.family_id)
            raise Unauthenticated(outcome.value)
        return self._pair(account, outcome)

    def _refusal(
        self,
        tx: Transaction,
        record: RefreshRecord | None,
        claims: TokenClaims,
        now: datetime,
    ) -> _Refused | None:
        """Why a refresh token may not be exchanged (a reuse revokes its family), or None."""
        if record is None or record.family_id != claims.family_id:
            return _Refused.unknown
        if record.family_revoked_at is not None:
            return _Refused.revoked
        if record.used_at is not None:
            tx.tokens.revoke_family(record.family_id, now)
            return _Refused.reused
        if now >= record.family_started_at + timedelta(seconds=self._max_lifetime):
            return _Refused.too_old
        binding = _current_binding(tx, claims.subject, claims.subject_type)
        if binding is None or binding != claims.binding or record.account_uid != binding.uid:
            return _Refused.account
        return None

    # --- bearer tokens ------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal behind an `Authorization: Bearer <jwt>` header, or Unauthenticated."""
        if not authorization:
            raise Unauthenticated("Missing Authorization header with a bearer token.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        claims = self.tokens.verify(token.strip())
        if claims.binding is None:
            raise Unauthenticated("The token is not bound to an account; sign in again.")
        principal = self._principal(claims.subject, claims.subject_type, claims.binding)
        if claims.family_id is not None and self._family_revoked(claims.family_id):
            raise Unauthenticated("The token's sign-in was revoked; sign in again.")
        return principal

    def _principal(self, subject: str, subject_type: str, binding: AccountBinding) -> Principal:
        resolved = self._resolve(subject, subject_type)
        if resolved.binding != binding:
            # the cache may predate a change made elsewhere (a newer token): read once more
            self._principals.pop((subject_type, subject))
            resolved = self._resolve(subject, subject_type)
            if resolved.binding != binding:
                raise Unauthenticated(REVOKED)
        return resolved.principal

    def _resolve(self, subject: str, subject_type: str) -> _Resolved:
        key = (subject_type, subject)
        now = self._monotonic()
        cached = self._principals.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        resolved = self._load(subject, subject_type)
        if resolved is None:
            self._principals.pop(key)
            raise Unauthenticated("The token's subject no longer exists or is disabled.")
        self._principals.put(key, (now, resolved))
        return resolved

    def _load(self, subject: str, subject_type: str) -> _Resolved | None:
        with self._store.read() as tx:
            binding = _current_binding(tx, subject, subject_type)
            if binding is None:
                return None
            rules = tx.identity.access_rules_for(subject_type, subject)
        principal = Principal(subject=subject, subject_type=subject_type, rules=tuple(rules))
        return _Resolved(principal, binding)

    def _family_revoked(self, family_id: str) -> bool:
        now = self._monotonic()
        cached = self._families.get(family_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        with self._store.read() as tx:
            revoked = tx.tokens.family_revoked(family_id)
        self._families.put(family_id, (now, revoked))
        return revoked

    def forget(self, subject: str) -> None:
        """Drop a cached principal (its account or access rules changed), of either kind."""
        for subject_type in SUBJECT_TYPES:
            self._principals.pop((subject_type, subject))

    # --- credentials --------------------------------------------------------------------------

    def _check_service_account(self, client_id: str, secret: str) -> _SignedIn:
        with self._store.read() as tx:
            account = tx.identity.service_account_by_client_id(client_id)
        valid = verify_secret(secret, account.secret_hash if account else DUMMY_HASH)
        if account is None or not valid or not account.enabled:
            raise Unauthenticated("Invalid client id or client secret.")
        # the epoch read with the hash that matched: a secret changed meanwhile ends the token
        binding = AccountBinding(account.uid, account.token_epoch)
        return _SignedIn(account.client_id, SERVICE_ACCOUNT, binding)

    def _check_user(self, username: str, password: str) -> _SignedIn:
        with self._store.read() as tx:
            user = tx.identity.user_by_username(username)
        valid = verify_secret(password, user.password_hash if user else DUMMY_HASH)
        if user is None or not valid or not user.enabled:
            raise Unauthenticated("Invalid username or password.")
        return _SignedIn(user.username, USER, AccountBinding(user.uid, user.token_epoch))


def _current_binding(tx: Transaction, subject: str, subject_type: str) -> AccountBinding | None:
    """The binding of the enabled account a subject names now; None if it is gone or disabled."""
    if subject_type == SERVICE_ACCOUNT:
        account = tx.identity.service_account_by_client_id(subject)
        if account is None or not account.enabled:
            return None
        return AccountBinding(account.uid, account.token_epoch)
    if subject_type == USER:
        user = tx.identity.user_by_username(subject)
        if user is None or not user.enabled:
            return None
        return AccountBinding(user.uid, user.token_epoch)
    return None
