"""The scheduler behind the API: NIM services created through the API on the simulated cluster
get the placements that the golden cases of docs/decisions.md S6.3 predict, visible in
`GET /api/v1/workloads/{id}`, and another 5 cycles change nothing.

Each case runs the real `SchedulingService` (database snapshot, the pure scheduler, the
persisted result) over a simulated cluster of the case's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nimplane.api.state import AppState
from nimplane.backends.simulated import SimulatedCluster
from nimplane.domain.cluster import Node
from nimplane.services.scheduling import SchedulingService
from nimplane.services.workloads import utc_now
from nimplane.storage import tables
from nimplane.storage.leadership import Leadership
from tests.conftest import nim_request
from tests.support.org import (  # noqa: F401 - fixtures
    NIM,
    clean_org_fixture,
    department,
    gpu,
    ok,
    project,
)

pytestmark = pytest.mark.usefixtures("clean_org")

WORKLOADS = "/api/v1/workloads"


def nodes(count: int, gpus: int) -> tuple[Node, ...]:
    return tuple(
        Node(
            name=f"n{index:02d}",
            gpu_count=gpus,
            gpu_memory_mib=80 * 1024,
            gpu_product="NVIDIA-H100-80GB-HBM3",
            cpu_millicores=64_000,
            memory_mib=512 * 1024,
        )
        for index in range(count)
    )


def quota(deserved: float, weight: int | None = None, limit: float | None = None) -> dict[str, Any]:
    gpu: dict[str, Any] = {"deserved": deserved}
    if weight is not None:
        gpu["overQuotaWeight"] = weight
    if limit is not None:
        gpu["limit"] = limit
    return {"gpu": gpu}


@dataclass(frozen=True)
class Nim:
    """A NIM service to create: `gpus` whole devices, or a `portion` of one."""

    name: str
    project: str
    gpus: int = 1
    portion: float | None = None
    priority: str = "low"
    workers: int = 0

    def request(self, project_id: str) -> dict[str, Any]:
        compute: dict[str, Any] = {"gpuDevicesRequest": self.gpus}
        if self.portion is not None:
            compute = {"gpuDevicesRequest": 1, "gpuRequestType": "portion"}
            compute["gpuPortionRequest"] = self.portion
        extra: dict[str, Any] = {"compute": compute, "priorityClass": self.priority}
        if self.workers:
            extra["multiNode"] = {"workers": self.workers}
        return nim_request(self.name, project_id, **extra)


@dataclass(frozen=True)
class Case:
    nodes: tuple[Node, ...]
    projects: dict[str, dict[str, Any]]
    """Project name -> its GPU quota in the default pool (all under one department)."""
    waves: Sequence[Sequence[Nim]]
    """Created in order; a scheduling cycle runs after each wave."""
    allocated: dict[str, float] = field(default_factory=dict)
    """Workload name -> GPUs allocated after the last wave."""
    per_project: dict[str, int] = field(default_factory=dict)
    """Project name -> how many of its workloads run after the last wave."""
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Workload name -> (reason, start of the user message) of its pending message."""
    evicted: dict[str, str] = field(default_factory=dict)
    """Workload name -> a word the eviction event's message holds."""


