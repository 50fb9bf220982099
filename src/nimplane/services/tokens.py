"""JWTs with `exp`, `iat`, `iss`, `sub` and a `kid`, bound to an account; anything else is refused.

Besides the registered claims a token carries `subject_type`, `token_use` (access or
refresh), `account_id` and `credentials_epoch` (the account binding: its immutable uid and
its token epoch when the token was issued), and `family_id` (the sign-in it descends from).
Expiry and not-before are checked against the injected clock, so tests can move time.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from nimplane.domain.errors import Unauthenticated
from nimplane.domain.identity import AccountBinding
from nimplane.services.lru import LruCache

ALGORITHM = "HS256"
REFRESH_TTL_FACTOR = 24
"""A refresh token lives this many access-token lifetimes (at most: see the family's cap)."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    subject_type: str
    expires_at: int
    issued_at: int = 0
    token_id: str | None = None
    binding: AccountBinding | None = None
    family_id: str | None = None


class TokenService:
    """Signs and verifies tokens with one HS256 key, named by its `kid`."""

    _CACHE_LIMIT = 10_000

    def __init__(
        self,
        key: bytes,
        *,
        issuer: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._verified: LruCache[tuple[str, str], TokenClaims] = LruCache(self._CACHE_LIMIT)
        self.kid = hashlib.sha256(key).hexdigest()[:16]
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        self.refresh_ttl_seconds = ttl_seconds * REFRESH_TTL_FACTOR
        self.clock = clock

    def issue(
        self,
        subject: str,
        subject_type: str,
        binding: AccountBinding,
        *,
        token_use: str = "access",
        family_id: str | None = None,
        token_id: str | None = None,
        not_after: int | None = None,
    ) -> str:
        """A signed token; it expires after its lifetime, or at `not_after` if that is sooner."""
        now = int(self.clock())
        ttl = self.ttl_seconds if token_use == "access" else self.refresh_ttl_seconds
        expires = now + ttl if not_after is None else min(now + ttl, not_after)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": token_id or str(uuid.uuid4()),
            "subject_type": subject_type,
            "token_use": token_use,
            "account_id": binding.uid,
            "credentials_epoch": binding.epoch,
        }
        if family_id is not None:
            payload["family_id"] = family_id
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def verify(self, token: str, *, token_use: str = "access") -> TokenClaims:
        """The claims of a valid token; Unauthenticated with a reason otherwise.

        A token whose signature verified once is remembered until it expires: its signature
        cannot change, so only the expiry needs checking again. (Whether its account still
        honours it is the authenticator's question, asked every time.)
        """
        cached = self._verified.get((token, token_use))
        if cached is not None and cached.expires_at > self.clock():
            return cached
        claims = self._verify_signed(token, token_use)
        self._verified.put((token, token_use), claims)
        return claims

    def _verify_signed(self, token: str, token_use: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.kid:
                raise Unauthenticated("The token was not issued by this server (unknown kid).")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                # the times are checked below, against the injected clock
                options={
                    "require": ["exp", "iat", "iss", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("Issuer is not familiar.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The token is malformed or its signature is invalid.") from exc
        now = self.clock()
        expires_at, issued_at = _seconds(claims["exp"]), _seconds(claims["iat"])
        not_before = _seconds(claims.get("nbf", issued_at))
        if expires_at <= now:
            raise Unauthenticated("The token has expired.")
        if not_before > now or issued_at > now:
            raise Unauthenticated("The token is not valid yet.")
        if claims.get("token_use", "access") != token_use:
            raise Unauthenticated(f"This is not an {token_use} token.")
        return TokenClaims(
            subject=str(claims["sub"]),
            subject_type=str(claims.get("subject_type", "service-account")),
            expires_at=expires_at,
            issued_at=issued_at,
            token_id=_text(claims.get("jti")),
            binding=_binding(claims),
            family_id=_text(claims.get("family_id")),
        )


def _seconds(value: Any) -> int:
    """A NumericDate claim (RFC 7519: a number of seconds), or Unauthenticated."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated("The token is malformed: its times must be numbers of seconds.")
    return int(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _binding(claims: dict[str, Any]) -> AccountBinding | None:
    uid, epoch = claims.get("account_id"), claims.get("credentials_epoch")
    if not isinstance(uid, str) or not uid or type(epoch) is not int:
        return None
    return AccountBinding(uid, epoch)
