"""The edge: what every request must satisfy before a route sees it, and the last word on
errors nothing else handled.

One pure ASGI middleware, inside the request-id middleware (so its refusals and log lines
carry the request id) and outside the audit trail:
- a path or a query parameter holding a NUL (`%00`) is a 400 naming it;
- a body larger than `request.max_body_bytes` is a 400 naming the limit: at once when its
  `Content-Length` says so, else as soon as a counting read passes the limit (a chunked body
  is never buffered beyond it);
- an exception no handler mapped is logged once, on one line (type, message, innermost
  frames, request id), and answered with a bare 500; it is not re-raised, so the server does
  not log its traceback a second time.
What the body holds (its depth, NUL in its strings) is checked where it is parsed, after
authentication (`api.deps.JsonBody`, `api.deps.read_form`, `domain.bodies`).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import PurePath
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nimplane import logs
from nimplane.api.errors import error_response, unexpected_error_response
from nimplane.domain.bodies import NUL, NUL_DETAILS
from nimplane.domain.errors import Invalid
from nimplane.settings import RequestSettings

log = logging.getLogger(__name__)
_DEFAULTS = RequestSettings()
_INNERMOST_FRAMES = 3
_MESSAGE_CHARS = 300


class BodyTooLarge(Invalid):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"request body: larger than {max_bytes} bytes")


def _limits(scope: Scope) -> RequestSettings:
    state = getattr(scope["app"].state, "nimplane", None)
    return state.settings.request if state is not None else _DEFAULTS


def target_problem(scope: Scope) -> str | None:
    """Why the request's path or query cannot be served (a NUL in either), if it cannot."""
    if NUL in scope["path"]:
        return f"path: {NUL_DETAILS}"
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if NUL in name or NUL in value:
                return f"query parameter {name.replace(NUL, '%00')}: {NUL_DETAILS}"
    return None


def declared_length_problem(scope: Scope, max_bytes: int) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                return "Content-Length: not a number of bytes"
            if int(value) > max_bytes:
                return BodyTooLarge(max_bytes).message
    return None


def describe(exc: BaseException) -> str:
    """One line: the type, the message (cut short) and the innermost frames."""
    frames = 0
    tb = exc.__traceback__
    while tb is not None:
        frames += 1
        tb = tb.tb_next
    innermost = traceback.extract_tb(exc.__traceback__, limit=-_INNERMOST_FRAMES)
    where = " <- ".join(
        f"{PurePath(f.filename).name}:{f.lineno} in {f.name}" for f in reversed(innermost)
    )
    message = " ".join(str(exc).split())
    if len(message) > _MESSAGE_CHARS:
        message = message[:_MESSAGE_CHARS] + "..."
    return f"{type(exc).__qualname__}: {message} (at {where}; {frames} frames)"


class EdgeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = _limits(scope).max_body_bytes
        refusal = target_problem(scope) or declared_length_problem(scope, max_bytes)
        if refusal is not None:
            await error_response(400, refusal)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)  # the error table makes it a 400
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception as exc:
            path = scope["path"].replace(NUL, "%00")[:200]
            log.error(
                "unexpected error in %s %s (request %s): %s",
                scope["method"],
                path,
                logs.request_id.get(),
                describe(exc),
            )
            if not started:
                await unexpected_error_response()(scope, receive, send)
