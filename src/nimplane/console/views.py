"""What the console's pages show, computed from the services' typed results: table rows, the
GPU map, quota bars, and the new-service form (its controls, the request it makes, and which
control each of the server's complaints belongs to). Presentation only: no rule lives here."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nimplane.domain.autoscaling import wanted_replicas
from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.org import PlacedNode, PoolQuota
from nimplane.domain.workloads import DesiredPhase, Workload

PHASE_COLOURS = {
    "Running": "ok",
    "Pending": "wait",
    "Creating": "wait",
    "Initializing": "wait",
    "Resuming": "wait",
    "Updating": "wait",
    "Stopping": "idle",
    "Stopped": "idle",
    "Deleting": "idle",
    "Terminating": "idle",
    "Degraded": "warn",
    "Failed": "bad",
    "Unknown": "bad",
    "Completed": "idle",
}


def phase_colour(phase: str) -> str:
    return PHASE_COLOURS.get(phase, "idle")


def wanted(w: Workload) -> int:
    if w.desired_phase is not DesiredPhase.Running:
        return 0
    return wanted_replicas(w.spec, w.status.autoscaler)


def gpus_of(w: Workload) -> str:
    """What the workload asks for per replica: devices, a portion or memory of one."""
    compute = w.spec.get("compute") or {}
    if compute.get("gpuPortionRequest") is not None:
        return f"{compute['gpuPortionRequest']:g} of a GPU"
    if compute.get("gpuMemoryRequest") is not None:
        return f"{compute['gpuMemoryRequest']} of a GPU"
    return str(compute.get("gpuDevicesRequest", 0))


def age(since: datetime, now: datetime) -> str:
    seconds = max(int((now - since).total_seconds()), 0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- the GPU map --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    workload_id: str
    workload_name: str
    project: str
    share: float
    """The part of the device it holds (1.0 whole)."""


@dataclass
class GpuCell:
    index: int
    holders: list[Holder] = field(default_factory=list)

    @property
    def used(self) -> float:
        return min(sum(h.share for h in self.holders), 1.0)


@dataclass
class NodeRow:
    name: str
    pool: str
    product: str
    memory_gib: int
    state: str
    """ready, failed, drained or not-ready (a fault the caller may not see the kind of)."""
    gpus: list[GpuCell]

    @property
    def used(self) -> float:
        return sum(cell.used for cell in self.gpus)


def gpu_map(
    nodes: list[PlacedNode], faults: dict[str, str | None] | None, workloads: list[Workload]
) -> list[NodeRow]:
    """Every node with each device and who holds it, from the workloads' placements (the same
    document `allocatedResources` is computed from)."""
    rows: dict[str, NodeRow] = {}
    for placed in nodes:
        node = placed.node
        fault = (faults or {}).get(node.name)
        state = fault or ("ready" if node.ready else "not-ready")
        rows[node.name] = NodeRow(
            node.name,
            placed.pool,
            node.gpu_product,
            node.gpu_memory_mib // 1024,
            state,
            [GpuCell(i) for i in range(node.gpu_count)],
        )
    for w in workloads:
        for gang in (w.status.placement or {}).get("gangs", []):
            for pod in gang.get("pods", []):
                row = rows.get(str(pod.get("node")))
                devices = [int(d) for d in pod.get("gpuDevices", [])]
                if row is None or not devices:
                    continue
                share = float(pod.get("gpus", 0)) / len(devices)
                for device in devices:
                    if 0 <= device < len(row.gpus):
                        row.gpus[device].holders.append(
                            Holder(w.id, w.name, w.project.name, round(share, 3))
                        )
    return list(rows.values())


# --- quotas -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaBar:
    pool: str
    deserved: float | None
    limit: float | None
    weight: float | None
    allocated: float

    @property
    def scale(self) -> float:
        values = [v for v in (self.deserved, self.limit, self.allocated) if v and v > 0]
        return max(values) if values else 1.0

    def percent(self, value: float | None) -> int:
        return round(100 * (value or 0) / self.scale) if value and value > 0 else 0


def allocated_by_pool(workloads: list[Workload]) -> dict[tuple[str, str], float]:
    """GPUs held now per (project id, node pool)."""
    held: dict[tuple[str, str], float] = defaultdict(float)
    for w in workloads:
        for gang in (w.status.placement or {}).get("gangs", []):
            for pod in gang.get("pods", []):
                held[(w.project.id, str(gang.get("nodePool")))] += float(pod.get("gpus", 0))
    return held


def quota_bars(
    resources: tuple[PoolQuota, ...], allocated: dict[str, float], pools: list[str]
) -> list[QuotaBar]:
    by_pool = {r.node_pool_name: r for r in resources}
    bars = []
    for pool in pools:
        quota = by_pool.get(pool)
        gpu = quota.gpu if quota is not None else None
        bars.append(
            QuotaBar(
                pool,
                gpu.deserved if gpu else None,
                gpu.limit if gpu else None,
                gpu.over_quota_weight if gpu else None,
                round(allocated.get(pool, 0.0), 3),
            )
        )
    return bars


# --- the new NIM service form -------------------------------------------------------------------

FORM_FIELDS: dict[str, str] = {
    "name": "metadata.name",
    "project": "metadata.projectId",
    "image": "spec.image",
    "gpuDevices": "spec.compute.gpuDevicesRequest",
    "gpuPortion": "spec.compute.gpuPortionRequest",
    "gpuMemory": "spec.compute.gpuMemoryRequest",
    "nimCache": "spec.modelStore.nimCache",
    "pvcClaim": "spec.modelStore.pvc",
    "env": "spec.environmentVariables",
    "replicas": "spec.replicas",
    "minReplicas": "spec.autoscaling.minReplicas",
    "maxReplicas": "spec.autoscaling.maxReplicas",
    "metric": "spec.autoscaling.metric",
    "metricThreshold": "spec.autoscaling.metricThreshold",
    "workers": "spec.multiNode.workers",
    "nodePools": "spec.nodePools",
    "priority": "spec.priorityClass",
}
"""Each form control and the request field it fills (errors are matched back the same way)."""


def _number(text: str) -> Any:
    """An int or a float if the text is one; else the text, for the server to name."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = body
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def request_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The create request the form's filled controls make (empty ones are left out, so the
    server's defaults apply)."""
    body: dict[str, Any] = {"metadata": {}, "spec": {}}
    text = {k: v.strip() for k, v in form.items() if v.strip()}
    numbers = (
        "gpuDevices",
        "gpuPortion",
        "replicas",
        "minReplicas",
        "maxReplicas",
        "metricThreshold",
        "workers",
    )
    for control in ("name", "project", "image", "gpuMemory", "metric", "priority", *numbers):
        if control in text:
            value = _number(text[control]) if control in numbers else text[control]
            _put(body, FORM_FIELDS[control], value)
    # the form's "GPU share" and "GPU memory" controls say which kind of request it is
    kinds = [kind for kind, control in (("portion", "gpuPortion"), ("memory", "gpuMemory"))
             if control in text]  # fmt: skip
    if len(kinds) == 1:
        _put(body, "spec.compute.gpuRequestType", kinds[0])
    if "nimCache" in text:
        _put(body, "spec.modelStore.nimCache", {"name": text["nimCache"]})
    if "pvcClaim" in text:
        _put(body, "spec.modelStore.pvc", {"existingPvc": True, "claimName": text["pvcClaim"]})
    if "env" in text:
        variables = []
        for line in text["env"].splitlines():
            if line.strip():
                name, _, value = line.partition("=")
                variables.append({"name": name.strip(), "value": value.strip()})
        body["spec"]["environmentVariables"] = variables
    if "nodePools" in text:
        body["spec"]["nodePools"] = [p.strip() for p in text["nodePools"].split(",") if p.strip()]
    return body


def control_of(issue_field: str) -> str | None:
    """The form control a complaint about `issue_field` belongs to (the longest path that is
    it or encloses it), or None when no control fills it."""
    best: tuple[int, str] | None = None
    for control, path in FORM_FIELDS.items():
        encloses = issue_field == path or issue_field.startswith((path + ".", path + "["))
        if encloses and (best is None or len(path) > best[0]):
            best = (len(path), control)
    return best[1] if best else None


def errors_by_control(issues: list[ComplianceIssue]) -> tuple[dict[str, list[str]], list[str]]:
    """The server's complaints next to their controls, and those no control fills."""
    placed: dict[str, list[str]] = defaultdict(list)
    rest: list[str] = []
    for issue in issues:
        control = control_of(issue.field)
        if control is None:
            rest.append(f"{issue.field}: {issue.details}")
        else:
            placed[control].append(f"{issue.field}: {issue.details}")
    return dict(placed), rest


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
