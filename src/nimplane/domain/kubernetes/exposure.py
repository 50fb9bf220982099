"""Exposure for Kubernetes: the operator's Service, and an externally exposed service's router
or exact-host Ingress."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nimplane.domain.kubernetes.settings import ROUTER_DOMAIN, ClusterSettings

if TYPE_CHECKING:
    from nimplane.domain.kubernetes.render import WorkloadToRender

_ROUTER_DOMAIN = re.compile(ROUTER_DOMAIN)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def ingress_host_problem(host: str) -> str | None:
    """Why Kubernetes refuses `host` as an Ingress rule's host (a DNS subdomain, not an IP)."""
    if len(host) > 253 or not _SUBDOMAIN.fullmatch(host):
        return f"'{host}' is not a DNS subdomain"
    if host.rpartition(".")[2].isdigit():
        return f"'{host}' is an IP address, not a host name"
    return None


def _url_host(url: str | None) -> str | None:
    try:
        return urlsplit(url).hostname if url else None
    except ValueError:  # e.g. an unclosed '[' of an IPv6 address
        return None


def expose(workload: WorkloadToRender, namespace: str, settings: ClusterSettings) -> dict[str, Any]:
    """The Service, and for an externally exposed http service with an ingress class, the
    router (host `<name>.<namespace>.<domain>`) or, for an `exposedUrl` of another host, an
    Ingress of exactly that host. An `exposedUrl` whose host Kubernetes would refuse is not
    used (the router's host is)."""
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
    host = _url_host(port.exposedUrl)
    own = f"{workload.name}.{namespace}."
    domain = None
    if host and host.startswith(own):
        suffix = host[len(own) :]
        domain = suffix if len(suffix) <= 63 and _ROUTER_DOMAIN.fullmatch(suffix) else None
    if host and domain is None and ingress_host_problem(host) is None:
        out["ingress"] = _exact_host_ingress(workload.name, host, settings)
        return out
    # an exposedUrl without a usable host: the router's host under the cluster's domain
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
