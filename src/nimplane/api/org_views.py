"""Organisation records -> Run:ai's JSON shapes (`Project`, `Department`, `Resources`,
`Nodepool`, `DisplayedCluster`, `Node`): the one place that decides how they look on the wire."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from nimplane import __version__
from nimplane.domain.org import (
    DEFAULT_POOL_LABEL,
    READY,
    Cluster,
    Department,
    NodePool,
    OrgProject,
    PlacedNode,
    PoolQuota,
    node_pool_phase,
    node_status,
    pool_quota_json,
    total_quota,
)
from nimplane.services.bootstrap import SYSTEM

Json = dict[str, Any]


def resources_view(items: Sequence[PoolQuota]) -> list[Json]:
    return [pool_quota_json(i) for i in items]


def total_resources_view(items: Sequence[PoolQuota]) -> Json:
    return {
        "gpuQuota": total_quota(items, "gpu"),
        "cpuQuota": total_quota(items, "cpu"),
        "memoryQuota": total_quota(items, "memory"),
    }


def _unit_view(unit: Department | OrgProject) -> Json:
    """What departments and projects share."""
    return {
        "id": unit.id,
        "name": unit.name,
        "clusterId": unit.cluster_id,
        "description": unit.description or "",
        "schedulingRules": unit.scheduling_rules,
        "defaultNodePools": _names(unit.default_node_pools),
        "nodeTypes": unit.node_types,
        "createdAt": unit.created_at,
        "updatedAt": unit.updated_at or unit.created_at,
        "createdBy": unit.created_by or SYSTEM,
        "updatedBy": unit.updated_by or unit.created_by or SYSTEM,
        "totalResources": total_resources_view(unit.resources),
        "resources": resources_view(unit.resources),
    }


def _names(names: tuple[str, ...] | None) -> list[str] | None:
    return None if names is None else list(names)


def project_view(p: OrgProject) -> Json:
    """Run:ai's `Project`; `effective` shows the project's own scheduling settings."""
    return {
        **_unit_view(p),
        "parentId": p.department_id,
        "parent": {"id": p.department_id, "name": p.department_name},
        "requestedNamespace": p.requested_namespace,
        "enforceRunaiScheduler": p.enforce_runai_scheduler,
        "status": {
            "namespace": p.namespace,
            "phase": READY,
            "phaseMessage": f"Project is ready in namespace {p.namespace}",
            "lastUpdatedTime": p.updated_at or p.created_at,
        },
        "effective": {
            "schedulingRules": p.scheduling_rules,
            "defaultNodePools": _names(p.default_node_pools),
            "nodeTypes": p.node_types,
        },
    }


def department_view(d: Department, *, for_list: bool = False) -> Json:
    """Run:ai's `Department` (or, in lists, `DepartmentForList`)."""
    view = {**_unit_view(d), "children": [{"id": c.id, "name": c.name} for c in d.children]}
    if not for_list:
        view["projectsAggregatedResources"] = [
            {
                "nodePool": {"id": a.node_pool_id, "name": a.node_pool_name},
                "gpu": {"deserved": a.deserved("gpu")},
                "cpu": {"deserved": a.deserved("cpu")},
                "memory": {"deserved": a.deserved("memory"), "units": "MB"},
            }
            for a in d.projects_resources
        ]
    return view


def node_pool_view(pool: NodePool) -> Json:
    """Run:ai's `Nodepool`, with the nodes it holds now in `status.nodes` (`default` shows
    `DEFAULT_POOL_LABEL`)."""
    phase = node_pool_phase(pool)
    return {
        "id": pool.id,
        "name": pool.name,
        "labelKey": pool.label_key or DEFAULT_POOL_LABEL[0],
        "labelValue": pool.label_value or DEFAULT_POOL_LABEL[1],
        "clusterId": pool.cluster_id,
        "clusterName": pool.cluster_name,
        "tenantId": pool.tenant_id,
        **pool.settings,
        "phase": phase,
        "phaseMessage": f"{len(pool.nodes)} node(s)" if pool.nodes else "no node is in the pool",
        "status": {
            "conditions": [],
            "gpuNetworkAccelerationDetected": False,
            "nodes": list(pool.nodes),
        },
        "createdBy": pool.created_by or SYSTEM,
        "createdAt": pool.created_at,
        "updatedBy": pool.updated_by or pool.created_by or SYSTEM,
        "updatedAt": pool.updated_at or pool.created_at,
        "deletedAt": None,
        "isDefault": pool.is_default,
    }


def cluster_view(c: Cluster, now: datetime, *, metadata_only: bool = False) -> Json:
    """Run:ai's `DisplayedCluster`: the backend runs in this process, so it is connected."""
    view: Json = {"uuid": c.id, "tenantId": c.tenant_id, "name": c.name, "createdAt": c.created_at}
    if metadata_only:
        return view
    return {
        **view,
        "domain": None,
        "version": __version__,
        "status": {"state": "Connected", "conditions": []},
        "updatedAt": c.created_at,
        "deletedAt": None,
        "lastLiveness": now,
        "deleteRequestedAt": None,
    }


def node_view(p: PlacedNode) -> Json:
    """Run:ai's `Node`: its pool, status, taints and GPUs."""
    node = p.node
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"nimplane:{p.cluster_id}:{node.name}")),
        "name": node.name,
        "clusterUuid": p.cluster_id,
        "status": node_status(node),
        "conditions": [],
        "taints": [
            {"key": t.key, "effect": t.effect, **({"value": t.value} if t.value else {})}
            for t in node.taints
        ],
        "nodePool": p.pool,
        "createdAt": p.since,
        "updatedAt": p.since,
        "gpuInfo": (
            {"gpuType": node.gpu_product, "gpuCount": node.gpu_count} if node.gpu_count else None
        ),
        "nvLinkDomainUid": None,
        "nvLinkCliqueId": None,
    }