def _department_quota(projects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return quota(sum(q["gpu"]["deserved"] for q in projects.values()))


FAIR_70_30 = Case(
    nodes=nodes(25, 4),
    projects={"a": quota(10, weight=3), "b": quota(10, weight=1)},
    waves=[[Nim(f"{p}{i:03d}", p) for p in "ab" for i in range(100)]],
    per_project={"a": 70, "b": 30},
    pending={"a099": ("Unschedulable", "Not enough GPUs in node pool default")},
)
FRACTIONAL_RECLAIM = Case(
    nodes=nodes(1, 4),
    projects={"q0": quota(1, weight=3), "q1": quota(2, weight=1)},
    waves=[
        [
            Nim("q0-whole", "q0"),
            Nim("q0-half", "q0", portion=0.5),
            Nim("q1-two", "q1", gpus=2),
            Nim("q1-half", "q1", portion=0.5),
        ],
        [Nim("q0-pending", "q0", portion=0.5)],
    ],
    allocated={"q0-whole": 1, "q0-half": 0.5, "q1-two": 2, "q1-half": 0, "q0-pending": 0.5},
    evicted={"q1-half": "fair share"},
)
NON_PREEMPTIBLE_OVER_QUOTA = Case(
    nodes=nodes(1, 4),
    projects={"p": quota(2)},
    waves=[
        [Nim("np-running", "p", gpus=2, priority="high"), Nim("train", "p", priority="low")],
        [Nim("np-pending", "p", priority="high")],
    ],
    allocated={"np-running": 2, "train": 1, "np-pending": 0},
    pending={"np-pending": ("NonPreemptibleOverQuota", "Non-preemptible workloads must fit")},
)
SAME_PROJECT_PREEMPTION = Case(
    nodes=nodes(1, 2),
    projects={"p": quota(2)},
    waves=[
        [Nim("build", "p", priority="medium-high"), Nim("train", "p", priority="very-low")],
        [Nim("inference", "p", priority="medium")],
    ],
    allocated={"build": 1, "train": 0, "inference": 1},
    evicted={"train": "inference"},
)
CROSS_PROJECT_RECLAIM = Case(
    nodes=nodes(1, 4),
    projects={"starved": quota(2), "greedy": quota(2)},
    waves=[
        [
            Nim("np", "greedy", gpus=2, priority="high"),
            Nim("extra-1", "greedy", priority="medium"),
            Nim("extra-2", "greedy", priority="medium"),
        ],
        [Nim("claim", "starved", gpus=2, priority="low")],
    ],
    allocated={"np": 2, "extra-1": 0, "extra-2": 0, "claim": 2},
    evicted={"extra-1": "fair share", "extra-2": "fair share"},
)
OVER_LIMIT = Case(
    nodes=nodes(1, 4),
    projects={"limited": quota(1, limit=1)},
    waves=[[Nim("first", "limited"), Nim("second", "limited")]],
    allocated={"first": 1, "second": 0},
    pending={"second": ("OverLimit", "Project limited would exceed its GPU limit")},
)
GANG_ALL_OR_NOTHING = Case(
    nodes=nodes(2, 1),
    projects={"p": quota(2)},
    waves=[[Nim("gang", "p", workers=2)]],
    allocated={"gang": 0},
    pending={"gang": ("Unschedulable", "")},
)


@dataclass
class Run:
    client: TestClient
    admin: dict[str, str]
    scheduler: SchedulingService
    cluster: SimulatedCluster
    ids: dict[str, str] = field(default_factory=dict)

    def view(self, name: str) -> dict[str, Any]:
        return dict(ok(self.client.get(f"{WORKLOADS}/{self.ids[name]}", headers=self.admin)))

    def events(self, name: str) -> list[dict[str, Any]]:
        url = f"{WORKLOADS}/{self.ids[name]}/events"
        return list(ok(self.client.get(url, headers=self.admin))["events"])


def _run(client: TestClient, admin: dict[str, str], state: AppState, case: Case) -> Run:
    dept = department(client, admin, "golden", _department_quota(case.projects))
    project_ids = {
        name: project(client, admin, name, dept["id"], q)["id"] for name, q in case.projects.items()
    }
    cluster = SimulatedCluster(case.nodes)
    scheduler = SchedulingService(state.store, cluster, Leadership(state.engine), utc_now)
    run = Run(client, admin, scheduler, cluster)
    for wave in case.waves:
        for nim in wave:
            body = nim.request(project_ids[nim.project])
            run.ids[nim.name] = ok(client.post(NIM, json=body, headers=admin), 202)["metadata"][
                "id"
            ]
        assert scheduler.run_cycle() is not None
    return run


CASES = [
    pytest.param(FAIR_70_30, id="fair-share-70-30"),
    pytest.param(FRACTIONAL_RECLAIM, id="fractional-reclaim-4-gpus"),
    pytest.param(NON_PREEMPTIBLE_OVER_QUOTA, id="non-preemptible-over-quota"),
    pytest.param(SAME_PROJECT_PREEMPTION, id="same-project-preemption-by-priority"),
    pytest.param(CROSS_PROJECT_RECLAIM, id="cross-project-reclaim-spares-non-preemptible"),
    pytest.param(OVER_LIMIT, id="over-limit"),
    pytest.param(GANG_ALL_OR_NOTHING, id="gang-all-or-nothing"),
]


def _events(state: AppState) -> int:
    with state.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(tables.workload_events)).scalar_one()
        )


