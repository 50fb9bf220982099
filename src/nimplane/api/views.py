"""Workload -> Run:ai's JSON shapes (`NimServiceResponse`, `WorkloadV2`, v1 `Workload`).

The one place that decides how a stored workload looks on the wire.
"""

from __future__ import annotations

from typing import Any

from nimplane.domain.catalog import NIM_GVK, PRIORITY_CLASSES
from nimplane.domain.workloads import Phase, Workload

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


def workload_v1_view(w: Workload, *, detailed: bool = False) -> Json:
    """Run:ai's v1 `Workload` (and `WorkloadDetailed` with pending scheduling messages)."""
    spec = w.spec
    compute = spec.get("compute", {})
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
        "phase": w.phase.value,
        "phaseMessage": w.phase_message or "",
        "conditions": [],
        "k8sPhase": "" if w.phase is Phase.Creating else w.phase.value,
        "tenantId": w.project.tenant_id,
        "runningPods": 0,
        "phaseUpdatedAt": w.phase_updated_at,
        "k8sPhaseUpdatedAt": w.phase_updated_at,
        "updatedAt": w.updated_at,
        "deletedAt": w.deleted_at,
        "category": w.category,
        "preemptible": w.preemptibility == "preemptible",
        "requestedNodePools": spec.get("nodePools", []),
        "images": [spec["image"]] if "image" in spec else [],
        "urls": [],
        "completedAt": None,
        "totalPendingTimeSeconds": 0,
        "totalRunningTimeSeconds": 0,
        "actionsSupport": {"delete": True, "suspend": True},
        "workloadRequestedResources": {
            "gpuRequestType": compute.get("gpuRequestType"),
            "gpu": {"request": compute.get("gpuDevicesRequest")},
        },
    }
    if detailed:
        view["pendingSchedulingMessages"] = []
    return view
