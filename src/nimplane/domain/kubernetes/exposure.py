"""Exposure for Kubernetes: the operator's Service, and an externally exposed service's router
or exact-host Ingress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nimplane.domain.kubernetes.settings import ClusterSettings

if TYPE_CHECKING:
    from nimplane.domain.kubernetes.render import WorkloadToRender


def expose(workload: WorkloadToRender, namespace: str, settings: ClusterSettings) -> dict[str, Any]:
    """The Service, and for an externally exposed http service with an ingress class, the
    router (host `<name>.<namespace>.<domain>`) or, for an `exposedUrl` of another host, an
    Ingress of exactly that host."""
    port = workload.spec.servingPort
    service: dict[str, Any] = {}
    if port is not None:
        if port.serviceType is not None:
            service["type"] = str(port.serviceType)
        for key in ("port", "grpcPort", "metricsPort"):
            if getattr(port, key) is not None:
                service[key] = getattr(port, key)
    out: dict[str, Any] = {"service": service}
    external = port is not None and port.exposeExternally and settings.ingress_class
    if not external or port is None or str(port.exposedProtocol or "http") != "http":
        return out
    host = urlsplit(port.exposedUrl).hostname if port.exposedUrl else None
    own = f"{workload.name}.{namespace}."
    domain = host[len(own) :] if host and host.startswith(own) else None
    if host and domain is None:
        out["ingress"] = _exact_host_ingress(workload.name, host, settings)
        return out
    domain = domain or settings.ingress_host_domain
    if domain is None:
        return out
    ingress: dict[str, Any] = {"ingressClass": settings.ingress_class}
    if settings.ingress_tls_secret is not None:
        ingress["tlsSecretName"] = settings.ingress_tls_secret
    out["router"] = {"hostDomainName": domain, "ingress": ingress}
    return out


def _exact_host_ingress(name: str, host: str, settings: ClusterSettings) -> dict[str, Any]:
    backend = {"service": {"name": name, "port": {"name": "api"}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    spec: dict[str, Any] = {
        "ingressClassName": settings.ingress_class,
        "rules": [{"host": host, "http": {"paths": [path]}}],
    }
    if settings.ingress_tls_secret is not None:
        spec["tls"] = [{"hosts": [host], "secretName": settings.ingress_tls_secret}]
    return {"enabled": True, "spec": spec}
