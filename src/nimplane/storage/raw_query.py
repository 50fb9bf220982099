"""A SELECT run straight on the DBAPI cursor of a SQLAlchemy connection, for the hottest
read (a workload by id: every GET, and the read before every PATCH).

The statement is compiled once per dialect; its rows are converted by the result processors
SQLAlchemy itself would apply to those columns (JSON decoding, timestamps), so a row reads
the same either way. What is skipped is SQLAlchemy's per-execution work (execution context,
parameter processing, result metadata): about a third of a GET's CPU (BENCHMARKS.md,
"API throughput", "As shipped"). It runs inside the connection's transaction, like any
statement on it. Only bound parameters without a bind processor are supported (strings,
numbers), which the constructor checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Select

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None
    """The parameters' names in order, for a positional paramstyle; None: by name."""


class RawQuery:
    """`statement`, run on the DBAPI cursor; rows come back as mappings by column key."""

    def __init__(self, statement: Select[Any]) -> None:
        self._statement = statement
        self._keys = tuple(statement.selected_columns.keys())
        self._types = tuple(column.type for column in statement.selected_columns)
        self._compiled: dict[str, _Compiled] = {}
        self._processors: dict[str, tuple[Processor, ...]] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect)
        if compiled._bind_processors:  # checked once: none to apply
            raise ValueError("RawQuery: a bound parameter needs a bind processor")
        positions = tuple(compiled.positiontup or ()) if dialect.positional else None
        done = _Compiled(str(compiled), positions)
        self._compiled[dialect.name] = done
        return done

    def _result_processors(
        self, dialect: Dialect, description: Sequence[Sequence[Any]]
    ) -> tuple[Processor, ...]:
        processors = tuple(
            kind.dialect_impl(dialect).result_processor(dialect, column[1])
            for kind, column in zip(self._types, description, strict=True)
        )
        self._processors[dialect.name] = processors
        return processors

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row as {column key: value}, or None."""
        dialect = conn.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        bound: Any = (
            params
            if compiled.positions is None
            else tuple(params[name] for name in compiled.positions)
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, bound)
            row = cursor.fetchone()
            processors = self._processors.get(dialect.name)
            if processors is None:
                processors = self._result_processors(dialect, cursor.description)
        finally:
            cursor.close()
        if row is None:
            return None
        return {
            key: value if process is None else process(value)
            for key, process, value in zip(self._keys, processors, row, strict=True)
        }
