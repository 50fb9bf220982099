"""Generic workload endpoints: v2 delete, and the v1 list, count, get (Run:ai's `Workload`),
events and history."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from nimplane.api.deps import app_state, as_caller, json_response, parse_if_match
from nimplane.api.routes._responses import errors
from nimplane.api.schemas import (
    WorkloadDetailed,
    WorkloadEventsResponse,
    WorkloadHistoryResponse,
    WorkloadPodsResponse,
    WorkloadsCountResponse,
    WorkloadsListResponse,
    WorkloadV2,
)
from nimplane.api.views import (
    event_view,
    history_record_view,
    pod_view,
    workload_v1_view,
    workload_v2_view,
)
from nimplane.domain.queries import DEFAULT_LIMIT, MAX_LIMIT, WorkloadQuery, parse_filter_by
from nimplane.domain.workloads import WORKLOAD_FIELDS
from nimplane.services.workloads import utc_now

router = APIRouter()

WorkloadsSortBy = StrEnum("WorkloadsSortBy", {name: name for name in WORKLOAD_FIELDS})  # type: ignore[misc]


class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"


Deleted = Annotated[bool | None, Query(description="Return only deleted resources when true.")]
FilterBy = Annotated[
    list[str] | None,
    Query(
        alias="filterBy",
        description="Filter results by a parameter: `field<op>value` with operators ==, !=, <=, "
        ">=, =@ (contains), !@, =^ (starts with), =$ (ends with); several comma-separated.",
    ),
]
Search = Annotated[str | None, Query(description="Filter results by a free text search.")]


def _query(
    deleted: bool | None,
    filter_by: list[str] | None,
    search: str | None,
    *,
    sort_by: str = "createdAt",
    descending: bool = False,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
) -> WorkloadQuery:
    """The list request, with the instant its time-based fields are computed at (the view
    shows them at the same one)."""
    return WorkloadQuery(
        filters=parse_filter_by(filter_by, WORKLOAD_FIELDS),
        search=search,
        deleted=bool(deleted),
        sort_by=sort_by,
        descending=descending,
        offset=offset,
        limit=limit,
        now=utc_now(),
    )


def _page(key: str, items: list[Any], offset: int, total: int) -> Response:
    """A page of `items` under `key`, with `next` when more follow (Run:ai's paging)."""
    payload: dict[str, object] = {key: items}
    if offset + len(items) < total:
        payload["next"] = offset + len(items)
    return json_response(payload)


@router.delete(
    "/api/v2/workloads/{WorkloadV2Id}",
    operation_id="delete_workload_v2",
    summary="Delete a workload. [Experimental]",
    tags=["Workloads V2"],
    status_code=202,
    response_model=WorkloadV2,
    responses={
        202: {"description": "Deletion request accepted."},
        **errors(401, 403, 404, 409, 500, 503),
    },
)
async def delete_workload_v2(
    request: Request,
    workload_id: str = Path(alias="WorkloadV2Id", description="The ID of the workload."),
) -> Response:
    if_match = parse_if_match(request)
    w = await as_caller(request, lambda s, p: s.workloads.delete(p, workload_id, if_match))
    return json_response(workload_v2_view(w), 202, version=w.resource_version)


@router.get(
    "/api/v1/workloads",
    operation_id="get_workloads",
    summary="List workloads.",
    tags=["Workloads"],
    response_model=WorkloadsListResponse,
    responses=errors(400, 401, 403, 500, 503),
)
async def get_workloads(
    request: Request,
    deleted: Deleted = None,
    offset: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="The offset of the first item returned.")
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="The maximum number of entries to return.")
    ] = DEFAULT_LIMIT,
    sort_order: Annotated[SortOrder, Query(alias="sortOrder")] = SortOrder.asc,
    sort_by: Annotated[WorkloadsSortBy | None, Query(alias="sortBy")] = None,
    filter_by: FilterBy = None,
    search: Search = None,
) -> Response:
    query = _query(
        deleted,
        filter_by,
        search,
        sort_by=sort_by.value if sort_by else "createdAt",
        descending=sort_order is SortOrder.desc,
        offset=offset,
        limit=limit,
    )
    page, more = await as_caller(request, lambda s, p: s.workloads.list(p, query), read_only=True)
    payload: dict[str, object] = {"workloads": [workload_v1_view(w, query.now) for w in page]}
    if more:
        payload["next"] = offset + len(page)
    return json_response(payload)


