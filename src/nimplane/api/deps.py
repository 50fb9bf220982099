"""Request plumbing shared by the routes: the app state, the caller, JSON bodies, versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nimplane.api.audit import PRINCIPAL_KEY
from nimplane.api.state import AppState
from nimplane.domain.bodies import check_body, check_fields, too_deep
from nimplane.domain.errors import Invalid
from nimplane.domain.identity import Principal

T = TypeVar("T")


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.nimplane
    return state


async def as_caller(
    request: Request, action: Callable[[AppState, Principal], T], *, read_only: bool = False
) -> T:
    """Authenticate the request and run `action` for the caller.

    Reads run right on the event loop where the store allows it (SQLite); everything else
    runs in one worker-thread hop, so a slow database never stalls other requests.
    """
    state = app_state(request)
    authorization = request.headers.get("authorization")

    def run() -> T:
        principal = state.auth.authenticate(authorization)
        request.scope[PRINCIPAL_KEY] = principal  # for the audit trail
        return action(state, principal)

    if read_only and state.inline_reads:
        return run()
    return await run_in_threadpool(run)


class JsonBody:
    """A request body read but not yet parsed: it is parsed only once the caller is known,
    so that a request without a valid token is a 401 whatever its body. Its size is bounded
    by `api.edge`; parsing bounds its depth and refuses NUL in its strings (`domain.bodies`)."""

    def __init__(self, content_type: str, raw: bytes, max_depth: int = 32) -> None:
        self.content_type = content_type
        self.raw = raw
        self.max_depth = max_depth

    @classmethod
    async def read(cls, request: Request) -> JsonBody:
        max_depth = app_state(request).settings.request.max_body_depth
        return cls(request.headers.get("content-type", ""), await request.body(), max_depth)

    def parse(self) -> Any:
        """The JSON value; a wrong content type, malformed JSON, a body nested deeper than
        the limit or a NUL in any string is a 400, never a 422 or a 500."""
        media_type = self.content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            shown = self.content_type or "none"
            raise Invalid(f"Content-Type must be application/json, got '{shown}'.")
        try:
            value = orjson.loads(self.raw)
        except orjson.JSONDecodeError as exc:
            if str(exc).startswith("depth limit exceeded"):  # orjson's own bound, 1024
                raise too_deep(self.max_depth) from None
            raise Invalid(f"The request body is not valid JSON: {exc}") from exc
        # without enough brackets to nest that deep and without an escaped NUL, no walk
        brackets = self.raw.count(b"{") + self.raw.count(b"[")
        if brackets > self.max_depth or b"\\u0000" in self.raw:
            check_body(value, self.max_depth)
        return value


async def read_form(request: Request) -> dict[str, str]:
    """A form-encoded body's fields (the first value of each); 400 (`Invalid`) if it is not
    UTF-8 or a name or value holds a NUL. Its size is bounded by `api.edge`."""
    try:
        text = (await request.body()).decode()
    except UnicodeDecodeError:
        raise Invalid("the form body is not UTF-8") from None
    fields = {k: v[0] for k, v in parse_qs(text, keep_blank_values=False).items()}
    check_fields(fields)
    return fields


def parse_if_match(request: Request) -> int | None:
    """The resource version an `If-Match` header names; `*` or none means any version."""
    value = request.headers.get("if-match")
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isascii() and tag.isdigit() and len(tag) <= 18 else -1


def json_response(
    payload: Any,
    status_code: int = 200,
    *,
    version: int | None = None,
    warnings: list[str] | None = None,
) -> Response:
    """Serialise once with orjson (UTC datetimes end in Z); add ETag and Warning headers."""
    headers: dict[str, str] = {}
    if version is not None:
        headers["ETag"] = f'"{version}"'
    if warnings:
        headers["Warning"] = ", ".join(f'299 - "{w}"' for w in warnings)
    return Response(
        orjson.dumps(payload, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )
