"""The workload list query (`domain/queries.WorkloadQuery`) compiled into SQLAlchemy Core.

The meaning of every operator and field is `domain/queries.py`'s and `domain/workloads.py`'s
(`WORKLOAD_FIELDS`); this module only says which column or expression holds each field and
writes the same comparison in SQL, alike on SQLite and PostgreSQL:

- text compares by code point: PostgreSQL's comparisons and orders use the "C" collation
  (SQLite's default is already binary); contains / starts / ends-with are written without
  LIKE (SQLite's LIKE ignores ASCII case);
- a null passes only `!=` and `!@`; sorting puts nulls last and breaks ties by id, ascending;
- the ids are text as listed, but `projectId==<n>` and `departmentId==<n>` compare integers
  (the same rows: a canonical decimal is the one text form of an integer), so they use the
  project index;
- project and department names are read through `project_id IN (SELECT ...)` over the small
  organisation tables, so the page query stays on `workloads` and its indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)

from nimplane.domain.catalog import PRIORITY_CLASSES
from nimplane.domain.phases import Phase, epoch_micros
from nimplane.domain.queries import NEGATIVE, Filter, Kind, WorkloadQuery
from nimplane.domain.workloads import UNVALUED_FIELDS, WORKLOAD_FIELDS
from nimplane.storage.tables import departments, projects, workload_counts, workloads

w = workloads.c
Expr = ColumnElement[Any]
_MICROS = 1_000_000


class Compiler:
    """Compiles one query for one dialect (`sqlite` or `postgresql`)."""

    def __init__(self, dialect: str, query: WorkloadQuery) -> None:
        self._pg = dialect == "postgresql"
        self._query = query
        self._now_us = cast(literal(epoch_micros(query.now), BigInteger), BigInteger)

    # --- the fields ------------------------------------------------------------------------

    def value(self, name: str) -> Expr:
        """The expression a field's value is on a `workloads` row (null for unvalued ones)."""
        if name in UNVALUED_FIELDS:
            return null()
        getter = _COLUMNS.get(name)
        if getter is not None:
            return getter(self)
        raise KeyError(name)

    def _elapsed_in(self, phase: Phase) -> Expr:
        """`domain/phases.elapsed_seconds` in the current phase, if it is `phase`, else 0."""
        return case(
            (
                and_(w.phase == phase.value, self._now_us > w.phase_started_us),
                (self._now_us - w.phase_started_us) // _MICROS,
            ),
            else_=0,
        )

    def pending_seconds(self) -> Expr:
        return w.pending_seconds + self._elapsed_in(Phase.Pending)

    def running_seconds(self) -> Expr:
        return w.running_seconds + self._elapsed_in(Phase.Running)

    # --- filters ---------------------------------------------------------------------------

    def condition(self, f: Filter) -> Expr:
        if f.field in UNVALUED_FIELDS:
            return true() if f.op in NEGATIVE else false()
        if f.field in ("projectName", "departmentName", "departmentId"):
            return w.project_id.in_(self._projects_where(f))
        if f.field == "projectId":
            exact = self._integer_equality(w.project_id, f)
            if exact is not None:
                return exact
        return self._compare(self.value(f.field), f)

    def _projects_where(self, f: Filter) -> Select[Any]:
        if f.field == "projectName":
            return select(projects.c.id).where(self._compare(projects.c.name, f))
        if f.field == "departmentId":
            column = projects.c.department_id
            exact = self._integer_equality(column, f)
            condition = exact if exact is not None else self._compare(cast(column, String), f)
            return select(projects.c.id).where(condition)
        return (
            select(projects.c.id)
            .join(departments, departments.c.id == projects.c.department_id)
            .where(self._compare(departments.c.name, f))
        )

    def _integer_equality(self, column: Expr, f: Filter) -> Expr | None:
        if f.op not in ("==", "!="):
            return None
        canonical = f.value.isascii() and f.value.isdigit() and str(int(f.value)) == f.value
        if f.op == "==":
            return column == int(f.value) if canonical else false()
        return column != int(f.value) if canonical else true()

    def _text(self, expr: Expr) -> Expr:
        return expr.collate("C") if self._pg else expr

    def _compare(self, expr: Expr, f: Filter) -> Expr:
        kind = WORKLOAD_FIELDS.get(f.field, Kind.text)
        if kind is Kind.text:
            if f.field in ("projectId", "departmentId"):
                expr = cast(expr, String)
            positive = self._text_condition(expr, f.op, f.value)
        else:
            operand = f.operand
            positive = {
                "==": expr == operand,
                "!=": expr != operand,
                "<=": expr <= operand,
                ">=": expr >= operand,
            }[f.op]
        if f.op in NEGATIVE:
            return or_(expr.is_(None), positive)
        return positive

    def _text_condition(self, expr: Expr, op: str, value: str) -> Expr:
        if op in ("==", "!=", "<=", ">="):
            ordered = self._text(expr)
            return {
                "==": expr == value,
                "!=": expr != value,
                "<=": ordered <= value,
                ">=": ordered >= value,
            }[op]
        size = len(value)
        contains = func.length(func.replace(expr, value, "")) < func.length(expr)
        return {
            "=@": contains,
            "!@": not_(contains),
            "=^": func.substr(expr, 1, size) == value,
            "=$": and_(
                func.length(expr) >= size,
                func.substr(expr, func.length(expr) - size + 1) == value,
            ),
        }[op]

    def where(self) -> list[Expr]:
        q = self._query
        conditions: list[Expr] = [
            w.torn_down_at.is_not(None) if q.deleted else w.torn_down_at.is_(None)
        ]
        if q.project_ids is not None:
            conditions.append(w.project_id.in_(sorted(int(p) for p in q.project_ids)))
        conditions += [self.condition(f) for f in q.filters]
        if q.search:
            needle = q.search.lower()
            named = select(projects.c.id).where(_has(func.lower(projects.c.name), needle))
            conditions.append(or_(_has(func.lower(w.name), needle), w.project_id.in_(named)))
        return conditions

    # --- order -----------------------------------------------------------------------------

    def order(self) -> list[Expr]:
        q = self._query
        name = q.sort_by
        value = self.value(name)
        if name in ("projectName", "departmentName"):
            value = self._org_name(name)
        elif name in ("projectId", "departmentId"):
            value = cast(self._org_id(name), String)
        keys: list[Expr] = []
        if name in _NULLABLE_SORT:
            keys.append(value.is_(None))
        if name not in UNVALUED_FIELDS:
            if WORKLOAD_FIELDS[name] is Kind.text and name != "name":
                value = self._text(value)
            keys.append(value.desc() if q.descending else value.asc())
        keys.append(w.id.asc())
        return keys

    def _org_name(self, name: str) -> Expr:
        if name == "projectName":
            scalar = select(projects.c.name).where(projects.c.id == w.project_id)
        else:
            scalar = (
                select(departments.c.name)
                .join(projects, projects.c.department_id == departments.c.id)
                .where(projects.c.id == w.project_id)
            )
        return scalar.scalar_subquery()

    def _org_id(self, name: str) -> Expr:
        if name == "projectId":
            return w.project_id
        return (
            select(projects.c.department_id).where(projects.c.id == w.project_id).scalar_subquery()
        )


def _has(expr: Expr, needle: str) -> Expr:
    return func.length(func.replace(expr, needle, "")) < func.length(expr)


_PRIORITY = case(
    *((w.priority_class == name, value) for name, value in PRIORITY_CLASSES.items()),
    else_=None,
)

_COLUMNS: dict[str, Callable[[Compiler], Expr]] = {
    "type": lambda c: w.workload_type,
    "name": lambda c: w.name,
    "clusterId": lambda c: w.cluster_id,
    "projectId": lambda c: w.project_id,
    "projectName": lambda c: c._org_name("projectName"),
    "departmentId": lambda c: c._org_id("departmentId"),
    "departmentName": lambda c: c._org_name("departmentName"),
    "createdAt": lambda c: w.created_at,
    "deletedAt": lambda c: w.deleted_at,
    "submittedBy": lambda c: w.created_by,
    "phase": lambda c: w.phase,
    "nodepool": lambda c: w.requested_node_pools,
    "allocatedGPU": lambda c: w.allocated_gpu,
    "phaseUpdatedAt": lambda c: w.phase_updated_at,
    "category": lambda c: w.category,
    "totalPendingTimeSeconds": lambda c: c.pending_seconds(),
    "totalRunningTimeSeconds": lambda c: c.running_seconds(),
    "priority": lambda c: _PRIORITY,
    "priorityClassName": lambda c: w.priority_class,
}
_NULLABLE_SORT = frozenset({"deletedAt", "nodepool", "priority"})
"""Sort fields whose value may be null (nulls go last); the unvalued ones are all null."""
assert set(_COLUMNS) | UNVALUED_FIELDS == set(WORKLOAD_FIELDS)


def page_ids(dialect: str, query: WorkloadQuery) -> Select[Any]:
    """The ids of the requested page, in order."""
    compiler = Compiler(dialect, query)
    return (
        select(w.id)
        .where(*compiler.where())
        .order_by(*compiler.order())
        .offset(query.offset)
        .limit(query.limit)
    )


def count(dialect: str, query: WorkloadQuery) -> Select[Any]:
    """How many workloads match (paging aside): without filters or search, the sum of the
    per-project counters (`workload_counts`, a few rows per project); else an indexed count
    of the matching rows."""
    if not query.filters and not query.search:
        counted = select(func.coalesce(func.sum(workload_counts.c.n), 0)).where(
            workload_counts.c.live == (not query.deleted)
        )
        if query.project_ids is not None:
            ids = sorted(int(p) for p in query.project_ids)
            counted = counted.where(workload_counts.c.project_id.in_(ids))
        return counted
    return select(func.count()).select_from(workloads).where(*Compiler(dialect, query).where())
