"""The console's session and CSRF tokens: the cookie holding the access token, and the form
token bound to it.

The session cookie holds the access token the sign-in grant issued (HttpOnly, SameSite=Strict,
Secure when the request came over https, expiring with the token): every page authenticates
it exactly as the API authenticates a bearer token, so revocation, expiry and the principal
cache behave the same. The CSRF token of a session is an HMAC of a fixed label keyed by that
access token: a page can only show it to someone holding the cookie, and it needs no server
state (any replica checks it). Before sign-in, the sign-in form is protected by a random
double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "nimplane_session"
SIGN_IN_COOKIE = "nimplane_sign_in"
CSRF_FIELD = "csrf_token"
_CSRF_LABEL = b"nimplane-console-csrf-v1"


def csrf_for(access_token: str) -> str:
    """The CSRF token of the session holding `access_token`."""
    return hmac.new(access_token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_ok(access_token: str, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(csrf_for(access_token), submitted)


def new_sign_in_nonce() -> str:
    return secrets.token_urlsafe(32)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(request: Request, response: Response, access_token: str, expires_in: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        access_token,
        max_age=max(expires_in, 0),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def set_sign_in_nonce(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=3600,
        path="/sign-in",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
