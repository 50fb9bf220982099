"""`backends/kubernetes/logs.read_pod_log` against the real kube-apiserver. No kubelet runs,
so a pod's log cannot be read: the refusal must be a clear `ClusterError` naming the pod and
the API server's reason; a pod that does not exist is a NotFound."""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client

from nimplane.backends.kubernetes.logs import read_pod_log
from nimplane.domain.backend import ClusterError
from nimplane.domain.errors import NotFound

pytestmark = pytest.mark.kube


@pytest.fixture
def core(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata={"name": name}))
    return name


def _pod(core: client.CoreV1Api, namespace: str, name: str, node: str | None = None) -> None:
    container = client.V1Container(name="llama-ctr", image="nvcr.io/nim/meta/llama:1.3.3")
    spec = client.V1PodSpec(containers=[container], node_name=node)
    core.create_namespaced_pod(namespace, client.V1Pod(metadata={"name": name}, spec=spec))


def test_a_pod_not_bound_to_a_node_has_an_empty_log(core: client.CoreV1Api, namespace: str) -> None:
    _pod(core, namespace, "llama-0")
    assert read_pod_log(core, namespace, "llama-0", tail=10, container="llama-ctr") == []


def _node(core: client.CoreV1Api, name: str) -> None:
    """A Node whose kubelet endpoint is a closed port on this host."""
    core.create_node(client.V1Node(metadata={"name": name}))
    status = {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 1}},
    }
    core.patch_node_status(name, {"status": status})


@pytest.mark.parametrize(
    "node_exists",
    [
        pytest.param(False, id="node-object-missing"),
        pytest.param(True, id="kubelet-unreachable"),
    ],
)
def test_a_log_the_cluster_cannot_read_is_a_cluster_error(
    core: client.CoreV1Api, namespace: str, node_exists: bool
) -> None:
    """Bound to a node the API server cannot read the log from: no Node object (its 404 is
    about the node, not the pod), or a Node whose kubelet does not answer (none runs here)."""
    node = f"gpu-node-{uuid.uuid4().hex[:8]}"
    if node_exists:
        _node(core, node)
    _pod(core, namespace, "llama-0", node)
    with pytest.raises(ClusterError) as refused:
        read_pod_log(core, namespace, "llama-0", tail=10, container="llama-ctr", timeout=10)
    message = str(refused.value)
    assert f"pod {namespace}/llama-0" in message
    assert node in message or "kubelet" in message or "connect" in message, message
    assert refused.value.retryable


@pytest.mark.parametrize(
    ("pod", "container", "named"),
    [
        pytest.param("nope-0", "llama-ctr", "nope-0", id="unknown-pod"),
        pytest.param("llama-0", "other-ctr", "other-ctr", id="unknown-container"),
    ],
)
def test_an_unknown_pod_or_container_is_not_found(
    core: client.CoreV1Api, namespace: str, pod: str, container: str, named: str
) -> None:
    _pod(core, namespace, "llama-0")
    with pytest.raises(NotFound) as missing:
        read_pod_log(core, namespace, pod, tail=None, container=container)
    assert named in missing.value.message
