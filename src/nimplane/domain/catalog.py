"""Run:ai's fixed vocabularies: priority classes, categories, and the NIM service workload type."""

from __future__ import annotations

from typing import Final

PRIORITY_CLASSES: Final[dict[str, int]] = {
    "very-low": 25,
    "low": 40,
    "medium-low": 65,
    "medium": 80,
    "medium-high": 90,
    "high": 125,
    "very-high": 150,
}
"""Priority class name -> Kubernetes PriorityClass value."""

NON_PREEMPTIBLE_BY_DEFAULT: Final[frozenset[str]] = frozenset({"high", "very-high"})

DEFAULT_PRIORITY_CLASS: Final = "very-high"
DEFAULT_CATEGORY: Final = "Deploy"
DEFAULT_CATEGORIES: Final[tuple[str, ...]] = ("Build", "Train", "Deploy")

NIM_GVK: Final[dict[str, str]] = {
    "group": "apps.nvidia.com",
    "version": "v1alpha1",
    "kind": "NIMService",
}
NIM_WORKLOAD_TYPE: Final = "NIMService"


def default_preemptibility(priority_class: str) -> str:
    """docs/decisions.md D5: `high` and `very-high` are non-preemptible, the other five
    preemptible."""
    return "non-preemptible" if priority_class in NON_PREEMPTIBLE_BY_DEFAULT else "preemptible"
