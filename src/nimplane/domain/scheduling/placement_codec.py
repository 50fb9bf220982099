"""A workload's placements as the JSON document stored in its `placement` column, and back.

`{"gangs": [{"replica", "nodePool", "staleSince", "pods": [{"index", "node", "gpuDevices",
"gpus", "request": {...}}]}]}`. `gpus` is what the pod holds in GPU units (a memory request
counted against its node's device memory), for `allocatedResources`; the rest round-trips to
the scheduler's `GangPlacement` exactly, which the next cycle needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nimplane.domain.scheduling.model import (
    MILLI,
    GangPlacement,
    GpuKind,
    GpuRequest,
    PodPlacement,
    PodRequest,
)

Json = dict[str, Any]


def held_gpus(pod: PodPlacement, device_memory_mib: int) -> float:
    """The GPU units a placed pod holds: whole devices, portions, or memory over the device's."""
    gpu = pod.request.gpu
    devices = len(pod.gpu_devices)
    if gpu.kind is GpuKind.WHOLE:
        return float(devices)
    if gpu.kind is GpuKind.PORTION:
        return devices * gpu.portion_milli / MILLI
    if gpu.kind is GpuKind.MEMORY and device_memory_mib > 0:
        return round(devices * min(1.0, gpu.memory_mib / device_memory_mib), 3)
    return 0.0


def _request_json(request: PodRequest) -> Json:
    gpu = request.gpu
    return {
        "gpu": {
            "kind": gpu.kind.value,
            "devices": gpu.devices,
            "portion": gpu.portion,
            "memoryMib": gpu.memory_mib,
        },
        "cpuMillicores": request.cpu_millicores,
        "memoryMib": request.memory_mib,
    }


def _request_from(doc: Mapping[str, Any]) -> PodRequest:
    gpu = doc["gpu"]
    return PodRequest(
        GpuRequest(
            GpuKind(gpu["kind"]),
            int(gpu["devices"]),
            portion=float(gpu["portion"]),
            memory_mib=int(gpu["memoryMib"]),
        ),
        int(doc["cpuMillicores"]),
        int(doc["memoryMib"]),
    )


def placement_json(
    gangs: Iterable[GangPlacement], device_memory_mib: Mapping[str, int]
) -> Json | None:
    """The document for one workload's gangs (None when nothing is placed)."""
    docs = [
        {
            "replica": gang.replica,
            "nodePool": gang.node_pool,
            "staleSince": gang.stale_since,
            "pods": [
                {
                    "index": pod.index,
                    "node": pod.node,
                    "gpuDevices": list(pod.gpu_devices),
                    "gpus": held_gpus(pod, device_memory_mib.get(pod.node, 0)),
                    "request": _request_json(pod.request),
                }
                for pod in gang.pods
            ],
        }
        for gang in sorted(gangs, key=lambda g: g.replica)
    ]
    return {"gangs": docs} if docs else None


def gangs_from_json(workload_id: str, doc: Mapping[str, Any] | None) -> list[GangPlacement]:
    """The scheduler's placements of one workload, from its stored document."""
    if not doc:
        return []
    return [
        GangPlacement(
            workload_id=workload_id,
            replica=int(gang["replica"]),
            node_pool=str(gang["nodePool"]),
            pods=tuple(
                PodPlacement(
                    index=int(pod["index"]),
                    node=str(pod["node"]),
                    gpu_devices=tuple(int(d) for d in pod["gpuDevices"]),
                    request=_request_from(pod["request"]),
                )
                for pod in gang["pods"]
            ),
            stale_since=None if gang.get("staleSince") is None else float(gang["staleSince"]),
        )
        for gang in doc.get("gangs", ())
    ]
