"""nimplane on the Kubernetes backend, end to end through its HTTP API, against the session's
kube-apiserver with the operator double: create -> the NIMService applied -> the double
reports it ready -> `Running` with running pods; PATCH -> `Updating` -> `Running`; suspend ->
0 replicas -> `Stopped`; resume; delete -> objects gone, workload torn down; a project's
quota change -> its Queue changes; a restart of nimplane, an outage of the API server and
another field manager's change; failures and KAI's pending reasons shown on the workload."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes import client as k8s

from nimplane.api.app import create_app
from nimplane.api.state import AppState
from nimplane.settings import KubernetesSettings
from nimplane.wiring import build_state
from tests.conftest import nim_request
from tests.support import kube
from tests.support.operator_double import OperatorDouble
from tests.support.org import DEPARTMENTS, NIM, PROJECTS, gpu, ok
from tests.support.waiting import wait_until

pytestmark = pytest.mark.kube

V1 = "/api/v1/workloads"
GROUP, VERSION, PLURAL = "apps.nvidia.com", "v1alpha1", "nimservices"
NAMESPACE = "runai-default"


@contextlib.contextmanager
def nimplane_on(state: AppState, server: kube.KubeServer) -> Iterator[TestClient]:
    """A nimplane on the Kubernetes backend of `server`, its loops and watches running, on
    the session's database (a new one each time: a restart)."""
    settings = state.settings.model_copy(
        update={
            "backend": "kubernetes",
            "kubernetes": KubernetesSettings(kubeconfig=server.kubeconfig),
        }
    )
    built = build_state(settings)
    try:
        with TestClient(create_app(settings, state=built, run_workers=True)) as running:
            yield running
    finally:
        built.close()


@pytest.fixture
def kube_app(state: AppState, kube_server: kube.KubeServer) -> Iterator[TestClient]:
    """nimplane on the Kubernetes backend, its loops and watches running, on the session's
    database."""
    with nimplane_on(state, kube_server) as running:
        yield running


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

    # on Kubernetes nothing is seeded from a node count nimplane does not know at start
    ok(kube_app.put(f"{DEPARTMENTS}/1/resources", json=[gpu(64)], headers=admin))
    ok(kube_app.put(f"{PROJECTS}/1/resources", json=[gpu(3)], headers=admin))
    wait_until(lambda: gpu_quota() == 3, "the queue has quota 3")

    ok(kube_app.put(f"{PROJECTS}/1/resources", json=[gpu(5)], headers=admin))
    wait_until(lambda: gpu_quota() == 5, "the queue has quota 5")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create(app: TestClient, headers: dict[str, str], name: str, **spec: Any) -> str:
    created = ok(app.post(NIM, json=nim_request(name, **spec), headers=headers), 202)
    workload_id: str = created["metadata"]["id"]
    return workload_id


def batch(app: TestClient, headers: dict[str, str], action: str, workload_id: str) -> None:
    body = ok(
        app.post(f"{V1}/batch", json={"ids": [workload_id], "action": action}, headers=headers)
    )
    assert not body.get("failed"), body


def env_of(found: dict[str, Any] | None) -> dict[str, str]:
    if found is None:
        return {}
    return {e["name"]: e.get("value", "") for e in found["spec"].get("env") or []}


