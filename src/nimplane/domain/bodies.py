"""What any request body may carry, whatever the route: a bounded nesting depth and no NUL.

Both walks here are iterative (an explicit stack), so a body nested far beyond Python's
recursion limit is refused, never a crash. A NUL (`\\u0000`) cannot be stored in PostgreSQL
text, so it is refused in every string, keys included, on both databases alike.
"""

from __future__ import annotations

from typing import Any

from nimplane.domain.errors import ComplianceIssue, Invalid
from nimplane.domain.requests import issue_path

NUL = "\x00"
NUL_DETAILS = "contains a NUL character (\\u0000)"


def too_deep(max_depth: int) -> Invalid:
    return Invalid(f"request body: nested deeper than {max_depth} levels")


def contains_nul(field: str) -> Invalid:
    return Invalid(f"{field}: {NUL_DETAILS}", [ComplianceIssue(field, NUL_DETAILS)])


# A node on the walk's stack: its value, its depth (the number of containers around it,
# itself included if it is one) and a link to its place: (key or index, parent's link).
_Link = tuple[int | str, Any] | None


def _path(link: _Link) -> str:
    parts: list[int | str] = []
    while link is not None:
        key, link = link
        parts.append(key)
    return (issue_path(tuple(reversed(parts))) or "request body").replace(NUL, "\\u0000")


def check_body(value: Any, max_depth: int) -> None:
    """Raise `Invalid` if the parsed JSON `value` nests containers deeper than `max_depth`,
    or holds a NUL in any string or key (the first one found is named by its path)."""
    stack: list[tuple[Any, int, _Link]] = [(value, 0, None)]
    while stack:
        node, depth, link = stack.pop()
        if isinstance(node, str):
            if NUL in node:
                raise contains_nul(_path(link))
        elif isinstance(node, dict):
            if depth + 1 > max_depth:
                raise too_deep(max_depth)
            for key in node:
                if NUL in key:
                    raise contains_nul(_path((key, link)))
            # pushed last to first, so that the first problem in document order is named
            stack.extend((node[key], depth + 1, (key, link)) for key in reversed(node))
        elif isinstance(node, list):
            if depth + 1 > max_depth:
                raise too_deep(max_depth)
            stack.extend(
                (node[index], depth + 1, (index, link)) for index in range(len(node) - 1, -1, -1)
            )


def check_fields(fields: dict[str, str]) -> None:
    """Raise `Invalid` naming the first form field whose name or value holds a NUL."""
    for name, value in fields.items():
        if NUL in name or NUL in value:
            raise contains_nul(name.replace(NUL, "\\u0000"))
