"""`render_queues`: departments and projects as KAI-Scheduler `Queue` objects
(`scheduling.run.ai/v2`, cluster-scoped): one parent queue per department, one leaf queue per
project under it, named as the pods' queue label names it (the project's name).

Run:ai gives quotas per node pool; a KAI queue of this renderer has one set of resources, so
the pools are summed (docs: README "Kubernetes backend"): the quota and the limit are the sums
over the unit's pools (unlimited when one pool's is), the over-quota weight the largest of
its pools'. The values follow the scheduler's reading of Run:ai's quotas (`scheduling/
org_queues.py`): a GPU quota not set is 0 with no limit, CPU and memory not set are unlimited,
a weight not set is `Medium`; KAI's memory is in MB (10^6 bytes), its CPU in millicores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from nimplane.domain.kubernetes.render import Manifest
from nimplane.domain.kubernetes.settings import ClusterSettings
from nimplane.domain.org import Department, OrgProject
from nimplane.domain.scheduling.model import UNLIMITED, ResourceQuota
from nimplane.domain.scheduling.org_queues import MIB_PER_MB, queue_resources

QUEUE_API_VERSION: Final = "scheduling.run.ai/v2"
DEPARTMENT_PREFIX: Final = "department-"
KINDS: Final = ("gpu", "cpu", "memory")


def department_queue_name(department: Department) -> str:
    """A department's queue: `department-<name>` (a department and a project may share a
    name, the embedded ones are both `default`; a leaf queue is the project's bare name)."""
    return f"{DEPARTMENT_PREFIX}{department.name}"


def queue_labels(settings: ClusterSettings, unit: str, unit_id: str) -> dict[str, str]:
    """The owner labels of a queue: which org unit it mirrors (a sync deletes the others)."""
    prefix = settings.owner_label_prefix
    return {
        "app.kubernetes.io/managed-by": "nimplane",
        f"{prefix}/{unit}-id": unit_id,
    }


def _number(value: float) -> int | float:
    """Whole numbers as ints (so an unchanged quota re-renders byte for byte)."""
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) else rounded


def _summed(quotas: Sequence[ResourceQuota], scale: float) -> dict[str, Any]:
    def total(values: list[float]) -> int | float:
        if any(v == UNLIMITED for v in values):
            return UNLIMITED
        return _number(sum(values) * scale)

    return {
        "quota": total([q.deserved for q in quotas]),
        "limit": total([q.limit for q in quotas]),
        "overQuotaWeight": _number(max(q.over_quota_weight for q in quotas)),
    }


def _resources(unit: Department | OrgProject) -> dict[str, Any]:
    per_pool = list(queue_resources(unit.resources).values())
    out: dict[str, Any] = {}
    for kind in KINDS:
        quotas = [getattr(pool, kind) for pool in per_pool]
        if not quotas:  # no quota item at all: the defaults of a new node pool
            unset = 0.0 if kind == "gpu" else float(UNLIMITED)
            quotas = [ResourceQuota(deserved=unset)]
        scale = 1 / MIB_PER_MB if kind == "memory" else 1.0  # the scheduler's MiB to MB
        out[kind] = _summed(quotas, scale)
    return out


def render_queues(
    departments: Sequence[Department],
    projects: Sequence[OrgProject],
    settings: ClusterSettings,
) -> list[Manifest]:
    """Every department and project as a `Queue`, departments first, each list by name."""
    out: list[Manifest] = []
    names = {d.id: department_queue_name(d) for d in departments}
    for department in sorted(departments, key=lambda d: d.name):
        out.append(
            {
                "apiVersion": QUEUE_API_VERSION,
                "kind": "Queue",
                "metadata": {
                    "name": names[department.id],
                    "labels": queue_labels(settings, "department", department.id),
                },
                "spec": {"displayName": department.name, "resources": _resources(department)},
            }
        )
    for project in sorted(projects, key=lambda p: p.name):
        spec: dict[str, Any] = {"displayName": project.name, "resources": _resources(project)}
        parent = names.get(project.department_id)
        if parent is not None:
            spec["parentQueue"] = parent
        out.append(
            {
                "apiVersion": QUEUE_API_VERSION,
                "kind": "Queue",
                "metadata": {
                    "name": project.name,
                    "labels": queue_labels(settings, "project", project.id),
                },
                "spec": spec,
            }
        )
    return out


__all__ = ["QUEUE_API_VERSION", "department_queue_name", "queue_labels", "render_queues"]
