"""Pods of a NIM service: how they are named (the leader of each replica, and its workers when
the service spans several nodes) and what makes two pods the same template."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def pod_name(workload_name: str, replica: int, index: int) -> str:
    """Replica `replica`'s leader is `<name>-<replica>`; its worker `i` is `<name>-<replica>-<i>`
    (the LeaderWorkerSet convention the NIM Operator uses for multi-node services)."""
    base = f"{workload_name}-{replica}"
    return base if index == 0 else f"{base}-{index}"


def container_name(workload_name: str) -> str:
    """The NIM container of every pod of a service: the NIM Operator names it `<name>-ctr`."""
    return f"{workload_name}-ctr"


def pod_template(spec: Mapping[str, Any]) -> str:
    """What a pod is made from: the spec without the replica count and the autoscaling policy
    (changing those adds or removes pods, it does not replace them)."""
    template = {k: v for k, v in spec.items() if k not in {"replicas", "autoscaling"}}
    encoded = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
