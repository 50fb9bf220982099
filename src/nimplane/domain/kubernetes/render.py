"""`render`: a NIM workload's typed spec to the NIM Operator's `NIMService` (`apps.nvidia.com/
v1alpha1`) in its project's namespace, and a `PersistentVolumeClaim` when the spec asks for a
new one. Follows the field mapping of the NIM Operator notes; what the operator or KAI would
refuse or misread is decided here (see ARCHITECTURE.md, "Rendering for Kubernetes")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nimplane.domain.kubernetes.compute import (
    gpu_sharing_annotations,
    shares_gpu,
    whole_gpus,
)
from nimplane.domain.kubernetes.compute import resources as compute_resources
from nimplane.domain.kubernetes.exposure import expose
from nimplane.domain.kubernetes.settings import ClusterSettings
from nimplane.domain.spec import (
    EnvironmentVariable,
    NimServiceCompute,
    NimServiceModelStore,
    NimServiceSpec,
    Toleration,
)
from nimplane.domain.workloads import DesiredPhase, Project, Workload

Manifest = dict[str, Any]
"""One Kubernetes object as plain JSON types: typed strings and ints, never None."""

NIM_API_VERSION = "apps.nvidia.com/v1alpha1"
DEFAULT_POOL = "default"


@dataclass(frozen=True)
class WorkloadToRender:
    """What a render needs of a workload: its identity, desired phase and validated spec."""

    id: str
    name: str
    spec: NimServiceSpec
    desired_phase: DesiredPhase = DesiredPhase.Running

    @classmethod
    def of(cls, workload: Workload) -> WorkloadToRender:
        """From a stored workload (its stored spec is valid, so this cannot fail)."""
        return cls(
            id=workload.id,
            name=workload.name,
            spec=NimServiceSpec.model_validate(workload.spec),
            desired_phase=workload.desired_phase,
        )


def render(
    workload: WorkloadToRender, project: Project, settings: ClusterSettings
) -> list[Manifest]:
    """The manifests of a workload: its `NIMService`, preceded by the PVC it asks to create."""
    spec = workload.spec
    namespace = settings.namespace_of(project)
    owner = owner_labels(workload, project, settings)
    manifests: list[Manifest] = []
    nim: dict[str, Any] = {}
    nim["image"] = _image(spec, settings)
    if spec.ngcAuthSecret is not None:
        nim["authSecret"] = spec.ngcAuthSecret
    env = [_env(var) for var in spec.environmentVariables or [] if not var.exclude]
    storage, pvc, profile_env = _storage(workload, spec.modelStore, spec.compute)
    if profile_env is not None and not any(e["name"] == "NIM_MODEL_PROFILE" for e in env):
        env.append({"name": "NIM_MODEL_PROFILE", "value": profile_env})
    if env:
        nim["env"] = env
    nim["storage"] = storage
    if pvc is not None:
        manifests.append(_pvc_manifest(pvc, namespace, owner))
    resources = compute_resources(spec.compute)
    if resources:
        nim["resources"] = resources
    nim["labels"] = _pod_labels(spec, project, settings, owner)
    annotations = _pod_annotations(spec)
    if annotations:
        nim["annotations"] = annotations
    nim.update(_scale(workload))
    if spec.multiNode is not None and spec.multiNode.workers:
        nim["multiNode"] = {
            "parallelism": {
                "pipeline": spec.multiNode.workers + 1,
                "tensor": max(1, whole_gpus(spec.compute)),
            },
            settings.multi_node_backend: {},
        }
    nim["expose"] = expose(workload, namespace, settings)
    readiness = spec.probes.readiness if spec.probes is not None else None
    if readiness is not None:
        probe: dict[str, Any] = readiness.model_dump(exclude_none=True, exclude={"handler"})
        http = readiness.handler.httpGet if readiness.handler is not None else None
        if http is not None:  # `host` is dropped: the kubelet probes the pod, not a host
            probe["httpGet"] = {
                "path": http.path or "/",
                "port": http.port if http.port is not None else "api",
                "scheme": str(http.scheme or "HTTP"),
            }
        nim["readinessProbe"] = {"enabled": True, "probe": probe}
    if spec.security is not None:
        if spec.security.runAsUid is not None:
            nim["userID"] = spec.security.runAsUid
        if spec.security.runAsGid is not None:
            nim["groupID"] = spec.security.runAsGid
    tolerations = [_toleration(t) for t in spec.tolerations or [] if not t.exclude]
    if tolerations:
        nim["tolerations"] = tolerations
    affinity = node_pool_affinity(spec.nodePools or [], settings)
    if affinity is not None:
        nim["affinity"] = affinity
    nim["schedulerName"] = settings.scheduler_name
    if spec.priorityClass is not None:
        nim["priorityClassName"] = spec.priorityClass
    manifests.append(
        {
            "apiVersion": NIM_API_VERSION,
            "kind": "NIMService",
            "metadata": {"name": workload.name, "namespace": namespace, "labels": dict(owner)},
            "spec": nim,
        }
    )
    return manifests


def owner_labels(
    workload: WorkloadToRender, project: Project, settings: ClusterSettings
) -> dict[str, str]:
    """The labels that tie an object to its workload (and a watch back to it)."""
    prefix = settings.owner_label_prefix
    return {
        "app.kubernetes.io/managed-by": "nimplane",
        f"{prefix}/workload-id": workload.id,
        f"{prefix}/project-id": project.id,
    }


def split_image(image: str) -> tuple[str, str]:
    """`repository` and `tag` such that the operator's `<repository>:<tag>` is the image: the
    tag follows the last ':' after the last '/' (a registry port stays in the repository);
    none means `latest`; a digest (`repo@sha256:h`) splits at its own ':'."""
    if "@" in image:
        repository, _, tag = image.rpartition(":")
        return repository, tag
    slash, colon = image.rfind("/"), image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, "latest"


def _image(spec: NimServiceSpec, settings: ClusterSettings) -> dict[str, Any]:
    repository, tag = split_image(spec.image or "")
    out: dict[str, Any] = {"repository": repository, "tag": tag}
    if spec.imagePullPolicy is not None:
        out["pullPolicy"] = str(spec.imagePullPolicy)
    secrets = list(settings.default_image_pull_secrets)
    for secret in spec.imagePullSecrets or []:
        if not secret.exclude and secret.name is not None and secret.name not in secrets:
            secrets.append(secret.name)
    if secrets:
        out["pullSecrets"] = secrets
    return out


def _env(var: EnvironmentVariable) -> dict[str, Any]:
    """One variable; a user credential is read from the namespace Secret of its name (the
    control plane materialises Run:ai credentials as Secrets)."""
    out: dict[str, Any] = {"name": var.name}
    if var.value is not None:
        out["value"] = var.value
    elif var.secret is not None:
        out["valueFrom"] = {"secretKeyRef": {"name": var.secret.name, "key": var.secret.key}}
    elif var.configMap is not None:
        ref = {"name": var.configMap.name, "key": var.configMap.key}
        out["valueFrom"] = {"configMapKeyRef": ref}
    elif var.podFieldRef is not None:
        out["valueFrom"] = {"fieldRef": {"fieldPath": var.podFieldRef.path}}
    elif var.userCredential is not None:
        ref = {"name": var.userCredential.name, "key": var.userCredential.key}
        out["valueFrom"] = {"secretKeyRef": ref}
    return out


def _storage(
    workload: WorkloadToRender,
    store: NimServiceModelStore | None,
    compute: NimServiceCompute | None,
) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """`spec.storage`, the PVC to create (if any), and a profile to pass as env instead."""
    if store is not None and store.nimCache is not None:
        cache: dict[str, Any] = {"name": store.nimCache.name}
        profile = store.nimCache.profile
        if profile is not None and shares_gpu(compute):
            # a profile would make the operator add nvidia.com/gpu = its TP, contradicting
            # the share: the NIM gets it as env instead
            return {"nimCache": cache}, None, profile
        if profile is not None:
            cache["profile"] = profile
        return {"nimCache": cache}, None, None
    if store is not None and store.pvc is not None:
        pvc = store.pvc
        out: dict[str, Any] = {"readOnly": bool(pvc.readOnly)}
        if pvc.existingPvc:
            out["pvc"] = {"name": pvc.claimName}
            return out, None, None
        name = pvc.claimName or f"{workload.name}-model-store"
        out["pvc"] = {"name": name}
        return out, {"name": name, "claim": pvc.claimInfo}, None
    return {"emptyDir": {}}, None, None  # the NIM downloads its model at start


ACCESS_MODES = {
    "readWriteOnce": "ReadWriteOnce",
    "readOnlyMany": "ReadOnlyMany",
    "readWriteMany": "ReadWriteMany",
}


def _pvc_manifest(pvc: dict[str, Any], namespace: str, owner: dict[str, str]) -> Manifest:
    """The new model-store PVC. nimplane creates it (not the operator) so that every access
    mode asked for is kept; it is always a filesystem volume (the operator mounts it)."""
    claim = pvc["claim"]
    modes = claim.accessModes.model_dump(exclude_none=True) if claim.accessModes else {}
    access = [mode for key, mode in ACCESS_MODES.items() if modes.get(key)] or ["ReadWriteOnce"]
    spec: dict[str, Any] = {
        "accessModes": access,
        "resources": {"requests": {"storage": claim.size}},
        "volumeMode": "Filesystem",
    }
    if claim.storageClass is not None:
        spec["storageClassName"] = claim.storageClass
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": pvc["name"], "namespace": namespace, "labels": dict(owner)},
        "spec": spec,
    }


def _pod_annotations(spec: NimServiceSpec) -> dict[str, str]:
    out = {a.name: a.value or "" for a in spec.annotations or [] if not a.exclude and a.name}
    out.update(gpu_sharing_annotations(spec.compute))
    return out


def _pod_labels(
    spec: NimServiceSpec, project: Project, settings: ClusterSettings, owner: dict[str, str]
) -> dict[str, str]:
    """User labels, then the scheduler's (queue, preemptibility, shard) and the owner labels,
    which win on a clash. `app.kubernetes.io/*` is the operator's on pods: left out."""
    out = {lb.name: lb.value or "" for lb in spec.labels or [] if not lb.exclude and lb.name}
    out[settings.queue_label_key] = project.name
    if spec.preemptibility is not None:
        out[settings.preemptibility_label_key] = str(spec.preemptibility)
    pools = spec.nodePools or []
    if settings.node_pool_shard_label_key and pools and pools[0] != DEFAULT_POOL:
        out[settings.node_pool_shard_label_key] = pools[0]
    out.update({k: v for k, v in owner.items() if not k.startswith("app.kubernetes.io/")})
    return out


