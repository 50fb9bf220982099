"""Run:ai's list query language, the one engine for every list: `filterBy` (`field<op>value`),
`search`, `sortBy`/`sortOrder` and paging.

The parser turns the query string into typed filters (field, operator, operand). Their meaning
is defined here once and evaluated in two places that must agree: `matches` / `run_query`
(in memory, for the organisation's small lists) and the storage adapter's SQL compiler (for
the workload list, `storage/list_sql.py`). The rules (see ARCHITECTURE.md, "Lists"):

- `filterBy` is `explode: false` in Run:ai's API: every parameter value is comma-split, and
  all the items must hold (AND).
- A field has a kind. Text compares by code point (`<=`/`>=` too), case-sensitively; `=@`,
  `!@`, `=^`, `=$` are contains, not-contains, starts-with, ends-with. Numbers and dates compare
  by value and only take `==`, `!=`, `<=`, `>=` (Run:ai documents this for dates; a number's
  text form depends on its type, so nimplane gives numbers the same rule). Dates are ISO-8601
  (a date alone is its midnight UTC; a time without zone is UTC).
- A field without a value (null) passes only the negative operators `!=` and `!@`.
- `search` is a case-insensitive substring of the item's searchable texts.
- Sorting puts items without the sort field last (in both orders); ties go by the item's id,
  ascending in both orders (the organisation's lists always kept ties in id order).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final, TypeVar

from nimplane.domain.errors import ComplianceIssue, Invalid

T = TypeVar("T")

OPERATORS: Final[tuple[str, ...]] = ("==", "!=", "<=", ">=", "=@", "!@", "=^", "=$")
COMPARISONS: Final = frozenset({"==", "!=", "<=", ">="})
NEGATIVE: Final = frozenset({"!=", "!@"})
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500


class Kind(StrEnum):
    """How a field's values compare."""

    text = "text"
    number = "number"
    date = "date"


Operand = str | float | datetime


@dataclass(frozen=True)
class Filter:
    """One `filterBy` item: `field op value`, with the value parsed for the field's kind."""

    field: str
    op: str
    value: str
    kind: Kind = Kind.text

    @property
    def operand(self) -> Operand:
        if self.kind is Kind.date:
            parsed = parse_date(self.value)
            assert parsed is not None  # checked when parsed
            return parsed
        if self.kind is Kind.number:
            return float(self.value)
        return self.value


