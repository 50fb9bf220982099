"""`/api/v1/authorization/roles`: the predefined roles, as Run:ai's `RoleV1`."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from nimplane.api.deps import as_caller, json_response
from nimplane.api.identity_schemas import INT32_MAX, RoleV1
from nimplane.api.identity_views import role_view
from nimplane.api.routes._responses import errors

router = APIRouter(tags=["Roles"])


@router.get(
    "/api/v1/authorization/roles",
    operation_id="get_roles_v1",
    summary="Get a list of roles.",
    response_model=list[RoleV1],
    responses=errors(401, 403, 500, 503),
)
async def get_roles_v1(request: Request) -> Response:
    roles = await as_caller(request, lambda s, p: s.identity.roles(p), read_only=True)
    return json_response([role_view(r) for r in roles])


@router.get(
    "/api/v1/authorization/roles/{roleIdPath}",
    operation_id="get_role_v1",
    summary="Get a role by id.",
    response_model=RoleV1,
    responses=errors(400, 401, 403, 404, 500, 503),
)
async def get_role_v1(
    request: Request,
    role_id: int = Path(
        alias="roleIdPath", ge=0, le=INT32_MAX, description="The id of the role to retrieve"
    ),
) -> Response:
    role = await as_caller(request, lambda s, p: s.identity.role(p, role_id), read_only=True)
    return json_response(role_view(role))
