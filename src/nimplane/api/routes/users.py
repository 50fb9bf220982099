"""`/api/v1/users`: local users (username + password): create (a temporary password shown
once), list, get, delete, reset a password; `/api/v1/me/password` to change one's own."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, as_caller, json_response
from nimplane.api.identity_schemas import (
    ResetUserPasswordResponse,
    User,
    UserChangePasswordRequest,
    UserCreationRequest,
    UserPostResponse,
    parse_body,
)
from nimplane.api.identity_views import user_view
from nimplane.api.routes._responses import errors, json_request_body
from nimplane.api.routes.workloads import SortOrder
from nimplane.api.state import AppState
from nimplane.domain.access import USER_DATE_FIELDS, USER_FILTER_FIELDS, USER_SORT_FIELDS
from nimplane.domain.identity import Principal
from nimplane.domain.queries import ListQuery, parse_filter_by

router = APIRouter(tags=["Users"])

PATH = "/api/v1/users"
UserId = Path(alias="userId", description="The id of the user")
UsersFilterSortFields = StrEnum(  # type: ignore[misc]
    "UsersFilterSortFields", {name: name for name in USER_SORT_FIELDS}
)


@router.get(
    PATH,
    operation_id="get_users",
    summary="Get users.",
    response_model=list[User],
    responses=errors(400, 401, 403, 500, 503),
)
async def get_users(
    request: Request,
    filter_by: Annotated[
        list[str] | None,
        Query(
            alias="filterBy",
            description="Filter results by a parameter: `field<op>value` over "
            + ", ".join(USER_FILTER_FIELDS)
            + "; several comma-separated.",
        ),
    ] = None,
    sort_by: Annotated[UsersFilterSortFields | None, Query(alias="sortBy")] = None,
    sort_order: Annotated[SortOrder, Query(alias="sortOrder")] = SortOrder.asc,
    offset: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="The offset of the first item returned.")
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=500, description="The maximum number of entries to return.")
    ] = 500,
    search: Annotated[
        str | None, Query(description="Filter results by a free text search.")
    ] = None,
) -> Response:
    def run(state: AppState, principal: Principal) -> list[object]:
        query = ListQuery(
            filters=parse_filter_by(filter_by, USER_FILTER_FIELDS, USER_DATE_FIELDS),
            search=search,
            sort_by=sort_by.value if sort_by else None,
            descending=sort_order is SortOrder.desc,
            offset=offset,
            limit=limit,
        )
        page, _ = state.identity.list_users(principal, query)
        return [user_view(u) for u in page]

    return json_response(await as_caller(request, run, read_only=True))


@router.post(
    PATH,
    operation_id="create_user",
    summary="Create a local user.",
    status_code=201,
    response_model=UserPostResponse,
    responses={
        201: {"description": "Created; the temporary password is shown only in this response."},
        **errors(400, 401, 403, 409, 500, 503),
    },
    openapi_extra=json_request_body("UserCreationRequest"),
)
async def create_user(request: Request) -> Response:
    body = await JsonBody.read(request)
    user, password = await as_caller(
        request,
        lambda s, p: s.identity.create_user(p, parse_body(UserCreationRequest, body).email),
    )
    return json_response({"id": user.id, "username": user.username, "tempPassword": password}, 201)


@router.get(
    PATH + "/{userId}",
    operation_id="get_user_by_id",
    summary="Get a user by id.",
    response_model=User,
    responses=errors(401, 403, 404, 500, 503),
)
async def get_user_by_id(request: Request, user_id: str = UserId) -> Response:
    user = await as_caller(request, lambda s, p: s.identity.get_user(p, user_id), read_only=True)
    return json_response(user_view(user))


@router.delete(
    PATH + "/{userId}",
    operation_id="delete_user_by_id",
    summary="Delete a user by id.",
    status_code=204,
    responses={204: {"description": "Deleted."}, **errors(401, 403, 404, 500, 503)},
)
async def delete_user_by_id(request: Request, user_id: str = UserId) -> Response:
    await as_caller(request, lambda s, p: s.identity.delete_user(p, user_id))
    return Response(status_code=204)


@router.post(
    PATH + "/{userId}/password",
    operation_id="reset_user_password",
    summary="Reset a user's password.",
    response_model=ResetUserPasswordResponse,
    responses={
        200: {"description": "Reset; the temporary password is shown only in this response."},
        **errors(401, 403, 404, 500, 503),
    },
)
async def reset_user_password(request: Request, user_id: str = UserId) -> Response:
    password = await as_caller(request, lambda s, p: s.identity.reset_password(p, user_id))
    return json_response({"tempPassword": password})


@router.post(
    "/api/v1/me/password",
    operation_id="change_user_password",
    summary="Change the calling user's password.",
    responses={
        200: {"description": "Password changed."},
        **errors(400, 401, 404, 409, 500, 503),
    },
    openapi_extra=json_request_body("UserChangePasswordRequest"),
)
async def change_user_password(request: Request) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> None:
        change = parse_body(UserChangePasswordRequest, body)
        state.identity.change_own_password(principal, change.currentPassword, change.newPassword)

    await as_caller(request, run)
    return json_response({})
