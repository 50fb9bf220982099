"""Where one pod goes: node and devices, by KAI's scoring tiers, through the capacity indexes.

Tiers, highest first (docs/decisions.md S3.2): a GPU-sharing pod goes to a device already shared
that it fits on; then a CPU-only pod prefers CPU-only nodes; then bin-pack (the fullest node
that fits: fewest free devices for GPU pods, least free CPU for CPU-only pods) or spread (the
emptiest). Inside a node, `gpupack` takes the most used device that fits (`gpuspread` with the
spread strategy: the least used). Ties go to the node that sorts first by name.

Searches use the indexes of `capacity`: whole devices walk the free-device buckets from the
request up (bin-pack) or from the top down (spread); a single shared device is a bisection of
the shared-device list. Requests over several shared devices and CPU-only pods scan the
nodes of the tolerated groups (rare for NIM services).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import NamedTuple

from nimplane.domain.scheduling.capacity import NodeGroup, NodeState, device_share
from nimplane.domain.scheduling.model import MILLI, GpuKind, PlacementStrategy, PodRequest


class PodFit(NamedTuple):
    node: NodeState
    devices: tuple[int, ...]
    milli: int
    mib: int


def find_pod_fit(
    nodes: list[NodeState],
    groups: Sequence[NodeGroup],
    request: PodRequest,
    gpu_strategy: PlacementStrategy,
    cpu_strategy: PlacementStrategy,
) -> PodFit | None:
    gpu = request.gpu
    if gpu.kind is GpuKind.NONE:
        return _cpu_only(groups, request, cpu_strategy)
    spread = gpu_strategy is PlacementStrategy.SPREAD
    if gpu.kind is GpuKind.WHOLE:
        node = _by_free_devices(nodes, groups, request, gpu.devices, spread)
        if node is None:
            return None
        return PodFit(node, _free_devices(node, gpu.devices), MILLI, node.dev_mem)
    if gpu.devices == 1:
        fit = _shared_device(nodes, groups, request, spread)
        if fit is not None:
            return fit
        node = _by_free_devices(nodes, groups, request, 1, spread)
        if node is None:
            return None
        milli, mib = device_share(request, node.dev_mem)
        return PodFit(node, _free_devices(node, 1), milli, mib)
    return _scan_shared(groups, request, spread)


def fits_on(node: NodeState, request: PodRequest, spread: bool = False) -> PodFit | None:
    """The devices `request` would take on `node`, if it fits there."""
    if node.free_cpu < request.cpu_millicores or node.free_mem < request.memory_mib:
        return None
    gpu = request.gpu
    if gpu.kind is GpuKind.NONE:
        return PodFit(node, (), 0, 0)
    if gpu.kind is GpuKind.WHOLE:
        if node.free_whole < gpu.devices:
            return None
        return PodFit(node, _free_devices(node, gpu.devices), MILLI, node.dev_mem)
    milli, mib = device_share(request, node.dev_mem)
    if gpu.kind is GpuKind.MEMORY and gpu.memory_mib > node.dev_mem:
        return None
    devices = _fitting_devices(node, milli, mib, gpu.devices, spread)
    return None if devices is None else PodFit(node, devices, milli, mib)


def _free_devices(node: NodeState, count: int) -> tuple[int, ...]:
    used_milli, used_mib = node.used_milli, node.used_mib
    out: list[int] = []
    for dev in range(node.gpu_count):
        if used_milli[dev] == 0 and used_mib[dev] == 0:
            out.append(dev)
            if len(out) == count:
                break
    return tuple(out)


def _fits_host(node: NodeState, request: PodRequest) -> bool:
    if node.free_cpu < request.cpu_millicores or node.free_mem < request.memory_mib:
        return False
    gpu = request.gpu
    return gpu.kind is not GpuKind.MEMORY or gpu.memory_mib <= node.dev_mem


def _by_free_devices(
    nodes: list[NodeState],
    groups: Sequence[NodeGroup],
    request: PodRequest,
    count: int,
    spread: bool,
) -> NodeState | None:
    """The first node (bin-pack: fewest free devices; spread: most) with `count` free devices
    and room for the pod's CPU and memory."""
    top = max((g.max_gpus for g in groups), default=0)
    if count > top:
        return None
    steps = range(top, count - 1, -1) if spread else range(count, top + 1)
    for k in steps:
        best: NodeState | None = None
        for group in groups:
            if k > group.max_gpus:
                continue
            for idx in group.buckets[k]:
                if best is not None and idx > best.idx:
                    break
                node = nodes[idx]
                if _fits_host(node, request):
                    best = node
                    break
        if best is not None:
            return best
    return None


