"""The Kubernetes backend against the session's real kube-apiserver, with the operator double
playing the NIM Operator, the kubelets and the garbage collector: apply, re-sync without
writes, taking back another manager's change, stop/resume, foreground delete and teardown,
observations, watches that re-list, outages, permanent refusals, and Queue sync."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from nimplane.backends.kubernetes import KubeApi, KubernetesCluster
from nimplane.backends.kubernetes.cache import Informer
from nimplane.backends.kubernetes.client import NIM_SERVICE, QUEUE, Gone, Kind
from nimplane.domain.backend import ClusterError, DesiredState, Observation
from nimplane.domain.kubernetes import ClusterSettings
from nimplane.domain.org import Quota
from nimplane.domain.workloads import DesiredPhase, Phase, Project, Workload, WorkloadStatus
from tests.kube.test_apiserver import nim_service
from tests.support import kube
from tests.support.operator_double import OperatorDouble
from tests.support.waiting import wait_until
from tests.unit.kubernetes.support import stored_spec
from tests.unit.kubernetes.test_queues import department, pool, project

pytestmark = pytest.mark.kube

NOW = datetime(2026, 1, 1, tzinfo=UTC)
IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
SPEC: dict[str, Any] = {
    "image": IMAGE,
    "modelStore": {"nimCache": {"name": "llama-cache"}},
    "compute": {"gpuDevicesRequest": 1, "cpuCoreRequest": 0.5},
    "annotations": [{"name": "team", "value": "a"}],
    "labels": [{"name": "tier", "value": "gold"}],
}
GROUP, VERSION, PLURAL = "apps.nvidia.com", "v1alpha1", "nimservices"
SETTINGS = ClusterSettings()
WID = "nimplane.io/workload-id"


class Changes:
    """What `on_change` was called with."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, ids: Any) -> None:
        with self._lock:
            self.ids.update(ids)


def new_project() -> Project:
    name = f"p-{uuid.uuid4().hex[:8]}"
    return Project(
        id=uuid.uuid4().hex[:6],
        name=name,
        namespace=f"runai-{name}",
        department_id="1",
        department_name="default",
        cluster_id="c",
        tenant_id=1,
    )


def make_workload(
    project: Project,
    name: str = "llama",
    spec: dict[str, Any] | None = None,
    *,
    desired: DesiredPhase = DesiredPhase.Running,
    deleted: bool = False,
    workload_id: str | None = None,
) -> Workload:
    typed = stored_spec(spec or SPEC)
    return Workload(
        id=workload_id or str(uuid.uuid4()),
        name=name,
        project=project,
        workload_type="NIMService",
        spec=typed.model_dump(mode="json", exclude_none=True),
        desired_phase=DesiredPhase.Deleted if deleted else desired,
        status=WorkloadStatus(phase=Phase.Creating, phase_updated_at=NOW),
        resource_version=1,
        generation=1,
        created_at=NOW,
        created_by="t",
        updated_at=NOW,
        updated_by="t",
        deleted_at=NOW if deleted else None,
    )


def want(workload: Workload) -> DesiredState:
    running = workload.desired_phase == DesiredPhase.Running and workload.deleted_at is None
    return DesiredState(workload=workload, replicas=1 if running else 0)


def observation(cluster: KubernetesCluster, workload: Workload) -> Observation:
    return cluster.observe([workload.id], NOW)[workload.id]


def synced_ok(cluster: KubernetesCluster, workload: Workload) -> Observation:
    result = cluster.sync([want(workload)], NOW)[workload.id]
    assert isinstance(result, Observation), result
    return result


def start_cluster(configuration: client.Configuration, changes: Changes) -> KubernetesCluster:
    api = KubeApi(client.ApiClient(configuration), timeout=5.0)
    cluster = KubernetesCluster(api, SETTINGS, on_change=changes)
    cluster.start()
    assert cluster.wait_synced(60)
    return cluster


@pytest.fixture(scope="module")
def double(kube_config: client.Configuration) -> Iterator[OperatorDouble]:
    with OperatorDouble(kube_config) as running:
        yield running


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def cluster(kube_config: client.Configuration, changes: Changes) -> Iterator[KubernetesCluster]:
    running = start_cluster(kube_config, changes)
    yield running
    running.stop()


