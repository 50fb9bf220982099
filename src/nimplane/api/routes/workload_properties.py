"""Workload properties, read-only: `/api/v1/workload-types`, `/api/v1/workload-priorities`,
`/api/v1/workload-categories`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from nimplane.api.deps import app_state, as_caller, json_response
from nimplane.api.identity_schemas import (
    WorkloadCategoriesResponse,
    WorkloadPrioritiesResponse,
    WorkloadTypesResponse,
)
from nimplane.api.identity_views import (
    workload_category_view,
    workload_priority_view,
    workload_type_view,
)
from nimplane.api.routes._responses import errors
from nimplane.api.routes.workloads import SortOrder
from nimplane.domain.queries import ListQuery, parse_filter_by
from nimplane.domain.workload_properties import PRIORITY_FIELDS, TYPE_FIELDS

router = APIRouter(tags=["Workload properties"])


def _filter_by(fields: tuple[str, ...]) -> object:
    return Query(
        alias="filterBy",
        description="Filter results by a parameter: `field<op>value` over "
        + ", ".join(fields)
        + " with operators ==, !=, <=, >=, =@, !@, =^, =$; several comma-separated.",
    )


class WorkloadsPrioritiesSort(StrEnum):
    name = "name"
    source = "source"
    value = "value"


@router.get(
    "/api/v1/workload-types",
    operation_id="list_workload_types",
    summary="List workload types.",
    response_model=WorkloadTypesResponse,
    responses=errors(400, 401, 403, 503),
)
async def list_workload_types(
    request: Request,
    external_only: Annotated[
        bool,
        Query(
            alias="externalTypesOnly",
            description="Return only external and user_external sourced workload types.",
        ),
    ] = False,
    filter_by: Annotated[list[str] | None, _filter_by(TYPE_FIELDS)] = None,
) -> Response:
    types = await as_caller(
        request,
        lambda s, p: s.workload_properties.types(
            p,
            external_only=external_only,
            query=ListQuery(filters=parse_filter_by(filter_by, TYPE_FIELDS)),
        ),
        read_only=True,
    )
    return json_response({"types": [workload_type_view(t) for t in types]})


@router.get(
    "/api/v1/workload-priorities",
    operation_id="get_workload_priorities",
    summary="Get workload priorities.",
    response_model=WorkloadPrioritiesResponse,
    responses=errors(400, 401, 403, 500, 503),
)
async def get_workload_priorities(
    request: Request,
    sort_order: Annotated[SortOrder, Query(alias="sortOrder")] = SortOrder.asc,
    sort_by: Annotated[WorkloadsPrioritiesSort | None, Query(alias="sortBy")] = None,
    filter_by: Annotated[list[str] | None, _filter_by(PRIORITY_FIELDS)] = None,
) -> Response:
    priorities = await as_caller(
        request,
        lambda s, p: s.workload_properties.priorities(
            p,
            ListQuery(
                filters=parse_filter_by(filter_by, PRIORITY_FIELDS),
                sort_by=sort_by.value if sort_by else None,
                descending=sort_order is SortOrder.desc,
            ),
        ),
        read_only=True,
    )
    tenant = app_state(request).settings.tenant_id
    return json_response({"priorities": [workload_priority_view(p, tenant) for p in priorities]})


@router.get(
    "/api/v1/workload-categories",
    operation_id="list_categories",
    summary="List workload categories.",
    response_model=WorkloadCategoriesResponse,
    responses=errors(401, 403, 503),
)
async def list_categories(request: Request) -> Response:
    categories = await as_caller(
        request, lambda s, p: s.workload_properties.categories(p), read_only=True
    )
    return json_response({"categories": [workload_category_view(c) for c in categories]})