def _shared_device(
    nodes: list[NodeState], groups: Sequence[NodeGroup], request: PodRequest, spread: bool
) -> PodFit | None:
    """The best shared device the pod fits on (bin-pack: least room left; spread: most)."""
    gpu = request.gpu
    best: tuple[int, int, int] | None = None
    best_fit: PodFit | None = None
    for group in groups:
        shared = group.shared
        if not shared:
            continue
        if gpu.kind is GpuKind.PORTION:
            least = gpu.portion_milli
        else:
            least = gpu.memory_mib * MILLI // max(1, group.max_dev_mem)
        start = bisect_left(shared, (least, -1, -1))
        positions = range(len(shared) - 1, start - 1, -1) if spread else range(start, len(shared))
        for pos in positions:
            room, idx, dev = shared[pos]
            node = nodes[idx]
            milli, mib = device_share(request, node.dev_mem)
            if room < milli or node.dev_mem - node.used_mib[dev] < mib:
                continue
            if not _fits_host(node, request):
                continue
            rank = (-room, idx, dev) if spread else (room, idx, dev)
            if best is None or rank < best:
                best = rank
                best_fit = PodFit(node, (dev,), milli, mib)
            break
    return best_fit


def _fitting_devices(
    node: NodeState, milli: int, mib: int, count: int, spread: bool
) -> tuple[int, ...] | None:
    used_milli, used_mib, dev_mem = node.used_milli, node.used_mib, node.dev_mem
    rooms = [
        (MILLI - used_milli[d], d)
        for d in range(node.gpu_count)
        if used_milli[d] + milli <= MILLI and used_mib[d] + mib <= dev_mem
    ]
    if len(rooms) < count:
        return None
    rooms.sort(key=(lambda r: (-r[0], r[1])) if spread else None)
    return tuple(sorted(d for _, d in rooms[:count]))


def _scan_shared(groups: Sequence[NodeGroup], request: PodRequest, spread: bool) -> PodFit | None:
    """A portion or memory on several devices of one node: scan the nodes."""
    gpu = request.gpu
    best: tuple[int, int, int] | None = None
    best_fit: PodFit | None = None
    for group in groups:
        for node in group.nodes:
            if node.gpu_count < gpu.devices or not _fits_host(node, request):
                continue
            milli, mib = device_share(request, node.dev_mem)
            devices = _fitting_devices(node, milli, mib, gpu.devices, spread)
            if devices is None:
                continue
            uses_shared = any(node.used_milli[d] or node.used_mib[d] for d in devices)
            rank = (
                0 if uses_shared else 1,
                -node.free_whole if spread else node.free_whole,
                node.idx,
            )
            if best is None or rank < best:
                best = rank
                best_fit = PodFit(node, devices, milli, mib)
    return best_fit


def _cpu_only(
    groups: Sequence[NodeGroup], request: PodRequest, strategy: PlacementStrategy
) -> PodFit | None:
    """A pod without GPUs: CPU-only nodes first, then by free CPU."""
    spread = strategy is PlacementStrategy.SPREAD
    best: tuple[int, int, int] | None = None
    best_node: NodeState | None = None
    for group in groups:
        if group.free_cpu < request.cpu_millicores or group.free_mem < request.memory_mib:
            continue
        for node in group.nodes:
            if node.free_cpu < request.cpu_millicores or node.free_mem < request.memory_mib:
                continue
            rank = (
                1 if node.gpu_count else 0,
                -node.free_cpu if spread else node.free_cpu,
                node.idx,
            )
            if best is None or rank < best:
                best = rank
                best_node = node
    return None if best_node is None else PodFit(best_node, (), 0, 0)
