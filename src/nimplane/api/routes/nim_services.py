"""`/api/v2/workloads/nim-services`: create, get and update (PATCH) NIM services."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, as_caller, json_response, parse_if_match
from nimplane.api.routes._responses import SUBMISSION, errors, json_request_body
from nimplane.api.schemas import NimServiceResponse
from nimplane.api.views import nim_service_view

router = APIRouter(tags=["NVIDIA NIM"])

WorkloadV2Id = Path(alias="WorkloadV2Id", description="The ID of the workload.")


@router.post(
    "/api/v2/workloads/nim-services",
    operation_id="create_nim_service",
    summary="Create a NVIDIA NIM service. [Experimental]",
    status_code=202,
    response_model=NimServiceResponse,
    responses={
        202: {"description": "Workload creation accepted"},
        **errors(400, 401, 403, 409, 500, 503, invalid_model=SUBMISSION),
    },
    openapi_extra=json_request_body("NimServiceCreateRequest"),
)
async def create_nim_service(request: Request) -> Response:
    body = await JsonBody.read(request)
    outcome = await as_caller(request, lambda s, p: s.workloads.create(p, body.parse()))
    w = outcome.workload
    return json_response(
        nim_service_view(w), 202, version=w.resource_version, warnings=outcome.warnings
    )


@router.get(
    "/api/v2/workloads/nim-services/{WorkloadV2Id}",
    operation_id="get_nim_service_by_id",
    summary="Get a NVIDIA NIM service. [Experimental]",
    response_model=NimServiceResponse,
    responses={
        200: {"description": "Successfully retrieved the workload"},
        **errors(401, 403, 404, 500, 503),
    },
)
async def get_nim_service_by_id(request: Request, workload_id: str = WorkloadV2Id) -> Response:
    w = await as_caller(request, lambda s, p: s.workloads.get(p, workload_id), read_only=True)
    return json_response(nim_service_view(w), version=w.resource_version)


@router.patch(
    "/api/v2/workloads/nim-services/{WorkloadV2Id}",
    operation_id="update_nim_service_spec",
    summary="Update NVIDIA NIM service spec. [Experimental]",
    status_code=202,
    response_model=NimServiceResponse,
    responses={
        202: {"description": "Workload update request accepted"},
        **errors(400, 401, 403, 404, 409, 500, 503, invalid_model=SUBMISSION),
    },
    openapi_extra=json_request_body("NimServiceUpdateRequest"),
)
async def update_nim_service_spec(request: Request, workload_id: str = WorkloadV2Id) -> Response:
    body = await JsonBody.read(request)
    if_match = parse_if_match(request)
    outcome = await as_caller(
        request, lambda s, p: s.workloads.update(p, workload_id, body.parse(), if_match)
    )
    w = outcome.workload
    return json_response(
        nim_service_view(w), 202, version=w.resource_version, warnings=outcome.warnings
    )
