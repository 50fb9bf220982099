"""Whatever happens to the workloads, the scheduler's kept state stays a cache: random
sequences of creates, PATCHes (GPUs, replicas), suspends, resumes, deletes and node faults
through the API, each followed by a scheduler cycle and a lifecycle pass. After every cycle
the harness runs a cold scheduler that must find nothing to change; at the end no GPU is
held by two pods and no node holds more than it has."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import nim_request
from tests.support.db import delete_workloads
from tests.support.lifecycle import Harness, harness_fixture, sim_pods
from tests.support.org import NIM, clean_org_fixture

__all__ = ["clean_org_fixture", "harness_fixture"]

GPUS_PER_NODE = 8
NODES = [f"sim-node-{i}" for i in range(4)]

creates = st.tuples(st.just("create"), st.sampled_from([1, 2, 4, 8]), st.integers(1, 2))
patches = st.tuples(
    st.sampled_from(["gpus", "replicas"]), st.integers(0, 5), st.sampled_from([1, 2, 4])
)
batches = st.tuples(st.sampled_from(["suspend", "resume", "delete"]), st.integers(0, 5))
faults = st.tuples(st.just("node"), st.sampled_from(NODES), st.sampled_from(["fail", "recover"]))
actions = st.lists(st.one_of(creates, patches, batches, faults), min_size=1, max_size=8)


def _act(h: Harness, ids: list[str], action: tuple[Any, ...]) -> None:
    kind = action[0]
    if kind == "create":
        body = nim_request(f"w{len(ids)}", compute={"gpuDevicesRequest": action[1]})
        body["spec"]["replicas"] = action[2]
        ids.append(h.create(body))
        return
    if kind == "node":
        response = h.client.post(
            f"/api/v1/simulator/nodes/{action[1]}/{action[2]}", headers=h.headers
        )
        assert response.status_code == 200, response.text
        return
    if not ids:
        return
    target = ids[action[1] % len(ids)]
    if kind in ("gpus", "replicas"):
        change = {"compute": {"gpuDevicesRequest": action[2]}} if kind == "gpus" else {}
        if kind == "replicas":
            change = {"replicas": action[2]}
        response = h.client.patch(f"{NIM}/{target}", json={"spec": change}, headers=h.headers)
    else:
        body = {"ids": [target], "action": kind}
        response = h.client.post("/api/v1/workloads/batch", json=body, headers=h.headers)
    assert response.status_code < 500, response.text  # a gone workload: 404, never a crash


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=actions)
def test_the_warm_scheduler_agrees_with_a_cold_one(
    harness: Harness, steps: list[tuple[Any, ...]]
) -> None:
    h = harness
    delete_workloads(h.state.engine)  # each example starts from an empty cluster
    ids: list[str] = []
    for action in steps:
        _act(h, ids, action)
        h.step(20)  # asserts that a cold scheduler would change nothing
    h.settle(120)
    pods = [p for workload_id in ids for p in sim_pods(h.state, workload_id)]
    held = Counter((p.node, device) for p in pods for device in p.gpu_devices)
    assert all(count == 1 for count in held.values()), held
    per_node = Counter(node for node, _ in held)
    assert all(count <= GPUS_PER_NODE for count in per_node.values()), per_node
