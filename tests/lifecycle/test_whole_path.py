"""The whole path of a NIM service on the simulated cluster, through the API only, with a fake
clock: create -> Running with its pods and URL; PATCH -> Updating -> Running; suspend ->
Stopped with its GPUs freed; resume -> Running; delete -> gone, GPUs freed, listed as deleted.

The scheduler and the lifecycle engine are the server's own services; the test runs their
passes itself (instead of the background loops) so that every step is deterministic.
"""

from __future__ import annotations

from tests.conftest import nim_request
from tests.support.lifecycle import Harness, harness_fixture, sim_pods  # noqa: F401 - fixture
from tests.support.org import clean_org_fixture, ok  # noqa: F401 - fixture

NIM = "/api/v2/workloads/nim-services"
WORKLOADS = "/api/v1/workloads"


def test_create_update_suspend_resume_delete(harness: Harness) -> None:
    h = harness
    body = nim_request("llama", replicas=2, priorityClass="medium")
    workload_id = ok(h.client.post(NIM, json=body, headers=h.headers), 202)["metadata"]["id"]
    assert h.workload(workload_id)["phase"] == "Creating"

    # create -> Pending -> Initializing -> Running, with two pods and the serving URL
    h.step(1)
    shown = h.workload(workload_id)
    assert shown["phase"] == "Initializing"
    assert shown["allocatedResources"]["gpu"] == 2
    assert shown["urls"] == []
    h.run_until(workload_id, "Running")
    shown = h.workload(workload_id)
    assert shown["runningPods"] == 2
    assert shown["urls"] == ["http://llama.runai-default.svc.cluster.local:8000"]
    assert {c["type"]: c["status"] for c in shown["conditions"]} == {
        "Scheduled": "True",
        "Ready": "True",
    }
    pods = h.shown_pods(workload_id)
    assert sorted(p["name"] for p in pods) == ["llama-0", "llama-1"]
    assert all(p["ready"] and p["k8sPhase"] == "Running" for p in pods)
    assert all(p["allocatedResources"]["gpu"] == 1 and p["nodeName"] for p in pods)
    assert h.phases(workload_id) == ["Creating", "Pending", "Initializing", "Running"]

    # PATCH -> Updating -> Running: every pod replaced, one replica at a time, and with room
    # for a third replica (the surge) never fewer than two serving
    patch = {"spec": {"environmentVariables": [{"name": "NIM_LOG_LEVEL", "value": "DEBUG"}]}}
    ok(h.client.patch(f"{NIM}/{workload_id}", json=patch, headers=h.headers), 202)
    old = {p["id"] for p in pods}
    h.step(1)
    assert h.workload(workload_id)["phase"] == "Updating"
    for _ in range(30):
        h.step(10)
        shown = h.workload(workload_id)
        assert shown["runningPods"] >= 2, shown
        if shown["phase"] == "Running":
            break
    h.step(1)  # the surge replica goes
    pods = h.shown_pods(workload_id)
    assert sorted(p["name"] for p in pods) == ["llama-0", "llama-1"]
    assert not old & {p["id"] for p in pods}
    assert h.phases(workload_id)[-2:] == ["Updating", "Running"]
    assert h.workload(workload_id)["allocatedResources"]["gpu"] == 2

    # suspend -> Stopping -> Stopped, pods gone, GPUs freed
    h.batch("suspend", workload_id)
    h.step(1)
    stopped = h.workload(workload_id)
    assert stopped["phase"] == "Stopped"
    assert h.shown_pods(workload_id) == []
    h.step(1)
    assert h.workload(workload_id)["allocatedResources"]["gpu"] == 0
    assert h.phases(workload_id)[-2:] == ["Stopping", "Stopped"]

    # resume -> Resuming -> ... -> Running
    h.batch("resume", workload_id)
    h.run_until(workload_id, "Running")
    assert "Resuming" in h.phases(workload_id)
    assert h.workload(workload_id)["runningPods"] == 2

    # delete -> Deleting, torn down: the NIM GET is 404, the v1 list shows it deleted
    ok(h.client.delete(f"/api/v2/workloads/{workload_id}", headers=h.headers), 202)
    h.step(1)
    assert h.client.get(f"{NIM}/{workload_id}", headers=h.headers).status_code == 404
    deleted = ok(h.client.get(f"{WORKLOADS}?deleted=true", headers=h.headers))
    assert workload_id in {w["id"] for w in deleted["workloads"]}
    assert sim_pods(h.state, workload_id) == []
    assert "Deleting" in h.phases(workload_id)


def test_freed_gpus_go_to_the_next_workload(harness: Harness) -> None:
    """32 GPUs: four 8-GPU services run, a fifth waits Pending; deleting one lets it run."""
    h = harness
    ids = []
    for index in range(5):
        body = nim_request(f"big-{index}", compute={"gpuDevicesRequest": 8})
        ids.append(ok(h.client.post(NIM, json=body, headers=h.headers), 202)["metadata"]["id"])
    h.step(1)
    waiting = h.workload(ids[4])
    assert waiting["phase"] == "Pending"
    assert waiting["phaseReason"] == "NonPreemptibleOverQuota"  # the default class: very-high
    assert waiting["phaseMessage"].startswith("Non-preemptible workloads must fit")
    ok(h.client.delete(f"/api/v2/workloads/{ids[0]}", headers=h.headers), 202)
    h.step(1)  # tears the deleted one down
    h.run_until(ids[4], "Running")
    assert h.workload(ids[4])["allocatedResources"]["gpu"] == 8


def test_a_second_pass_changes_nothing(harness: Harness) -> None:
    h = harness
    workload_id = ok(h.client.post(NIM, json=nim_request("steady"), headers=h.headers), 202)[
        "metadata"
    ]["id"]
    h.run_until(workload_id, "Running")
    before = (h.workload(workload_id), h.shown_pods(workload_id), h.phases(workload_id))
    h.state.store.write(lambda tx: tx.workloads.mark_due([workload_id], h.clock()))
    assert h.life.run_pass() == 1  # looked at again, level-based: nothing to do
    after = (h.workload(workload_id), h.shown_pods(workload_id), h.phases(workload_id))
    assert after == before


def test_a_patch_to_more_gpus_rolls_the_pods_onto_the_new_size(harness: Harness) -> None:
    """A replica cannot roll in place onto resources it does not hold: the scheduler places it
    anew with the new request (its model follows the spec's generation), and the service
    keeps serving meanwhile."""
    h = harness
    workload_id = ok(h.client.post(NIM, json=nim_request("grow"), headers=h.headers), 202)[
        "metadata"
    ]["id"]
    h.run_until(workload_id, "Running")
    assert h.workload(workload_id)["allocatedResources"]["gpu"] == 1
    patch = {"spec": {"compute": {"gpuDevicesRequest": 2}}}
    ok(h.client.patch(f"{NIM}/{workload_id}", json=patch, headers=h.headers), 202)
    h.step(1)
    assert h.workload(workload_id)["phase"] == "Updating"
    for _ in range(30):
        h.step(10)
        shown = h.workload(workload_id)
        assert shown["runningPods"] >= 1, shown  # the surge serves before the old pod goes
        if shown["phase"] == "Running":
            break
    h.step(1)  # the surge replica goes
    pods = h.shown_pods(workload_id)
    assert [p["allocatedResources"]["gpu"] for p in pods] == [2]
    assert h.phases(workload_id)[-2:] == ["Updating", "Running"]
    assert h.workload(workload_id)["allocatedResources"]["gpu"] == 2
