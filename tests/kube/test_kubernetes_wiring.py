"""The Kubernetes backend inside nimplane: selected by `backend: kubernetes`, its queue sync as
the scheduler loop's pass, its `on_change` making workloads due, and the cluster's Events
recorded into the workload's events once each, also across a restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes import client as k8s

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from nimplane.backends.kubernetes import KubeApi, KubernetesCluster
from nimplane.domain.backend import DesiredState
from nimplane.domain.kubernetes import ClusterSettings
from nimplane.services.cluster_sync import ClusterChanges, QueueSyncService
from nimplane.services.workloads import utc_now
from nimplane.settings import KubernetesSettings
from nimplane.wiring import build_state
from tests.conftest import nim_request
from tests.support import kube
from tests.support.operator_double import OperatorDouble
from tests.support.org import NIM, ok
from tests.support.waiting import wait_until

pytestmark = pytest.mark.kube


@pytest.fixture
def kube_state(state: AppState, kube_server: kube.KubeServer) -> Iterator[AppState]:
    """A second nimplane on the session's database, on the Kubernetes backend."""
    settings = state.settings.model_copy(
        update={
            "backend": "kubernetes",
            "kubernetes": KubernetesSettings(kubeconfig=kube_server.kubeconfig),
        }
    )
    built = build_state(settings)
    yield built
    built.close()


def test_the_kubernetes_backend_syncs_queues_in_the_scheduler_loop(
    kube_state: AppState, kube_api: k8s.ApiClient
) -> None:
    (cluster,) = kube_state.workers.services
    assert isinstance(cluster, KubernetesCluster)
    scheduler = kube_state.workers.loops[0]
    assert isinstance(getattr(scheduler.work, "__self__", None), QueueSyncService)

    scheduler.work()

    queues = k8s.CustomObjectsApi(kube_api).list_cluster_custom_object(
        "scheduling.run.ai",
        "v2",
        "queues",
        label_selector="app.kubernetes.io/managed-by=nimplane,nimplane.io/project-id=1",
    )
    (queue,) = queues["items"]
    assert queue["metadata"]["name"] == "default"
    assert queue["spec"]["parentQueue"] == "department-default"


def test_a_cluster_change_makes_the_workload_due_and_wakes_the_lifecycle(
    state: AppState, client: TestClient, admin: dict[str, str]
) -> None:
    created = ok(client.post(NIM, json=nim_request("due-llama"), headers=admin), 202)
    workload_id = created["metadata"]["id"]
    woken: list[bool] = []
    later = utc_now() + timedelta(days=1)

    ClusterChanges(state.store, lambda: later, lambda: woken.append(True))([workload_id])

    claimed = state.store.write(
        lambda tx: tx.workloads.claim_due("t", later, later + timedelta(seconds=30), 10)
    )
    assert workload_id in [wid for wid, _ in claimed]
    assert woken == [True]


def test_a_new_workload_is_due_at_once_on_kubernetes(
    state: AppState, client: TestClient, admin: dict[str, str], kube_state: AppState
) -> None:
    """Nothing of nimplane's places a workload on Kubernetes (KAI does, once it is applied):
    the lifecycle engine takes it at once, where the simulated cluster's first waits for the
    scheduler's answer."""

    def due_now(app: TestClient, name: str) -> bool:
        created = ok(app.post(NIM, json=nim_request(name), headers=admin), 202)
        now = utc_now()
        claimed = app_state(app).store.write(
            lambda tx: tx.workloads.claim_due("t", now, now + timedelta(seconds=30), 1000)
        )
        return created["metadata"]["id"] in [wid for wid, _ in claimed]

    def app_state(app: TestClient) -> AppState:
        found: AppState = app.app.state.nimplane  # type: ignore[attr-defined]
        return found

    with TestClient(create_app(kube_state.settings, state=kube_state)) as on_kube:
        assert due_now(on_kube, f"due-{uuid.uuid4().hex[:6]}")
    assert not due_now(client, f"due-{uuid.uuid4().hex[:6]}")


def test_cluster_events_are_recorded_once_also_across_a_restart(
    state: AppState,
    client: TestClient,
    admin: dict[str, str],
    kube_config: k8s.Configuration,
    kube_api: k8s.ApiClient,
) -> None:
    name = f"ev-{uuid.uuid4().hex[:6]}"
    created = ok(client.post(NIM, json=nim_request(name), headers=admin), 202)
    with state.store.read() as tx:
        workload = tx.workloads.get(created["metadata"]["id"])
    assert workload is not None
    namespace = workload.project.namespace

    def started() -> KubernetesCluster:
        api = KubeApi(k8s.ApiClient(kube_config))
        cluster = KubernetesCluster(api, ClusterSettings(), store=state.store)
        cluster.start()
        assert cluster.wait_synced(60)
        return cluster

    def recorded() -> list[Any]:
        with state.store.read() as tx:
            events, _ = tx.events.page(workload.id, 0, 100, False)
        return [e for e in events if e.source == "kubernetes"]

    first = started()
    with OperatorDouble(kube_config):
        result = first.sync([DesiredState(workload=workload, replicas=1)], utc_now())
        assert not isinstance(result[workload.id], Exception), result
        wait_until(lambda: bool(first.observe([workload.id], utc_now())[workload.id].pods), "pod")
        (pod,) = first.observe([workload.id], utc_now())[workload.id].pods
        k8s.CoreV1Api(kube_api).create_namespaced_event(
            namespace,
            {
                "metadata": {"name": f"{pod.name}.1", "namespace": namespace},
                "involvedObject": {"kind": "Pod", "name": pod.name, "namespace": namespace},
                "reason": "Pulling",
                "message": f"Pulling image {workload.spec['image']}",
                "type": "Normal",
                "count": 1,
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": "2026-01-01T00:00:00Z",
                "source": {"component": "kubelet"},
            },
        )
        wait_until(lambda: len(recorded()) == 1, "the event recorded")
        first.stop()

        again = started()
        try:
            (seen,) = recorded()
            wait_until(lambda: again.recorded(seen.id), "the restarted backend saw it")
        finally:
            again.stop()

    (event,) = recorded()
    assert (event.reason, event.type, event.involved_object) == ("Pulling", "Normal", pod.name)
