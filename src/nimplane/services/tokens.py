"""JWT access tokens with `exp`, `iat`, `iss`, `sub` and a `kid`; anything else is refused."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from nimplane.domain.errors import Unauthenticated

ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    subject_type: str
    expires_at: int
    issued_at: int = 0


class TokenService:
    """Signs and verifies tokens with one HS256 key, named by its `kid`."""

    _CACHE_LIMIT = 10_000

    def __init__(self, key: bytes, *, issuer: str, ttl_seconds: int) -> None:
        self._key = key
        self._verified: dict[tuple[str, str], TokenClaims] = {}
        self.kid = hashlib.sha256(key).hexdigest()[:16]
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds

    def issue(self, subject: str, subject_type: str, *, token_use: str = "access") -> str:
        now = int(time.time())
        ttl = self.ttl_seconds if token_use == "access" else self.ttl_seconds * 24
        payload = {
            "iss": self.issuer,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            "subject_type": subject_type,
            "token_use": token_use,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def verify(self, token: str, *, token_use: str = "access") -> TokenClaims:
        """The claims of a valid token; Unauthenticated with a reason otherwise.

        A token that verified once is remembered until it expires: its signature cannot change,
        so only the expiry needs checking again.
        """
        cached = self._verified.get((token, token_use))
        if cached is not None and cached.expires_at > time.time():
            return cached
        claims = self._verify_signed(token, token_use)
        if len(self._verified) >= self._CACHE_LIMIT:
            self._verified.clear()
        self._verified[(token, token_use)] = claims
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
                options={"require": ["exp", "iat", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthenticated("The token is not valid yet.") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("Issuer is not familiar.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The token is malformed or its signature is invalid.") from exc
        if claims.get("token_use", "access") != token_use:
            raise Unauthenticated(f"This is not an {token_use} token.")
        return TokenClaims(
            subject=str(claims["sub"]),
            subject_type=str(claims.get("subject_type", "service-account")),
            expires_at=int(claims["exp"]),
            issued_at=int(claims["iat"]),
        )
