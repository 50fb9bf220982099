"""docs/decisions.md D2: how a PATCH body changes a stored spec (section replace, `fieldsToRemove`,
replicas)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from nimplane.domain.errors import ComplianceIssue

Json = dict[str, Any]

AUTOSCALING_OWNS_REPLICAS = (
    "replicas was ignored: autoscaling owns the replica count of this NIM service. "
    'To set a fixed count, send fieldsToRemove: ["autoscaling"] with replicas.'
)
AUTOSCALING_DROPS_REPLICAS = (
    "replicas was dropped: autoscaling is given and owns the replica count "
    "(minReplicas..maxReplicas)."
)


@dataclass
class SpecChange:
    """The outcome of applying a request to a spec: the new spec, warnings and conflicts."""

    spec: Json
    warnings: list[str] = field(default_factory=list)
    issues: list[ComplianceIssue] = field(default_factory=list)


def resolve_replicas_on_create(spec: Json) -> SpecChange:
    """docs/decisions.md D6: `replicas` given with `autoscaling` on create is dropped, with a
    warning."""
    if "autoscaling" in spec and "replicas" in spec:
        out = dict(spec)
        del out["replicas"]
        return SpecChange(out, [AUTOSCALING_DROPS_REPLICAS])
    return SpecChange(spec)


def merge_spec(stored: Json, given: Json, fields_to_remove: list[str]) -> SpecChange:
    """Replace each given top-level section whole, remove the listed ones, settle replicas."""
    issues = [
        ComplianceIssue(
            "fieldsToRemove",
            f"'{name}' is both given in spec and listed in fieldsToRemove; do one or the other",
        )
        for name in fields_to_remove
        if name in given
    ]
    merged = copy.deepcopy(stored)
    for name in fields_to_remove:
        merged.pop(name, None)
    warnings: list[str] = []
    if "autoscaling" in given:
        merged.pop("replicas", None)
        if "replicas" in given:
            warnings.append(AUTOSCALING_DROPS_REPLICAS)
    elif "replicas" in given and "autoscaling" in merged:
        warnings.append(AUTOSCALING_OWNS_REPLICAS)
        given = {k: v for k, v in given.items() if k != "replicas"}
    merged.update(copy.deepcopy(given))
    if "autoscaling" in merged:
        merged.pop("replicas", None)
    return SpecChange(merged, warnings, issues)
