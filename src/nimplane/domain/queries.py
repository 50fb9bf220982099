"""Run:ai's list query language over any kind of item: `filterBy` (`field<op>value`), `search`,
`sortBy`/`sortOrder` and paging. The v1 workload list has its own, tuned copy (`listing.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from nimplane.domain.errors import ComplianceIssue, Invalid
from nimplane.domain.listing import OPERATORS, Filter

T = TypeVar("T")
_DATE_OPERATORS = frozenset({"==", "!=", "<=", ">="})


@dataclass(frozen=True)
class ListQuery:
    """A validated list request: filters, free-text search, order and page."""

    filters: tuple[Filter, ...] = ()
    search: str | None = None
    sort_by: str | None = None
    descending: bool = False
    offset: int = 0
    limit: int | None = None


@lru_cache(maxsize=64)
def _filter_re(fields: tuple[str, ...]) -> re.Pattern[str]:
    names = "|".join(re.escape(f) for f in fields)
    return re.compile(rf"^(?P<field>{names})(?P<op>==|!=|<=|>=|=@|!@|=\^|=\$)(?P<value>.+)$")


def split_items(raw: Iterable[str] | None) -> list[str]:
    """`filterBy` items as sent: repeated parameters, each possibly comma-separated."""
    return [part for value in raw or [] for part in value.split(",") if part]


def parse_filter_by(
    raw: Iterable[str] | None,
    fields: Sequence[str],
    date_fields: frozenset[str] = frozenset(),
) -> tuple[Filter, ...]:
    """Parse `filterBy` items over `fields`; every bad item is named in one 400."""
    pattern = _filter_re(tuple(fields))
    filters, issues = [], []
    for index, item in enumerate(split_items(raw)):
        match = pattern.match(item)
        if match is None:
            issues.append(
                ComplianceIssue(
                    f"filterBy[{index}]",
                    f"'{item}' is not field<op>value with one of the fields "
                    f"{', '.join(fields)} and one of the operators {' '.join(OPERATORS)}",
                )
            )
            continue
        parsed = Filter(match["field"], match["op"], match["value"])
        if parsed.field in date_fields:
            if parsed.op not in _DATE_OPERATORS:
                issues.append(
                    ComplianceIssue(
                        f"filterBy[{index}]", f"dates only take ==, !=, <= or >= ('{item}')"
                    )
                )
                continue
            if parse_date(parsed.value) is None:
                issues.append(
                    ComplianceIssue(
                        f"filterBy[{index}]", f"'{parsed.value}' is not an ISO-8601 date"
                    )
                )
                continue
        filters.append(parsed)
    if issues:
        raise Invalid("Invalid filterBy", issues)
    return tuple(filters)


def parse_date(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def matches(value: Any, f: Filter) -> bool:
    """Whether a field's value passes one filter (dates compare as dates, numbers as numbers)."""
    if isinstance(value, datetime) or (value is None and parse_date(f.value) is not None):
        wanted = parse_date(f.value)
        if not isinstance(value, datetime) or wanted is None:
            return f.op == "!="
        return {
            "==": value == wanted,
            "!=": value != wanted,
            "<=": value <= wanted,
            ">=": value >= wanted,
        }.get(f.op, False)
    text = _text(value)
    if f.op in ("<=", ">="):
        left, right = _number(value), _number(f.value)
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


def run_query(
    items: Iterable[T],
    query: ListQuery,
    value: Callable[[T, str], Any],
    searchable: Callable[[T], Iterable[str]] = lambda _item: (),
) -> tuple[list[T], int]:
    """Filter, search and sort `items`; the requested page and how many matched in all.

    `value(item, field)` reads a field for `filterBy` and `sortBy`; `searchable(item)` gives
    the texts `search` looks in (case-insensitive). Items without the sort field come last;
    ties keep the incoming order.
    """
    selected = [i for i in items if all(matches(value(i, f.field), f) for f in query.filters)]
    if query.search:
        needle = query.search.lower()
        selected = [i for i in selected if any(needle in t.lower() for t in searchable(i))]
    if query.sort_by is not None:
        field = query.sort_by
        present = [i for i in selected if value(i, field) is not None]
        absent = [i for i in selected if value(i, field) is None]
        present.sort(key=lambda i: value(i, field), reverse=query.descending)
        selected = present + absent
    end = None if query.limit is None else query.offset + query.limit
    return selected[query.offset : end], len(selected)
