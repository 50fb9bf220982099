"""What the cluster runs for a workload, read from its Kubernetes objects (plain JSON dicts as
the API server serves them): the `NIMService`, its pods, the KAI `PodGroup`s of those pods and
the Events about them, mapped to the lifecycle engine's `Observation`. Pure.

A pod is `current` when its template-hash label (`with_template_hash`, put on the pods by
the adapter: the NIMService spec without its replica count) is the applied spec's."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from nimplane.domain.backend import Observation, ObservedPod, PendingReason
from nimplane.domain.conditions import Condition
from nimplane.domain.kubernetes.render import Manifest

GPU_RESOURCE: Final = "nvidia.com/gpu"
POD_GROUP_ANNOTATION: Final = "pod-group-name"
LWS_GROUP_INDEX: Final = "leaderworkerset.sigs.k8s.io/group-index"
LWS_WORKER_INDEX: Final = "leaderworkerset.sigs.k8s.io/worker-index"
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
SCALE_KEYS: Final = ("replicas", "scale")


def template_hash_label(prefix: str) -> str:
    return f"{prefix}/template-hash"


def manifests_hash(manifests: Sequence[Manifest]) -> str:
    """A stable digest of what is applied: equal manifests, equal digest."""
    text = json.dumps(list(manifests), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def with_template_hash(manifests: Sequence[Manifest], prefix: str) -> list[Manifest]:
    """The manifests with the NIMService's pods labelled by a digest of its spec without the
    replica count and autoscaling (what changes the pods, not how many there are)."""
    out: list[Manifest] = []
    for manifest in manifests:
        if manifest.get("kind") == "NIMService":
            spec = {k: v for k, v in manifest["spec"].items() if k not in SCALE_KEYS}
            digest = manifests_hash([spec])[:16]
            labels = {**manifest["spec"].get("labels", {}), template_hash_label(prefix): digest}
            manifest = {**manifest, "spec": {**manifest["spec"], "labels": labels}}
        out.append(manifest)
    return out


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class WorkloadObjects:
    """Everything the cache holds about one workload."""

    nim_service: Mapping[str, Any] | None = None
    pods: tuple[Mapping[str, Any], ...] = ()
    pod_groups: tuple[Mapping[str, Any], ...] = ()
    events: tuple[Mapping[str, Any], ...] = ()
    others: int = 0
    """Other objects of the workload still on the cluster (its PVC)."""


def observe(objects: WorkloadObjects, prefix: str) -> Observation:
    """The workload's `Observation` from its objects."""
    nim = objects.nim_service
    current_hash = None
    if nim is not None:
        current_hash = nim.get("spec", {}).get("labels", {}).get(template_hash_label(prefix))
    pods = _pods(objects.pods, current_hash, prefix)
    status: Mapping[str, Any] = (nim or {}).get("status") or {}
    conditions = tuple(_condition(c) for c in status.get("conditions") or [])
    failure = None
    if status.get("state") == "Failed":
        failed = next((c for c in conditions if c.type == "Failed"), None)
        reason = failed.reason if failed is not None else None
        detail = failed.message if failed is not None else None
        failure = "; ".join(x for x in (reason, detail) if x) or "the NIM Operator failed"
    model = status.get("model") or {}
    urls = tuple(str(model[k]) for k in ("externalEndpoint", "clusterEndpoint") if model.get(k))
    return Observation(
        pods=pods,
        present=nim is not None or bool(objects.pods) or objects.others > 0,
        pending=_pending(objects),
        conditions=conditions,
        urls=urls,
        failure=failure,
    )


def _condition(raw: Mapping[str, Any]) -> Condition:
    return Condition(
        type=str(raw.get("type", "")),
        status=str(raw.get("status", "Unknown")),
        reason=raw.get("reason") or None,
        message=raw.get("message") or None,
        last_transition_time=parse_time(raw.get("lastTransitionTime")),
    )


