"""From a stored NIM service spec to the scheduler's `Workload` (docs/decisions.md S5).

`gpuDevicesRequest` whole devices; `gpuRequestType: portion` that portion of each of
`gpuDevicesRequest` devices; `memory` that much GPU memory on one device. GPU limits
(`gpuPortionLimit`, `gpuMemoryLimit`) do not take part in scheduling (KAI has none). Priority
and preemptibility come from the spec, with the defaults of docs/decisions.md D5 for anything
missing.
"""

from __future__ import annotations

import math
from decimal import Decimal

from nimplane.domain.catalog import (
    DEFAULT_PRIORITY_CLASS,
    PRIORITY_CLASSES,
    default_preemptibility,
)
from nimplane.domain.quantities import parse_quantity
from nimplane.domain.scheduling.model import (
    GangPlacement,
    GpuRequest,
    PodRequest,
    Toleration,
    Workload,
)
from nimplane.domain.spec import GpuRequestType, NimServiceSpec, Preemptibility

_MIB = Decimal(2**20)


def _mib(quantity: str | None) -> int:
    """A Kubernetes quantity of bytes in MiB, rounded up; 0 when absent or invalid."""
    if quantity is None:
        return 0
    value = parse_quantity(quantity)
    return 0 if value is None or value <= 0 else math.ceil(value / _MIB)


def pod_request(spec: NimServiceSpec) -> PodRequest:
    compute = spec.compute
    if compute is None:
        return PodRequest()
    devices = compute.gpuDevicesRequest or 0
    if compute.gpuRequestType is GpuRequestType.portion and compute.gpuPortionRequest:
        gpu = GpuRequest.fraction(compute.gpuPortionRequest, max(1, devices))
    elif compute.gpuRequestType is GpuRequestType.memory and _mib(compute.gpuMemoryRequest):
        gpu = GpuRequest.memory(_mib(compute.gpuMemoryRequest), 1)
    else:
        gpu = GpuRequest.whole(devices)
    cpu = round((compute.cpuCoreRequest or 0) * 1000)
    return PodRequest(gpu, cpu, _mib(compute.cpuMemoryRequest))


def tolerations(spec: NimServiceSpec) -> tuple[Toleration, ...]:
    out: list[Toleration] = []
    for item in spec.tolerations or ():
        if item.exclude:
            continue
        effect = None if item.effect is None or item.effect == "Any" else str(item.effect)
        operator = str(item.operator) if item.operator is not None else "Equal"
        out.append(Toleration(item.key, operator, item.value, effect))
    return tuple(out)


def workload_from_spec(
    workload_id: str,
    project: str,
    spec: NimServiceSpec,
    *,
    replicas: int | None = None,
    created: float = 0.0,
    name: str = "",
) -> Workload:
    """The scheduler's view of a NIM service. `replicas` overrides the spec's count (the
    autoscaler's current choice); without it: `replicas`, else `autoscaling.minReplicas`,
    else 1."""
    priority_class = spec.priorityClass or DEFAULT_PRIORITY_CLASS
    if spec.preemptibility is not None:
        preemptible = spec.preemptibility is Preemptibility.preemptible
    else:
        preemptible = default_preemptibility(priority_class) == "preemptible"
    if replicas is None:
        if spec.replicas is not None:
            replicas = spec.replicas
        elif spec.autoscaling is not None and spec.autoscaling.minReplicas is not None:
            replicas = spec.autoscaling.minReplicas
        else:
            replicas = 1
    workers = spec.multiNode.workers if spec.multiNode and spec.multiNode.workers else 0
    return Workload(
        id=workload_id,
        project=project,
        pod=pod_request(spec),
        priority=PRIORITY_CLASSES.get(priority_class, PRIORITY_CLASSES[DEFAULT_PRIORITY_CLASS]),
        preemptible=preemptible,
        replicas=replicas,
        workers=workers,
        node_pools=tuple(spec.nodePools or ()),
        tolerations=tolerations(spec),
        created=created,
        name=name,
    )


def placed_as_asked(gang: GangPlacement, request: PodRequest) -> bool:
    """Whether a gang's pods hold what the spec now asks of each pod. A gang placed for an
    earlier spec that asked for other resources cannot run the new spec's pods: when a roll
    reaches its replica, the replica is placed anew."""
    return all(pod.request == request for pod in gang.pods)