@pytest.fixture
def custom(kube_api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_api)


def read_nim(custom: client.CustomObjectsApi, workload: Workload) -> dict[str, Any]:
    result: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, workload.project.namespace, PLURAL, workload.name
    )
    return result


def test_apply_creates_the_namespace_and_the_nimservice(
    cluster: KubernetesCluster, custom: client.CustomObjectsApi, kube_api: client.ApiClient
) -> None:
    portion = {
        **SPEC,
        "compute": {
            "gpuRequestType": "portion",
            "gpuPortionRequest": 0.5,
            "cpuCoreRequest": 0.5,
        },
    }
    workload = make_workload(new_project(), spec=portion)

    synced_ok(cluster, workload)

    namespace = client.CoreV1Api(kube_api).read_namespace(workload.project.namespace)
    assert namespace.metadata.labels["app.kubernetes.io/managed-by"] == "nimplane"
    nim = read_nim(custom, workload)
    assert nim["metadata"]["labels"][WID] == workload.id
    assert nim["metadata"]["labels"]["nimplane.io/project-id"] == workload.project.id
    spec = nim["spec"]
    assert spec["schedulerName"] == "kai-scheduler"
    assert spec["labels"]["kai.scheduler/queue"] == workload.project.name
    assert spec["labels"]["tier"] == "gold"
    assert spec["labels"][WID] == workload.id
    assert spec["labels"]["nimplane.io/template-hash"]
    assert spec["annotations"]["team"] == "a"
    assert spec["annotations"]["gpu-fraction"] == "0.5"
    assert spec["resources"]["requests"]["cpu"] == "500m"
    assert spec["replicas"] == 1
    managers = {m["manager"] for m in nim["metadata"]["managedFields"]}
    assert managers == {"nimplane"}


def test_a_resync_of_the_same_desired_state_writes_nothing(
    cluster: KubernetesCluster, custom: client.CustomObjectsApi
) -> None:
    workload = make_workload(new_project())
    synced_ok(cluster, workload)
    before = read_nim(custom, workload)["metadata"]["resourceVersion"]
    key = (workload.project.namespace, workload.name)
    wait_until(lambda: key in cluster.nim_services.items, "the cache sees the NIMService")

    for _ in range(3):
        synced_ok(cluster, workload)

    assert read_nim(custom, workload)["metadata"]["resourceVersion"] == before


def test_a_change_by_another_field_manager_is_taken_back(
    cluster: KubernetesCluster, custom: client.CustomObjectsApi, changes: Changes
) -> None:
    workload = make_workload(new_project())
    synced_ok(cluster, workload)
    namespace = workload.project.namespace
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        workload.name,
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NIMService", "spec": {"replicas": 5}},
        field_manager="someone-else",
        force=True,
        _content_type=kube.APPLY_PATCH,
    )
    key = (namespace, workload.name)
    wait_until(
        lambda: cluster.nim_services.items.get(key, {}).get("spec", {}).get("replicas") == 5,
        "the cache sees the other manager's change",
    )
    assert workload.id in changes.ids

    synced_ok(cluster, workload)

    assert read_nim(custom, workload)["spec"]["replicas"] == 1


def test_stop_scales_to_zero_and_resume_scales_back(
    cluster: KubernetesCluster, custom: client.CustomObjectsApi, double: OperatorDouble
) -> None:
    workload = make_workload(new_project())
    synced_ok(cluster, workload)
    wait_until(lambda: len(observation(cluster, workload).pods) == 1, "one pod")

    stopped = make_workload(workload.project, desired=DesiredPhase.Stopped, workload_id=workload.id)
    synced_ok(cluster, stopped)

    assert read_nim(custom, workload)["spec"]["replicas"] == 0
    wait_until(lambda: observation(cluster, workload).pods == (), "no pod left")
    assert observation(cluster, workload).present

    synced_ok(cluster, workload)

    assert read_nim(custom, workload)["spec"]["replicas"] == 1
    wait_until(lambda: len(observation(cluster, workload).pods) == 1, "a pod again")


