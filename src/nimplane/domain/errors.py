"""The domain's error types. The HTTP adapter maps each to one status code (api/errors.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComplianceIssue:
    """One violation of one rule, located by its dotted path inside the request."""

    field: str
    details: str
    rule: str | None = None


class DomainError(Exception):
    """Base of every error the domain and services raise on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(DomainError):
    """The request breaks one or more rules; `issues` names each violation."""

    def __init__(self, message: str, issues: list[ComplianceIssue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


class Unauthenticated(DomainError):
    """No valid credentials: missing, malformed, expired or forged token, or a bad secret."""


class Forbidden(DomainError):
    """Valid credentials without the permission the action needs on its scope."""


class NotFound(DomainError):
    """The addressed object does not exist (or is fully deleted)."""


class AlreadyExists(DomainError):
    """A name is already taken in its scope."""


class Conflict(DomainError):
    """A write raced another one (stale resource version) or the object's state forbids it."""


class Unavailable(DomainError):
    """A dependency (the database) cannot be reached; the client should retry later."""


class RateLimited(DomainError):
    """Too many attempts for what `message` names; the client may retry after `retry_after`
    whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(Unavailable):
    """The server is busy with this kind of work (it does not queue it without bound); the
    client may retry after `retry_after` whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
