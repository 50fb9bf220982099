"""Pods: how the pods of a NIM service are named (the leader of each replica, and its workers
when the service spans several nodes)."""

from __future__ import annotations


def pod_name(workload_name: str, replica: int, index: int) -> str:
    """Replica `replica`'s leader is `<name>-<replica>`; its worker `i` is `<name>-<replica>-<i>`
    (the LeaderWorkerSet convention the NIM Operator uses for multi-node services)."""
    base = f"{workload_name}-{replica}"
    return base if index == 0 else f"{base}-{index}"
