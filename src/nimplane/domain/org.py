"""The organisation: clusters, node pools, departments and projects with per-node-pool quotas.

Pure rules, no I/O: names and namespaces, quota values (Run:ai's `Resources`, with the special
values of docs/decisions.md S1.2: a deserved quota or a limit of -1 means unlimited), the quota
arithmetic, and the one rule that ties departments to projects: per node pool and resource, a
department's deserved quota is at least the sum of its projects' (docs/decisions.md O3).

A quota item is stored as it travels on the wire (`pool_quota_json`), so that a stored
organisation reads back exactly as it was given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from nimplane.domain.cluster import DEFAULT_NODE_POOL, Node, NodePoolSelector, pool_of
from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.rbac import ScopePath
from nimplane.domain.validation import (
    NAME_MAX,
    label_value_problem,
    qualified_name_problem,
    validate_name,
)

Json = dict[str, Any]

NAMESPACE_PREFIX: Final = "runai-"
NAMESPACE_RE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DEFAULT_DEPARTMENT_ID: Final = "1"
"""The embedded `default` department: where a project goes when it names no parent."""
DEFAULT_PROJECT_ID: Final = "1"
UNLIMITED: Final = -1.0
RESOURCE_KINDS: Final = ("gpu", "cpu", "memory")
UNIT_OF: Final[dict[str, str]] = {"gpu": " GPUs", "cpu": " millicores", "memory": " MB"}
MB_PER_UNIT: Final[dict[str, float]] = {"MB": 1.0, "Mib": 1.048576, "GB": 1000.0}
"""Memory quotas are compared and summed in MB (10^6 bytes), as KAI's queues count them."""
_EPSILON: Final = 1e-9


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """The Kubernetes cluster the organisation lives in (one per installation today)."""

    id: str
    name: str
    tenant_id: int
    created_at: datetime

    @property
    def scope(self) -> ScopePath:
        return ScopePath(tenant_id=str(self.tenant_id), cluster_id=self.id)


@dataclass(frozen=True)
class NodePool:
    """A labelled group of nodes. `default` has no label: it takes every node no other pool
    selects. `settings` holds Run:ai's optional scheduling fields as given."""

    id: str
    name: str
    cluster_id: str
    cluster_name: str
    tenant_id: int
    label_key: str | None
    label_value: str | None
    settings: Json
    created_at: datetime
    created_by: str | None
    updated_at: datetime | None
    updated_by: str | None
    nodes: tuple[str, ...] = ()
    """The names of the nodes the pool holds now (filled from the cluster backend)."""

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NODE_POOL

    @property
    def scope(self) -> ScopePath:
        return ScopePath(tenant_id=str(self.tenant_id), cluster_id=self.cluster_id)

    @property
    def selector(self) -> NodePoolSelector:
        return NodePoolSelector(self.name, self.label_key, self.label_value)


@dataclass(frozen=True)
class Quota:
    """One resource of one node pool: deserved (guaranteed), limit and over-quota weight.
    None means not set; -1 for `deserved` or `limit` means unlimited."""

    deserved: float | None = None
    limit: float | None = None
    over_quota_weight: float | None = None


GPU_DEFAULT: Final = Quota(deserved=0.0)


@dataclass(frozen=True)
class PoolQuota:
    """Run:ai's `Resources` item: the quotas of one org unit in one node pool.

    As given in a request, the node pool may be named by id, by name or not at all (the
    `default` pool), and a resource left out is None (for PATCH: unchanged). Stored and
    shown, `node_pool_id` and `node_pool_name` are set and a missing `gpu` means 0 GPUs;
    CPU (millicores) and memory (in `memory_units`) are unrestricted when not set.
    """

    node_pool_id: str | None = None
    node_pool_name: str | None = None
    gpu: Quota | None = None
    cpu: Quota | None = None
    memory: Quota | None = None
    memory_units: str | None = None
    priority: str | None = None

    def quota(self, kind: str) -> Quota | None:
        if kind == "gpu":
            return self.gpu or GPU_DEFAULT
        return self.cpu if kind == "cpu" else self.memory

    def deserved(self, kind: str) -> float | None:
        """The deserved quota of `kind` in GPUs, millicores or MB (None: not set)."""
        quota = self.quota(kind)
        if quota is None or quota.deserved is None:
            return None
        if kind == "memory" and quota.deserved != UNLIMITED:
            return quota.deserved * MB_PER_UNIT.get(self.memory_units or "MB", 1.0)
        return quota.deserved

    @property
    def is_default(self) -> bool:
        """Whether this item only restates what a pool without an item gets."""
        return (
            self.quota("gpu") == GPU_DEFAULT
            and self.cpu is None
            and self.memory is None
            and self.priority is None
        )


