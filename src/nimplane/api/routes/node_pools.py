"""`/api/v1/node-pools`: node pools, each selecting its nodes by one label (`default` takes the
rest), with the nodes each holds now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, as_caller, json_response
from nimplane.api.org_schemas import (
    Nodepool,
    NodepoolCreateFields,
    NodepoolsList,
    NodepoolSortFilterFields,
    NodepoolUpdateFields,
    parse,
    settings_of,
)
from nimplane.api.org_views import node_pool_view
from nimplane.api.routes._responses import errors, json_request_body
from nimplane.api.routes.org_units import Limit, Offset, Order
from nimplane.api.routes.workloads import FilterBy, SortOrder
from nimplane.api.state import AppState
from nimplane.domain.identity import Principal
from nimplane.domain.org import NODE_POOL_FIELDS, ORG_DATE_FIELDS
from nimplane.domain.queries import DEFAULT_LIMIT, ListQuery, parse_filter_by

router = APIRouter(tags=["NodePools"])

NodepoolId = Path(alias="nodepoolId", description="The unique id identifying the Node Pool.")
UPDATE_BODY = json_request_body("NodepoolUpdateFields")


@router.post(
    "/api/v1/node-pools",
    operation_id="create_nodepool",
    summary="Create nodepool.",
    status_code=201,
    response_model=Nodepool,
    responses={201: {"description": "Created"}, **errors(400, 401, 403, 409, 500, 503)},
    openapi_extra=json_request_body("NodepoolCreateFields"),
)
async def create_nodepool(request: Request) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> Any:
        req = parse(NodepoolCreateFields, body.parse())
        return state.org.create_node_pool(
            principal,
            name=req.name,
            label_key=req.labelKey,
            label_value=req.labelValue,
            cluster_id=req.clusterId,
            settings=settings_of(req),
        )

    return json_response(node_pool_view(await as_caller(request, run)), 201)


@router.get(
    "/api/v1/node-pools",
    operation_id="get_nodepools",
    summary="Get nodepools.",
    response_model=NodepoolsList,
    responses=errors(400, 401, 403, 500, 503),
)
async def get_nodepools(
    request: Request,
    filter_by: FilterBy = None,
    sort_by: Annotated[NodepoolSortFilterFields | None, Query(alias="sortBy")] = None,
    sort_order: Order = SortOrder.asc,
    offset: Offset = 0,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    def run(state: AppState, principal: Principal) -> Any:
        query = ListQuery(
            filters=parse_filter_by(filter_by, NODE_POOL_FIELDS, ORG_DATE_FIELDS),
            sort_by=sort_by.value if sort_by else None,
            descending=sort_order is SortOrder.desc,
            offset=offset,
            limit=limit,
        )
        return state.org.list_node_pools(principal, query)

    page, _ = await as_caller(request, run, read_only=True)
    return json_response({"nodepools": [node_pool_view(p) for p in page]})


@router.get(
    "/api/v1/node-pools/{nodepoolId}",
    operation_id="get_nodepool",
    summary="Get nodepool.",
    response_model=Nodepool,
    responses={200: {"description": "Requested nodepool"}, **errors(401, 403, 404, 500, 503)},
)
async def get_nodepool(request: Request, pool_id: str = NodepoolId) -> Response:
    pool = await as_caller(request, lambda s, p: s.org.get_node_pool(p, pool_id), read_only=True)
    return json_response(node_pool_view(pool))


async def _update(request: Request, pool_id: str, *, replace_settings: bool) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> Any:
        req = parse(NodepoolUpdateFields, body.parse())
        return state.org.update_node_pool(
            principal,
            pool_id,
            label_key=req.labelKey,
            label_value=req.labelValue,
            settings=settings_of(req),
            replace_settings=replace_settings,
        )

    return json_response(node_pool_view(await as_caller(request, run)))


@router.put(
    "/api/v1/node-pools/{nodepoolId}",
    operation_id="update_nodepool",
    summary="Update nodepool.",
    description="The optional fields given replace the stored ones whole; a label part not "
    "given stays. The `default` pool has no label.",
    response_model=Nodepool,
    responses={200: {"description": "Updated"}, **errors(400, 401, 403, 404, 409, 500, 503)},
    openapi_extra=UPDATE_BODY,
)
async def update_nodepool(request: Request, pool_id: str = NodepoolId) -> Response:
    return await _update(request, pool_id, replace_settings=True)


@router.patch(
    "/api/v1/node-pools/{nodepoolId}",
    operation_id="patch_nodepool",
    summary="Patch nodepool fields.",
    description="The fields given replace the stored ones; the others stay.",
    response_model=Nodepool,
    responses={200: {"description": "Updated"}, **errors(400, 401, 403, 404, 409, 500, 503)},
    openapi_extra=UPDATE_BODY,
)
async def patch_nodepool(request: Request, pool_id: str = NodepoolId) -> Response:
    return await _update(request, pool_id, replace_settings=False)


@router.delete(
    "/api/v1/node-pools/{nodepoolId}",
    operation_id="delete_nodepool",
    summary="Delete nodepool.",
    description="Refused (409) for `default`, and while quotas, default node pool orders or "
    "workloads still name the pool.",
    status_code=204,
    response_model=None,
    responses={204: {"description": "Deleted"}, **errors(401, 403, 404, 409, 500, 503)},
)
async def delete_nodepool(request: Request, pool_id: str = NodepoolId) -> Response:
    await as_caller(request, lambda s, p: s.org.delete_node_pool(p, pool_id))
    return Response(status_code=204)
