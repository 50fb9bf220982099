"""`/api/v1/token` (JSON) and `/api/v2/token` (OAuth2 form): Run:ai's token grants
(docs/decisions.md D9)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nimplane.api.client_address import client_address
from nimplane.api.deps import JsonBody, app_state, json_response, read_form
from nimplane.api.routes._responses import errors, json_request_body
from nimplane.api.schemas import OAuth2Error, OAuth2TokenResponse, TokenResponse
from nimplane.domain.errors import Invalid, Unauthenticated
from nimplane.services.auth import Credentials, TokenGrant, UnsupportedGrant

router = APIRouter(tags=["Tokens"])


def _first(body: dict[str, Any], *names: str) -> str | None:
    """The first of several spellings that the body carries as a string."""
    for name in names:
        value = body.get(name)
        if isinstance(value, str):
            return value
    return None


@router.post(
    "/api/v1/token",
    operation_id="grant_token",
    summary="Create an access token v1",
    response_model=TokenResponse,
    responses=errors(400, 401, 429, 500, 503),
    openapi_extra=json_request_body("TokenRequest"),
)
async def grant_token_v1(request: Request) -> Response:
    body = (await JsonBody.read(request)).parse()
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    grant = _first(body, "grantType")
    if grant == "app_token":
        client_id = _first(body, "AppId", "appID", "appId", "AppID")
        secret = _first(body, "AppSecret", "appSecret")
    else:
        client_id = _first(body, "clientID", "clientId")
        secret = _first(body, "clientSecret")
    creds = Credentials(
        grant_type=grant,
        client_id=client_id,
        client_secret=secret,
        username=_first(body, "username"),
        password=_first(body, "password"),
        refresh_token=_first(body, "refreshToken"),
    )
    issued = await _grant(request, creds)
    return json_response(
        {
            "accessToken": issued.access_token,
            "refreshToken": issued.refresh_token,
            "expiresIn": issued.expires_in,
        }
    )


async def _grant(request: Request, creds: Credentials) -> TokenGrant:
    """The grant, within the sign-in limits (`services/sign_in.py`: 429 and 503 pass through
    the error table as `{code, message}` with `Retry-After`, on both endpoints)."""
    state = app_state(request)
    peer = client_address(request.scope, state.settings.auth.trust_forwarded_for)
    return await run_in_threadpool(state.sign_in.grant, creds, peer)


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response(
        orjson.dumps({"error": error, "error_description": description}),
        status_code=status,
        media_type="application/json",
    )


@router.post(
    "/api/v2/token",
    operation_id="grant_token_v2",
    summary="Create an access token v2",
    response_model=OAuth2TokenResponse,
    responses={400: {"model": OAuth2Error}, 401: {"model": OAuth2Error}, **errors(429, 500, 503)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {
                                "type": "string",
                                "enum": [
                                    "authorization_code",
                                    "client_credentials",
                                    "password",
                                    "refresh_token",
                                ],
                            },
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string", "format": "password"},
                            "username": {"type": "string"},
                            "password": {"type": "string", "format": "password"},
                            "refresh_token": {"type": "string"},
                            "code": {"type": "string"},
                            "redirect_uri": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def grant_token_v2(request: Request) -> Response:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return _oauth_error(
            400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded"
        )
    try:
        form = await read_form(request)
    except Invalid as exc:
        return _oauth_error(400, "invalid_request", exc.message)
    if "grant_type" not in form:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    creds = Credentials(
        grant_type=form["grant_type"],
        client_id=form.get("client_id"),
        client_secret=form.get("client_secret"),
        username=form.get("username"),
        password=form.get("password"),
        refresh_token=form.get("refresh_token"),
    )
    try:
        issued = await _grant(request, creds)
    except UnsupportedGrant as exc:
        return _oauth_error(400, "unsupported_grant_type", exc.message)
    except Invalid as exc:
        return _oauth_error(400, "invalid_request", exc.message)
    except Unauthenticated as exc:
        # RFC 6749 5.2: bad client credentials are `invalid_client`; a bad password or
        # refresh token (the grant itself) is `invalid_grant`
        kind = "invalid_grant" if creds.grant_type in ("password", "refresh_token") else None
        return _oauth_error(401, kind or "invalid_client", exc.message)
    return json_response(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": issued.refresh_token,
        }
    )
