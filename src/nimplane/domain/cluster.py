"""The physical cluster as the domain sees it: nodes with GPUs, and node pools over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

DEFAULT_NODE_POOL: Final = "default"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str | None
    effect: str  # NoSchedule | PreferNoSchedule | NoExecute


@dataclass(frozen=True)
class Node:
    """One node of the cluster and what it offers."""

    name: str
    gpu_count: int
    gpu_memory_mib: int
    gpu_product: str
    cpu_millicores: int
    memory_mib: int
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    ready: bool = True


@dataclass(frozen=True)
class NodePoolSelector:
    """A node pool's label selector; the `default` pool has none and takes the rest."""

    name: str
    label_key: str | None
    label_value: str | None


def pool_of(node: Node, pools: Iterable[NodePoolSelector]) -> str:
    """The node pool a node belongs to: the first pool whose label it carries, else `default`."""
    for pool in pools:
        if pool.label_key and node.labels.get(pool.label_key) == pool.label_value:
            return pool.name
    return DEFAULT_NODE_POOL
