"""`/api/v1/clusters`: the cluster and its nodes with their GPUs, read-only, as the cluster
backend reports them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from nimplane.api.deps import as_caller, json_response
from nimplane.api.org_schemas import DisplayedCluster, NodeFilterSortFields, Nodes, QueryVerbosity
from nimplane.api.org_views import cluster_view, node_view
from nimplane.api.routes._responses import errors
from nimplane.api.routes.org_units import Limit, Offset, Order
from nimplane.api.routes.workloads import FilterBy, Search, SortOrder
from nimplane.api.state import AppState
from nimplane.domain.identity import Principal
from nimplane.domain.org import NODE_FIELDS
from nimplane.domain.queries import DEFAULT_LIMIT, ListQuery, parse_filter_by
from nimplane.domain.queries import Filter as ListFilter
from nimplane.services.workloads import utc_now

router = APIRouter()

ClusterUuid = Path(
    alias="clusterUuid", description="The Universally Unique Identifier (UUID) of the cluster."
)
Verbosity = Annotated[
    QueryVerbosity,
    Query(description="`metadata`: only the uuid, tenant, name and creation time."),
]


@router.get(
    "/api/v1/clusters",
    operation_id="get_clusters",
    summary="Get a list of clusters.",
    tags=["Clusters"],
    response_model=list[DisplayedCluster],
    responses={200: {"description": "Executed successfully."}, **errors(400, 401, 403, 500, 503)},
)
async def get_clusters(
    request: Request,
    verbosity: Verbosity = QueryVerbosity.full,
    include_requested_for_delete: Annotated[
        bool | None,
        Query(
            alias="includeRequestedForDelete",
            description="Accepted for compatibility: no cluster is ever marked for deletion.",
        ),
    ] = None,
) -> Response:
    found = await as_caller(request, lambda s, p: s.org.list_clusters(p), read_only=True)
    now = utc_now()
    brief = verbosity is QueryVerbosity.metadata
    return json_response([cluster_view(c, now, metadata_only=brief) for c in found])


@router.get(
    "/api/v1/clusters/{clusterUuid}",
    operation_id="get_cluster_by_uuid",
    summary="Get cluster by id.",
    tags=["Clusters"],
    response_model=DisplayedCluster,
    responses={
        200: {"description": "Executed successfully."},
        **errors(400, 401, 403, 404, 500, 503),
    },
)
async def get_cluster_by_uuid(
    request: Request, cluster_id: str = ClusterUuid, verbosity: Verbosity = QueryVerbosity.full
) -> Response:
    cluster = await as_caller(
        request, lambda s, p: s.org.get_cluster(p, cluster_id), read_only=True
    )
    brief = verbosity is QueryVerbosity.metadata
    return json_response(cluster_view(cluster, utc_now(), metadata_only=brief))


@router.get(
    "/api/v1/clusters/{clusterUuid}/nodes",
    operation_id="get_nodes",
    summary="Get a list of nodes.",
    tags=["Nodes"],
    response_model=Nodes,
    responses={
        200: {"description": "Executed successfully."},
        **errors(400, 401, 403, 404, 500, 503),
    },
)
async def get_nodes(
    request: Request,
    cluster_id: str = ClusterUuid,
    node_name: Annotated[
        str | None,
        Query(alias="nodeName", deprecated=True, description="Only the node of this name."),
    ] = None,
    filter_by: FilterBy = None,
    sort_by: Annotated[NodeFilterSortFields | None, Query(alias="sortBy")] = None,
    sort_order: Order = SortOrder.asc,
    offset: Offset = 0,
    limit: Limit = DEFAULT_LIMIT,
    search: Search = None,
) -> Response:
    def run(state: AppState, principal: Principal) -> Any:
        filters = parse_filter_by(filter_by, NODE_FIELDS)
        if node_name is not None:
            filters = (*filters, ListFilter("name", "==", node_name))
        query = ListQuery(
            filters=filters,
            search=search,
            sort_by=sort_by.value if sort_by else None,
            descending=sort_order is SortOrder.desc,
            offset=offset,
            limit=limit,
        )
        return state.org.list_nodes(principal, cluster_id, query)

    page, _ = await as_caller(request, run, read_only=True)
    return json_response({"nodes": [node_view(n) for n in page]})