@pytest.mark.parametrize("case", CASES)
def test_golden_case_through_the_api(
    client: TestClient, admin: dict[str, str], state: AppState, case: Case
) -> None:
    run = _run(client, admin, state, case)
    views = {name: run.view(name) for name in run.ids}

    for name, gpus in case.allocated.items():
        assert views[name]["allocatedResources"]["gpu"] == pytest.approx(gpus), name
    for project_name, running in case.per_project.items():
        placed = [
            v
            for v in views.values()
            if v["projectName"] == project_name and v["allocatedResources"]["gpu"]
        ]
        assert len(placed) == running, project_name
    for name, (reason, message) in case.pending.items():
        messages = views[name]["pendingSchedulingMessages"]
        assert messages, name
        assert messages[0]["reason"] == reason
        assert messages[0]["nodePool"] == "default"
        assert messages[0]["userMessage"].startswith(message), messages[0]["userMessage"]
    for name, word in case.evicted.items():
        evictions = [e for e in run.events(name) if e["reason"] == "Evicted"]
        assert evictions, name
        assert word in evictions[0]["message"]
    for name, v in views.items():
        if v["allocatedResources"]["gpu"]:
            assert v["currentNodePools"] == ["default"], name
            assert not v["pendingSchedulingMessages"], name

    # stability: five more cycles change nothing, not even an event
    events_before = _events(state)
    for _ in range(5):
        report = run.scheduler.run_cycle()
        assert report is not None
        assert report.workloads_changed == 0
        assert report.evictions == 0
    assert _events(state) == events_before
    assert {name: run.view(name) for name in run.ids} == views
    # what the scheduler keeps between cycles is only a cache: a cold one agrees
    cold = SchedulingService(
        state.store, run.cluster, Leadership(state.engine), utc_now
    ).run_cycle()
    assert cold is not None
    assert cold.workloads_changed == 0


@pytest.fixture
def default_quota(client: TestClient, admin: dict[str, str], clean_org: AppState) -> None:
    """The default department and project deserve the simulated cluster's 32 GPUs."""
    ok(client.put("/api/v1/org-unit/departments/1/resources", json=[gpu(32)], headers=admin))
    ok(client.put("/api/v1/org-unit/projects/1/resources", json=[gpu(32)], headers=admin))


@pytest.mark.usefixtures("default_quota")
def test_scheduled_pods_get_events_naming_their_node(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    created = ok(client.post(NIM, json=nim_request("llama"), headers=admin), 202)
    assert state.scheduling.run_cycle() is not None
    events = ok(client.get(f"{WORKLOADS}/{created['metadata']['id']}/events", headers=admin))
    scheduled = [e for e in events["events"] if e["reason"] == "Scheduled"]
    assert len(scheduled) == 1
    assert scheduled[0]["message"].startswith("Successfully assigned runai-default/llama-0 to ")
    assert scheduled[0]["involvedObject"]["name"] == "llama-0"


@pytest.mark.usefixtures("default_quota")
def test_a_deleted_workload_releases_its_gpus(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    ids = []
    for index in range(5):
        body = nim_request(f"big-{index}", compute={"gpuDevicesRequest": 8}, priorityClass="high")
        ids.append(ok(client.post(NIM, json=body, headers=admin), 202)["metadata"]["id"])
    state.scheduling.run_cycle()
    waiting = ids[4]
    assert ok(client.get(f"{WORKLOADS}/{waiting}", headers=admin))["pendingSchedulingMessages"]
    ok(client.delete(f"/api/v2/workloads/{ids[0]}", headers=admin), 202)
    state.scheduling.run_cycle()
    shown = ok(client.get(f"{WORKLOADS}/{waiting}", headers=admin))
    assert shown["allocatedResources"]["gpu"] == 8
    assert shown["pendingSchedulingMessages"] == []
