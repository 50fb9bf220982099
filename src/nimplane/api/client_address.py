"""The address a request came from, as the sign-in limits key it.

The ASGI peer address by default. `X-Forwarded-For` is anyone's to write, so it is read
only when `auth.trust_forwarded_for` says a proxy in front sets it; then its last entry (the
one that proxy appended: the address it saw) is taken, never the client-supplied first ones.
"""

from __future__ import annotations

from starlette.types import Scope

UNKNOWN = "unknown"


def client_address(scope: Scope, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name == b"x-forwarded-for"
        ]
        if forwarded:
            last = ",".join(forwarded).rsplit(",", 1)[-1].strip()
            if last:
                return last
    peer = scope.get("client")
    return str(peer[0]) if peer else UNKNOWN
