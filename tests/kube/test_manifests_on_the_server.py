"""What nimplane's rendering and deployment rely on, against the real kube-apiserver: the
CRD check reads NVIDIA's CRD from the cluster; a sample of the renders of specs the API
accepts passes the server's own server-side dry run (SSA, field manager `nimplane`, strict
field validation); and `deploy/kubernetes/` applies with `kubectl apply --dry-run=server -k`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from nimplane.backends.kubernetes.crd_source import (
    CrdUnavailable,
    read_crd,
    read_nim_service_crd,
)
from nimplane.domain.kubernetes import ClusterSettings, CrdChecker
from nimplane.domain.kubernetes.manifest_check import unrenderable
from nimplane.domain.workloads import DesiredPhase
from nimplane.settings import KubernetesSettings, Settings
from nimplane.wiring import manifest_check
from tests.api.test_roundtrip_properties import spec as api_specs
from tests.support.kube import APPLY_PATCH, FIELD_MANAGER, KubeServer
from tests.unit.kubernetes.support import PROJECT, crd, nim_service, render_request, stored_spec
from tests.unit.kubernetes.test_render_properties import cluster_settings
from tests.unit.test_validation_properties import specs

pytestmark = pytest.mark.kube

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "kubernetes"
NIM_GROUP, NIM_VERSION, NIM_PLURAL = "apps.nvidia.com", "v1alpha1", "nimservices"
VALID: dict[str, Any] = {
    "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
    "modelStore": {"nimCache": {"name": "llama-cache"}},
}


def test_the_crd_check_reads_the_nim_service_crd_from_the_cluster(
    kube_server: KubeServer, kube_api: client.ApiClient
) -> None:
    served = read_crd(kube_api)
    assert served["metadata"]["name"] == "nimservices.apps.nvidia.com"
    from_cluster, from_file = CrdChecker(served), CrdChecker(crd())
    assert (from_cluster.api_version, from_cluster.kind) == (from_file.api_version, "NIMService")
    manifest = nim_service(render_request({**VALID, "replicas": 2}))
    assert from_cluster.check(manifest) == []
    bad = {**manifest, "spec": {**manifest["spec"], "replicas": "two"}}
    assert [p.path for p in from_cluster.check(bad)] == ["spec.replicas"]
    if kube_server.evaluates_cel:  # the served CRD keeps NVIDIA's CEL rules
        assert len(from_cluster.rules) == len(from_file.rules) > 0


def test_on_the_kubernetes_backend_the_server_checks_against_the_clusters_crd(
    kube_server: KubeServer, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        backend="kubernetes",
        kubernetes=KubernetesSettings(kubeconfig=kube_server.kubeconfig),
    )
    check = manifest_check(settings, {})
    assert check.crd is not None
    assert check.crd.kind == "NIMService"
    assert check.crd.schema == CrdChecker(read_nim_service_crd(kube_server.kubeconfig, None)).schema


def test_a_crd_the_cluster_lacks_is_said_so(kube_api: client.ApiClient) -> None:
    with pytest.raises(CrdUnavailable, match="install the NIM Operator"):
        read_crd(kube_api, "nimthings.apps.nvidia.com")


@pytest.fixture(scope="module")
def project_namespace(kube_config: client.Configuration) -> str:
    """The rendering tests' project namespace (dry runs still need it to exist)."""
    with client.ApiClient(kube_config) as api:
        try:
            client.CoreV1Api(api).create_namespace(
                client.V1Namespace(metadata={"name": PROJECT.namespace})
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
    return PROJECT.namespace


_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x84\x86-\x9f\ufffe\uffff]")


