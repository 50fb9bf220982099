"""The audit trail: what one mutating API call (or web console form post) was, in Run:ai's
vocabulary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_plus

from nimplane.domain.rbac import ResourceType

_ACTIONS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
_ID = r"(?P<id>[^/]+)"
_ROUTES: tuple[tuple[re.Pattern[str], str, str | None], ...] = tuple(
    (re.compile(pattern), resource, action)
    for pattern, resource, action in (
        (rf"^/api/v2/workloads/nim-services(/{_ID})?$", ResourceType.inferences, None),
        (rf"^/api/v2/workloads/{_ID}$", ResourceType.workloads, None),
        (r"^/api/v1/workloads/batch$", ResourceType.workloads, "update"),
        (rf"^/api/v1/org-unit/departments(/{_ID}(/resources)?)?$", ResourceType.department, None),
        (rf"^/api/v1/org-unit/projects(/{_ID}(/resources)?)?$", ResourceType.project, None),
        (rf"^/api/v1/node-pools(/{_ID})?$", ResourceType.nodepools, None),
        (rf"^/api/v1/service-accounts/{_ID}/secret$", ResourceType.service_account, "update"),
        (rf"^/api/v1/service-accounts(/{_ID}(/secret)?)?$", ResourceType.service_account, None),
        (rf"^/api/v1/users/{_ID}/password$", ResourceType.users, "update"),
        (rf"^/api/v1/users(/{_ID}(/.*)?)?$", ResourceType.users, None),
        (r"^/api/v1/me/password$", ResourceType.users, "update"),
        (rf"^/api/v1/authorization/access-rules(/{_ID})?$", ResourceType.access_rules, None),
        # the web console's form posts (its pages call the same services)
        (r"^/workloads/new$", ResourceType.inferences, "create"),
        (rf"^/workloads/{_ID}/delete$", ResourceType.inferences, "delete"),
        (rf"^/workloads/{_ID}/(stop|resume|scale|patch)$", ResourceType.inferences, "update"),
        (rf"^/projects/{_ID}/quota$", ResourceType.project, "update"),
        (r"^/access/service-accounts$", ResourceType.service_account, "create"),
        (rf"^/departments/{_ID}/quota$", ResourceType.department, "update"),
        (rf"^/access/service-accounts/{_ID}/delete$", ResourceType.service_account, "delete"),
        (r"^/access/users$", ResourceType.users, "create"),
        (rf"^/access/users/{_ID}/delete$", ResourceType.users, "delete"),
        (r"^/access/rules$", ResourceType.access_rules, "create"),
        (rf"^/access/rules/{_ID}/delete$", ResourceType.access_rules, "delete"),
    )
)


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which object, when, and how it ended."""

    timestamp: datetime
    subject: str | None
    subject_type: str | None
    action: str
    http_method: str
    url: str
    resource_type: str
    resource_id: str | None
    resource_name: str | None
    status_code: int
    request_id: str | None = None
    id: int | None = None

    @property
    def outcome(self) -> str:
        return "success" if self.status_code < 400 else "failure"


def classify(method: str, path: str) -> tuple[str, str, str | None] | None:
    """(action, resource type, object id) of a mutating call, or None when nothing to record."""
    action = _ACTIONS.get(method)
    if action is None:
        return None
    for pattern, resource, fixed_action in _ROUTES:
        match = pattern.match(path)
        if match:
            return fixed_action or action, str(resource), match.groupdict().get("id")
    return None


REDACTED = "REDACTED"
_SENSITIVE = (
    "secret",
    "password",
    "passwd",
    "pwd",
    "token",
    "key",
    "auth",
    "credential",
    "signature",
    "session",
    "cookie",
)


def _is_sensitive(name: str) -> bool:
    """A query key that looks like it carries a secret (case, `_` and `-` ignored)."""
    folded = re.sub(r"[^a-z0-9]", "", unquote_plus(name).lower())
    return any(word in folded for word in _SENSITIVE)


def redact_query(query: str) -> str:
    """The query string as the audit trail keeps it: the value of every sensitive-looking key
    (and every part without a key: it may be a bare secret) replaced by `REDACTED`; other
    parts kept byte for byte."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        if not eq:
            parts.append(part if not part else REDACTED)
        elif _is_sensitive(name):
            parts.append(f"{name}={REDACTED}")
        else:
            parts.append(part)
    return "&".join(parts)
