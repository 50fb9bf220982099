"""What any request body may carry, whatever the route: a bounded nesting depth, no NUL and
no lone surrogate.

Both walks here are iterative (an explicit stack), so a body nested far beyond Python's
recursion limit is refused, never a crash. A NUL (`\\u0000`) cannot be stored in PostgreSQL
text, and a lone surrogate (JSON's `\\ud800` without its pair) is no Unicode character at all
(it cannot be encoded as UTF-8, for a database or a Kubernetes object), so both are refused in
every string, keys included, on both databases alike.
"""

from __future__ import annotations

import re
from typing import Any

from nimplane.domain.errors import ComplianceIssue, Invalid
from nimplane.domain.requests import issue_path

NUL = "\x00"
NUL_DETAILS = "contains a NUL character (\\u0000)"
SURROGATE_DETAILS = "contains a lone surrogate (\\ud800-\\udfff), which is not a Unicode character"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def too_deep(max_depth: int) -> Invalid:
    return Invalid(f"request body: nested deeper than {max_depth} levels")


def contains_nul(field: str, details: str = NUL_DETAILS) -> Invalid:
    return Invalid(f"{field}: {details}", [ComplianceIssue(field, details)])


def _unstorable(text: str) -> str | None:
    """Why `text` cannot be kept (a NUL or a lone surrogate in it), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return NUL_DETAILS if found.group() == NUL else SURROGATE_DETAILS


def _printable(path: str) -> str:
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", path)


# A node on the walk's stack: its value, its depth (the number of containers around it,
# itself included if it is one) and a link to its place: (key or index, parent's link).
_Link = tuple[int | str, Any] | None


def _path(link: _Link) -> str:
    parts: list[int | str] = []
    while link is not None:
        key, link = link
        parts.append(key)
    return _printable(issue_path(tuple(reversed(parts))) or "request body")


def check_body(value: Any, max_depth: int) -> None:
    """Raise `Invalid` if the parsed JSON `value` nests containers deeper than `max_depth`,
    or holds a NUL or a lone surrogate in any string or key (the first one found is named by
    its path)."""
    stack: list[tuple[Any, int, _Link]] = [(value, 0, None)]
    while stack:
        node, depth, link = stack.pop()
        if isinstance(node, str):
            if (details := _unstorable(node)) is not None:
                raise contains_nul(_path(link), details)
        elif isinstance(node, dict):
            if depth + 1 > max_depth:
                raise too_deep(max_depth)
            for key in node:
                if (details := _unstorable(key)) is not None:
                    raise contains_nul(_path((key, link)), details)
            # pushed last to first, so that the first problem in document order is named
            stack.extend((node[key], depth + 1, (key, link)) for key in reversed(node))
        elif isinstance(node, list):
            if depth + 1 > max_depth:
                raise too_deep(max_depth)
            stack.extend(
                (node[index], depth + 1, (index, link)) for index in range(len(node) - 1, -1, -1)
            )


def check_fields(fields: dict[str, str]) -> None:
    """Raise `Invalid` naming the first form field whose name or value holds a NUL or a lone
    surrogate."""
    for name, value in fields.items():
        details = _unstorable(name) or _unstorable(value)
        if details is not None:
            raise contains_nul(_printable(name), details)
