"""Rendering a NIM workload for Kubernetes: the NIM Operator's `NIMService` (and a PVC), the
cluster settings the rendering depends on, and the check of a manifest against NVIDIA's CRD.
Pure: no Kubernetes client, no file reading (the CRD document is handed in)."""

from nimplane.domain.kubernetes.admission import admission_problems
from nimplane.domain.kubernetes.crd_check import CrdChecker, CrdProblem
from nimplane.domain.kubernetes.manifest_check import KubernetesManifests, api_field
from nimplane.domain.kubernetes.render import Manifest, WorkloadToRender, render
from nimplane.domain.kubernetes.settings import ClusterSettings

__all__ = [
    "ClusterSettings",
    "CrdChecker",
    "CrdProblem",
    "KubernetesManifests",
    "Manifest",
    "WorkloadToRender",
    "admission_problems",
    "api_field",
    "render",
]
