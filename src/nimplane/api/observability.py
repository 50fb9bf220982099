"""Per-request plumbing outside the routes: the request id and the request metrics.

One pure ASGI middleware (cheap on the hot path) gives every request an id (the caller's
`X-Request-ID`, or a new one), echoes it in the response, puts it in the logging context,
and counts the request by route template, method (one of HTTP's, else `other`) and status
code; a request refused (4xx) before any caller was authenticated is also counted by reason,
as the audit trail does not record it.
"""

from __future__ import annotations

import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nimplane import logs
from nimplane.api.audit import PRINCIPAL_KEY
from nimplane.metrics import Metrics

METRIC_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
"""The methods counted under their own name; any other is counted as `other`: a method is a
client's free token (h11 accepts any), and a label set per value would grow without bound."""

REJECTION_REASONS = {
    400: "invalid",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id")
        rid = incoming.decode("latin-1")[:64] if incoming else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics: Metrics | None = getattr(scope["app"].state, "nimplane", None) and (
                scope["app"].state.nimplane.metrics
            )
            if metrics is not None:
                template = getattr(scope.get("route"), "path", None) or "unmatched"
                method = scope["method"] if scope["method"] in METRIC_METHODS else "other"
                metrics.requests.labels(template, method, str(status)).inc()
                metrics.latency.labels(template, method).observe(time.perf_counter() - started)
                if 400 <= status < 500 and scope.get(PRINCIPAL_KEY) is None:
                    reason = REJECTION_REASONS.get(status, "other")
                    metrics.rejected.labels(template, reason).inc()
            logs.request_id.reset(token)
