"""The whole path of a NIM service on the simulated cluster, through the API only, with a fake
clock: create -> Running with its pods and URL; PATCH -> Updating -> Running; suspend ->
Stopped with its GPUs freed; resume -> Running; delete -> gone, GPUs freed, listed as deleted.

The scheduler and the lifecycle engine are the server's own services; the test runs their
passes itself (instead of the background loops) so that every step is deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.domain.simulation import Timings
from nimplane.services.lifecycle import LifecycleService
from nimplane.services.scheduling import SchedulingService
from nimplane.services.workloads import utc_now
from nimplane.storage.leadership import Leadership
from nimplane.wiring import AppState
from tests.conftest import nim_request
from tests.support.clock import ManualClock
from tests.support.org import clean_org_fixture, gpu, ok  # noqa: F401 - fixture

NIM = "/api/v2/workloads/nim-services"
WORKLOADS = "/api/v1/workloads"
TIMINGS = Timings(image_pull_seconds=10, model_load_nim_cache_seconds=20)
"""A pod pulls for 10 s, loads for 20 s and is ready at the first probe after (period 10 s)."""


class Cluster:
    """The API client plus the two background passes, driven by hand."""

    def __init__(self, client: TestClient, admin: dict[str, str], state: AppState) -> None:
        self.client = client
        self.admin = admin
        self.state = state
        # ahead of the wall clock the API stamps its writes with, so they are always past
        self.clock = ManualClock(utc_now() + timedelta(minutes=1))
        self.lifecycle = LifecycleService(state.store, state.cluster, self.clock, TIMINGS)
        self.scheduling = SchedulingService(
            state.store, state.cluster, Leadership(state.engine), self.clock
        )

    def step(self, seconds: float = 1.0) -> None:
        """A scheduling cycle, `seconds` of simulated time, then a lifecycle pass."""
        self.scheduling.run_cycle()
        self.clock.advance(seconds)
        self.lifecycle.run_pass()

    def workload(self, workload_id: str) -> dict[str, Any]:
        return dict(ok(self.client.get(f"{WORKLOADS}/{workload_id}", headers=self.admin)))

    def pods(self, workload_id: str) -> list[dict[str, Any]]:
        url = f"{WORKLOADS}/{workload_id}/pods"
        return list(ok(self.client.get(url, headers=self.admin))["pods"])

    def phases(self, workload_id: str) -> list[str]:
        url = f"{WORKLOADS}/{workload_id}/history?limit=500"
        records = ok(self.client.get(url, headers=self.admin))["records"]
        return [
            r["spec"]["phaseUpdate"]["phase"] for r in records if r["meta"]["type"] == "PhaseUpdate"
        ]

    def batch(self, action: str, workload_id: str) -> None:
        body = {"ids": [workload_id], "action": action}
        result = ok(self.client.post(f"{WORKLOADS}/batch", json=body, headers=self.admin))
        assert result["succeeded"] == [workload_id], result

    def run_until(
        self, workload_id: str, phase: str, *, seconds: float = 10, most: int = 20
    ) -> None:
        for _ in range(most):
            if self.workload(workload_id)["phase"] == phase:
                return
            self.step(seconds)
        raise AssertionError(f"{workload_id} never reached {phase}: {self.workload(workload_id)}")


@pytest.fixture
def cluster(client: TestClient, admin: dict[str, str], clean_org: AppState) -> Cluster:
    for unit in ("departments", "projects"):
        ok(client.put(f"/api/v1/org-unit/{unit}/1/resources", json=[gpu(32)], headers=admin))
    return Cluster(client, admin, clean_org)


def test_create_update_suspend_resume_delete(cluster: Cluster) -> None:
    body = nim_request("llama", replicas=2, priorityClass="medium")
    workload_id = ok(cluster.client.post(NIM, json=body, headers=cluster.admin), 202)["metadata"][
        "id"
    ]
    assert cluster.workload(workload_id)["phase"] == "Creating"

    # create -> Pending -> Initializing -> Running, with two pods and the serving URL
    cluster.step()
    shown = cluster.workload(workload_id)
    assert shown["phase"] == "Initializing"
    assert shown["allocatedResources"]["gpu"] == 2
    assert shown["urls"] == []
    cluster.run_until(workload_id, "Running")
    shown = cluster.workload(workload_id)
    assert shown["runningPods"] == 2
    assert shown["urls"] == ["http://llama.runai-default.svc.cluster.local:8000"]
    assert {c["type"]: c["status"] for c in shown["conditions"]} == {
        "Scheduled": "True",
        "Ready": "True",
    }
    pods = cluster.pods(workload_id)
    assert sorted(p["name"] for p in pods) == ["llama-0", "llama-1"]
    assert all(p["ready"] and p["k8sPhase"] == "Running" for p in pods)
    assert all(p["allocatedResources"]["gpu"] == 1 and p["nodeName"] for p in pods)
    assert cluster.phases(workload_id) == ["Creating", "Pending", "Initializing", "Running"]

    # PATCH -> Updating -> Running: every pod replaced, one replica at a time, and with room
    # for a third replica (the surge) never fewer than two serving
    patch = {"spec": {"environmentVariables": [{"name": "NIM_LOG_LEVEL", "value": "DEBUG"}]}}
    ok(cluster.client.patch(f"{NIM}/{workload_id}", json=patch, headers=cluster.admin), 202)
    old = {p["id"] for p in pods}
    cluster.step()
    assert cluster.workload(workload_id)["phase"] == "Updating"
    for _ in range(30):
        cluster.step(10)
        shown = cluster.workload(workload_id)
        assert shown["runningPods"] >= 2, shown
        if shown["phase"] == "Running":
            break
    cluster.step()  # the surge replica goes
    pods = cluster.pods(workload_id)
    assert sorted(p["name"] for p in pods) == ["llama-0", "llama-1"]
    assert not old & {p["id"] for p in pods}
    assert cluster.phases(workload_id)[-2:] == ["Updating", "Running"]
    assert cluster.workload(workload_id)["allocatedResources"]["gpu"] == 2

    # suspend -> Stopping -> Stopped, pods gone, GPUs freed
    cluster.batch("suspend", workload_id)
    cluster.step()
    stopped = cluster.workload(workload_id)
    assert stopped["phase"] == "Stopped"
    assert cluster.pods(workload_id) == []
    cluster.step()
    assert cluster.workload(workload_id)["allocatedResources"]["gpu"] == 0
    assert cluster.phases(workload_id)[-2:] == ["Stopping", "Stopped"]

    # resume -> Resuming -> ... -> Running
    cluster.batch("resume", workload_id)
    cluster.run_until(workload_id, "Running")
    assert "Resuming" in cluster.phases(workload_id)
    assert cluster.workload(workload_id)["runningPods"] == 2

    # delete -> Deleting, torn down: the NIM GET is 404, the v1 list shows it deleted
    ok(cluster.client.delete(f"/api/v2/workloads/{workload_id}", headers=cluster.admin), 202)
    cluster.step()
    assert cluster.client.get(f"{NIM}/{workload_id}", headers=cluster.admin).status_code == 404
    deleted = ok(cluster.client.get(f"{WORKLOADS}?deleted=true", headers=cluster.admin))
    assert workload_id in {w["id"] for w in deleted["workloads"]}
    with cluster.state.store.read() as tx:
        assert tx.sim.pods_of(workload_id) == []
    assert "Deleting" in cluster.phases(workload_id)


def test_freed_gpus_go_to_the_next_workload(cluster: Cluster) -> None:
    """32 GPUs: four 8-GPU services run, a fifth waits Pending; deleting one lets it run."""
    ids = []
    for index in range(5):
        body = nim_request(f"big-{index}", compute={"gpuDevicesRequest": 8})
        ids.append(
            ok(cluster.client.post(NIM, json=body, headers=cluster.admin), 202)["metadata"]["id"]
        )
    cluster.step()
    waiting = cluster.workload(ids[4])
    assert waiting["phase"] == "Pending"
    assert waiting["phaseReason"] == "NonPreemptibleOverQuota"  # the default class: very-high
    assert waiting["phaseMessage"].startswith("Non-preemptible workloads must fit")
    ok(cluster.client.delete(f"/api/v2/workloads/{ids[0]}", headers=cluster.admin), 202)
    cluster.step()  # tears the deleted one down
    cluster.run_until(ids[4], "Running")
    assert cluster.workload(ids[4])["allocatedResources"]["gpu"] == 8


def test_a_second_pass_changes_nothing(cluster: Cluster) -> None:
    workload_id = ok(
        cluster.client.post(NIM, json=nim_request("steady"), headers=cluster.admin), 202
    )["metadata"]["id"]
    cluster.run_until(workload_id, "Running")
    before = (cluster.workload(workload_id), cluster.pods(workload_id), cluster.phases(workload_id))
    cluster.state.store.write(lambda tx: tx.workloads.mark_due([workload_id], cluster.clock()))
    assert cluster.lifecycle.run_pass() == 1  # looked at again, level-based: nothing to do
    after = (cluster.workload(workload_id), cluster.pods(workload_id), cluster.phases(workload_id))
    assert after == before