def test_create_patch_suspend_resume_delete_through_the_api(
    kube_app: TestClient,
    admin: dict[str, str],
    kube_api: k8s.ApiClient,
    double: OperatorDouble,
) -> None:
    custom = k8s.CustomObjectsApi(kube_api)
    name = unique("e2e")
    share = {"gpuRequestType": "portion", "gpuPortionRequest": 0.5, "cpuCoreRequest": 0.5}
    wid = create(kube_app, admin, name, compute=share)

    # 1. applied in the project's namespace, as KAI and the NIM Operator need it
    wait_until(lambda: nim(custom, name) is not None, "the NIMService is applied")
    applied = nim(custom, name)
    assert applied is not None
    assert applied["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "nimplane"
    assert applied["metadata"]["labels"]["nimplane.io/workload-id"] == wid
    assert applied["metadata"]["labels"]["nimplane.io/project-id"] == "1"
    spec = applied["spec"]
    assert spec["schedulerName"] == "kai-scheduler"
    assert spec["labels"]["kai.scheduler/queue"] == "default"
    assert spec["annotations"]["gpu-fraction"] == "0.5"
    assert spec["replicas"] == 1
    assert spec["resources"]["requests"]["cpu"] == "500m"
    assert "nvidia.com/gpu" not in spec["resources"].get("limits", {})  # KAI shares the GPU

    wait_until(lambda: phase_is(kube_app, admin, wid, "Initializing"), "Initializing")
    double.make_ready(NAMESPACE, name)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Running"), "Running")
    running = workload(kube_app, admin, wid)
    assert running["runningPods"] == 1
    assert running["urls"] == [f"http://{name}.{NAMESPACE}.svc.cluster.local:8000"]
    (pod,) = ok(kube_app.get(f"{V1}/{wid}/pods", headers=admin))["pods"]
    assert (pod["nodeName"], pod["ready"], pod["k8sPhase"]) == ("double-node-0", True, "Running")

    # 2. a PATCH is applied again; Updating until the new generation is ready
    env = [{"name": "NIM_LOG_LEVEL", "value": "DEBUG"}]
    ok(
        kube_app.patch(f"{NIM}/{wid}", json={"spec": {"environmentVariables": env}}, headers=admin),
        202,
    )
    wait_until(lambda: env_of(nim(custom, name)).get("NIM_LOG_LEVEL") == "DEBUG", "re-applied")
    # the double rolls as a Deployment does: the old pod serves until the new one is ready
    wait_until(lambda: phase_is(kube_app, admin, wid, "Updating"), "Updating")
    double.make_ready(NAMESPACE, name)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Running"), "Running on the new template")
    (pod,) = ok(kube_app.get(f"{V1}/{wid}/pods", headers=admin))["pods"]
    assert pod["ready"] is True

    # 3. suspend -> 0 replicas -> Stopped; resume -> Running
    batch(kube_app, admin, "suspend", wid)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Stopped"), "Stopped")
    stopped = nim(custom, name)
    assert stopped is not None
    assert stopped["spec"]["replicas"] == 0
    batch(kube_app, admin, "resume", wid)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Running"), "Running again")
    resumed = nim(custom, name)
    assert resumed is not None
    assert resumed["spec"]["replicas"] == 1

    # 4. delete -> foreground delete -> objects gone -> torn down
    ok(kube_app.delete(f"/api/v2/workloads/{wid}", headers=admin), 202)
    wait_until(lambda: nim(custom, name) is None, "the NIMService is gone")
    listed = lambda: [w["id"] for w in ok(kube_app.get(V1, headers=admin))["workloads"]]  # noqa: E731
    wait_until(lambda: wid not in listed(), "the workload is torn down")


def test_a_restart_of_nimplane_misses_nothing(
    state: AppState,
    kube_server: kube.KubeServer,
    admin: dict[str, str],
    double: OperatorDouble,
) -> None:
    name = unique("restart")
    with nimplane_on(state, kube_server) as first:
        wid = create(first, admin, name)
        wait_until(lambda: phase_is(first, admin, wid, "Initializing"), "Initializing")

    double.make_ready(NAMESPACE, name)  # while nimplane is down

    with nimplane_on(state, kube_server) as second:
        wait_until(lambda: phase_is(second, admin, wid, "Running"), "Running after the restart")
        assert workload(second, admin, wid)["runningPods"] == 1


def test_another_managers_change_is_taken_back(
    kube_app: TestClient, admin: dict[str, str], kube_api: k8s.ApiClient, double: OperatorDouble
) -> None:
    custom = k8s.CustomObjectsApi(kube_api)
    name = unique("taken")
    env = [{"name": "NIM_LOG_LEVEL", "value": "INFO"}]
    wid = create(kube_app, admin, name, environmentVariables=env)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Initializing"), "Initializing")
    double.make_ready(NAMESPACE, name)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Running"), "Running")

    # the fields nimplane sets, taken over by force (a field nimplane never set stays the
    # other manager's: server-side apply removes only what the applier owned)
    changed = {"replicas": 3, "env": [{"name": "NIM_LOG_LEVEL", "value": "DEBUG"}]}
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        name,
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NIMService", "spec": changed},
        field_manager="someone-else",
        force=True,
        _content_type=kube.APPLY_PATCH,
    )

    def taken_back() -> bool:
        found = nim(custom, name)
        return (
            found is not None
            and found["spec"]["replicas"] == 1
            and env_of(found).get("NIM_LOG_LEVEL") == "INFO"
        )

    wait_until(taken_back, "nimplane applied its NIMService again")
    wait_until(lambda: phase_is(kube_app, admin, wid, "Running"), "Running")


def set_pod_waiting(kube_api: k8s.ApiClient, name: str, reason: str, message: str) -> None:
    """As a kubelet that cannot pull the image would report it."""
    core = k8s.CoreV1Api(kube_api)
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app.kubernetes.io/name={name}")
    for pod in pods.items:
        waiting = {"waiting": {"reason": reason, "message": message}}
        status = {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": pod.spec.containers[0].name,
                    "ready": False,
                    "restartCount": 0,
                    "image": pod.spec.containers[0].image,
                    "imageID": "",
                    "state": waiting,
                }
            ],
        }
        core.patch_namespaced_pod_status(
            pod.metadata.name,
            NAMESPACE,
            {"status": status},
            _content_type="application/merge-patch+json",
        )


