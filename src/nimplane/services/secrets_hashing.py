"""Secrets at rest: scrypt hashes with a per-secret salt, verified in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1
_PREFIX = "scrypt"


def hash_secret(secret: str) -> str:
    """A self-describing `scrypt$n$r$p$salt$hash` string; the secret itself is never stored."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encode = base64.b64encode
    return f"{_PREFIX}${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether `secret` matches the stored hash (constant-time comparison)."""
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
        if prefix != _PREFIX:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            secret.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


DUMMY_HASH = hash_secret(base64.b64encode(os.urandom(12)).decode())
"""Verified against when the client id is unknown, so timing does not reveal which ids exist."""
