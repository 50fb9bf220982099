"""`GET /metrics`: Prometheus text format (a token with `cluster` read on the tenant)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from nimplane.api.deps import as_caller
from nimplane.api.routes._responses import errors
from nimplane.api.state import AppState
from nimplane.domain.identity import Principal
from nimplane.domain.rbac import Action, ResourceType, ScopePath
from nimplane.metrics import CONTENT_TYPE
from nimplane.services.authz import require

router = APIRouter(tags=["Observability"])


def _render(state: AppState, principal: Principal) -> bytes:
    tenant = ScopePath(tenant_id=str(state.settings.tenant_id))
    require(principal, ResourceType.cluster, Action.read, tenant, "the tenant")
    return state.metrics.render()


@router.get(
    "/metrics",
    operation_id="get_metrics",
    summary="Prometheus metrics of this server.",
    responses={
        200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
        **errors(401, 403, 503),
    },
    response_class=Response,
)
async def get_metrics(request: Request) -> Response:
    body = await as_caller(request, _render)
    return Response(body, media_type=CONTENT_TYPE)