def test_failures_and_pending_reasons_are_shown_on_the_workload(
    kube_app: TestClient, admin: dict[str, str], kube_api: k8s.ApiClient, double: OperatorDouble
) -> None:
    # an image that cannot be pulled fails the workload, the kubelet's message says why
    pulled = unique("pull")
    wid = create(kube_app, admin, pulled)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Initializing"), "Initializing")
    set_pod_waiting(kube_api, pulled, "ErrImagePull", "manifest unknown: llama:1.3.3")
    wait_until(lambda: phase_is(kube_app, admin, wid, "Failed"), "Failed")
    failed = workload(kube_app, admin, wid)
    assert "manifest unknown" in failed["phaseMessage"]

    # the NIM Operator's Failed condition: its reason and message shown
    broken = unique("broken")
    other = create(kube_app, admin, broken)
    wait_until(lambda: phase_is(kube_app, admin, other, "Initializing"), "Initializing")
    double.fail(NAMESPACE, broken, "NIMCacheNotFound", "no llama-cache")
    wait_until(
        lambda: "NIMCacheNotFound" in workload(kube_app, admin, other)["phaseMessage"],
        "the operator's reason shown",
    )

    # KAI cannot place the pods: its PodGroup condition is the pending message
    waiting = unique("pending")
    third = create(kube_app, admin, waiting)
    double.unschedulable(NAMESPACE, waiting, "queue default is over its quota")
    wait_until(lambda: phase_is(kube_app, admin, third, "Pending"), "Pending")
    wait_until(
        lambda: (
            workload(kube_app, admin, third)["phaseMessage"] == "queue default is over its quota"
        ),
        "KAI's reason shown",
    )


@pytest.fixture
def second_server(tmp_path: Path) -> Iterator[kube.KubeServer]:
    """A kube-apiserver of this test's own (it is stopped and started), with the CRDs."""
    run_dir = tmp_path / "kube-run"
    server = kube.start(run_dir)
    try:
        kube.install_crds(server, tmp_path / "crds")
        yield server
    finally:
        kube.stop(run_dir)


def reconcile_errors(app: TestClient, headers: dict[str, str]) -> float:
    text = app.get("/metrics", headers=headers).text
    found = re.search(r"^nimplane_reconcile_errors_total ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_an_outage_of_the_api_server_is_retried_and_recovered(
    state: AppState, second_server: kube.KubeServer, admin: dict[str, str]
) -> None:
    name = unique("outage")
    with (
        OperatorDouble(second_server.configuration) as double,
        nimplane_on(state, second_server) as app,
    ):
        wid = create(app, admin, name)
        wait_until(lambda: phase_is(app, admin, wid, "Initializing"), "Initializing")
        double.make_ready(NAMESPACE, name)
        wait_until(lambda: phase_is(app, admin, wid, "Running"), "Running")
        errors = reconcile_errors(app, admin)

        paused = kube.PausedServer(second_server.run_dir)
        env = [{"name": "NIM_LOG_LEVEL", "value": "DEBUG"}]
        patch = {"spec": {"environmentVariables": env}}
        ok(app.patch(f"{NIM}/{wid}", json=patch, headers=admin), 202)
        wait_until(lambda: reconcile_errors(app, admin) > errors, "a sync failed and is retried")
        assert workload(app, admin, wid)["phase"] != "Failed"

        paused.resume()
        with k8s.ApiClient(second_server.configuration) as api:
            custom = k8s.CustomObjectsApi(api)
            wait_until(
                lambda: env_of(nim_or_none(custom, name)).get("NIM_LOG_LEVEL") == "DEBUG",
                "applied once the server is back",
            )
        double.make_ready(NAMESPACE, name)  # the new template's pod
        wait_until(lambda: phase_is(app, admin, wid, "Running"), "Running after the outage")
        records = ok(app.get(f"{V1}/{wid}/history", headers=admin))["records"]
        phases = [r["spec"]["phaseUpdate"]["phase"] for r in records if "phaseUpdate" in r["spec"]]
        assert "Failed" not in phases


def nim_or_none(custom: k8s.CustomObjectsApi, name: str) -> dict[str, Any] | None:
    """The NIMService, or None while the server does not answer yet."""
    try:
        return nim(custom, name)
    except Exception:
        return None


def test_logs_come_from_the_cluster_and_there_is_no_simulator(
    kube_app: TestClient, admin: dict[str, str], double: OperatorDouble
) -> None:
    """On Kubernetes the API's logs route reads through the API server (no kubelet answers
    here: a 503 naming the pod, where the simulated cluster would print its log lines), and
    fault injection, a simulated cluster's, is a 404 saying why."""
    name = unique("logs")
    wid = create(kube_app, admin, name)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Initializing"), "Initializing")
    double.make_ready(NAMESPACE, name)
    wait_until(lambda: phase_is(kube_app, admin, wid, "Running"), "Running")
    (pod,) = ok(kube_app.get(f"{V1}/{wid}/pods", headers=admin))["pods"]

    logs = kube_app.get(f"{NIM}/{wid}/logs", params={"pod": pod["name"]}, headers=admin)
    assert logs.status_code == 503, logs.text
    assert pod["name"] in logs.json()["message"]

    for method, path in [
        ("GET", "/api/v1/simulator/nodes"),
        ("POST", "/api/v1/simulator/nodes/double-node-0/fail"),
    ]:
        refused = kube_app.request(method, path, headers=admin)
        assert refused.status_code == 404, (path, refused.text)
        assert "runs on Kubernetes" in refused.json()["message"]
