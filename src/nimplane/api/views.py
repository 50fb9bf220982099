"""Workload -> Run:ai's JSON shapes (`NimServiceResponse`, `WorkloadV2`, v1 `Workload`).

The one place that decides how a stored workload looks on the wire.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from nimplane.domain.backend import ObservedPod
from nimplane.domain.catalog import NIM_GVK, PRIORITY_CLASSES
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.history import HistoryRecord
from nimplane.domain.phases import Phase, totals
from nimplane.domain.workloads import Workload, allocated_gpus

Json = dict[str, Any]


def metadata_view(w: Workload) -> Json:
    """Run:ai's `WorkloadV2Metadata`, with the effective priority, category and preemptibility."""
    return {
        "name": w.name,
        "projectId": w.project.id,
        "priority": w.priority_class,
        "category": w.category,
        "preemptibility": w.preemptibility,
        "id": w.id,
        "gvk": NIM_GVK,
        "projectName": w.project.name,
        "clusterId": w.project.cluster_id,
        "tenantId": w.project.tenant_id,
        "departmentId": w.project.department_id,
        "departmentName": w.project.department_name,
        "createdAt": w.created_at,
        "createdBy": w.created_by,
        "updatedAt": w.updated_at,
        "updatedBy": w.updated_by,
        "deletedAt": w.deleted_at,
        "deletedBy": w.deleted_by,
    }


def nim_service_view(w: Workload) -> Json:
    return {"metadata": metadata_view(w), "desiredPhase": w.desired_phase.value, "spec": w.spec}


def manifest_identity(w: Workload) -> Json:
    """The Kubernetes object this workload becomes (its spec is rendered by the backend)."""
    return {
        "apiVersion": f"{NIM_GVK['group']}/{NIM_GVK['version']}",
        "kind": NIM_GVK["kind"],
        "metadata": {"name": w.name, "namespace": w.project.namespace},
    }


def workload_v2_view(w: Workload) -> Json:
    return {
        "metadata": metadata_view(w),
        "desiredPhase": w.desired_phase.value,
        "workloadManifest": manifest_identity(w),
        "rawManifest": w.spec,
    }


def _conditions_view(w: Workload) -> list[Json]:
    return [
        {
            "type": c.type,
            "status": c.status,
            "reason": c.reason,
            "message": c.message,
            "lastTransitionTime": c.last_transition_time,
        }
        for c in w.status.conditions
    ]


def serving_urls(w: Workload) -> list[str]:
    """Where the service answers once a pod is ready: its in-cluster Service address (the NIM
    Operator names the Service after the NIMService, in the project's namespace)."""
    if not w.status.running_pods:
        return []
    port = (w.spec.get("servingPort") or {}).get("port", 8000)
    return [f"http://{w.name}.{w.project.namespace}.svc.cluster.local:{port}"]


def workload_v1_view(w: Workload, now: datetime, *, detailed: bool = False) -> Json:
    """Run:ai's v1 `Workload` (and `WorkloadDetailed` with pending scheduling messages)."""
    spec = w.spec
    status = w.status
    compute = spec.get("compute", {})
    gangs: list[Json] = (status.placement or {}).get("gangs", [])
    pending_seconds, running_seconds = totals(status.phase_state, now)
    view: Json = {
        "type": w.workload_type,
        "name": w.name,
        "id": w.id,
        "source": "Control-plane",
        "sourceApi": "WorkloadsV2",
        "priority": PRIORITY_CLASSES.get(w.priority_class),
        "priorityClassName": w.priority_class,
        "clusterId": w.project.cluster_id,
        "projectName": w.project.name,
        "projectId": w.project.id,
        "departmentName": w.project.department_name,
        "departmentId": w.project.department_id,
        "namespace": w.project.namespace,
        "createdAt": w.created_at,
        "submittedBy": w.created_by,
        "phase": status.phase.value,
        "phaseMessage": status.phase_message or "",
        "phaseReason": status.phase_reason,
        "conditions": _conditions_view(w),
        "k8sPhase": "" if status.phase is Phase.Creating else status.phase.value,
        "tenantId": w.project.tenant_id,
        "runningPods": status.running_pods,
        "phaseUpdatedAt": status.phase_updated_at,
        "k8sPhaseUpdatedAt": status.phase_updated_at,
        "updatedAt": w.updated_at,
        "deletedAt": w.deleted_at,
        "category": w.category,
        "preemptible": w.preemptibility == "preemptible",
        "requestedNodePools": spec.get("nodePools", []),
        "currentNodePools": sorted({str(gang["nodePool"]) for gang in gangs}),
        "images": [spec["image"]] if "image" in spec else [],
        "urls": serving_urls(w),
        "completedAt": None,
        "totalPendingTimeSeconds": pending_seconds,
        "totalRunningTimeSeconds": running_seconds,
        "actionsSupport": {"delete": True, "suspend": True},
        "workloadRequestedResources": {
            "gpuRequestType": compute.get("gpuRequestType"),
            "gpu": {"request": compute.get("gpuDevicesRequest")},
        },
        "allocatedResources": {"gpu": allocated_gpus(status.placement)},
    }
    if detailed:
        view["pendingSchedulingMessages"] = list(status.pending_messages)
    return view


def event_view(e: WorkloadEvent, cluster_id: str, workload: Workload) -> Json:
    """Run:ai's `Event2`: about one of the workload's pods, or the workload itself."""
    namespace = workload.project.namespace
    if e.involved_object:
        pod_uid = str(uuid.uuid5(uuid.UUID(workload.id), e.involved_object))
        involved = {"uid": pod_uid, "kind": "Pod", "name": e.involved_object}
    else:
        involved = {"uid": workload.id, "kind": "NIMService", "name": workload.name}
    return {
        "id": e.id,
        "createdAt": e.timestamp,
        "type": e.type,
        "clusterId": cluster_id,
        "message": e.message,
        "reason": e.reason,
        "source": e.source,
        "involvedObject": {**involved, "namespace": namespace},
    }


def history_record_view(record: HistoryRecord, cluster_id: str, workload: Workload) -> Json:
    """Run:ai's `HistoryRecord1`: an event (as `Event2`) or a phase update."""
    if isinstance(record, WorkloadEvent):
        return {
            "meta": {"creationTimestamp": record.timestamp, "type": "Event"},
            "spec": {"event": event_view(record, cluster_id, workload)},
        }
    return {
        "meta": {"creationTimestamp": record.timestamp, "type": "PhaseUpdate"},
        "spec": {
            "phaseUpdate": {"phase": record.phase.value, "phaseMessage": record.message or ""}
        },
    }


def pod_view(pod: ObservedPod, workload: Workload, node_pool: str | None) -> Json:
    """One entry of `GET /api/v1/workloads/{workloadId}/pods`."""
    return {
        "id": pod.id,
        "name": pod.name,
        "workloadId": workload.id,
        "clusterId": workload.project.cluster_id,
        "projectId": workload.project.id,
        "tenantId": workload.project.tenant_id,
        "nodeName": pod.node or "",
        "currentNodePool": node_pool,
        "k8sPhase": pod.k8s_phase,
        "ready": pod.ready,
        "createdAt": pod.created_at,
        "priorityClassName": workload.priority_class,
        "allocatedResources": {"gpu": pod.gpus, "gpuDevices": list(pod.gpu_devices)},
        "containers": [
            {
                "name": "nim",
                "image": str(workload.spec.get("image", "")),
                "ready": pod.ready,
                "restartCount": pod.restarts,
                "state": pod.state,
                "message": pod.message,
            }
        ],
    }