@dataclass(frozen=True)
class OrgRef:
    """An org unit by id and name (a department's children)."""

    id: str
    name: str


@dataclass(frozen=True)
class OrgUnitFields:
    """What a create or a PUT sets on a department or a project (Run:ai's updatable fields)."""

    description: str | None = None
    resources: tuple[PoolQuota, ...] = ()
    scheduling_rules: Json | None = None
    default_node_pools: tuple[str, ...] | None = None
    node_types: Json | None = None
    enforce_runai_scheduler: bool = True
    """Projects only."""


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    cluster_id: str
    tenant_id: int
    description: str | None
    resources: tuple[PoolQuota, ...]
    scheduling_rules: Json | None
    default_node_pools: tuple[str, ...] | None
    node_types: Json | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime | None
    updated_by: str | None
    children: tuple[OrgRef, ...] = ()
    """Its projects (filled for display)."""
    projects_resources: tuple[PoolQuota, ...] = ()
    """The sum of its projects' deserved quotas per node pool (filled for display)."""

    @property
    def scope(self) -> ScopePath:
        return ScopePath(
            tenant_id=str(self.tenant_id), cluster_id=self.cluster_id, department_id=self.id
        )

    @property
    def parent_scope(self) -> ScopePath:
        """The scope above it (its cluster): where its own quota and its deletion belong."""
        return ScopePath(tenant_id=str(self.tenant_id), cluster_id=self.cluster_id)

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_DEPARTMENT_ID


@dataclass(frozen=True)
class OrgProject:
    """A project as the organisation API shows it (the workload path uses the slimmer
    `domain.workloads.Project`)."""

    id: str
    name: str
    cluster_id: str
    tenant_id: int
    department_id: str
    department_name: str
    namespace: str
    requested_namespace: str | None
    description: str | None
    resources: tuple[PoolQuota, ...]
    scheduling_rules: Json | None
    default_node_pools: tuple[str, ...] | None
    node_types: Json | None
    enforce_runai_scheduler: bool
    created_at: datetime
    created_by: str | None
    updated_at: datetime | None
    updated_by: str | None

    @property
    def scope(self) -> ScopePath:
        return ScopePath(
            tenant_id=str(self.tenant_id),
            cluster_id=self.cluster_id,
            department_id=self.department_id,
            project_id=self.id,
        )

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_PROJECT_ID


@dataclass(frozen=True)
class PlacedNode:
    """A node of the cluster and the node pool it belongs to."""

    node: Node
    pool: str
    cluster_id: str
    since: datetime
    """Since when the cluster reports it."""


# --- names -----------------------------------------------------------------------------------


def validate_org_name(name: str, field: str = "name") -> list[ComplianceIssue]:
    """Department, project and node pool names: a DNS label that starts with a letter."""
    return validate_name(name, as_prefix=False, field=field)


def project_namespace(name: str, requested: str | None) -> str:
    """The Kubernetes namespace of a project: the requested one, else `runai-<name>`."""
    return requested or f"{NAMESPACE_PREFIX}{name}"


