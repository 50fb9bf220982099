"""ASGI middleware that records every authenticated mutating call in the audit trail, after it
has answered.

Reads pass straight through. The caller is whoever `api.deps.as_caller` authenticated; a call
that never got that far (no or a bad token, a body refused at the edge) is not written: it
costs no database write, and `api.observability` counts it in
`nimplane_api_rejected_requests_total` instead. The URL is kept with the values of
sensitive-looking query keys redacted (`domain.audit.redact_query`); the outcome is the status
code sent.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nimplane.domain.audit import AuditEntry, classify, redact_query
from nimplane.domain.identity import Principal
from nimplane.services.workloads import utc_now

PRINCIPAL_KEY = "nimplane.principal"
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger(__name__)


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _MUTATING:
            await self.app(scope, receive, send)
            return
        # a NUL (`%00` in the URL) cannot be stored in PostgreSQL text: keep it escaped, so
        # that such a call is recorded like any other
        path = scope["path"].replace("\x00", "%00")
        what = classify(scope["method"], path)
        if what is None:
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await self._record(scope, path, what, status)

    @staticmethod
    async def _record(
        scope: Scope, path: str, what: tuple[str, str, str | None], status: int
    ) -> None:
        action, resource_type, resource_id = what
        principal: Principal | None = scope.get(PRINCIPAL_KEY)
        if principal is None:
            return  # anonymous: counted, not written (see the module's docstring)
        query = redact_query(
            scope.get("query_string", b"").decode("latin-1").replace("\x00", "%00")
        )
        entry = AuditEntry(
            timestamp=utc_now(),
            subject=principal.subject,
            subject_type=principal.subject_type,
            action=action,
            http_method=scope["method"],
            url=path + (f"?{query}" if query else ""),
            resource_type=resource_type,
            resource_id=resource_id,
            resource_name=None,
            status_code=status,
        )
        app: Any = scope["app"]
        try:
            await run_in_threadpool(app.state.nimplane.audit.record, entry)
        except Exception:  # the call has been answered; a lost audit row must not hide it
            log.exception("could not record audit entry for %s %s", entry.http_method, entry.url)
