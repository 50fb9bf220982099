"""`/api/v1/authorization/access-rules` (create, list, get, delete) and
`/api/v1/authorization/me/access-rules` (the caller's own)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, app_state, as_caller, json_response
from nimplane.api.identity_schemas import (
    INT32_MAX,
    AccessRule,
    AccessRuleById,
    AccessRuleCreationFields,
    AccessRulesResponse,
    MeAccessRulesResponse,
    parse_body,
)
from nimplane.api.identity_views import access_rule_view, me_access_rule_view
from nimplane.api.routes._responses import errors, json_request_body
from nimplane.api.routes.workloads import SortOrder
from nimplane.api.state import AppState
from nimplane.domain.access import RULE_DATE_FIELDS, RULE_FIELDS, ResolvedRule, RuleSelection
from nimplane.domain.errors import ComplianceIssue, Invalid
from nimplane.domain.identity import Principal
from nimplane.domain.queries import ListQuery, parse_date, parse_filter_by, split_items

router = APIRouter(tags=["Access rules"])

PATH = "/api/v1/authorization/access-rules"
AccessRuleId = Path(
    alias="accessRuleId", ge=0, le=INT32_MAX, description="The id of the access rule"
)
AccessRulesSortFilterFields = StrEnum(  # type: ignore[misc]
    "AccessRulesSortFilterFields", {name: name for name in RULE_FIELDS}
)
Limit = Annotated[int, Query(ge=1, le=500, description="The maximum number of entries to return.")]
Offset = Annotated[
    int, Query(ge=0, le=INT32_MAX, description="The offset of the first item returned.")
]
Search = Annotated[str | None, Query(description="Filter results by a free text search.")]


def _page(page: list[ResolvedRule], total: int) -> dict[str, int]:
    return {"totalRecords": total, "displayRecords": len(page)}


@router.post(
    PATH,
    operation_id="create_access_rule",
    summary="Create an access rule.",
    status_code=201,
    response_model=AccessRule,
    responses={201: {"description": "Created"}, **errors(400, 401, 403, 409, 500, 503)},
    openapi_extra=json_request_body("AccessRuleCreationFields"),
)
async def create_access_rule(request: Request) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> ResolvedRule:
        fields = parse_body(AccessRuleCreationFields, body)
        return state.identity.create_access_rule(
            principal,
            subject_type=fields.subjectType.value,
            subject_id=fields.subjectId,
            role_id=fields.roleId,
            scope_type=fields.scopeType.value,
            scope_id=fields.scopeId,
            cluster_id=fields.clusterId,
        )

    created = await as_caller(request, run)
    return json_response(access_rule_view(created, app_state(request).settings.tenant_id), 201)


@router.get(
    PATH,
    operation_id="get_access_rules",
    summary="List the access rules.",
    response_model=AccessRulesResponse,
    responses=errors(400, 401, 403, 500, 503),
)
async def get_access_rules(
    request: Request,
    subject_type: Annotated[
        str | None, Query(alias="subjectType", description="Only rules of this subject type.")
    ] = None,
    subject_id_filter: Annotated[
        str | None,
        Query(
            alias="subjectIdFilter",
            deprecated=True,
            description="Part of the subject id to filter by.",
        ),
    ] = None,
    subject_ids: Annotated[
        list[str] | None,
        Query(alias="subjectIds", description="Only rules of these subjects (comma-separated)."),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    last_updated: Annotated[
        str | None,
        Query(alias="lastUpdated", description="Only rules updated at or after this time."),
    ] = None,
    include_deleted: Annotated[
        bool,
        Query(
            alias="includeDeleted",
            description="Accepted for compatibility: a deleted rule is gone at once.",
        ),
    ] = False,
    cluster_id: Annotated[
        str | None, Query(alias="clusterId", description="Only rules in this cluster.")
    ] = None,
    scope_type: Annotated[
        str | None, Query(alias="scopeType", deprecated=True, description="Only this scope type.")
    ] = None,
    scope_id: Annotated[
        str | None, Query(alias="scopeId", description="Only rules on this scope id.")
    ] = None,
    role_id: Annotated[
        int | None,
        Query(alias="roleId", ge=1, le=INT32_MAX, deprecated=True, description="Only this role."),
    ] = None,
    sort_order: Annotated[SortOrder, Query(alias="sortOrder")] = SortOrder.asc,
    sort_by: Annotated[AccessRulesSortFilterFields | None, Query(alias="sortBy")] = None,
    filter_by: Annotated[
        list[str] | None,
        Query(
            alias="filterBy",
            description="Filter results by a parameter: `field<op>value` over "
            + ", ".join(RULE_FIELDS)
            + " with operators ==, !=, <=, >=, =@, !@, =^, =$; several comma-separated.",
        ),
    ] = None,
    search: Search = None,
) -> Response:
    def run(state: AppState, principal: Principal) -> tuple[list[ResolvedRule], int]:
        since = None
        if last_updated is not None:
            since = parse_date(last_updated)
            if since is None:
                raise Invalid(
                    "Invalid lastUpdated",
                    [ComplianceIssue("lastUpdated", f"'{last_updated}' is not an ISO-8601 date")],
                )
        ids = split_items(subject_ids)
        selection = RuleSelection(
            subject_type=subject_type,
            subject_id_part=subject_id_filter,
            subject_ids=frozenset(ids) if subject_ids is not None else None,
            scope_type=scope_type,
            scope_id=scope_id,
            cluster_id=cluster_id,
            role_id=role_id,
            created_since=since,
        )
        query = ListQuery(
            filters=parse_filter_by(filter_by, RULE_FIELDS, RULE_DATE_FIELDS),
            search=search,
            sort_by=sort_by.value if sort_by else None,
            descending=sort_order is SortOrder.desc,
            offset=offset,
            limit=limit,
        )
        return state.identity.list_access_rules(principal, selection, query)

    page, total = await as_caller(request, run, read_only=True)
    tenant = app_state(request).settings.tenant_id
    return json_response(
        {**_page(page, total), "accessRules": [access_rule_view(r, tenant) for r in page]}
    )


@router.get(
    PATH + "/{accessRuleId}",
    operation_id="get_access_rule",
    summary="Get an access rule.",
    response_model=AccessRuleById,
    responses=errors(400, 401, 403, 404, 500, 503),
)
async def get_access_rule(request: Request, rule_id: int = AccessRuleId) -> Response:
    rule = await as_caller(
        request, lambda s, p: s.identity.get_access_rule(p, str(rule_id)), read_only=True
    )
    tenant = app_state(request).settings.tenant_id
    return json_response(access_rule_view(rule, tenant, with_path=True))


@router.delete(
    PATH + "/{accessRuleId}",
    operation_id="delete_access_rule",
    summary="Delete an access rule.",
    status_code=204,
    responses={204: {"description": "Deleted."}, **errors(400, 401, 403, 404, 500, 503)},
)
async def delete_access_rule(request: Request, rule_id: int = AccessRuleId) -> Response:
    await as_caller(request, lambda s, p: s.identity.delete_access_rule(p, str(rule_id)))
    return Response(status_code=204)


@router.get(
    "/api/v1/authorization/me/access-rules",
    operation_id="get_me_access_rules",
    summary="List the access rules assigned to the requesting user.",
    tags=["Me"],
    response_model=MeAccessRulesResponse,
    responses=errors(400, 401, 500, 503),
)
async def get_me_access_rules(
    request: Request, limit: Limit = 50, offset: Offset = 0, search: Search = None
) -> Response:
    query = ListQuery(search=search, offset=offset, limit=limit)
    page, total = await as_caller(
        request, lambda s, p: s.identity.my_access_rules(p, query), read_only=True
    )
    tenant = app_state(request).settings.tenant_id
    rules = [me_access_rule_view(r, tenant) for r in page]
    return json_response({"accessRules": {**_page(page, total), "accessRules": rules}})
