"""The one list query language (`domain/queries.py`): parsing and the meaning of operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nimplane.domain.errors import Invalid
from nimplane.domain.queries import Filter, Kind, ListQuery, matches, parse_filter_by, run_query

FIELDS = {"name": Kind.text, "gpus": Kind.number, "at": Kind.date}
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def one(item: str) -> Filter:
    [parsed] = parse_filter_by([item], FIELDS)
    return parsed


@pytest.mark.parametrize(
    ("value", "item", "expected"),
    [
        pytest.param("alpha", "name==alpha", True, id="text-eq"),
        pytest.param("alpha", "name<=b", True, id="text-le-code-point"),
        pytest.param("Alpha", "name>=a", False, id="text-case-sensitive"),
        pytest.param("alpha", "name=@lph", True, id="contains"),
        pytest.param("alpha", "name=$ha", True, id="ends-with"),
        pytest.param(None, "name!=x", True, id="null-ne"),
        pytest.param(None, "name!@x", True, id="null-not-contains"),
        pytest.param(None, "name==x", False, id="null-eq"),
        pytest.param(None, "name<=zzz", False, id="null-le"),
        pytest.param(10, "gpus>=9", True, id="number-not-text"),
        pytest.param(2.0, "gpus==2", True, id="number-eq-float"),
        pytest.param(None, "gpus<=5", False, id="null-number"),
        pytest.param(AT, "at>=2026-01-02", True, id="date-ge-midnight"),
        pytest.param(AT, "at==2026-01-02T03:04:05Z", True, id="date-eq"),
        pytest.param(None, "at!=2026-01-02", True, id="null-date-ne"),
    ],
)
def test_matches(value: Any, item: str, expected: bool) -> None:
    assert matches(value, one(item)) is expected


@pytest.mark.parametrize(
    "item",
    [
        pytest.param("gpus=@1", id="number-contains"),
        pytest.param("gpus=^1", id="number-starts-with"),
        pytest.param("gpus>=many", id="not-a-number"),
        pytest.param("gpus==nan", id="nan"),
        pytest.param("at=@2026", id="date-contains"),
        pytest.param("at>=soon", id="not-a-date"),
    ],
)
def test_numbers_and_dates_take_comparisons_of_their_kind(item: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_filter_by([item], FIELDS)
    assert [i.field for i in raised.value.issues] == ["filterBy[0]"]


def test_filter_by_is_comma_split_and_anded() -> None:
    parsed = parse_filter_by(["name=^a,gpus>=1", "at>=2026-01-01"], FIELDS)
    assert [(f.field, f.op, f.kind) for f in parsed] == [
        ("name", "=^", Kind.text),
        ("gpus", ">=", Kind.number),
        ("at", ">=", Kind.date),
    ]


@pytest.mark.parametrize("descending", [False, True])
def test_sort_puts_nulls_last_and_keeps_ties_in_id_order(descending: bool) -> None:
    items = [("a", 2), ("b", None), ("c", 1), ("d", 2), ("e", None)]
    page, total = run_query(
        items, ListQuery(sort_by="v", descending=descending), lambda i, _f: i[1]
    )
    expected = ["c", "a", "d", "b", "e"] if not descending else ["a", "d", "c", "b", "e"]
    assert ([i[0] for i in page], total) == (expected, 5)