def validate_project_name(name: str, requested_namespace: str | None) -> list[ComplianceIssue]:
    issues = validate_org_name(name)
    if requested_namespace is None:
        namespace = project_namespace(name, None)
        limit = NAME_MAX - len(NAMESPACE_PREFIX)
        if len(namespace) > NAME_MAX and len(name) <= NAME_MAX:
            issues.append(
                ComplianceIssue(
                    "name",
                    f"a project name may have at most {limit} characters, so that its "
                    f"namespace '{NAMESPACE_PREFIX}<name>' has at most {NAME_MAX}; got "
                    f"{len(name)} (or give requestedNamespace)",
                    "max",
                )
            )
    elif len(requested_namespace) > NAME_MAX or not NAMESPACE_RE.fullmatch(requested_namespace):
        issues.append(
            ComplianceIssue(
                "requestedNamespace",
                f"'{requested_namespace}' is not a Kubernetes namespace name: at most "
                f"{NAME_MAX} lower-case letters, digits and '-', starting and ending with a "
                "letter or digit",
            )
        )
    return issues


# --- node pools ------------------------------------------------------------------------------


def validate_node_pool_labels(
    label_key: str | None, label_value: str | None, *, is_default: bool
) -> list[ComplianceIssue]:
    """A pool selects its nodes by one label; `default` selects none (it takes the rest)."""
    issues: list[ComplianceIssue] = []
    if is_default:
        for name, value in (("labelKey", label_key), ("labelValue", label_value)):
            if value is not None:
                issues.append(
                    ComplianceIssue(
                        name,
                        f"the '{DEFAULT_NODE_POOL}' node pool has no label: it holds every "
                        "node no other pool selects",
                    )
                )
        return issues
    if label_key is None:
        issues.append(ComplianceIssue("labelKey", "a node pool needs a label key", "required"))
    else:
        problem = qualified_name_problem(label_key)
        if problem:
            issues.append(ComplianceIssue("labelKey", problem))
    if label_value is None:
        issues.append(ComplianceIssue("labelValue", "a node pool needs a label value", "required"))
    else:
        problem = label_value_problem(label_value)
        if problem or not label_value:
            issues.append(
                ComplianceIssue("labelValue", problem or "the label value may not be empty")
            )
    return issues


def place_nodes(
    nodes: Iterable[Node], pools: Sequence[NodePool], cluster_id: str, since: datetime
) -> list[PlacedNode]:
    """Each node with the pool whose label it carries (pools in id order), else `default`."""
    selectors = [p.selector for p in pools if not p.is_default]
    return [PlacedNode(n, pool_of(n, selectors), cluster_id, since) for n in nodes]


def with_nodes(pools: Sequence[NodePool], nodes: Iterable[Node]) -> list[NodePool]:
    """The pools, each with the names of the nodes it holds."""
    selectors = [p.selector for p in pools if not p.is_default]
    members: dict[str, list[str]] = {}
    for node in nodes:
        members.setdefault(pool_of(node, selectors), []).append(node.name)
    return [replace(pool, nodes=tuple(members.get(pool.name, ()))) for pool in pools]


def validate_default_node_pools(
    names: Sequence[str] | None, pools: Sequence[NodePool], field: str = "defaultNodePools"
) -> list[ComplianceIssue]:
    """A project's or department's default node pool order names existing pools, once each."""
    if names is None:
        return []
    known = {p.name for p in pools}
    issues, seen = [], set()
    for index, name in enumerate(names):
        if name in seen:
            issues.append(ComplianceIssue(f"{field}[{index}]", f"'{name}' is listed twice"))
        elif name not in known:
            issues.append(
                ComplianceIssue(
                    f"{field}[{index}]",
                    f"node pool '{name}' does not exist (known: {', '.join(sorted(known))})",
                    "options",
                )
            )
        seen.add(name)
    return issues


# --- quotas ----------------------------------------------------------------------------------


def _bound_issue(value: float | None, field: str, what: str) -> ComplianceIssue | None:
    if value is None or value == UNLIMITED or value >= 0:
        return None
    return ComplianceIssue(
        field, f"{what} must be -1 (unlimited) or at least 0, got {fmt(value)}", "min"
    )


