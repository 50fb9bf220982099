"""How the command line prints: tables (plain, aligned; `wide` adds columns), JSON and YAML
(the API's objects as they came), messages (`-q` silences them), colour only on a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console


class Format(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


@dataclass
class Options:
    """The flags every command takes."""

    output: Format = Format.table
    quiet: bool = False
    debug: bool = False
    verbose: bool = False
    context: str | None = None


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    wide: list[str] = field(default_factory=list)
    """Extra columns shown with `-o wide`; each row carries their values after the others."""


def is_tty() -> bool:
    return sys.stdout.isatty()


_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None or _console.file is not sys.stdout:
        _console = Console(highlight=False, soft_wrap=True)
    return _console


def render_table(table: Table, wide: bool) -> str:
    width = len(table.columns) + (len(table.wide) if wide else 0)
    header = [*table.columns, *table.wide][:width]
    rows = [[str(cell) for cell in row[:width]] for row in table.rows]
    sizes = [max(len(r[i]) for r in [header, *rows]) for i in range(width)]
    lines = [
        "   ".join(c.ljust(s) for c, s in zip(r, sizes, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines)


def emit(data: Any, options: Options, table: Table | None = None) -> None:
    """Print `data` as asked: JSON, YAML, or `table` (when given; else JSON)."""
    if options.output is Format.yaml:
        print(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False), end="")
    elif options.output is Format.json or table is None:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(render_table(table, options.output is Format.wide))


def message(options: Options, text: str) -> None:
    """A human message on stdout (not under `-q`, nor when the output is JSON or YAML)."""
    if options.quiet or options.output in (Format.json, Format.yaml):
        return
    console().print(text, markup=False)


def error(text: str) -> None:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    err.print(f"error: {text}", style="red" if sys.stderr.isatty() else None, markup=False)


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """'3d', '5h', '12m', '40s' since an ISO timestamp."""
    if not timestamp:
        return "-"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ",".join(cell(v) for v in value)
    return str(value)
