"""nimplane's own additions for a NIM service's runtime: `/{id}/logs` (its container log, plain
text) and `/{id}/proxy/{path}` (an HTTP request forwarded to the service, what
`nimplane inference nim port-forward` carries)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from nimplane.api.deps import as_caller
from nimplane.api.routes._responses import errors

router = APIRouter(tags=["NVIDIA NIM"])

WorkloadV2Id = Path(alias="WorkloadV2Id", description="The ID of the workload.")
ProxyPath = Path(
    alias="path",
    description="The path on the NIM service, e.g. `v1/models` or `v1/chat/completions`.",
)
ADDITION = {"x-nimplane-addition": True}
TEXT = "text/plain; charset=utf-8"
MAX_TAIL = 100_000

_PROXY_RESPONSES = {
    "default": {
        "description": "The NIM service's own answer, passed on as it is (status, "
        "`Content-Type` and body).",
        "content": {"application/json": {"schema": {}}, "text/event-stream": {"schema": {}}},
    },
    **errors(401, 404, 500, 503),
}
_PROXY_DESCRIPTION = (
    "nimplane's own addition: forward one HTTP request to the NIM service (as `kubectl "
    "port-forward` would reach it) and pass its answer on. Only `Accept` and `Content-Type` "
    "are forwarded. 503 while the service has no ready pod. Read permission on its project."
)


@router.get(
    "/api/v2/workloads/nim-services/{WorkloadV2Id}/logs",
    operation_id="get_nim_service_logs",
    summary="The container log of a NVIDIA NIM service's pod (nimplane's own addition).",
    description="The NIM container's log lines of one pod, oldest first, each with its "
    "timestamp, as plain text. Without `pod`, the service's first pod.",
    responses={
        200: {"description": "The log", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **errors(400, 401, 404, 500, 503),
    },
    openapi_extra=ADDITION,
)
async def get_nim_service_logs(
    request: Request,
    workload_id: str = WorkloadV2Id,
    pod: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=253,
            description="The pod's name (see `GET /api/v1/workloads/{id}/pods`).",
            json_schema_extra=ADDITION,
        ),
    ] = None,
    tail: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_TAIL,
            description="Only the last N lines.",
            json_schema_extra=ADDITION,
        ),
    ] = None,
) -> Response:
    lines = await as_caller(
        request, lambda s, p: s.endpoints.logs(p, workload_id, pod=pod, tail=tail)
    )
    return Response("".join(f"{line}\n" for line in lines), media_type=TEXT)


async def _forward(request: Request, workload_id: str, path: str) -> Response:
    body = await request.body()
    target = "/" + path + (f"?{request.url.query}" if request.url.query else "")
    answer = await as_caller(
        request,
        lambda s, p: s.endpoints.forward(
            p, workload_id, request.method, target, body, request.headers
        ),
    )
    media_type = answer.headers.get("content-type")
    return Response(answer.body, status_code=answer.status, media_type=media_type)


@router.get(
    "/api/v2/workloads/nim-services/{WorkloadV2Id}/proxy/{path:path}",
    operation_id="get_nim_service_proxy",
    summary="Forward a GET to a NVIDIA NIM service (nimplane's own addition).",
    description=_PROXY_DESCRIPTION,
    responses=_PROXY_RESPONSES,
    openapi_extra=ADDITION,
)
async def get_nim_service_proxy(
    request: Request, workload_id: str = WorkloadV2Id, path: str = ProxyPath
) -> Response:
    return await _forward(request, workload_id, path)


@router.post(
    "/api/v2/workloads/nim-services/{WorkloadV2Id}/proxy/{path:path}",
    operation_id="post_nim_service_proxy",
    summary="Forward a POST to a NVIDIA NIM service (nimplane's own addition).",
    description=_PROXY_DESCRIPTION,
    responses=_PROXY_RESPONSES,
    openapi_extra=ADDITION,
)
async def post_nim_service_proxy(
    request: Request, workload_id: str = WorkloadV2Id, path: str = ProxyPath
) -> Response:
    return await _forward(request, workload_id, path)