@dataclass(frozen=True)
class ListQuery:
    """A validated list request: filters, free-text search, order and page."""

    filters: tuple[Filter, ...] = ()
    search: str | None = None
    sort_by: str | None = None
    descending: bool = False
    offset: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class WorkloadQuery:
    """A validated v1 workload list request (compiled to SQL by the storage adapter)."""

    filters: tuple[Filter, ...] = ()
    search: str | None = None
    deleted: bool = False
    sort_by: str = "createdAt"
    descending: bool = False
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The instant time-based fields (total pending/running seconds) are computed at: the
    same one the view shows."""
    project_ids: frozenset[str] | None = None
    """Only these projects (what the caller may read); None means every project."""


@lru_cache(maxsize=64)
def _filter_re(fields: tuple[str, ...]) -> re.Pattern[str]:
    names = "|".join(re.escape(f) for f in fields)
    return re.compile(rf"^(?P<field>{names})(?P<op>==|!=|<=|>=|=@|!@|=\^|=\$)(?P<value>.+)$")


def split_items(raw: Iterable[str] | None) -> list[str]:
    """`filterBy` items as sent: repeated parameters, each possibly comma-separated."""
    return [part for value in raw or [] for part in value.split(",") if part]


def parse_filter_by(
    raw: Iterable[str] | None,
    fields: Sequence[str] | Mapping[str, Kind],
    date_fields: frozenset[str] = frozenset(),
) -> tuple[Filter, ...]:
    """Parse `filterBy` items over `fields` (names, or names with their kinds; `date_fields`
    are dates); every bad item is named in one 400."""
    kinds: dict[str, Kind] = (
        dict(fields) if isinstance(fields, Mapping) else dict.fromkeys(fields, Kind.text)
    )
    kinds.update({name: Kind.date for name in date_fields if name in kinds})
    pattern = _filter_re(tuple(kinds))
    filters, issues = [], []
    for index, item in enumerate(split_items(raw)):
        where = f"filterBy[{index}]"
        match = pattern.match(item)
        if match is None:
            issues.append(
                ComplianceIssue(
                    where,
                    f"'{item}' is not field<op>value with one of the fields "
                    f"{', '.join(kinds)} and one of the operators {' '.join(OPERATORS)}",
                )
            )
            continue
        kind = kinds[match["field"]]
        parsed = Filter(match["field"], match["op"], match["value"], kind)
        if kind is not Kind.text and parsed.op not in COMPARISONS:
            issues.append(ComplianceIssue(where, f"{kind}s only take ==, !=, <= or >= ('{item}')"))
        elif kind is Kind.date and parse_date(parsed.value) is None:
            issues.append(ComplianceIssue(where, f"'{parsed.value}' is not an ISO-8601 date"))
        elif kind is Kind.number and parse_number(parsed.value) is None:
            issues.append(ComplianceIssue(where, f"'{parsed.value}' is not a number"))
        else:
            filters.append(parsed)
    if issues:
        raise Invalid("Invalid filterBy", issues)
    return tuple(filters)


def parse_date(text: str) -> datetime | None:
    """An ISO-8601 date or date-time as a UTC instant (None if it is not one)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def text_of(value: Any) -> str:
    """A value as text compares it: booleans as JSON shows them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _kind_of(value: Any, declared: Kind) -> Kind:
    if declared is not Kind.text:
        return declared
    if isinstance(value, datetime | date):
        return Kind.date
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Kind.number
    return Kind.text


def _compare(left: Any, op: str, right: Any) -> bool:
    return bool(
        {
            "==": left == right,
            "!=": left != right,
            "<=": left <= right,
            ">=": left >= right,
        }[op]
    )


def matches(value: Any, f: Filter) -> bool:
    """Whether a field's value passes one filter (the rules in this module's docstring)."""
    if value is None:
        return f.op in NEGATIVE
    kind = _kind_of(value, f.kind)
    if kind is Kind.date:
        wanted = parse_date(f.value)
        if wanted is None or not isinstance(value, datetime):
            return f.op in NEGATIVE
        return f.op in COMPARISONS and _compare(value, f.op, wanted)
    if kind is Kind.number:
        number = parse_number(f.value)
        if f.op in COMPARISONS and number is not None:
            return _compare(float(value), f.op, number)
    text = text_of(value)
    if f.op in COMPARISONS:
        return _compare(text, f.op, f.value)
    return {
        "=@": f.value in text,
        "!@": f.value not in text,
        "=^": text.startswith(f.value),
        "=$": text.endswith(f.value),
    }[f.op]


def searched(texts: Iterable[str], needle: str) -> bool:
    """Whether a free-text `search` finds `needle` in one of the texts (case-insensitive)."""
    lowered = needle.lower()
    return any(lowered in t.lower() for t in texts)


def run_query(
    items: Iterable[T],
    query: ListQuery,
    value: Callable[[T, str], Any],
    searchable: Callable[[T], Iterable[str]] = lambda _item: (),
) -> tuple[list[T], int]:
    """Filter, search and sort `items` in memory; the requested page and how many matched.

    `value(item, field)` reads a field for `filterBy` and `sortBy`; `searchable(item)` gives
    the texts `search` looks in. `items` come in id order, which breaks ties.
    """
    selected = [i for i in items if all(matches(value(i, f.field), f) for f in query.filters)]
    if query.search:
        needle = query.search
        selected = [i for i in selected if searched(searchable(i), needle)]
    if query.sort_by is not None:
        name = query.sort_by
        present = [i for i in selected if value(i, name) is not None]
        absent = [i for i in selected if value(i, name) is None]
        # a stable sort, reversed or not, keeps equal values in their (id) order
        present.sort(key=lambda i: _sort_value(value(i, name)), reverse=query.descending)
        selected = present + absent
    end = None if query.limit is None else query.offset + query.limit
    return selected[query.offset : end], len(selected)


def _sort_value(value: Any) -> Any:
    return text_of(value) if isinstance(value, bool) else value
