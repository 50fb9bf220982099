"""Conditions with Kubernetes semantics: a list keyed by `type`; `lastTransitionTime` changes
only when a condition's status flips."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime | None = None


def set_condition(
    conditions: tuple[Condition, ...],
    type_: str,
    status: bool | None,
    now: datetime,
    *,
    reason: str | None = None,
    message: str | None = None,
) -> tuple[Condition, ...]:
    """The list with `type_` set; its transition time moves only if its status changed."""
    text = "Unknown" if status is None else ("True" if status else "False")
    updated: list[Condition] = []
    found = False
    for condition in conditions:
        if condition.type != type_:
            updated.append(condition)
            continue
        found = True
        flipped = condition.status != text
        updated.append(
            replace(
                condition,
                status=text,
                reason=reason,
                message=message,
                last_transition_time=now if flipped else condition.last_transition_time,
            )
        )
    if not found:
        updated.append(Condition(type_, text, reason, message, now))
    return tuple(updated)
