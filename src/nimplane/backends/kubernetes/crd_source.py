"""Where the Kubernetes backend's CRD check gets NVIDIA's `NIMService` CRD: from the cluster
it deploys to (the apiextensions API), so that the check matches the operator that runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

NIM_SERVICE_CRD = "nimservices.apps.nvidia.com"


class CrdUnavailable(RuntimeError):
    """The cluster has no such CRD, or it could not be read."""


def read_crd(api: client.ApiClient, name: str = NIM_SERVICE_CRD) -> dict[str, Any]:
    """The CRD document as the cluster serves it (the same JSON as NVIDIA's YAML file)."""
    try:
        raw: Any = client.ApiextensionsV1Api(api).read_custom_resource_definition(
            name, _preload_content=False
        )
    except ApiException as exc:
        if exc.status == 404:
            raise CrdUnavailable(
                f"the cluster has no CRD {name}: install the NIM Operator first"
            ) from exc
        raise CrdUnavailable(f"reading the CRD {name}: {exc.status} {exc.reason}") from exc
    document: dict[str, Any] = json.loads(raw.data)
    return document


def api_client(kubeconfig: Path | None, context: str | None) -> client.ApiClient:
    """A client for the configured cluster: the kubeconfig file (or `$KUBECONFIG`,
    `~/.kube/config`) and context, or the pod's service account when running in a cluster
    and no kubeconfig is given."""
    configuration = client.Configuration()
    if kubeconfig is None and context is None:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return client.ApiClient(configuration)
        except config.ConfigException:
            pass
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig) if kubeconfig is not None else None,
        context=context,
        client_configuration=configuration,
    )
    return client.ApiClient(configuration)


def read_nim_service_crd(kubeconfig: Path | None, context: str | None) -> dict[str, Any]:
    """NVIDIA's `NIMService` CRD as installed in the configured cluster."""
    with api_client(kubeconfig, context) as api:
        return read_crd(api)
