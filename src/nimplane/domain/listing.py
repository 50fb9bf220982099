"""The v1 workload list query language: `filterBy`, `sortBy`, `sortOrder`, `search`, paging."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from nimplane.domain.catalog import PRIORITY_CLASSES
from nimplane.domain.errors import ComplianceIssue, Invalid
from nimplane.domain.workloads import Workload

FILTER_FIELDS: Final[tuple[str, ...]] = (
    "type",
    "name",
    "clusterId",
    "projectId",
    "projectName",
    "departmentId",
    "departmentName",
    "createdAt",
    "deletedAt",
    "submittedBy",
    "phase",
    "completedAt",
    "nodepool",
    "distributedFramework",
    "allocatedGPU",
    "idleGpus",
    "idleAllocatedGpus",
    "phaseUpdatedAt",
    "category",
    "totalPendingTimeSeconds",
    "totalRunningTimeSeconds",
    "priority",
    "priorityClassName",
    "guaranteedRuntimeEndsAt",
    "aiApplicationId",
    "aiApplicationName",
)
SORT_FIELDS: Final[tuple[str, ...]] = FILTER_FIELDS
"""Run:ai sorts by the same fields it filters by."""
OPERATORS: Final[tuple[str, ...]] = ("==", "!=", "<=", ">=", "=@", "!@", "=^", "=$")
DATE_FIELDS: Final[frozenset[str]] = frozenset(
    {"createdAt", "deletedAt", "completedAt", "phaseUpdatedAt", "guaranteedRuntimeEndsAt"}
)
_FILTER_RE = re.compile(
    r"^(?P<field>" + "|".join(FILTER_FIELDS) + r")(?P<op>==|!=|<=|>=|=@|!@|=\^|=\$)(?P<value>.+)$"
)
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: str


@dataclass(frozen=True)
class WorkloadQuery:
    """A validated list request."""

    filters: tuple[Filter, ...] = ()
    search: str | None = None
    deleted: bool = False
    sort_by: str = "createdAt"
    descending: bool = False
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    project_ids: frozenset[str] | None = field(default=None)
    """Only these projects (what the caller may read); None means every project."""


def parse_filters(raw: list[str]) -> tuple[Filter, ...]:
    """Parse `filterBy` items (`field<op>value`); a bad item is a 400 naming it."""
    filters, issues = [], []
    for index, item in enumerate(raw):
        match = _FILTER_RE.match(item)
        if match is None:
            issues.append(
                ComplianceIssue(
                    f"filterBy[{index}]",
                    f"'{item}' is not field<op>value with a known field and one of "
                    + " ".join(OPERATORS),
                )
            )
            continue
        parsed = Filter(match["field"], match["op"], match["value"])
        if parsed.field in DATE_FIELDS and parsed.op not in ("==", "!=", "<=", ">="):
            issues.append(
                ComplianceIssue(
                    f"filterBy[{index}]", f"dates only take ==, !=, <= or >= ('{item}')"
                )
            )
            continue
        if parsed.field in DATE_FIELDS and _parse_date(parsed.value) is None:
            issues.append(
                ComplianceIssue(f"filterBy[{index}]", f"'{parsed.value}' is not an ISO-8601 date")
            )
            continue
        filters.append(parsed)
    if issues:
        raise Invalid("Invalid filterBy", issues)
    return tuple(filters)


def field_value(w: Workload, name: str) -> Any:
    """The value a `filterBy`/`sortBy` field has for a workload (None when it has none)."""
    getter = _FIELD_GETTERS.get(name)
    return None if getter is None else getter(w)


_FIELD_GETTERS: dict[str, Callable[[Workload], Any]] = {
    "type": lambda w: w.workload_type,
    "name": lambda w: w.name,
    "clusterId": lambda w: w.project.cluster_id,
    "projectId": lambda w: w.project.id,
    "projectName": lambda w: w.project.name,
    "departmentId": lambda w: w.project.department_id,
    "departmentName": lambda w: w.project.department_name,
    "createdAt": lambda w: w.created_at,
    "deletedAt": lambda w: w.deleted_at,
    "submittedBy": lambda w: w.created_by,
    "phase": lambda w: w.status.phase.value,
    "phaseUpdatedAt": lambda w: w.status.phase_updated_at,
    "category": lambda w: w.category,
    "priority": lambda w: PRIORITY_CLASSES.get(w.priority_class),
    "priorityClassName": lambda w: w.priority_class,
    "nodepool": lambda w: ",".join(w.spec.get("nodePools", [])),
    "allocatedGPU": lambda w: 0,
    "idleAllocatedGpus": lambda w: 0,
    "totalPendingTimeSeconds": lambda w: 0,
    "totalRunningTimeSeconds": lambda w: 0,
}


def _parse_date(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def matches(w: Workload, f: Filter) -> bool:
    """Whether one workload passes one filter."""
    value = field_value(w, f.field)
    if f.field in DATE_FIELDS:
        wanted = _parse_date(f.value)
        if not isinstance(value, datetime) or wanted is None:
            return f.op == "!="
        return {
            "==": value == wanted,
            "!=": value != wanted,
            "<=": value <= wanted,
            ">=": value >= wanted,
        }[f.op]
    text = "" if value is None else str(value)
    if f.op in ("<=", ">="):
        left, right = _as_number(value), _as_number(f.value)
        if left is not None and right is not None:
            return left <= right if f.op == "<=" else left >= right
        return text <= f.value if f.op == "<=" else text >= f.value
    return {
        "==": text == f.value,
        "!=": text != f.value,
        "=@": f.value in text,
        "!@": f.value not in text,
        "=^": text.startswith(f.value),
        "=$": text.endswith(f.value),
    }[f.op]


def apply_query(items: list[Workload], query: WorkloadQuery) -> tuple[list[Workload], int]:
    """Filter, search and sort `items`; return the requested page and the total match count."""
    selected = [w for w in items if all(matches(w, f) for f in query.filters)]
    if query.search:
        needle = query.search.lower()
        selected = [
            w for w in selected if needle in w.name.lower() or needle in w.project.name.lower()
        ]

    def sort_key(w: Workload) -> tuple[int, Any, str]:
        value = field_value(w, query.sort_by)
        if value is None:
            return (1, "", w.id)
        return (0, value, w.id)

    present = [w for w in selected if field_value(w, query.sort_by) is not None]
    absent = [w for w in selected if field_value(w, query.sort_by) is None]
    present.sort(key=sort_key, reverse=query.descending)
    ordered = present + absent
    return ordered[query.offset : query.offset + query.limit], len(ordered)
