"""ASGI middleware that records every mutating call in the audit trail, after it has answered.

Reads pass straight through. The caller is whoever `api.deps.as_caller` authenticated (none
when authentication failed); the outcome is the status code sent.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nimplane.domain.audit import AuditEntry, classify
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
        query = scope.get("query_string", b"").decode("latin-1").replace("\x00", "%00")
        entry = AuditEntry(
            timestamp=utc_now(),
            subject=principal.subject if principal else None,
            subject_type=principal.subject_type if principal else None,
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
