"""The HTTP client of the command line: one context's server and tokens, refresh, errors.

Every call goes through `Client.request`: it adds the bearer token (refreshing it first when
the cached one has expired, and once more on a 401), prints each call to stderr under
`--debug` with the Authorization header redacted, and turns a refused call into a
`CliError` carrying the documented exit code (README, "Exit codes").
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import httpx

from nimplane.cli import contexts
from nimplane.cli.contexts import Config, Context, Session


class Exit(IntEnum):
    """The documented, stable exit codes."""

    OK = 0
    ERROR = 1  # the server refused or failed, or cannot be reached
    USAGE = 2  # a bad flag or an invalid spec (found before sending, or the server's 400)
    NOT_FOUND = 3
    TIMEOUT = 4  # --wait gave up


class CliError(Exception):
    """A failure to report in one line (or one line per violation) and exit with `code`."""

    def __init__(self, message: str, code: Exit = Exit.ERROR, lines: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.lines = lines or []


def _status_exit(status: int) -> Exit:
    if status == 404:
        return Exit.NOT_FOUND
    if status in (400, 422):
        return Exit.USAGE
    return Exit.ERROR


def api_error(response: httpx.Response) -> CliError:
    """A refused call as a CliError: the server's message, and one line per violation."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or body.get("error_description") or response.reason_phrase
    lines = [
        f"{issue.get('field')}: {issue.get('details')}"
        for issue in body.get("complianceIssues") or []
        if isinstance(issue, dict)
    ]
    return CliError(f"{response.status_code}: {message}", _status_exit(response.status_code), lines)


EXPIRY_MARGIN = 10.0
"""Seconds before its stated expiry that a cached access token is refreshed anyway."""


@dataclass
class Client:
    """A signed-in (or not yet) connection to one context's server."""

    config: Config
    context_name: str
    debug: bool = False
    clock: Callable[[], float] = time.time
    transport: httpx.BaseTransport | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.context.url, timeout=self.timeout, transport=self.transport
        )

    @property
    def context(self) -> Context:
        return self.config.context(self.context_name)

    def close(self) -> None:
        self._http.close()

    # --- raw calls -----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        request = self._http.build_request(method, path, headers=headers, **kwargs)
        if self.debug:
            print(f"> {request.method} {request.url}", file=sys.stderr)
            for name, value in request.headers.items():
                shown = "REDACTED" if name.lower() == "authorization" else value
                print(f"> {name}: {shown}", file=sys.stderr)
        started = time.monotonic()
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach nimplane at {self.context.url}: {exc or type(exc).__name__}"
            ) from exc
        if self.debug:
            elapsed = (time.monotonic() - started) * 1000
            print(
                f"< {response.status_code} {response.reason_phrase} ({elapsed:.0f} ms)",
                file=sys.stderr,
            )
        return response

    # --- tokens --------------------------------------------------------------------------

    def sign_in(self, body: dict[str, str], subject: str, subject_type: str) -> None:
        """Exchange credentials for tokens and cache them on the context."""
        response = self._send("POST", "/api/v1/token", json=body)
        if response.status_code >= 400:
            raise api_error(response)
        self._remember(response.json(), subject, subject_type)

    def _remember(self, grant: dict[str, Any], subject: str, subject_type: str) -> None:
        expires_in = grant.get("expiresIn")
        self.context.session = Session(
            subject=subject,
            subject_type=subject_type,
            access_token=str(grant["accessToken"]),
            refresh_token=grant.get("refreshToken"),
            expires_at=None if expires_in is None else self.clock() + float(expires_in),
        )
        contexts.save(self.config)

    def refresh(self) -> None:
        """Trade the cached refresh token for new tokens (it is used once: rotated)."""
        session = self.context.session
        if session is None or not session.refresh_token:
            raise CliError("the session has expired: run `nimplane login` again")
        response = self._send(
            "POST",
            "/api/v1/token",
            json={"grantType": "refresh_token", "refreshToken": session.refresh_token},
        )
        if response.status_code >= 400:
            self.context.session = None
            contexts.save(self.config)
            raise CliError(
                f"the session has expired ({api_error(response).message}): "
                "run `nimplane login` again"
            )
        self._remember(response.json(), session.subject, session.subject_type)

    def _token(self) -> str:
        session = self.context.session
        if session is None:
            raise CliError(
                f"not logged in to {self.context.url} (context {self.context_name}): "
                "run `nimplane login`"
            )
        if session.expires_at is not None and self.clock() >= session.expires_at - EXPIRY_MARGIN:
            self.refresh()
            session = self.context.session
            assert session is not None
        return session.access_token

    # --- the API -------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated call; a 401 refreshes the token once and retries. Errors raise."""
        response = self.call(method, path, **kwargs)
        if response.status_code >= 400:
            raise api_error(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated call whose answer is returned whatever its status (a 401 refreshes
        the token once and retries); only an unreachable server or a refused refresh raise."""
        response = self._call(method, path, **kwargs)
        if response.status_code == 401:
            self.refresh()
            response = self._call(method, path, **kwargs)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token()}", **kwargs.pop("headers", {})}
        return self._send(method, path, headers=headers, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else None

    def delete(self, path: str) -> Any:
        response = self.request("DELETE", path)
        return response.json() if response.content else None
