"""Every field of `GET /api/v1/workloads` filters and sorts on the value the list shows.

Table-driven over all 26 of Run:ai's `filterBy`/`sortBy` fields, on a fleet whose phases,
placements and node pools differ, with the list's clock fixed (the time totals depend on it).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nimplane.api.routes import workloads as workload_routes
from nimplane.api.state import AppState
from nimplane.domain.phases import Phase
from nimplane.domain.ports import Transaction
from nimplane.domain.queries import Kind, parse_date
from nimplane.domain.workloads import WORKLOAD_FIELDS
from nimplane.services.workloads import utc_now
from tests.conftest import nim_request
from tests.support.org import caller, clean_org_fixture, gpu, ok  # noqa: F401 - fixtures

NIM = "/api/v2/workloads/nim-services"
LIST = "/api/v1/workloads"
COUNT = "/api/v1/workloads/count"
NOW = utc_now().replace(microsecond=250_000)

# name -> (priority class, category, extra spec, phase, seconds in it, accumulated pending, running)
FLEET: dict[str, tuple[str, str, dict[str, Any], Phase, float, int, int]] = {
    "pend-long": ("low", "Build", {}, Phase.Pending, 3600.7, 12, 0),
    "pend-short": ("low", "Train", {"nodePools": ["default"]}, Phase.Pending, 0.4, 0, 5),
    "run-a": ("high", "Deploy", {}, Phase.Running, 90.0, 3, 40),
    "run-b": ("very-high", "Deploy", {"nodePools": ["default"]}, Phase.Running, 89.9, 3, 41),
    "two-gpus": ("medium", "Deploy", {"compute": {"gpuDevicesRequest": 2}}, Phase.Running, 5, 0, 0),
    "creating": ("medium-high", "Deploy", {}, Phase.Creating, 1.0, 0, 0),
}

SHOWN_AS: dict[str, Any] = {
    "nodepool": lambda view: ",".join(view["requestedNodePools"]) or None,
    "allocatedGPU": lambda view: view["allocatedResources"]["gpu"],
}
"""Where the list shows a field under another name; every other field is shown under its own
name, or not at all (then it is null)."""


def shown(view: dict[str, Any], field: str) -> Any:
    getter = SHOWN_AS.get(field)
    return getter(view) if getter else view.get(field)


def typed(field: str, value: Any) -> Any:
    """A shown value as the field's kind compares it."""
    if WORKLOAD_FIELDS[field] is Kind.date:
        return parse_date(value)
    if WORKLOAD_FIELDS[field] is Kind.number:
        return float(value)
    return str(value)


ANY_OPERAND = {Kind.date: "2000-01-01", Kind.number: "1", Kind.text: "x"}


def as_operand(value: Any) -> str:
    return str(value)


@pytest.fixture
def fleet(
    client: TestClient,
    admin: dict[str, str],
    clean_org: AppState,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, dict[str, Any]]:
    """The fleet as the list shows it at NOW, by id: placed by the scheduler (the default
    project deserves the cluster's 32 GPUs), phases set by the lifecycle engine's writer."""
    state = clean_org
    ok(client.put("/api/v1/org-unit/departments/1/resources", json=[gpu(32)], headers=admin))
    ok(client.put("/api/v1/org-unit/projects/1/resources", json=[gpu(32)], headers=admin))
    ids: dict[str, str] = {}
    for name, (priority, category, extra, *_rest) in FLEET.items():
        body = nim_request(name, priorityClass=priority, category=category, **extra)
        response = client.post(NIM, json=body, headers=admin)
        assert response.status_code == 202, response.text
        ids[name] = response.json()["metadata"]["id"]
    state.scheduling.run_cycle()

    def set_phases(tx: Transaction) -> None:
        for name, (*_spec, phase, seconds, pending, running) in FLEET.items():
            current = tx.workloads.get(ids[name])
            assert current is not None
            status = replace(
                current.status,
                phase=phase,
                phase_updated_at=NOW - timedelta(seconds=seconds),
                pending_seconds=pending,
                running_seconds=running,
            )
            assert tx.workloads.update_status(current.id, status)

    state.store.write(set_phases)
    monkeypatch.setattr(workload_routes, "utc_now", lambda: NOW)
    listed = get(client, admin, limit=500)
    assert len(listed) == len(FLEET)
    return {w["id"]: w for w in listed}


