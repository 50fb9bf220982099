"""`observe`: a workload's Kubernetes objects (as the API server serves them) mapped to the
lifecycle engine's `Observation`."""

from __future__ import annotations

from typing import Any

import pytest

from nimplane.domain.kubernetes.observe import WorkloadObjects, observe, with_template_hash

PREFIX = "nimplane.io"
HASH = f"{PREFIX}/template-hash"


def pod(
    name: str = "llama-abcde",
    *,
    node: str | None = "n1",
    phase: str = "Running",
    ready: bool = False,
    waiting: str | None = None,
    template: str = "h1",
    created: str = "2026-01-01T00:00:00Z",
    gpus: str | None = "1",
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    restarts: int = 0,
) -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    resources = {"limits": {"nvidia.com/gpu": gpus}} if gpus else {}
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "creationTimestamp": created,
            "labels": {HASH: template, **(labels or {})},
            "annotations": annotations or {},
        },
        "spec": {"nodeName": node, "containers": [{"name": "c", "resources": resources}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "c", "restartCount": restarts, "state": state}],
        },
    }


def nim(template: str = "h1", status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "llama", "namespace": "ns"},
        "spec": {"labels": {HASH: template}},
        "status": status or {},
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(pod(ready=True), ("Running", True, "Ready"), id="ready"),
        pytest.param(pod(), ("Running", False, "NotReady"), id="running-not-ready"),
        pytest.param(
            pod(phase="Pending", waiting="ImagePullBackOff"),
            ("Pending", False, "ImagePullBackOff"),
            id="waiting-reason",
        ),
        pytest.param(
            {**pod(phase="Pending", node=None), "status": {"phase": "Pending"}},
            ("Pending", False, "Pending"),
            id="unscheduled",
        ),
    ],
)
def test_a_pod_state_is_what_its_container_does(raw: dict[str, Any], expected: Any) -> None:
    (seen,) = observe(WorkloadObjects(nim_service=nim(), pods=(raw,)), PREFIX).pods
    assert (seen.k8s_phase, seen.ready, seen.state) == expected


@pytest.mark.parametrize(
    ("raw", "gpus"),
    [
        pytest.param(pod(gpus="2"), 2.0, id="whole"),
        pytest.param(pod(gpus=None, annotations={"gpu-fraction": "0.5"}), 0.5, id="fraction"),
        pytest.param(
            pod(
                gpus=None,
                annotations={"gpu-fraction": "0.25", "gpu-fraction-num-devices": "2"},
            ),
            0.5,
            id="fraction-of-devices",
        ),
        pytest.param(pod(gpus=None, annotations={"gpu-memory": "10240"}), 0.0, id="memory"),
    ],
)
def test_gpus_from_requests_or_share_annotations(raw: dict[str, Any], gpus: float) -> None:
    (seen,) = observe(WorkloadObjects(pods=(raw,)), PREFIX).pods
    assert seen.gpus == gpus


def test_replicas_by_age_and_current_by_template_hash() -> None:
    older = pod("b", created="2026-01-01T00:00:00Z", template="h0")
    newer = pod("a", created="2026-01-01T00:01:00Z", template="h1")
    seen = observe(WorkloadObjects(nim_service=nim("h1"), pods=(newer, older)), PREFIX).pods
    assert [(p.name, p.replica, p.current) for p in seen] == [("b", 0, False), ("a", 1, True)]


def test_leader_worker_set_pods_keep_their_group_and_worker_index() -> None:
    labels = {
        "leaderworkerset.sigs.k8s.io/group-index": "1",
        "leaderworkerset.sigs.k8s.io/worker-index": "2",
    }
    (seen,) = observe(WorkloadObjects(pods=(pod(labels=labels),)), PREFIX).pods
    assert (seen.replica, seen.index) == (1, 2)


def test_status_conditions_urls_and_failure() -> None:
    status = {
        "state": "Failed",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Failed", "message": "x"},
            {"type": "Failed", "status": "True", "reason": "NIMCacheNotFound", "message": "gone"},
        ],
        "model": {"name": "m", "clusterEndpoint": "llama.ns:8000", "externalEndpoint": ""},
    }
    seen = observe(WorkloadObjects(nim_service=nim(status=status)), PREFIX)
    assert seen.present
    assert seen.failure == "NIMCacheNotFound; gone"
    assert seen.urls == ("llama.ns:8000",)
    assert [(c.type, c.status, c.reason) for c in seen.conditions] == [
        ("Ready", "False", "Failed"),
        ("Failed", "True", "NIMCacheNotFound"),
    ]


def test_pending_from_pod_group_conditions_else_failed_scheduling_events() -> None:
    waiting = pod(node=None, phase="Pending")
    group = {
        "metadata": {"name": "pg", "namespace": "ns"},
        "status": {
            "conditions": [
                {
                    "type": "UnschedulableOnNodePool",
                    "status": "True",
                    "reason": "OverLimit",
                    "message": "queue team-a over its GPU limit",
                }
            ]
        },
    }
    event = {
        "reason": "FailedScheduling",
        "message": "0/4 nodes are available",
        "involvedObject": {"kind": "Pod", "name": waiting["metadata"]["name"]},
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }
    by_group = observe(WorkloadObjects(pods=(waiting,), pod_groups=(group,)), PREFIX)
    by_event = observe(WorkloadObjects(pods=(waiting,), events=(event,)), PREFIX)

    assert [(p.reason, p.message) for p in by_group.pending] == [
        ("OverLimit", "queue team-a over its GPU limit")
    ]
    assert [(p.reason, p.message) for p in by_event.pending] == [
        ("FailedScheduling", "0/4 nodes are available")
    ]


def test_nothing_left_is_not_present() -> None:
    assert not observe(WorkloadObjects(), PREFIX).present
    assert observe(WorkloadObjects(others=1), PREFIX).present


def test_the_template_hash_ignores_the_replica_count() -> None:
    def manifest(**scale: Any) -> list[dict[str, Any]]:
        spec = {"image": {"repository": "r", "tag": "t"}, "labels": {"a": "b"}, **scale}
        return [{"kind": "NIMService", "metadata": {}, "spec": spec}]

    one = with_template_hash(manifest(replicas=1), PREFIX)[0]["spec"]["labels"][HASH]
    zero = with_template_hash(manifest(replicas=0), PREFIX)[0]["spec"]["labels"][HASH]
    other = with_template_hash(
        [{"kind": "NIMService", "metadata": {}, "spec": {"image": {"tag": "u"}}}], PREFIX
    )[0]["spec"]["labels"][HASH]
    assert one == zero != other