def quota_issues(quota: Quota, field: str) -> list[ComplianceIssue]:
    """The bounds of one resource: deserved and limit are -1 or >= 0, limit >= deserved,
    and the over-quota weight is >= 0."""
    issues = [
        issue
        for issue in (
            _bound_issue(quota.deserved, f"{field}.deserved", "deserved"),
            _bound_issue(quota.limit, f"{field}.limit", "limit"),
        )
        if issue is not None
    ]
    deserved, limit = quota.deserved, quota.limit
    if deserved is not None and limit is not None and limit >= 0 and not issues:
        if deserved == UNLIMITED:
            issues.append(
                ComplianceIssue(
                    f"{field}.limit",
                    f"an unlimited deserved quota cannot have a limit of {fmt(limit)}",
                )
            )
        elif limit < deserved:
            issues.append(
                ComplianceIssue(
                    f"{field}.limit",
                    f"limit {fmt(limit)} is less than deserved {fmt(deserved)}",
                    "min",
                )
            )
    weight = quota.over_quota_weight
    if weight is not None and weight < 0:
        issues.append(
            ComplianceIssue(
                f"{field}.overQuotaWeight",
                f"overQuotaWeight must be at least 0, got {fmt(weight)}",
                "min",
            )
        )
    return issues


def resolve_resources(
    items: Sequence[PoolQuota], pools: Sequence[NodePool], prefix: str = "resources"
) -> tuple[tuple[PoolQuota, ...], list[ComplianceIssue]]:
    """Name each item's node pool by id and name, and check every bound.

    An item names its pool by id, by name, or both (then they must agree); an item that names
    none is about the `default` pool. A pool may appear once. `prefix` is where the list sits
    in the request (issues are `<prefix>[i].gpu.deserved`, ...).
    """
    by_id = {p.id: p for p in pools}
    by_name = {p.name: p for p in pools}
    issues: list[ComplianceIssue] = []
    resolved: list[PoolQuota] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        at = f"{prefix}[{index}]"
        pool = _pool_of_item(item, by_id, by_name, f"{at}.nodePool", issues)
        for kind in RESOURCE_KINDS:
            quota = getattr(item, kind)
            if quota is not None:
                issues += quota_issues(quota, f"{at}.{kind}")
        if item.memory is not None and item.memory_units not in MB_PER_UNIT:
            issues.append(
                ComplianceIssue(
                    f"{at}.memory.units",
                    f"memory needs units, one of {', '.join(MB_PER_UNIT)}",
                    "required",
                )
            )
        if pool is None:
            continue
        if pool.id in seen:
            issues.append(
                ComplianceIssue(f"{at}.nodePool", f"node pool '{pool.name}' is given twice")
            )
        seen.add(pool.id)
        resolved.append(replace(item, node_pool_id=pool.id, node_pool_name=pool.name))
    return tuple(resolved), issues


def _pool_of_item(
    item: PoolQuota,
    by_id: Mapping[str, NodePool],
    by_name: Mapping[str, NodePool],
    field: str,
    issues: list[ComplianceIssue],
) -> NodePool | None:
    if item.node_pool_id is not None:
        pool = by_id.get(item.node_pool_id)
        if pool is None:
            issues.append(
                ComplianceIssue(
                    f"{field}.id", f"node pool {item.node_pool_id} does not exist", "options"
                )
            )
        elif item.node_pool_name is not None and item.node_pool_name != pool.name:
            issues.append(
                ComplianceIssue(
                    f"{field}.name",
                    f"node pool {pool.id} is '{pool.name}', not '{item.node_pool_name}'",
                )
            )
            return None
        return pool
    name = item.node_pool_name or DEFAULT_NODE_POOL
    pool = by_name.get(name)
    if pool is None:
        issues.append(
            ComplianceIssue(
                f"{field}.name",
                f"node pool '{name}' does not exist (known: {', '.join(sorted(by_name))})",
                "options",
            )
        )
    return pool


def merge_resources(
    stored: Sequence[PoolQuota], changes: Sequence[PoolQuota]
) -> tuple[PoolQuota, ...]:
    """PATCH: each changed pool's given resources (gpu, cpu, memory, priority) replace the
    stored ones whole; what a change leaves out, and pools it does not name, stay."""
    merged = {item.node_pool_id: item for item in stored}
    for change in changes:
        current = merged.get(change.node_pool_id)
        if current is None:
            merged[change.node_pool_id] = change
            continue
        memory_given = change.memory is not None
        merged[change.node_pool_id] = replace(
            current,
            node_pool_name=change.node_pool_name,
            gpu=change.gpu if change.gpu is not None else current.gpu,
            cpu=change.cpu if change.cpu is not None else current.cpu,
            memory=change.memory if memory_given else current.memory,
            memory_units=change.memory_units if memory_given else current.memory_units,
            priority=change.priority if change.priority is not None else current.priority,
        )
    return tuple(merged.values())


