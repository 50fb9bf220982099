"""From the organisation (departments, projects, node pools) to the scheduler's queues.

One queue per department and per project, keyed by unit kind and id (a department and a
project may share a name: the embedded ones are both `default`) and shown by name. Run:ai's
quota values map onto KAI's (docs/decisions.md S1.2): a GPU quota not set is 0 deserved and no
limit; CPU and memory not set are unlimited; memory is given in MB and scheduled in MiB; an
over-quota weight not set is `Medium`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from nimplane.domain.org import MB_PER_UNIT, Department, NodePool, OrgProject, PoolQuota
from nimplane.domain.org import UNLIMITED as ORG_UNLIMITED
from nimplane.domain.scheduling.model import (
    OVER_QUOTA_WEIGHTS,
    UNLIMITED,
    PlacementStrategy,
    PoolPlacement,
    Queue,
    QueueResources,
    ResourceQuota,
)

MIB_PER_MB: Final = 10**6 / 2**20
_DEFAULT_WEIGHT: Final = OVER_QUOTA_WEIGHTS["Medium"]


def department_queue(department_id: str) -> str:
    return f"department-{department_id}"


def project_queue(project_id: str) -> str:
    """The queue of a project: what a scheduler `Workload.project` names."""
    return f"project-{project_id}"


def _bound(value: float | None, unset: float, scale: float = 1.0) -> float:
    if value is None:
        return unset
    if value == ORG_UNLIMITED:
        return UNLIMITED
    return value * scale


def _resource(item: PoolQuota, kind: str, deserved_unset: float) -> ResourceQuota:
    quota = item.quota(kind)
    if quota is None:
        return ResourceQuota(deserved=deserved_unset)
    scale = 1.0
    if kind == "memory":
        scale = MB_PER_UNIT.get(item.memory_units or "MB", 1.0) * MIB_PER_MB
    weight = quota.over_quota_weight
    return ResourceQuota(
        deserved=_bound(quota.deserved, deserved_unset, scale),
        limit=_bound(quota.limit, UNLIMITED, scale),
        over_quota_weight=_DEFAULT_WEIGHT if weight is None else max(0.0, weight),
    )


def queue_resources(items: Sequence[PoolQuota]) -> dict[str, QueueResources]:
    """A unit's stored quota items as the scheduler's per-node-pool resources."""
    return {
        item.node_pool_name: QueueResources(
            gpu=_resource(item, "gpu", 0.0),
            cpu=_resource(item, "cpu", UNLIMITED),
            memory=_resource(item, "memory", UNLIMITED),
        )
        for item in items
        if item.node_pool_name is not None
    }


def queues_from_org(
    departments: Sequence[Department], projects: Sequence[OrgProject]
) -> list[Queue]:
    """Every department and project as a queue (departments at the top, projects under them)."""
    queues = [
        Queue(
            name=department_queue(d.id),
            resources=queue_resources(d.resources),
            created=d.created_at.timestamp(),
            display_name=d.name,
        )
        for d in departments
    ]
    queues += [
        Queue(
            name=project_queue(p.id),
            parent=department_queue(p.department_id),
            resources=queue_resources(p.resources),
            created=p.created_at.timestamp(),
            default_node_pools=tuple(p.default_node_pools or ()),
            display_name=p.name,
        )
        for p in projects
    ]
    return queues


def _strategy(value: object) -> PlacementStrategy:
    return PlacementStrategy.SPREAD if value == "spread" else PlacementStrategy.BINPACK


def placement_strategies(pools: Sequence[NodePool]) -> Mapping[str, PoolPlacement]:
    """Each node pool's `placementStrategy` (Run:ai: `{gpu, cpu}`, bin-pack unless `spread`)."""
    out: dict[str, PoolPlacement] = {}
    for pool in pools:
        given = pool.settings.get("placementStrategy")
        if isinstance(given, dict):
            out[pool.name] = PoolPlacement(
                gpu=_strategy(given.get("gpu")), cpu=_strategy(given.get("cpu"))
            )
    return out
