"""nimplane on the Kubernetes backend, end to end through its HTTP API, against the session's
kube-apiserver with the operator double: create -> the NIMService applied -> the double
reports it ready -> `Running` with running pods; suspend -> 0 replicas -> `Stopped`; resume;
delete -> objects gone, workload torn down; a project's quota change -> its Queue changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes import client as k8s

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from nimplane.settings import KubernetesSettings
from nimplane.wiring import build_state
from tests.support import kube
from tests.support.operator_double import OperatorDouble
from tests.support.org import PROJECTS, gpu, ok
from tests.support.waiting import wait_until

pytestmark = pytest.mark.kube

V1 = "/api/v1/workloads"
GROUP, VERSION, PLURAL = "apps.nvidia.com", "v1alpha1", "nimservices"
NAMESPACE = "runai-default"


@pytest.fixture
def kube_app(state: AppState, kube_server: kube.KubeServer) -> Iterator[TestClient]:
    """nimplane on the Kubernetes backend, its loops and watches running, on the session's
    database."""
    settings = state.settings.model_copy(
        update={
            "backend": "kubernetes",
            "kubernetes": KubernetesSettings(kubeconfig=kube_server.kubeconfig),
        }
    )
    built = build_state(settings)
    try:
        with TestClient(create_app(settings, state=built, run_workers=True)) as running:
            yield running
    finally:
        built.close()


@pytest.fixture
def double(kube_config: k8s.Configuration) -> Iterator[OperatorDouble]:
    with OperatorDouble(kube_config) as running:
        yield running


def workload(app: TestClient, headers: dict[str, str], workload_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(app.get(f"{V1}/{workload_id}", headers=headers))
    return found


def phase_is(app: TestClient, headers: dict[str, str], workload_id: str, phase: str) -> bool:
    return workload(app, headers, workload_id)["phase"] == phase


def nim(custom: k8s.CustomObjectsApi, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, name
        )
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def test_a_quota_change_changes_the_project_queue(
    kube_app: TestClient, admin: dict[str, str], kube_api: k8s.ApiClient
) -> None:
    custom = k8s.CustomObjectsApi(kube_api)

    def gpu_quota() -> Any:
        try:
            queue = custom.get_cluster_custom_object("scheduling.run.ai", "v2", "queues", "default")
        except k8s.ApiException:
            return None
        return queue["spec"]["resources"]["gpu"]["quota"]

    ok(kube_app.put(f"{PROJECTS}/1/resources", json=[gpu(3)], headers=admin))
    wait_until(lambda: gpu_quota() == 3, "the queue has quota 3")

    ok(kube_app.put(f"{PROJECTS}/1/resources", json=[gpu(5)], headers=admin))
    wait_until(lambda: gpu_quota() == 5, "the queue has quota 5")