def test_ready_service_is_observed_with_ready_pods_and_urls(
    cluster: KubernetesCluster, double: OperatorDouble, changes: Changes
) -> None:
    workload = make_workload(new_project())
    synced_ok(cluster, workload)
    wait_until(lambda: len(observation(cluster, workload).pods) == 1, "the double made a pod")
    (pod,) = observation(cluster, workload).pods
    assert (pod.k8s_phase, pod.ready, pod.state, pod.node) == (
        "Pending",
        False,
        "ContainerCreating",
        "double-node-0",
    )

    double.make_ready(workload.project.namespace, workload.name)

    wait_until(lambda: bool(observation(cluster, workload).urls), "the service reports its URL")
    seen = observation(cluster, workload)
    (pod,) = seen.pods
    assert (pod.k8s_phase, pod.ready, pod.state, pod.current, pod.gpus, pod.replica) == (
        "Running",
        True,
        "Ready",
        True,
        1.0,
        0,
    )
    assert seen.urls == (f"{workload.name}.{workload.project.namespace}.svc.cluster.local:8000",)
    assert {(c.type, c.status) for c in seen.conditions} == {("Ready", "True"), ("Failed", "False")}
    assert seen.failure is None
    assert workload.id in changes.ids


def test_a_failed_service_is_observed_as_a_failure(
    cluster: KubernetesCluster, double: OperatorDouble
) -> None:
    workload = make_workload(new_project())
    synced_ok(cluster, workload)

    double.fail(workload.project.namespace, workload.name, "NIMCacheNotFound", "no llama-cache")

    wait_until(lambda: observation(cluster, workload).failure is not None, "a failure")
    assert observation(cluster, workload).failure == "NIMCacheNotFound; no llama-cache"


def test_unschedulable_pods_report_kai_pending_reasons(
    cluster: KubernetesCluster, double: OperatorDouble
) -> None:
    workload = make_workload(new_project())
    double.unschedulable(workload.project.namespace, workload.name, "queue over its limit")
    synced_ok(cluster, workload)

    wait_until(lambda: bool(observation(cluster, workload).pending), "a pending reason")
    (reason,) = observation(cluster, workload).pending
    assert (reason.reason, reason.message) == ("Unschedulable", "queue over its limit")


def test_a_delete_is_foreground_and_teardown_turns_true_when_gone(
    cluster: KubernetesCluster,
    custom: client.CustomObjectsApi,
    double: OperatorDouble,
    kube_api: client.ApiClient,
) -> None:
    store = {
        "pvc": {"claimName": "llama-store", "claimInfo": {"size": "1Gi"}, "existingPvc": False}
    }
    workload = make_workload(new_project(), spec={**SPEC, "modelStore": store})
    synced_ok(cluster, workload)
    core = client.CoreV1Api(kube_api)
    assert core.read_namespaced_persistent_volume_claim("llama-store", workload.project.namespace)
    wait_until(lambda: len(observation(cluster, workload).pods) == 1, "one pod")
    gone = make_workload(
        workload.project, spec=workload.spec, deleted=True, workload_id=workload.id
    )

    wait_until(lambda: cluster.teardown(gone), "torn down")

    selector = f"{WID}={workload.id}"
    pods = core.list_namespaced_pod(workload.project.namespace, label_selector=selector)
    assert pods.items == []
    wait_until(lambda: not observation(cluster, gone).present, "the cache sees nothing left")


def test_a_foreground_delete_waits_for_the_dependents(
    cluster: KubernetesCluster, custom: client.CustomObjectsApi, double: OperatorDouble
) -> None:
    """Without the garbage collector (the double leaves this namespace alone) the
    NIMService stays, marked for deletion with the foreground finalizer: teardown waits."""
    workload = make_workload(new_project(), name="no-double")
    namespace = workload.project.namespace
    double.ignored.add(namespace)
    synced_ok(cluster, workload)
    gone = make_workload(workload.project, "no-double", deleted=True, workload_id=workload.id)
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "no-double",
        {"metadata": {"finalizers": ["example.com/hold"]}},
        _content_type="application/merge-patch+json",
    )

    assert cluster.teardown(gone) is False
    assert cluster.teardown(gone) is False

    nim = read_nim(custom, workload)
    assert nim["metadata"]["deletionTimestamp"]
    assert set(nim["metadata"]["finalizers"]) == {"foregroundDeletion", "example.com/hold"}
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "no-double",
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )
    wait_until(lambda: cluster.teardown(gone), "torn down once released")


