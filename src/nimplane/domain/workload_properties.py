"""Run:ai's workload properties as nimplane has them: the categories, the priority classes and
the one workload type it runs (NIMService), each with a stable id.

They are fixed vocabularies (`catalog.py`), so their ids are name-based UUIDs (version 5) that
every replica and every restart computes alike.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from nimplane.domain.catalog import (
    DEFAULT_CATEGORIES,
    DEFAULT_CATEGORY,
    DEFAULT_PRIORITY_CLASS,
    NIM_GVK,
    NIM_WORKLOAD_TYPE,
    PRIORITY_CLASSES,
)

_NAMESPACE: Final = uuid.UUID("5f0c8a52-7d0e-4bb8-9f43-2a1d6c1e9b70")
PREDEFINED_AT: Final = datetime(2025, 1, 1, tzinfo=UTC)
"""The creation time shown for built-in objects (they have no real one)."""
PREDEFINED_BY: Final = "system"
RUNAI_SOURCE: Final = "Run:ai"


def stable_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{name}"))


@dataclass(frozen=True)
class WorkloadCategory:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class WorkloadPriority:
    id: str
    name: str
    value: int
    source: str = RUNAI_SOURCE


@dataclass(frozen=True)
class WorkloadType:
    id: str
    name: str
    group: str
    version: str
    category: WorkloadCategory
    priority: WorkloadPriority
    external: bool


_DESCRIPTIONS: Final = {
    "Build": "Interactive work on models: development environments and experiments.",
    "Train": "Training and fine-tuning of models.",
    "Deploy": "Models served for inference, such as NIM services.",
}
CATEGORIES: Final[tuple[WorkloadCategory, ...]] = tuple(
    WorkloadCategory(stable_id("category", name), name, _DESCRIPTIONS.get(name, ""))
    for name in DEFAULT_CATEGORIES
)
PRIORITIES: Final[tuple[WorkloadPriority, ...]] = tuple(
    WorkloadPriority(stable_id("priority", name), name, value)
    for name, value in PRIORITY_CLASSES.items()
)
_CATEGORY = {c.name: c for c in CATEGORIES}
_PRIORITY = {p.name: p for p in PRIORITIES}
WORKLOAD_TYPES: Final[tuple[WorkloadType, ...]] = (
    WorkloadType(
        id=stable_id("workload-type", NIM_WORKLOAD_TYPE),
        name=NIM_WORKLOAD_TYPE,
        group=NIM_GVK["group"],
        version=NIM_GVK["version"],
        category=_CATEGORY[DEFAULT_CATEGORY],
        priority=_PRIORITY[DEFAULT_PRIORITY_CLASS],
        external=True,
    ),
)
"""NIMService: a third-party type (the NIM Operator's custom resource), Deploy, very-high."""

TYPE_FIELDS: Final = ("name", "group")
PRIORITY_FIELDS: Final = ("name", "source", "value")


def type_field(item: WorkloadType, name: str) -> object:
    return {"name": item.name, "group": item.group}.get(name)


def priority_field(item: WorkloadPriority, name: str) -> object:
    return {"name": item.name, "source": item.source, "value": item.value}.get(name)