def _scale(workload: WorkloadToRender) -> dict[str, Any]:
    """`replicas` or `scale.hpa` (never both: a CEL rule); a stopped workload is 0 replicas."""
    spec = workload.spec
    if workload.desired_phase != DesiredPhase.Running:
        return {"replicas": 0}
    scaling = spec.autoscaling
    if scaling is None:
        return {"replicas": spec.replicas if spec.replicas is not None else 1}
    low = scaling.minReplicas or 1
    hpa: dict[str, Any] = {"minReplicas": low, "maxReplicas": scaling.maxReplicas or low}
    if scaling.metric is not None and scaling.metricThreshold is not None:
        hpa["metrics"] = [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": scaling.metric},
                    "target": {
                        "type": "AverageValue",
                        "averageValue": str(scaling.metricThreshold),
                    },
                },
            }
        ]
    if scaling.scaleWindowSeconds is not None:
        window = {"stabilizationWindowSeconds": scaling.scaleWindowSeconds}
        hpa["behavior"] = {"scaleUp": dict(window), "scaleDown": dict(window)}
    return {"scale": {"enabled": True, "hpa": hpa}}


def _toleration(t: Toleration) -> dict[str, Any]:
    """Run:ai's effect `Any` is Kubernetes' empty effect (every effect); `name` is dropped."""
    out: dict[str, Any] = {"operator": str(t.operator or "Equal")}
    if t.key is not None:
        out["key"] = t.key
    if t.value is not None:
        out["value"] = t.value
    if t.effect is not None and str(t.effect) != "Any":
        out["effect"] = str(t.effect)
    if t.seconds is not None:
        out["tolerationSeconds"] = t.seconds
    return out


def node_pool_affinity(pools: list[str], settings: ClusterSettings) -> dict[str, Any] | None:
    """Required node affinity to the requested pools: nodes labelled with one of them, or
    (for `default`) nodes without the label. Run:ai's order of preference is not kept."""
    if not pools:
        return None
    key = settings.node_pool_label_key
    terms: list[dict[str, Any]] = []
    named = [p for p in pools if p != DEFAULT_POOL]
    if named:
        terms.append({"matchExpressions": [{"key": key, "operator": "In", "values": named}]})
    if DEFAULT_POOL in pools:
        terms.append({"matchExpressions": [{"key": key, "operator": "DoesNotExist"}]})
    required = {"nodeSelectorTerms": terms}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