def _pods(
    raw: Sequence[Mapping[str, Any]], current_hash: str | None, prefix: str
) -> tuple[ObservedPod, ...]:
    """Pods in replica order: an LWS pod's group and worker index, else by age (a
    Deployment's pods have no ordinal; the oldest is replica 0)."""
    ordered = sorted(
        raw,
        key=lambda p: (
            p["metadata"].get("creationTimestamp") or "",
            p["metadata"].get("name", ""),
        ),
    )
    out = []
    for ordinal, pod in enumerate(ordered):
        labels = pod["metadata"].get("labels") or {}
        replica, index = ordinal, 0
        if LWS_GROUP_INDEX in labels:
            replica = _int(labels.get(LWS_GROUP_INDEX))
            index = _int(labels.get(LWS_WORKER_INDEX))
        out.append(_pod(pod, replica, index, current_hash, prefix))
    return tuple(out)


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _pod(
    pod: Mapping[str, Any], replica: int, index: int, current_hash: str | None, prefix: str
) -> ObservedPod:
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    containers = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    state, message = _state(phase, ready, spec.get("nodeName"), status, containers)
    pod_hash = (meta.get("labels") or {}).get(template_hash_label(prefix))
    return ObservedPod(
        id=str(meta.get("uid") or meta.get("name")),
        name=str(meta.get("name")),
        replica=replica,
        index=index,
        node=spec.get("nodeName") or None,
        k8s_phase=phase,
        ready=ready,
        restarts=restarts,
        state=state,
        message=message,
        current=current_hash is None or pod_hash == current_hash,
        created_at=parse_time(meta.get("creationTimestamp")) or EPOCH,
        gpus=pod_gpus(pod),
    )


def _state(
    phase: str,
    ready: bool,
    node: object,
    status: Mapping[str, Any],
    containers: Sequence[Mapping[str, Any]],
) -> tuple[str, str | None]:
    """What the pod does, as `kubectl describe` would say, and why."""
    for container in containers:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"]), waiting.get("message")
    for container in containers:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated and terminated.get("reason"):
            return str(terminated["reason"]), terminated.get("message")
    if phase == "Running":
        return ("Ready", None) if ready else ("NotReady", status.get("message"))
    if phase == "Pending":
        return ("ContainerCreating" if node else "Pending"), status.get("message")
    return phase, status.get("message") or status.get("reason")


def pod_gpus(pod: Mapping[str, Any]) -> float:
    """Whole GPUs from the containers' requests (limits when no request), else KAI's share
    annotations (`gpu-fraction` x `gpu-fraction-num-devices`); a `gpu-memory` share is not
    a known fraction of a device (0)."""
    whole = 0.0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        value = (resources.get("requests") or {}).get(GPU_RESOURCE)
        if value is None:
            value = (resources.get("limits") or {}).get(GPU_RESOURCE)
        whole += _float(value)
    if whole:
        return whole
    annotations = pod["metadata"].get("annotations") or {}
    fraction = _float(annotations.get("gpu-fraction"))
    devices = _float(annotations.get("gpu-fraction-num-devices")) or 1.0
    return fraction * devices


def _float(value: object) -> float:
    try:
        return float(str(value)) if value is not None else 0.0
    except ValueError:
        return 0.0


def _pending(objects: WorkloadObjects) -> tuple[PendingReason, ...]:
    """Why pods wait: the KAI PodGroups' unschedulable conditions, else the newest
    FailedScheduling event about a pod that has no node yet."""
    out: list[PendingReason] = []
    for group in objects.pod_groups:
        for condition in (group.get("status") or {}).get("conditions") or []:
            if str(condition.get("type", "")).startswith("Unschedulable") and (
                condition.get("status") != "False"
            ):
                reason = str(condition.get("reason") or condition.get("type"))
                out.append(PendingReason(reason, str(condition.get("message") or "")))
    if out:
        return tuple(dict.fromkeys(out))
    waiting = {
        p["metadata"].get("name") for p in objects.pods if not (p.get("spec") or {}).get("nodeName")
    }
    failed = [
        e
        for e in objects.events
        if e.get("reason") == "FailedScheduling"
        and (e.get("involvedObject") or {}).get("name") in waiting
    ]
    if failed:
        newest = max(failed, key=lambda e: event_time(e) or EPOCH)
        return (PendingReason("FailedScheduling", str(newest.get("message") or "")),)
    return ()


def event_time(event: Mapping[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        value = parse_time(event.get(key))
        if value is not None:
            return value
    return parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def pod_group_names(pods: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, name) of the PodGroups KAI linked these pods to."""
    out = set()
    for pod in pods:
        meta = pod["metadata"]
        name = (meta.get("annotations") or {}).get(POD_GROUP_ANNOTATION)
        if name:
            out.add((str(meta.get("namespace")), str(name)))
    return out


__all__ = [
    "WorkloadObjects",
    "event_time",
    "manifests_hash",
    "observe",
    "pod_gpus",
    "pod_group_names",
    "template_hash_label",
    "with_template_hash",
]
