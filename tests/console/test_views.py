"""The console's presentation helpers: which form control a complaint belongs to, the request
a form makes, and the GPU map's cells (whole devices and shares)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from nimplane.console import views
from nimplane.domain.cluster import Node
from nimplane.domain.org import PlacedNode
from nimplane.domain.phases import Phase
from nimplane.domain.workloads import DesiredPhase, Project, Workload, WorkloadStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PROJECT = Project("1", "default", "runai-default", "1", "default", "c1", 1)


@pytest.mark.parametrize(
    ("field", "control"),
    [
        pytest.param("metadata.name", "name", id="name"),
        pytest.param("metadata.projectId", "project", id="project"),
        pytest.param("spec.compute.gpuDevicesRequest", "gpuDevices", id="gpus"),
        pytest.param("spec.environmentVariables[0].name", "env", id="env-item"),
        pytest.param("spec.modelStore.nimCache.name", "nimCache", id="nested"),
        pytest.param("spec.autoscaling.maxReplicas", "maxReplicas", id="autoscaling"),
        pytest.param("spec.autoscaling", None, id="section-without-control"),
        pytest.param("spec.replicasX", None, id="prefix-is-not-a-path"),
        pytest.param("spec.probes.readiness", None, id="no-control"),
    ],
)
def test_control_of(field: str, control: str | None) -> None:
    assert views.control_of(field) == control


def test_request_from_form_leaves_empty_controls_out() -> None:
    body = views.request_from_form(
        {
            "name": "llama",
            "project": "1",
            "image": " nvcr.io/nim/x:1 ",
            "gpuDevices": "2",
            "gpuPortion": "",
            "replicas": "many",
            "env": "A=1\n\nB = two=2",
            "nodePools": "a, b,",
            "nimCache": "cache",
        }
    )
    assert body == {
        "metadata": {"name": "llama", "projectId": "1"},
        "spec": {
            "image": "nvcr.io/nim/x:1",
            "compute": {"gpuDevicesRequest": 2},
            "replicas": "many",  # the server names the field and the type
            "environmentVariables": [
                {"name": "A", "value": "1"},
                {"name": "B", "value": "two=2"},
            ],
            "nodePools": ["a", "b"],
            "modelStore": {"nimCache": {"name": "cache"}},
        },
    }


@pytest.mark.parametrize(
    ("form", "compute"),
    [
        pytest.param(
            {"gpuPortion": "0.5"},
            {"gpuPortionRequest": 0.5, "gpuRequestType": "portion"},
            id="share",
        ),
        pytest.param(
            {"gpuMemory": "20G"},
            {"gpuMemoryRequest": "20G", "gpuRequestType": "memory"},
            id="memory",
        ),
        pytest.param(
            {"gpuPortion": "0.5", "gpuMemory": "20G"},
            {"gpuPortionRequest": 0.5, "gpuMemoryRequest": "20G"},
            id="both-left-to-the-server",
        ),
    ],
)
def test_a_share_or_memory_control_sets_the_request_type(
    form: dict[str, str], compute: dict[str, Any]
) -> None:
    assert views.request_from_form(form)["spec"]["compute"] == compute


def workload(name: str, pods: list[dict[str, Any]]) -> Workload:
    status = WorkloadStatus(
        Phase.Running,
        NOW,
        placement={"gangs": [{"nodePool": "default", "replica": 0, "pods": pods}]},
    )
    return Workload(
        id=f"id-{name}",
        name=name,
        project=PROJECT,
        workload_type="nimService",
        spec={},
        desired_phase=DesiredPhase.Running,
        status=status,
        resource_version=1,
        generation=1,
        created_at=NOW,
        created_by="t",
        updated_at=NOW,
        updated_by="t",
    )


def test_gpu_map_cells_hold_whole_devices_and_shares() -> None:
    node = Node("n0", 4, 81920, "H100", 128_000, 1_048_576)
    nodes = [
        PlacedNode(node, "default", "c1", NOW),
        PlacedNode(replace(node, name="n1", ready=False), "default", "c1", NOW),
    ]
    whole = workload("whole", [{"node": "n0", "gpuDevices": [0, 1], "gpus": 2.0}])
    half = workload("half", [{"node": "n0", "gpuDevices": [2], "gpus": 0.5}])
    quarter = workload("quarter", [{"node": "n0", "gpuDevices": [2], "gpus": 0.25}])
    rows = views.gpu_map(nodes, {"n0": None, "n1": "drained"}, [whole, half, quarter])
    n0, n1 = rows
    assert [[(h.workload_name, h.share) for h in c.holders] for c in n0.gpus] == [
        [("whole", 1.0)],
        [("whole", 1.0)],
        [("half", 0.5), ("quarter", 0.25)],
        [],
    ]
    assert n0.gpus[2].used == 0.75
    assert n0.used == 2.75
    assert (n0.state, n1.state) == ("ready", "drained")
    assert views.gpu_map(nodes, None, [])[1].state == "not-ready"  # a caller who may not see why
