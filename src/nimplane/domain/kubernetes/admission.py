"""The NIM Operator's admission rules for a `NIMService` that its CRD cannot express (its
validating webhook, on by default), and what Kubernetes checks only when the operator creates
the pods (label and annotation syntax, extended resources). Rules of create; the update-time
immutability of `multiNode` and a created PVC is left to the update path."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from nimplane.domain.kubernetes.crd_check import CrdProblem
from nimplane.domain.kubernetes.exposure import ingress_host_problem
from nimplane.domain.quantities import parse_quantity

STORAGE_SOURCES = ("nimCache", "pvc", "emptyDir", "hostPath")
ACCESS_MODES = frozenset({"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"})
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _qualified_name(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_NAME.fullmatch(name))


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def admission_problems(manifest: Mapping[str, Any]) -> list[CrdProblem]:
    """Every admission problem of a `NIMService` manifest (empty when it would be admitted)."""
    return list(_problems(_obj(manifest.get("spec"))))


def _problems(spec: Mapping[str, Any]) -> Iterator[CrdProblem]:
    storage = _obj(spec.get("storage"))
    given = [s for s in STORAGE_SOURCES if s in storage]
    if len(given) != 1:
        shown = ", ".join(given) or "none"
        yield CrdProblem(
            "spec.storage",
            f"set exactly one of {', '.join(STORAGE_SOURCES)} (given: {shown})",
        )
    cache = _obj(storage.get("nimCache"))
    if cache.get("profile") and not cache.get("name"):
        yield CrdProblem("spec.storage.nimCache.name", "a profile needs the NIM cache's name")
    pvc = _obj(storage.get("pvc"))
    if "pvc" in storage and not pvc.get("create") and not pvc.get("name"):
        yield CrdProblem("spec.storage.pvc.name", "an existing PVC (create unset) needs a name")
    mode = pvc.get("volumeAccessMode")
    if pvc.get("create") and mode not in ACCESS_MODES:
        yield CrdProblem(
            "spec.storage.pvc.volumeAccessMode",
            f"a PVC to create needs one of {', '.join(sorted(ACCESS_MODES))}",
        )
    shm = storage.get("sharedMemorySizeLimit")
    if shm is not None and (parse_quantity(str(shm)) or Decimal(0)) <= 0:
        yield CrdProblem("spec.storage.sharedMemorySizeLimit", "must be greater than 0")
    scale = _obj(spec.get("scale"))
    if scale.get("enabled"):
        if not scale.get("hpa"):
            yield CrdProblem("spec.scale.hpa", "autoscaling needs an HPA spec")
        for index, metric in enumerate(_obj(scale.get("hpa")).get("metrics") or []):
            target = _obj(_obj(_obj(metric).get("pods")).get("target"))
            value = target.get("averageValue")
            if value is not None and (parse_quantity(str(value)) or Decimal(0)) <= 0:
                yield CrdProblem(
                    f"spec.scale.hpa.metrics[{index}].pods.target.averageValue",
                    "an HPA target must be greater than 0",
                )
    metrics = _obj(spec.get("metrics"))
    if metrics.get("enabled") and not metrics.get("serviceMonitor"):
        yield CrdProblem("spec.metrics.serviceMonitor", "metrics need a serviceMonitor")
    expose = _obj(spec.get("expose"))
    router = _obj(expose.get("router"))
    if ("ingress" in router or "gateway" in router) and not router.get("hostDomainName"):
        yield CrdProblem(
            "spec.expose.router.hostDomainName", "an ingress or gateway router needs a domain"
        )
    if _obj(router.get("gateway")).get("grpcRoutesEnabled") and not _obj(expose.get("service")).get(
        "grpcPort"
    ):
        yield CrdProblem("spec.expose.service.grpcPort", "gRPC routes need a grpcPort")
    for index, rule in enumerate(_obj(_obj(expose.get("ingress")).get("spec")).get("rules") or []):
        host = _obj(rule).get("host")
        problem = ingress_host_problem(host) if isinstance(host, str) else None
        if problem is not None:
            yield CrdProblem(f"spec.expose.ingress.spec.rules[{index}].host", problem)
    resources = _obj(spec.get("resources"))
    if resources.get("claims"):
        yield CrdProblem("spec.resources.claims", "must be empty (use draResources)")
    yield from _resources(resources)
    yield from _pod_metadata(spec)


def _resources(resources: Mapping[str, Any]) -> Iterator[CrdProblem]:
    """An extended resource (a name with a domain, as `nvidia.com/gpu`) cannot be overcommitted:
    its request needs an equal limit (Kubernetes refuses the pod otherwise)."""
    requests, limits = _obj(resources.get("requests")), _obj(resources.get("limits"))
    for name in sorted(requests):  # limits alone are fine: requests default to them
        extended = "/" in name and not name.startswith("kubernetes.io/")
        if extended and str(requests[name]) != str(limits.get(name)):
            yield CrdProblem(
                f"spec.resources.requests.{name}",
                "an extended resource needs a limit equal to its request",
            )


def _pod_metadata(spec: Mapping[str, Any]) -> Iterator[CrdProblem]:
    """`spec.labels` and `spec.annotations` land on the pods: Kubernetes syntax."""
    for key, value in _obj(spec.get("labels")).items():
        if not _qualified_name(str(key)):
            yield CrdProblem(f"spec.labels.{key}", "not a Kubernetes label key")
        elif not isinstance(value, str) or len(value) > 63 or not _VALUE.fullmatch(value):
            yield CrdProblem(f"spec.labels.{key}", f"{value!r} is not a Kubernetes label value")
    for key in _obj(spec.get("annotations")):
        if not _qualified_name(str(key)):
            yield CrdProblem(f"spec.annotations.{key}", "not a Kubernetes annotation key")