def effective_resources(
    stored: Sequence[PoolQuota], pools: Sequence[NodePool]
) -> tuple[PoolQuota, ...]:
    """One item per node pool, in the pools' order: the stored one, else the defaults
    (0 GPUs; CPU and memory unrestricted). Items of pools that no longer exist are dropped."""
    by_pool = {item.node_pool_id: item for item in stored}
    effective = []
    for pool in pools:
        item = by_pool.get(pool.id, PoolQuota())
        effective.append(
            replace(
                item,
                node_pool_id=pool.id,
                node_pool_name=pool.name,
                gpu=item.gpu or GPU_DEFAULT,
            )
        )
    return tuple(effective)


def _sum(values: Iterable[float | None]) -> float | None:
    """Sum of deserved quotas: None when none is set, -1 when any is unlimited."""
    given = [v for v in values if v is not None]
    if not given:
        return None
    if any(v == UNLIMITED for v in given):
        return UNLIMITED
    return math.fsum(given)


def total_quota(resources: Sequence[PoolQuota], kind: str) -> float | None:
    """Run:ai's `totalResources`: the deserved quota of `kind` over every node pool."""
    return _sum(item.deserved(kind) for item in resources)


def aggregate_resources(
    units: Sequence[Sequence[PoolQuota]], pools: Sequence[NodePool]
) -> tuple[PoolQuota, ...]:
    """Run:ai's `projectsAggregatedResources`: per node pool, the sum of the units' deserved
    GPU, CPU and memory (memory in MB)."""
    aggregated = []
    for pool in pools:
        items = [i for unit in units for i in unit if i.node_pool_id == pool.id]
        gpu, cpu, memory = (_sum(i.deserved(kind) for i in items) for kind in RESOURCE_KINDS)
        aggregated.append(
            PoolQuota(
                node_pool_id=pool.id,
                node_pool_name=pool.name,
                gpu=Quota(deserved=gpu or 0.0),
                cpu=Quota(deserved=cpu),
                memory=Quota(deserved=memory),
                memory_units="MB",
            )
        )
    return tuple(aggregated)


def fmt(value: float) -> str:
    """A quota as people write it: 4, 2.5, -1."""
    return f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def quota_shortfalls(
    department: Sequence[PoolQuota],
    projects: Sequence[tuple[str, Sequence[PoolQuota]]],
    pools: Sequence[NodePool],
    field_of: Callable[[str, str], str],
) -> list[ComplianceIssue]:
    """Every node pool and resource where the department's deserved quota is less than the
    sum of its projects' (`projects` are (name, resources) pairs).

    A department's CPU or memory quota that is not set, or -1, restricts nothing; a project's
    that is not set adds nothing, and an unlimited one (-1) exceeds any finite department
    quota. `field_of(pool_id, kind)` locates an issue in the request.
    """
    issues = []
    for pool in pools:
        own = next((i for i in department if i.node_pool_id == pool.id), PoolQuota())
        for kind in RESOURCE_KINDS:
            cap = own.deserved(kind)
            if cap is None or cap == UNLIMITED:
                continue
            parts = []
            for name, resources in projects:
                item = next((i for i in resources if i.node_pool_id == pool.id), None)
                value = item.deserved(kind) if item is not None else None
                if value:
                    parts.append((name, value))
            if not parts:
                continue
            unlimited = [name for name, value in parts if value == UNLIMITED]
            total = math.fsum(v for _, v in parts)
            if not unlimited and total <= cap + _EPSILON:
                continue
            unit = UNIT_OF[kind]
            each = ", ".join(
                f"{name} {'unlimited' if v == UNLIMITED else fmt(v)}" for name, v in parts
            )
            shown_total = "unlimited" if unlimited else f"{fmt(total)}{unit}"
            issues.append(
                ComplianceIssue(
                    field_of(pool.id, kind),
                    f"node pool '{pool.name}': the department's {kind} quota "
                    f"({fmt(cap)}{unit}) is less than the sum of its projects' quotas "
                    f"({shown_total}: {each})",
                    "min",
                )
            )
    return issues


