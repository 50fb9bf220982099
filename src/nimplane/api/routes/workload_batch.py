"""`POST /api/v1/workloads/batch`: delete, suspend (stop) or resume many workloads at once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from nimplane.api.deps import JsonBody, as_caller, json_response
from nimplane.api.errors import status_of
from nimplane.api.identity_schemas import parse_body
from nimplane.api.routes._responses import errors, json_request_body
from nimplane.api.schemas import BatchResponse, WorkloadBatch
from nimplane.api.state import AppState
from nimplane.domain.identity import Principal
from nimplane.services.workload_batch import BatchAction, BatchResult, run_batch

router = APIRouter()


@router.post(
    "/api/v1/workloads/batch",
    operation_id="batch_workloads",
    summary="Workload batch operations.",
    description="Delete, suspend (desired phase Stopped) or resume (desired phase Running) "
    "up to 100 workloads. Each id is acted on once, on its own; the answer lists the ids that "
    "succeeded and, for each that failed, Run:ai's error code and message (404 unknown, 403 "
    "not permitted, 409 being deleted).",
    tags=["Workloads batch"],
    response_model=BatchResponse,
    responses={200: {"description": "Request completed."}, **errors(400, 401, 403, 500, 503)},
    openapi_extra=json_request_body("WorkloadBatch"),
)
async def batch_workloads(request: Request) -> Response:
    body = await JsonBody.read(request)

    def run(state: AppState, principal: Principal) -> BatchResult:
        fields = parse_body(WorkloadBatch, body)
        return run_batch(state.workloads, principal, fields.ids, BatchAction(fields.action.value))

    result = await as_caller(request, run)
    return json_response(
        {
            "id": result.id,
            "succeeded": result.succeeded,
            "failed": [
                {"id": workload_id, "code": status_of(error), "message": error.message}
                for workload_id, error in result.failed
            ],
        }
    )