def test_a_watch_from_a_too_old_resource_version_is_gone_and_the_informer_lists_again(
    kube_config: client.Configuration, custom: client.CustomObjectsApi, kube_server: Any
) -> None:
    api = KubeApi(client.ApiClient(kube_config))
    seen: list[Any] = []
    informer = Informer(api, NIM_SERVICE, threading.RLock(), seen.extend)
    informer.relist()
    informer.resource_version = "1"
    with pytest.raises(Gone):
        informer.watch_once(timeout_seconds=5)

    namespace = new_project().namespace
    client.CoreV1Api(client.ApiClient(kube_config)).create_namespace(
        client.V1Namespace(metadata={"name": namespace})
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, nim_service("late", namespace)
    )
    stop = threading.Event()
    thread = threading.Thread(target=informer.run, args=(stop,), daemon=True)
    informer.resource_version = "1"  # as after a long disconnect: the next watch is a 410
    thread.start()
    try:
        wait_until(lambda: (namespace, "late") in informer.items, "the re-list finds it")
        assert informer.lists >= 2
    finally:
        stop.set()
        informer.interrupt()
        thread.join(10)


def test_a_restart_of_nimplane_misses_no_change(
    kube_config: client.Configuration, double: OperatorDouble
) -> None:
    first = start_cluster(kube_config, Changes())
    workload = make_workload(new_project())
    synced_ok(first, workload)
    first.stop()

    double.make_ready(workload.project.namespace, workload.name)  # while nimplane is down
    again = start_cluster(kube_config, Changes())
    try:
        wait_until(lambda: bool(observation(again, workload).urls), "seen after the restart")
        assert observation(again, workload).pods[0].ready
    finally:
        again.stop()


@pytest.mark.parametrize(
    ("call", "status"),
    [
        pytest.param(
            lambda api, ns: api.apply(nim_service("bad", ns, replicas=-1)), 422, id="invalid"
        ),
        pytest.param(
            lambda api, ns: api.apply(nim_service("bad", ns, replicas="two")),
            500,
            id="wrong-type-typed-patch",
        ),
        pytest.param(
            lambda api, ns: api.list(Kind("example.com", "v1", "widgets", "Widget", True)),
            404,
            id="crd-missing",
        ),
    ],
)
def test_a_refusal_the_cluster_keeps_is_not_retryable(
    kube_config: client.Configuration, call: Any, status: int
) -> None:
    api = KubeApi(client.ApiClient(kube_config))
    namespace = new_project().namespace
    api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    with pytest.raises(ClusterError) as refused:
        call(api, namespace)

    assert refused.value.retryable is False
    assert f": {status} " in str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_unauthorized_client_is_not_retried(kube_config: client.Configuration) -> None:
    configuration = client.Configuration()
    configuration.host = kube_config.host
    configuration.ssl_ca_cert = kube_config.ssl_ca_cert
    configuration.api_key = {"authorization": "Bearer not-a-token"}
    api = KubeApi(client.ApiClient(configuration))

    with pytest.raises(ClusterError) as refused:
        api.list(QUEUE)

    assert refused.value.retryable is False
    assert str(refused.value) == "list Queue: 401 Unauthorized"


def test_queue_sync_creates_updates_and_deletes_queues(
    cluster: KubernetesCluster, custom: client.CustomObjectsApi
) -> None:
    suffix = uuid.uuid4().hex[:6]
    dept = department(name=f"d-{suffix}", id_=f"d{suffix}")
    a = project(pool("default", Quota(deserved=2)), name=f"a-{suffix}", department_id=dept.id)
    b = replace(project(name=f"b-{suffix}", department_id=dept.id), id=f"b{suffix}")

    cluster.sync_queues([dept], [a, b])

    def queue(name: str) -> dict[str, Any]:
        found: dict[str, Any] = custom.get_cluster_custom_object(
            "scheduling.run.ai", "v2", "queues", name
        )
        return found

    assert queue(a.name)["spec"]["parentQueue"] == f"department-d-{suffix}"
    assert queue(a.name)["spec"]["resources"]["gpu"]["quota"] == 2
    created = queue(a.name)["metadata"]["generation"]

    more = replace(a, resources=(pool("default", Quota(deserved=6)),))
    cluster.sync_queues([dept], [more, b])
    assert queue(a.name)["spec"]["resources"]["gpu"]["quota"] == 6
    assert queue(a.name)["metadata"]["generation"] == created + 1

    deleted = cluster.sync_queues([dept], [more])
    assert deleted >= 1
    names = {q["metadata"]["name"] for q in KubeApi(cluster.api.api).list(QUEUE)[0]}
    assert b.name not in names
    assert a.name in names


