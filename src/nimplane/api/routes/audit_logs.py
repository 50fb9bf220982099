"""`GET /api/v1/audit-logs`: the audit trail, newest first, paged (administrators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from nimplane.api.deps import as_caller, json_response
from nimplane.api.routes._responses import errors
from nimplane.api.schemas import AuditLogsResponse
from nimplane.domain.audit import AuditEntry

router = APIRouter(tags=["Audit logs"])


def audit_view(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "timestamp": entry.timestamp,
        "subject": entry.subject,
        "subjectType": entry.subject_type,
        "action": entry.action,
        "httpMethod": entry.http_method,
        "url": entry.url,
        "entityType": entry.resource_type,
        "entityId": entry.resource_id,
        "entityName": entry.resource_name,
        "statusCode": entry.status_code,
        "outcome": entry.outcome,
    }


@router.get(
    "/api/v1/audit-logs",
    operation_id="get_audit_logs",
    summary="List the audit trail of mutating calls, newest first.",
    response_model=AuditLogsResponse,
    responses=errors(400, 401, 403, 503),
)
async def get_audit_logs(
    request: Request,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    entries, total = await as_caller(
        request, lambda s, p: s.audit.page(p, offset, limit), read_only=True
    )
    payload: dict[str, object] = {"auditLogs": [audit_view(e) for e in entries]}
    if offset + len(entries) < total:
        payload["next"] = offset + len(entries)
    return json_response(payload)