@router.get(
    "/api/v1/workloads/count",
    operation_id="count_workloads",
    summary="Count workloads.",
    tags=["Workloads"],
    response_model=WorkloadsCountResponse,
    responses=errors(400, 401, 403, 500, 503),
)
async def count_workloads(
    request: Request,
    deleted: Deleted = None,
    filter_by: FilterBy = None,
    search: Search = None,
) -> Response:
    query = _query(deleted, filter_by, search, limit=0)
    total = await as_caller(request, lambda s, p: s.workloads.count(p, query), read_only=True)
    return json_response({"count": total})


@router.get(
    "/api/v1/workloads/{workloadId}",
    operation_id="get_workload",
    summary="Get a workload.",
    tags=["Workloads"],
    response_model=WorkloadDetailed,
    responses=errors(401, 403, 404, 500, 503),
)
async def get_workload(
    request: Request,
    workload_id: str = Path(alias="workloadId", description="The ID of the workload."),
) -> Response:
    w = await as_caller(request, lambda s, p: s.workloads.get(p, workload_id), read_only=True)
    return json_response(workload_v1_view(w, utc_now(), detailed=True), version=w.resource_version)


@router.get(
    "/api/v1/workloads/{workloadId}/events",
    operation_id="get_workload_events",
    summary="Get workload events.",
    tags=["Workloads"],
    response_model=WorkloadEventsResponse,
    responses=errors(400, 401, 403, 404, 500, 503),
)
async def get_workload_events(
    request: Request,
    workload_id: str = Path(alias="workloadId", description="The ID of the workload."),
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    sort_order: Annotated[SortOrder, Query(alias="sortOrder")] = SortOrder.desc,
) -> Response:
    newest_first = sort_order is SortOrder.desc
    workload, events, total = await as_caller(
        request,
        lambda s, p: s.workloads.events(p, workload_id, offset, limit, newest_first),
        read_only=True,
    )
    cluster_id = app_state(request).cluster_id
    return _page("events", [event_view(e, cluster_id, workload) for e in events], offset, total)


@router.get(
    "/api/v1/workloads/{workloadId}/history",
    operation_id="get_workload_history",
    summary="Get the workload history.",
    description="The workload's phase updates and events, oldest first.",
    tags=["Events"],
    response_model=WorkloadHistoryResponse,
    responses=errors(400, 401, 403, 404, 500, 503),
)
async def get_workload_history(
    request: Request,
    workload_id: str = Path(alias="workloadId", description="The ID of the workload."),
    offset: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="The offset of the first item returned.")
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="The maximum number of entries to return.")
    ] = DEFAULT_LIMIT,
) -> Response:
    workload, records, total = await as_caller(
        request,
        lambda s, p: s.workloads.history(p, workload_id, offset, limit),
        read_only=True,
    )
    cluster_id = app_state(request).cluster_id
    shown = [history_record_view(r, cluster_id, workload) for r in records]
    return _page("records", shown, offset, total)


@router.get(
    "/api/v1/workloads/{workloadId}/pods",
    operation_id="get_workload_pods",
    summary="Get the workload's pods.",
    description="Each pod of the workload: its node, the GPUs or fraction it holds, its phase, "
    "readiness and restarts.",
    tags=["Workloads"],
    response_model=WorkloadPodsResponse,
    responses=errors(400, 401, 403, 404, 500, 503),
)
async def get_workload_pods(
    request: Request,
    workload_id: str = Path(alias="workloadId", description="The ID of the workload."),
) -> Response:
    workload, pods = await as_caller(
        request, lambda s, p: s.workloads.pods(p, workload_id), read_only=True
    )
    gangs = (workload.status.placement or {}).get("gangs", [])
    pools = {str(doc["node"]): str(gang["nodePool"]) for gang in gangs for doc in gang["pods"]}
    shown = [pod_view(pod, workload, pools.get(pod.node or "")) for pod in pods]
    return json_response({"pods": shown})