@pytest.fixture
def second_server(tmp_path: Path) -> Iterator[kube.KubeServer]:
    """A kube-apiserver of this test's own (it is stopped and started), no CRDs yet."""
    run_dir = tmp_path / "kube-run"
    server = kube.start(run_dir)
    try:
        yield server
    finally:
        kube.stop(run_dir)


def test_an_outage_gives_retryable_errors_and_recovers(
    second_server: kube.KubeServer, tmp_path: Path
) -> None:
    workload = make_workload(new_project())
    cluster = start_cluster(second_server.configuration, Changes())
    try:
        # no CRDs on this server yet: the NIMService kind is missing, a permanent refusal
        missing = cluster.sync([want(workload)], NOW)[workload.id]
        assert isinstance(missing, ClusterError)
        assert missing.retryable is False
        assert "NIMService" in str(missing)

        kube.install_crds(second_server, tmp_path / "crds")
        synced_ok(cluster, workload)
        key = (workload.project.namespace, workload.name)
        wait_until(lambda: key in cluster.nim_services.items, "the cache sees the NIMService")
        lists = cluster.nim_services.lists

        paused = kube.PausedServer(second_server.run_dir)
        changed = make_workload(
            workload.project, desired=DesiredPhase.Stopped, workload_id=workload.id
        )
        down = cluster.sync([want(changed)], NOW)[workload.id]
        assert isinstance(down, ClusterError)
        assert down.retryable is True
        assert observation(cluster, workload).present  # the cache still answers

        paused.resume()
        wait_until(
            lambda: isinstance(cluster.sync([want(changed)], NOW)[workload.id], Observation),
            "the sync goes through once the server is back",
        )
        wait_until(lambda: cluster.nim_services.lists > lists, "the watch listed again")
        wait_until(
            lambda: cluster.nim_services.items[key]["spec"]["replicas"] == 0,
            "the cache sees the change made after the outage",
        )
    finally:
        cluster.stop()


class CountingApi(KubeApi):
    """Counts the applies of NIMServices."""

    applies = 0

    def apply(self, manifest: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
        if manifest["kind"] == "NIMService":
            self.applies += 1
        return super().apply(manifest, strict=strict)


def test_what_was_applied_is_applied_again_after_the_resync_period(
    kube_config: client.Configuration,
) -> None:
    now = [0.0]
    api = CountingApi(client.ApiClient(kube_config))
    cluster = KubernetesCluster(api, SETTINGS, resync_seconds=600, monotonic=lambda: now[0])
    cluster.start()
    try:
        assert cluster.wait_synced(60)
        workload = make_workload(new_project())
        synced_ok(cluster, workload)
        key = (workload.project.namespace, workload.name)
        wait_until(lambda: key in cluster.nim_services.items, "the cache sees the NIMService")

        now[0] = 599.0
        synced_ok(cluster, workload)
        assert api.applies == 1

        now[0] = 600.0
        synced_ok(cluster, workload)
        assert api.applies == 2
    finally:
        cluster.stop()


def test_values_beyond_the_bmp_and_c1_controls_are_applied_as_given(
    cluster: KubernetesCluster, custom: client.CustomObjectsApi
) -> None:
    """The server decodes an apply patch as YAML: no surrogate pairs, no raw C1 controls."""
    value = "llama \U0001f999 \x85 \x7f é"
    env = [{"name": "GREETING", "value": value}]
    workload = make_workload(new_project(), spec={**SPEC, "environmentVariables": env})

    synced_ok(cluster, workload)

    (applied,) = read_nim(custom, workload)["spec"]["env"]
    assert applied == {"name": "GREETING", "value": value}