def apply_body(manifest: dict[str, Any]) -> bytes:
    """An apply patch the server decodes as YAML: JSON in UTF-8, with the characters YAML may
    not hold raw escaped (JSON escapes the C0 controls itself). Neither all-ASCII JSON (a
    character beyond the BMP becomes a surrogate pair, which the YAML decoder refuses) nor
    raw UTF-8 (DEL and the C1 controls are refused raw) passes every value."""
    text = json.dumps(manifest, ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def _dry_run_apply(
    api: client.ApiClient, server: KubeServer, manifest: dict[str, Any]
) -> tuple[int, str]:
    """Server-side apply as nimplane will (field manager `nimplane`, forced, strict), dry run;
    the status code and body of the answer.

    The body goes as `apply_body`, through the client's generic call: the client's own
    serialiser escapes a character beyond the BMP (an env value may hold one) as a surrogate
    pair, which the server's YAML decoder of an apply patch refuses with a 400."""
    meta = manifest["metadata"]
    if manifest["kind"] == "NIMService":
        path = f"/apis/{NIM_GROUP}/{NIM_VERSION}/namespaces/{{namespace}}/{NIM_PLURAL}/{{name}}"
    else:
        assert manifest["kind"] == "PersistentVolumeClaim"
        path = "/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}"
    query = [("dryRun", "All"), ("fieldManager", FIELD_MANAGER), ("force", "true")]
    if server.strict_field_validation:
        query.append(("fieldValidation", "Strict"))
    method, url, headers, _, _ = api.param_serialize(
        "PATCH",
        path,
        path_params={"namespace": meta["namespace"], "name": meta["name"]},
        query_params=query,
        header_params={"Content-Type": APPLY_PATCH, "Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    body = apply_body(manifest)
    try:
        response = api.call_api(method, url, header_params=headers, body=body)
        response.read()
    except ApiException as exc:
        return int(exc.status), str(exc.body)
    return int(response.status), (response.data or b"").decode()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spec=specs | api_specs,
    cluster=cluster_settings,
    desired=st.sampled_from(list(DesiredPhase)),
)
def test_a_sample_of_accepted_specs_passes_the_servers_dry_run(
    kube_server: KubeServer,
    kube_api: client.ApiClient,
    project_namespace: str,
    spec: dict[str, Any],
    cluster: ClusterSettings,
    desired: DesiredPhase,
) -> None:
    assume(not unrenderable(stored_spec(spec)))  # the API refuses those (a Block volume)
    for manifest in render_request(spec, name="llm", settings=cluster, desired=desired):
        assert manifest["metadata"]["namespace"] == project_namespace
        status, answer = _dry_run_apply(kube_api, kube_server, manifest)
        assert status in (200, 201), f"{manifest['kind']} refused ({status}): {answer}\n{manifest}"


def _kubectl() -> str:
    """kubectl on PATH, else the one the kube-apiserver script's cache provides."""
    found = shutil.which("kubectl")
    if found is None:
        cached = sorted((Path.home() / ".cache" / "nimplane-k8s").glob("**/bin/kubectl*"))
        found = str(cached[0]) if cached else None
    if found is None:
        pytest.fail("no kubectl on PATH nor in ~/.cache/nimplane-k8s")
    return found


def test_deploy_kubernetes_applies_with_a_server_side_dry_run(
    kube_server: KubeServer, kube_api: client.ApiClient
) -> None:
    # a server-side dry run creates no namespace, so the objects inside it need it to exist
    try:
        client.CoreV1Api(kube_api).create_namespace(
            client.V1Namespace(metadata={"name": "nimplane"})
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
    done = subprocess.run(
        [
            _kubectl(),
            "--kubeconfig",
            str(kube_server.kubeconfig),
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "-k",
            str(DEPLOY),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    applied = done.stdout
    for kind in (
        "namespace/nimplane",
        "serviceaccount/nimplane",
        "clusterrole.rbac.authorization.k8s.io/nimplane",
        "clusterrolebinding.rbac.authorization.k8s.io/nimplane",
        "configmap/nimplane-config-",
        "service/nimplane",
        "deployment.apps/nimplane",
    ):
        assert kind in applied, applied
