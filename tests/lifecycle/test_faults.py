"""Faults injected through the simulator admin API: what the workload shows (phases, events,
running pods), where its replicas go, and how it recovers; image pull failures; and the admin
routes' permissions and validation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.state import AppState
from nimplane.backends.simulated import Timings
from nimplane.backends.simulated.model import observe
from tests.conftest import nim_request
from tests.support.lifecycle import PODS_FAULTS, Harness, harness_fixture, sim_pods
from tests.support.org import caller, clean_org_fixture, ok

__all__ = ["clean_org_fixture", "harness_fixture"]

NODES = "/api/v1/simulator/nodes"


def running_service(h: Harness, replicas: int = 2) -> str:
    workload_id = h.create(nim_request(replicas=replicas))
    h.settle(120)
    shown = h.workload(workload_id)
    assert (shown["phase"], shown["runningPods"]) == ("Running", replicas)
    return workload_id


def pod_fault(h: Harness, workload_id: str, pod: str, action: str) -> dict[str, Any]:
    url = PODS_FAULTS.format(workload=workload_id, pod=pod, action=action)
    return dict(ok(h.client.post(url, headers=h.headers)))


@pytest.mark.parametrize("fault", ["fail", "drain"])
def test_a_lost_node_degrades_the_service_and_its_replicas_move(
    harness: Harness, fault: str
) -> None:
    h = harness
    workload_id = running_service(h)
    node = sorted(h.pods(workload_id).values())[0]
    shown = ok(h.client.post(f"{NODES}/{node}/{fault}", headers=h.headers))
    fault_name = {"fail": "failed", "drain": "drained"}[fault]
    assert shown == {"name": node, "ready": False, "fault": fault_name}

    h.life.run_pass()  # the lifecycle engine sees the loss before the scheduler moves anything
    degraded = h.workload(workload_id)
    assert degraded["phase"] == "Degraded"
    assert degraded["runningPods"] < 2

    h.settle(120)
    recovered = h.workload(workload_id)
    assert (recovered["phase"], recovered["runningPods"]) == ("Running", 2)
    assert node not in h.pods(workload_id).values()
    assert h.phases(workload_id)[-2:] == ["Degraded", "Running"]
    events = h.events(workload_id)
    assert any(e["reason"] == "NodeNotReady" and node in e["message"] for e in events)
    moved = [e["message"] for e in events if e["reason"] == "Created" and node not in e["message"]]
    assert moved, "a replica was re-created on another node"
    scheduled = [e["message"] for e in events if e["reason"] == "Scheduled"]
    assert len(scheduled) > 2, "the scheduler reports the move, not only the first placements"
    assert any(not m.endswith(f" to {node}") for m in scheduled)

    ok(h.client.post(f"{NODES}/{node}/recover", headers=h.headers))
    nodes = ok(h.client.get(NODES, headers=h.headers))["nodes"]
    assert all(n["ready"] and n["fault"] is None for n in nodes)


def test_a_node_lost_after_the_scheduler_moved_its_pods_is_still_reported(
    harness: Harness,
) -> None:
    h = harness
    workload_id = running_service(h)
    node = sorted(h.pods(workload_id).values())[0]
    ok(h.client.post(f"{NODES}/{node}/fail", headers=h.headers))
    h.settle(120)  # the scheduler re-places first
    assert h.workload(workload_id)["phase"] == "Running"
    assert "NodeNotReady" in h.reasons(workload_id)
    assert "Degraded" in h.phases(workload_id)


@pytest.mark.parametrize(
    ("action", "degrades_after", "reason"),
    [
        pytest.param("crash-loop", 0, "BackOff", id="crash-loop"),
        # readiness: failureThreshold (3) x periodSeconds (10) after the fault
        pytest.param("fail-readiness", 30, "Unhealthy", id="readiness"),
    ],
)
def test_a_failing_pod_degrades_the_service_until_it_recovers(
    harness: Harness, action: str, degrades_after: float, reason: str
) -> None:
    h = harness
    workload_id = running_service(h)
    pod = sorted(h.pods(workload_id))[0]
    shown = pod_fault(h, workload_id, pod, action)
    assert shown["name"] == pod
    assert shown["crashLoop"] is (action == "crash-loop")
    assert shown["readinessFailing"] is (action == "fail-readiness")

    if degrades_after:
        h.step(degrades_after - 1)
        assert h.workload(workload_id)["phase"] == "Running"
        h.step(1)
    else:
        h.step(0)
    degraded = h.workload(workload_id)
    assert (degraded["phase"], degraded["runningPods"]) == ("Degraded", 1)
    assert degraded["phaseMessage"] == "1 of 2 replicas ready"
    assert reason in h.reasons(workload_id)
    h.settle(60)
    assert h.workload(workload_id)["phase"] == "Degraded"  # it stays so while the fault lasts

    cleared = pod_fault(h, workload_id, pod, "recover")
    assert (cleared["crashLoop"], cleared["readinessFailing"]) == (False, False)
    h.settle(120)
    recovered = h.workload(workload_id)
    assert (recovered["phase"], recovered["runningPods"]) == ("Running", 2)
    assert h.phases(workload_id)[-2:] == ["Degraded", "Running"]
    assert h.reasons(workload_id)[-1] == "Ready"


def test_a_crash_loop_restarts_with_back_off(harness: Harness) -> None:
    h = harness
    workload_id = running_service(h)
    pod = sorted(h.pods(workload_id))[0]
    pod_fault(h, workload_id, pod, "crash-loop")
    h.step(0)
    h.settle(70)  # restarts at 10, 30, 70 s
    crashing = next(p for p in sim_pods(h.state, workload_id) if p.name == pod)
    seen = observe(crashing.plan, crashing.started_at, crashing.faults, h.clock())
    assert (seen.stage.value, seen.restarts) == ("CrashLoopBackOff", 4)


@pytest.mark.parametrize(
    ("timings", "message"),
    [
        pytest.param(
            Timings(image_pull_seconds=10, unreachable=("bad.example.com",)),
            "bad.example.com is unreachable",
            id="unreachable-registry",
        ),
        pytest.param(
            Timings(image_pull_seconds=10, catalogue=("nvcr.io/nim/meta/other",)),
            "not found in the registry",
            id="catalogue-miss",
        ),
    ],
)
def test_an_image_that_cannot_be_pulled_fails_the_service(
    clean_org: AppState,
    client: TestClient,
    admin: dict[str, str],
    timings: Timings,
    message: str,
) -> None:
    h = Harness(clean_org, client, admin, timings)
    h.give_quota()
    image = (
        "bad.example.com/nim/llama:1"
        if timings.unreachable
        else "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
    )
    workload_id = h.create(nim_request(image=image))
    h.settle(60)
    shown = h.workload(workload_id)
    assert shown["phase"] == "Failed"
    assert message in shown["phaseMessage"]
    assert shown["runningPods"] == 0
    assert "Failed" in h.reasons(workload_id)


# --- the admin routes ------------------------------------------------------------------------

ROUTES = [
    pytest.param("get", NODES, None, id="list-nodes"),
    pytest.param("post", f"{NODES}/sim-node-0/fail", None, id="fail-node"),
    pytest.param("post", f"{NODES}/sim-node-0/drain", None, id="drain-node"),
    pytest.param("post", f"{NODES}/sim-node-0/recover", None, id="recover-node"),
    pytest.param("post", PODS_FAULTS.format(workload="w", pod="p", action="crash-loop"), None),
    pytest.param("post", PODS_FAULTS.format(workload="w", pod="p", action="fail-readiness"), None),
    pytest.param("post", PODS_FAULTS.format(workload="w", pod="p", action="recover"), None),
    pytest.param("put", "/api/v1/simulator/workloads/w/metrics", {"metric": "m", "value": 1}),
]


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
def test_the_admin_routes_need_a_system_administrator(
    state: AppState, client: TestClient, method: str, url: str, body: Any
) -> None:
    extra = {} if body is None else {"json": body}
    assert client.request(method, url, **extra).status_code == 401
    engineer = caller(state, "ML engineer", "project", "1")
    refused = client.request(method, url, headers=engineer, **extra)
    assert refused.status_code == 403, refused.text
    assert "System administrator" in refused.json()["message"]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"{NODES}/no-such-node/fail", id="unknown-node"),
        pytest.param(PODS_FAULTS.format(workload="nope", pod="p", action="crash-loop"), id="wl"),
    ],
)
def test_unknown_targets_are_404(client: TestClient, admin: dict[str, str], url: str) -> None:
    assert client.post(url, headers=admin).status_code == 404


def test_an_unknown_pod_is_404(harness: Harness) -> None:
    workload_id = running_service(harness, replicas=1)
    url = PODS_FAULTS.format(workload=workload_id, pod="no-such-pod", action="fail-readiness")
    assert harness.client.post(url, headers=harness.headers).status_code == 404
