"""`/healthz` (the process is up) and `/readyz` (the database answers); no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nimplane.api.deps import app_state, json_response
from nimplane.api.routes._responses import errors
from nimplane.api.schemas import HealthStatus

router = APIRouter(tags=["Health"])


@router.get("/healthz", operation_id="healthz", response_model=HealthStatus)
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", operation_id="readyz", response_model=HealthStatus, responses=errors(503))
async def readyz(request: Request) -> Response:
    await run_in_threadpool(app_state(request).store.ping)
    return json_response({"status": "ready"})