# --- the wire (and stored) shape of a quota item ---------------------------------------------


def _quota_json(quota: Quota | None) -> Json | None:
    if quota is None:
        return None
    return {
        "deserved": quota.deserved,
        "limit": quota.limit,
        "overQuotaWeight": quota.over_quota_weight,
    }


def pool_quota_json(item: PoolQuota) -> Json:
    """Run:ai's `Resources` item."""
    memory = _quota_json(item.memory)
    if memory is not None:
        memory["units"] = item.memory_units
    return {
        "nodePool": {"id": item.node_pool_id, "name": item.node_pool_name},
        "gpu": _quota_json(item.gpu),
        "cpu": _quota_json(item.cpu),
        "memory": memory,
        "priority": item.priority,
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _quota_from(doc: Any) -> Quota | None:
    if not isinstance(doc, dict):
        return None
    return Quota(
        deserved=_number(doc.get("deserved")),
        limit=_number(doc.get("limit")),
        over_quota_weight=_number(doc.get("overQuotaWeight")),
    )


def pool_quota_from_json(doc: Mapping[str, Any]) -> PoolQuota:
    """The inverse of `pool_quota_json` (tolerant: what is missing is not set)."""
    given_pool = doc.get("nodePool")
    pool: Mapping[str, Any] = given_pool if isinstance(given_pool, dict) else {}
    memory = doc.get("memory")
    pool_id = pool.get("id")
    return PoolQuota(
        node_pool_id=None if pool_id is None else str(pool_id),
        node_pool_name=pool.get("name"),
        gpu=_quota_from(doc.get("gpu")),
        cpu=_quota_from(doc.get("cpu")),
        memory=_quota_from(memory),
        memory_units=memory.get("units") if isinstance(memory, dict) else None,
        priority=doc.get("priority") if isinstance(doc.get("priority"), str) else None,
    )


# --- list fields (Run:ai's filterBy / sortBy enums) -------------------------------------------

PROJECT_FIELDS: Final = (
    "name",
    "clusterId",
    "departmentId",
    "parentId",
    "parentName",
    "phase",
    "totalGpuQuota",
    "gpuAllocated",
    "createdAt",
    "avgGpuAllocation24h",
    "avgGpuUtilization24h",
    "avgGpuMemoryUtilization24h",
    "avgGpuAllocation7d",
    "avgGpuUtilization7d",
    "avgGpuMemoryUtilization7d",
    "avgGpuAllocation30d",
    "avgGpuUtilization30d",
    "avgGpuMemoryUtilization30d",
)
DEPARTMENT_FIELDS: Final = tuple(
    f for f in PROJECT_FIELDS if f not in ("departmentId", "parentId", "parentName", "phase")
)
NODE_POOL_FIELDS: Final = (
    "name",
    "phase",
    "clusterId",
    "createdAt",
    "updatedAt",
    "networkTopologyName",
    "gpuNetworkAccelerationDetection",
    "gpuNetworkAccelerationDetected",
    "gpuNetworkAccelerationLabelKey",
    "swapEnabled",
    "nodeLevelSchedulerEnabled",
)
NODE_FIELDS: Final = (
    "name",
    "status",
    "nodePool",
    "gpuType",
    "nvLinkDomainUid",
    "nvLinkCliqueId",
    "clusterUuid",
)
ORG_DATE_FIELDS: Final = frozenset({"createdAt", "updatedAt"})
READY: Final = "Ready"
DEFAULT_POOL_LABEL: Final = ("kai.scheduler/node-pool", "default")
"""What the `default` pool shows as its label (Run:ai requires one): KAI's node-pool label key.
The pool selects by no label; it holds every node no other pool selects."""


def project_field(p: OrgProject, name: str) -> Any:
    return {
        "name": p.name,
        "clusterId": p.cluster_id,
        "departmentId": p.department_id,
        "parentId": p.department_id,
        "parentName": p.department_name,
        "phase": READY,
        "totalGpuQuota": total_quota(p.resources, "gpu"),
        "gpuAllocated": 0.0,
        "createdAt": p.created_at,
    }.get(name)


def department_field(d: Department, name: str) -> Any:
    return {
        "name": d.name,
        "clusterId": d.cluster_id,
        "totalGpuQuota": total_quota(d.resources, "gpu"),
        "gpuAllocated": 0.0,
        "createdAt": d.created_at,
    }.get(name)


def node_pool_phase(pool: NodePool) -> str:
    return READY if pool.nodes else "Empty"


def node_pool_field(pool: NodePool, name: str) -> Any:
    settings = pool.settings
    optimization = settings.get("gpuResourceOptimization") or {}
    return {
        "name": pool.name,
        "phase": node_pool_phase(pool),
        "clusterId": pool.cluster_id,
        "createdAt": pool.created_at,
        "updatedAt": pool.updated_at or pool.created_at,
        "gpuNetworkAccelerationDetection": settings.get("gpuNetworkAccelerationDetection"),
        "gpuNetworkAccelerationDetected": False,
        "gpuNetworkAccelerationLabelKey": settings.get("gpuNetworkAccelerationLabelKey"),
        "swapEnabled": optimization.get("swapEnabled"),
        "nodeLevelSchedulerEnabled": optimization.get("nodeLevelSchedulerEnabled"),
    }.get(name)


def node_status(node: Node) -> str:
    return READY if node.ready else "NotReady"


def node_field(p: PlacedNode, name: str) -> Any:
    return {
        "name": p.node.name,
        "status": node_status(p.node),
        "nodePool": p.pool,
        "gpuType": p.node.gpu_product if p.node.gpu_count else None,
        "clusterUuid": p.cluster_id,
    }.get(name)


# --- over-provisioning ------------------------------------------------------------------------

_UNITS: Final[dict[str, str]] = {"gpu": "GPUs", "cpu": "millicores", "memory": "MB"}


def pool_capacity(pools: Sequence[NodePool], nodes: Iterable[Node]) -> dict[str, dict[str, float]]:
    """What the nodes of each pool (by id) have: GPUs, CPU millicores and memory in MB."""
    selectors = [p.selector for p in pools if not p.is_default]
    by_name = {p.name: p.id for p in pools}
    capacity = {p.id: {"gpu": 0.0, "cpu": 0.0, "memory": 0.0} for p in pools}
    for node in nodes:
        pool_id = by_name.get(pool_of(node, selectors))
        if pool_id is None:
            continue
        have = capacity[pool_id]
        have["gpu"] += node.gpu_count
        have["cpu"] += node.cpu_millicores
        have["memory"] += node.memory_mib * MB_PER_UNIT["Mib"]
    return capacity


def over_provisioned(
    resources: Sequence[PoolQuota],
    pools: Sequence[NodePool],
    nodes: Iterable[Node],
    what: str,
) -> list[str]:
    """A warning for each node pool and resource whose deserved quota is more than the pool's
    nodes have. Accepted, as Run:ai accepts it (ARCHITECTURE.md, Organisation): a deserved
    quota is a promise the scheduler keeps only as far as the nodes go."""
    capacity = pool_capacity(pools, nodes)
    names = {p.id: p.name for p in pools}
    warnings = []
    for item in resources:
        have = capacity.get(item.node_pool_id or "")
        if have is None:
            continue
        for kind in ("gpu", "cpu", "memory"):
            asked = item.deserved(kind)
            if asked is None or asked == UNLIMITED or asked <= have[kind]:
                continue
            warnings.append(
                f"{what}: deserved {kind} {fmt(asked)} {_UNITS[kind]} in node pool "
                f"'{names[item.node_pool_id or '']}' is more than its nodes have "
                f"({fmt(have[kind])} {_UNITS[kind]}): over-provisioned"
            )
    return warnings
