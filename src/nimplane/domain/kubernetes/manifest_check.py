"""`KubernetesManifests`: what a workload becomes on Kubernetes (`render` with the cluster's
settings) and whether the NIM Operator can use it, each problem named by the API's field
(`spec.compute.gpuDevicesRequest`, not the `NIMService`'s path). The checks: what the render
cannot carry, NVIDIA's CRD when one is handed in (else the operator's name rule only), and
the operator's admission rules (see ARCHITECTURE.md, "Rendering for Kubernetes")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nimplane.domain.errors import ComplianceIssue
from nimplane.domain.kubernetes.admission import admission_problems
from nimplane.domain.kubernetes.crd_check import CrdChecker, CrdProblem, nim_name_problem
from nimplane.domain.kubernetes.render import Manifest, WorkloadToRender, render
from nimplane.domain.kubernetes.settings import ClusterSettings
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.workloads import Project

RULE = "kubernetes"
"""The `rule` of every issue found here: the spec passed the API's rules, not the cluster's."""

_API_FIELD_OF: tuple[tuple[str, str], ...] = (
    ("metadata.name", "metadata.name"),
    ("metadata.namespace", "metadata.projectId"),
    ("metadata", "metadata"),
    ("spec.image.pullSecrets", "spec.imagePullSecrets"),
    ("spec.image.pullPolicy", "spec.imagePullPolicy"),
    ("spec.image", "spec.image"),
    ("spec.authSecret", "spec.ngcAuthSecret"),
    ("spec.env", "spec.environmentVariables"),
    ("spec.storage.nimCache", "spec.modelStore.nimCache"),
    ("spec.storage.pvc", "spec.modelStore.pvc"),
    ("spec.storage", "spec.modelStore"),
    ("spec.resources.requests.cpu", "spec.compute.cpuCoreRequest"),
    ("spec.resources.limits.cpu", "spec.compute.cpuCoreLimit"),
    ("spec.resources.requests.memory", "spec.compute.cpuMemoryRequest"),
    ("spec.resources.limits.memory", "spec.compute.cpuMemoryLimit"),
    ("spec.resources.requests.nvidia.com/gpu", "spec.compute.gpuDevicesRequest"),
    ("spec.resources.limits.nvidia.com/gpu", "spec.compute.gpuDevicesRequest"),
    ("spec.resources", "spec.compute"),
    ("spec.annotations.gpu-fraction-num-devices", "spec.compute.gpuDevicesRequest"),
    ("spec.annotations.gpu-fraction-limit", "spec.compute.gpuPortionLimit"),
    ("spec.annotations.gpu-fraction", "spec.compute.gpuPortionRequest"),
    ("spec.annotations.gpu-memory-limit", "spec.compute.gpuMemoryLimit"),
    ("spec.annotations.gpu-memory", "spec.compute.gpuMemoryRequest"),
    ("spec.annotations", "spec.annotations"),
    ("spec.labels", "spec.labels"),
    ("spec.replicas", "spec.replicas"),
    ("spec.scale", "spec.autoscaling"),
    ("spec.multiNode", "spec.multiNode"),
    ("spec.expose", "spec.servingPort"),
    ("spec.readinessProbe", "spec.probes.readiness"),
    ("spec.userID", "spec.security.runAsUid"),
    ("spec.groupID", "spec.security.runAsGid"),
    ("spec.tolerations", "spec.tolerations"),
    ("spec.affinity", "spec.nodePools"),
    ("spec.priorityClassName", "spec.priorityClass"),
    ("spec", "spec"),
)
"""A `NIMService` path (list indexes dropped) -> the API field it is rendered from; the
longest matching prefix wins (the table is ordered so the first match is the longest)."""

_INDEX = re.compile(r"\[\d+\]")


def api_field(manifest_path: str) -> str:
    """The API field a `NIMService` path is rendered from (`spec` when none is closer). List
    indexes are dropped: the render skips `exclude`d items, so they need not line up."""
    path = _INDEX.sub("", manifest_path)
    for prefix, field in _API_FIELD_OF:
        if path == prefix or path.startswith(prefix + "."):
            return field
    return "spec"


def unrenderable(spec: NimServiceSpec) -> list[ComplianceIssue]:
    """What the API accepts but the NIM Operator has no use for, refused rather than dropped."""
    store = spec.modelStore
    pvc = store.pvc if store is not None else None
    claim = pvc.claimInfo if pvc is not None and not pvc.existingPvc else None
    if claim is not None and claim.volumeMode is not None and str(claim.volumeMode) == "Block":
        return [
            ComplianceIssue(
                "spec.modelStore.pvc.claimInfo.volumeMode",
                "'Block' cannot hold a model store: the NIM Operator mounts it as a "
                "filesystem (use 'Filesystem')",
                RULE,
            )
        ]
    return []


@dataclass(frozen=True)
class KubernetesManifests:
    """Renders with one cluster's settings and checks against one CRD (None: none is known,
    so only the operator's name and admission rules are checked)."""

    settings: ClusterSettings
    crd: CrdChecker | None = None

    def render(self, workload: WorkloadToRender, project: Project) -> list[Manifest]:
        """The manifests applied for the workload (PVC first, then the `NIMService`)."""
        return render(workload, project, self.settings)

    def problems(self, workload: WorkloadToRender, project: Project) -> list[ComplianceIssue]:
        """Why the workload cannot become a valid `NIMService`, by API field (empty: it can)."""
        issues = unrenderable(workload.spec)
        if issues:
            return issues
        for manifest in self.render(workload, project):
            if manifest["kind"] != "NIMService":
                continue
            found = self._crd_problems(manifest) + admission_problems(manifest)
            issues.extend(_issue(problem) for problem in found)
        return issues

    def _crd_problems(self, manifest: Manifest) -> list[CrdProblem]:
        if self.crd is not None:
            return self.crd.check(manifest)
        problem = nim_name_problem(str(manifest["metadata"]["name"]))
        return [] if problem is None else [problem]


def _issue(problem: CrdProblem) -> ComplianceIssue:
    field = api_field(problem.path)
    if problem.path == "metadata.name":
        return ComplianceIssue(field, f"on Kubernetes, {problem.reason}", RULE)
    return ComplianceIssue(field, f"{problem.reason} (the NIMService's {problem.path})", RULE)
