"""`/api/v1/service-accounts`: create (the secret shown once), list, get, update, delete, and
regenerate the secret of organisation service accounts."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, app_state, as_caller, json_response
from nimplane.api.identity_schemas import (
    RegenerateServiceAccountSecretResponse,
    ServiceAccount,
    ServiceAccountCreationRequest,
    ServiceAccountPatchRequest,
    ServiceAccountPostResponse,
    parse_body,
)
from nimplane.api.identity_views import service_account_view
from nimplane.api.routes._responses import errors, json_request_body
from nimplane.api.state import AppState
from nimplane.domain.identity import Principal
from nimplane.domain.identity import ServiceAccount as DomainAccount

router = APIRouter(tags=["Service Accounts"])

PATH = "/api/v1/service-accounts"
ServiceAccountId = Path(alias="serviceAccountId", description="Service account id")


@router.get(
    PATH,
    operation_id="get_service_accounts",
    summary="Get a list of service accounts.",
    response_model=list[ServiceAccount],
    responses=errors(401, 403, 500, 503),
)
async def get_service_accounts(request: Request) -> Response:
    accounts = await as_caller(
        request, lambda s, p: s.identity.list_service_accounts(p), read_only=True
    )
    return json_response([service_account_view(a, _tenant(request)) for a in accounts])


@router.post(
    PATH,
    operation_id="create_service_account",
    summary="Create a service account.",
    status_code=201,
    response_model=ServiceAccountPostResponse,
    responses={
        201: {"description": "Created; the client secret is shown only in this response."},
        **errors(400, 401, 403, 409, 500, 503),
    },
    openapi_extra=json_request_body("ServiceAccountCreationRequest"),
)
async def create_service_account(request: Request) -> Response:
    body = await JsonBody.read(request)
    account, secret = await as_caller(
        request,
        lambda s, p: s.identity.create_service_account(
            p, parse_body(ServiceAccountCreationRequest, body).name
        ),
    )
    return json_response(
        {
            "id": account.id,
            "name": account.name,
            "clientId": account.client_id,
            "clientSecret": secret,
        },
        201,
    )


@router.get(
    PATH + "/{serviceAccountId}",
    operation_id="get_service_account_by_id",
    summary="Get service account by id.",
    response_model=ServiceAccount,
    responses=errors(401, 403, 404, 500, 503),
)
async def get_service_account_by_id(
    request: Request, account_id: str = ServiceAccountId
) -> Response:
    account = await as_caller(
        request, lambda s, p: s.identity.get_service_account(p, account_id), read_only=True
    )
    return json_response(service_account_view(account, _tenant(request)))


@router.patch(
    PATH + "/{serviceAccountId}",
    operation_id="update_service_account_by_id",
    summary="Update service account details by id.",
    response_model=ServiceAccount,
    responses=errors(400, 401, 403, 404, 409, 500, 503),
    openapi_extra=json_request_body("ServiceAccountPatchRequest"),
)
async def update_service_account_by_id(
    request: Request, account_id: str = ServiceAccountId
) -> Response:
    body = await JsonBody.read(request)

    def apply(state: AppState, principal: Principal) -> DomainAccount:
        patch = parse_body(ServiceAccountPatchRequest, body)
        return state.identity.update_service_account(
            principal, account_id, name=patch.name, enabled=patch.enabled
        )

    account = await as_caller(request, apply)
    return json_response(service_account_view(account, _tenant(request)))


@router.delete(
    PATH + "/{serviceAccountId}",
    operation_id="delete_service_account_by_id",
    summary="Delete a service account by id.",
    status_code=204,
    responses={204: {"description": "Deleted."}, **errors(401, 403, 404, 500, 503)},
)
async def delete_service_account_by_id(
    request: Request, account_id: str = ServiceAccountId
) -> Response:
    await as_caller(request, lambda s, p: s.identity.delete_service_account(p, account_id))
    return Response(status_code=204)


@router.post(
    PATH + "/{serviceAccountId}/secret",
    operation_id="regenerate_service_account_secret",
    summary="Regenerate a service account secret.",
    response_model=RegenerateServiceAccountSecretResponse,
    responses={
        200: {"description": "Regenerated; the new secret is shown only in this response."},
        **errors(401, 403, 404, 500, 503),
    },
)
async def regenerate_service_account_secret(
    request: Request, account_id: str = ServiceAccountId
) -> Response:
    secret = await as_caller(request, lambda s, p: s.identity.regenerate_secret(p, account_id))
    return json_response({"clientSecret": secret})


def _tenant(request: Request) -> int:
    return app_state(request).settings.tenant_id
