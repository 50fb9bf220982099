"""docs/decisions.md D5: the defaults a stored spec carries, so that a GET shows the effective
values."""

from __future__ import annotations

import copy
from typing import Any

from nimplane.domain.catalog import DEFAULT_CATEGORY, DEFAULT_PRIORITY_CLASS, default_preemptibility
from nimplane.domain.images import parse_image_reference

Json = dict[str, Any]

READINESS_DEFAULTS: dict[str, int] = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}


def default_pull_policy(image: str) -> str:
    """`Always` for a `:latest` or untagged image, else `IfNotPresent` (as Kubernetes decides:
    a digest without a tag pins the image; `:latest@digest` still counts as latest)."""
    ref = parse_image_reference(image)
    if ref is None:
        return "IfNotPresent"
    untagged = ref.tag is None and ref.digest is None
    return "Always" if untagged or ref.tag == "latest" else "IfNotPresent"


def apply_defaults(spec: Json) -> Json:
    """A copy of a valid, null-free spec with every default of docs/decisions.md D5 filled in."""
    out = copy.deepcopy(spec)
    out.setdefault("priorityClass", DEFAULT_PRIORITY_CLASS)
    out.setdefault("preemptibility", default_preemptibility(out["priorityClass"]))
    out.setdefault("category", DEFAULT_CATEGORY)
    if "autoscaling" in out:
        out.pop("replicas", None)
        scaling = out["autoscaling"]
        scaling.setdefault("minReplicas", 1)
        scaling.setdefault("maxReplicas", scaling["minReplicas"])
        scaling.setdefault("scaleWindowSeconds", 300)
    else:
        out.setdefault("replicas", 1)
    if "image" in out:
        out.setdefault("imagePullPolicy", default_pull_policy(out["image"]))
    port = out.setdefault("servingPort", {})
    port.setdefault("port", 8000)
    port.setdefault("serviceType", "ClusterIP")
    port.setdefault("exposeExternally", True)
    port.setdefault("exposedProtocol", "grpc" if "grpcPort" in port else "http")
    readiness = out.get("probes", {}).get("readiness")
    if readiness is not None:
        for key, value in READINESS_DEFAULTS.items():
            readiness.setdefault(key, value)
        http_get = readiness.setdefault("handler", {}).setdefault("httpGet", {})
        http_get.setdefault("path", "/")
        http_get.setdefault("scheme", "HTTP")
        http_get.setdefault("port", port["port"])
    pvc = out.get("modelStore", {}).get("pvc")
    if pvc is not None:
        pvc.setdefault("existingPvc", False)
        pvc.setdefault("readOnly", False)
        claim = pvc.get("claimInfo")
        if claim is not None:
            modes = claim.setdefault("accessModes", {})
            if not any(modes.values()):
                modes["readWriteOnce"] = True
            claim.setdefault("volumeMode", "Filesystem")
    return out
