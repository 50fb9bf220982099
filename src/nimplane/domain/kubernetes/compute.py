"""Compute for Kubernetes: cores as quantity strings, whole GPUs as `nvidia.com/gpu`, and a
GPU share (portion or memory) as KAI's annotations, never both."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal
from typing import Any

from nimplane.domain.quantities import parse_quantity
from nimplane.domain.spec import NimServiceCompute

GPU_RESOURCE = "nvidia.com/gpu"
MIB = Decimal(2**20)


def shares_gpu(compute: NimServiceCompute | None) -> bool:
    """Whether the workload asks for a part of a GPU (a portion below 1, or GPU memory)."""
    if compute is None or compute.gpuRequestType is None:
        return False
    if str(compute.gpuRequestType) == "memory":
        return True
    return compute.gpuPortionRequest is not None and compute.gpuPortionRequest < 1


def whole_gpus(compute: NimServiceCompute | None) -> int:
    """The whole GPU devices a pod asks for (`nvidia.com/gpu`); 0 when it shares GPUs. A
    portion of exactly 1 is a whole device each."""
    if compute is None or shares_gpu(compute):
        return 0
    if compute.gpuRequestType is not None:  # portion 1
        return compute.gpuDevicesRequest or 1
    return compute.gpuDevicesRequest or 0


def cpu_quantity(cores: float) -> str:
    """Cores as a Kubernetes quantity string: whole cores plain, else millicores, rounded up
    (a float would fail the CRD's int-or-string)."""
    millis = int((Decimal(repr(cores)) * 1000).to_integral_value(rounding=ROUND_CEILING))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def resources(compute: NimServiceCompute | None) -> dict[str, Any]:
    if compute is None:
        return {}
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if compute.cpuCoreRequest is not None:
        requests["cpu"] = cpu_quantity(compute.cpuCoreRequest)
    if compute.cpuCoreLimit is not None:
        limits["cpu"] = cpu_quantity(compute.cpuCoreLimit)
    if compute.cpuMemoryRequest is not None:
        requests["memory"] = compute.cpuMemoryRequest
    if compute.cpuMemoryLimit is not None:
        limits["memory"] = compute.cpuMemoryLimit
    gpus = whole_gpus(compute)
    if gpus:  # an extended resource: requests equal limits
        requests[GPU_RESOURCE] = gpus
        limits[GPU_RESOURCE] = gpus
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def gpu_memory_mib(quantity: str) -> int:
    """KAI's `gpu-memory` is whole MiB: a quantity rounded up."""
    value = parse_quantity(quantity) or Decimal(0)
    return max(1, math.ceil(value / MIB))


def gpu_sharing_annotations(compute: NimServiceCompute | None) -> dict[str, str]:
    """KAI's GPU-sharing annotations for a portion or a memory request (never together with
    `nvidia.com/gpu`). A limit (`gpuPortionLimit`, `gpuMemoryLimit`: Run:ai's dynamic GPU
    fractions) is carried as Run:ai's `gpu-fraction-limit` / `gpu-memory-limit` annotation,
    which KAI ignores (it schedules on the request)."""
    if compute is None or not shares_gpu(compute):
        return {}
    out: dict[str, str] = {}
    if str(compute.gpuRequestType) == "memory":
        out["gpu-memory"] = str(gpu_memory_mib(compute.gpuMemoryRequest or "0"))
        if compute.gpuMemoryLimit is not None:  # Run:ai only, as gpu-fraction-limit
            out["gpu-memory-limit"] = str(gpu_memory_mib(compute.gpuMemoryLimit))
    else:
        out["gpu-fraction"] = repr(compute.gpuPortionRequest)
        if compute.gpuPortionLimit is not None:
            out["gpu-fraction-limit"] = repr(compute.gpuPortionLimit)  # Run:ai only
    if (compute.gpuDevicesRequest or 0) > 1:
        out["gpu-fraction-num-devices"] = str(compute.gpuDevicesRequest)
    return out