def get(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(LIST, params=params, headers=headers)
    assert response.status_code == 200, response.text
    workloads: list[dict[str, Any]] = response.json()["workloads"]
    return workloads


def count(client: TestClient, headers: dict[str, str], **params: Any) -> int:
    response = client.get(COUNT, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


def test_the_fleet_differs_in_the_derived_fields(fleet: dict[str, dict[str, Any]]) -> None:
    """The fields below are the ones the old list filtered as 0: here they vary."""
    by_name = {w["name"]: w for w in fleet.values()}
    assert by_name["pend-long"]["totalPendingTimeSeconds"] == 12 + 3600
    assert by_name["pend-short"]["totalPendingTimeSeconds"] == 0
    assert by_name["run-b"]["totalRunningTimeSeconds"] == 41 + 89
    assert by_name["two-gpus"]["allocatedResources"]["gpu"] == 2.0
    assert by_name["run-a"]["allocatedResources"]["gpu"] == 1.0


@pytest.mark.parametrize("field", [pytest.param(f, id=f) for f in WORKLOAD_FIELDS])
def test_filtering_on_the_shown_value_finds_the_workload(
    client: TestClient, admin: dict[str, str], fleet: dict[str, dict[str, Any]], field: str
) -> None:
    for workload_id, view in fleet.items():
        value = shown(view, field)
        if value is None:  # no value: only the negative operators match
            some = {Kind.date: "2000-01-01", Kind.number: "1", Kind.text: "x"}[
                WORKLOAD_FIELDS[field]
            ]
            assert workload_id in ids(client, admin, filterBy=f"{field}!={some}")
            for op in ("==", "<=", ">="):
                assert workload_id not in ids(client, admin, filterBy=f"{field}{op}{some}")
            continue
        operand = as_operand(value)
        equal = ids(client, admin, filterBy=f"{field}=={operand}")
        assert workload_id in equal, (field, operand)
        assert {typed(field, shown(fleet[i], field)) for i in equal} == {typed(field, value)}
        assert count(client, admin, filterBy=f"{field}=={operand}") == len(equal)
        assert workload_id not in ids(client, admin, filterBy=f"{field}!={operand}")
        for op, holds in (("<=", lambda a, b: a <= b), (">=", lambda a, b: a >= b)):
            expected = {
                i
                for i, v in fleet.items()
                if shown(v, field) is not None
                and holds(typed(field, shown(v, field)), typed(field, value))
            }
            assert set(ids(client, admin, filterBy=f"{field}{op}{operand}")) == expected, op


@pytest.mark.parametrize("field", [pytest.param(f, id=f) for f in WORKLOAD_FIELDS])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sorting_agrees_with_the_shown_values(
    client: TestClient,
    admin: dict[str, str],
    fleet: dict[str, dict[str, Any]],
    field: str,
    order: str,
) -> None:
    """Shown values in order, ties by id (ascending both ways), nulls last."""
    by_id = sorted(fleet)
    present = [i for i in by_id if shown(fleet[i], field) is not None]
    absent = [i for i in by_id if shown(fleet[i], field) is None]
    present.sort(key=lambda i: typed(field, shown(fleet[i], field)), reverse=order == "desc")
    listed = ids(client, admin, sortBy=field, sortOrder=order)
    assert listed == present + absent


def ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    return [w["id"] for w in get(client, headers, limit=500, **params)]


def test_pending_time_filter_matches_pending_workloads(
    client: TestClient, admin: dict[str, str], fleet: dict[str, dict[str, Any]]
) -> None:
    """The old list filtered totalPendingTimeSeconds as 0 for every workload."""
    names = {w["name"] for w in get(client, admin, filterBy="totalPendingTimeSeconds>=1")}
    assert names == {"pend-long", "run-a", "run-b"}


def test_the_list_reads_the_clock_it_shows(
    client: TestClient,
    admin: dict[str, str],
    fleet: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An hour later the pending workloads have an hour more, in the view and the filter."""
    later: datetime = NOW + timedelta(hours=1)
    monkeypatch.setattr(workload_routes, "utc_now", lambda: later)
    [long] = get(client, admin, filterBy="totalPendingTimeSeconds>=7212")
    assert (long["name"], long["totalPendingTimeSeconds"]) == ("pend-long", 7212)


def test_a_project_scoped_caller_lists_and_counts_only_its_project(
    client: TestClient, admin: dict[str, str], state: AppState, fleet: dict[str, dict[str, Any]]
) -> None:
    other = caller(state, "Viewer", "project", "999999")
    assert get(client, other) == []
    assert count(client, other) == 0
    mine = caller(state, "Viewer", "project", "1")
    assert {w["id"] for w in get(client, mine, limit=500)} == set(fleet)
    assert count(client, mine, filterBy="phase==Pending") == 2


def test_the_counters_agree_with_counting_the_rows(
    client: TestClient, admin: dict[str, str], state: AppState, fleet: dict[str, dict[str, Any]]
) -> None:
    """An unfiltered count sums the per-project counters the database triggers keep; a filtered
    one counts rows. After creates, a delete torn down at once and a delete still pending, both
    agree, live and deleted, for the admin and for a project-scoped caller."""
    gone, going = sorted(fleet)[:2]
    assert client.delete(f"/api/v2/workloads/{gone}", headers=admin).status_code == 202
    state.lifecycle.run_pass()  # tears down what has no pods left
    assert client.delete(f"/api/v2/workloads/{going}", headers=admin).status_code == 202
    viewer = caller(state, "Viewer", "project", "1")
    for headers in (admin, viewer):
        for deleted in ("false", "true"):
            counted = count(client, headers, deleted=deleted)
            rows = count(client, headers, deleted=deleted, filterBy="type==NIMService")
            listed = get(client, headers, deleted=deleted, limit=500)
            assert counted == rows == len(listed), (deleted, counted, rows, len(listed))
    assert count(client, admin, deleted="true") >= 1
