"""Autoscaling on the simulated metric: up at once, down only after `scaleWindowSeconds`,
never outside [minReplicas, maxReplicas]; and the metric route's validation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import nim_request
from tests.support.lifecycle import Harness, harness_fixture
from tests.support.org import clean_org_fixture, ok

__all__ = ["clean_org_fixture", "harness_fixture"]

AUTOSCALING = {
    "minReplicas": 1,
    "maxReplicas": 4,
    "metric": "concurrency",
    "metricThreshold": 10,
    "scaleWindowSeconds": 60,
}


def metrics_url(workload_id: str) -> str:
    return f"/api/v1/simulator/workloads/{workload_id}/metrics"


def set_value(h: Harness, workload_id: str, value: float) -> None:
    body = {"metric": "concurrency", "value": value}
    assert ok(h.client.put(metrics_url(workload_id), json=body, headers=h.headers)) == body


def replicas(h: Harness, workload_id: str) -> tuple[int, int]:
    """(pods there are, pods ready)."""
    return len(h.pods(workload_id)), h.workload(workload_id)["runningPods"]


def watch(h: Harness, workload_id: str, seconds: float) -> list[int]:
    """Pod counts seen while the clock moves by `seconds`, a lifecycle pass every 15 s."""
    seen = []
    for _ in range(int(seconds // 15)):
        h.step(15)
        seen.append(len(h.pods(workload_id)))
    return seen


def test_scales_up_at_once_and_down_after_the_window(harness: Harness) -> None:
    h = harness
    workload_id = h.create(nim_request(autoscaling=AUTOSCALING))
    h.settle(120)
    assert replicas(h, workload_id) == (1, 1)
    assert h.workload(workload_id)["phase"] == "Running"

    set_value(h, workload_id, 35)  # ceil(35 / 10) = 4
    h.settle(120)
    assert replicas(h, workload_id) == (4, 4)
    assert h.workload(workload_id)["phase"] == "Running"
    assert len(set(h.pods(workload_id))) == 4

    set_value(h, workload_id, 5)  # 1 is recommended now, but 4 was within the window
    during = watch(h, workload_id, 45)
    assert during == [4, 4, 4]
    after = watch(h, workload_id, 45)
    assert after[-1] == 1
    assert all(1 <= count <= 4 for count in during + after)
    h.settle(30)
    assert replicas(h, workload_id) == (1, 1)
    assert h.workload(workload_id)["phase"] == "Running"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0, 1, id="zero-is-min"),
        pytest.param(10, 1, id="at-threshold"),
        pytest.param(11, 2, id="just-above"),
        pytest.param(1000, 4, id="capped-at-max"),
    ],
)
def test_the_replica_count_stays_within_bounds(
    harness: Harness, value: float, expected: int
) -> None:
    h = harness
    workload_id = h.create(nim_request(autoscaling=AUTOSCALING))
    set_value(h, workload_id, value)
    h.settle(120)
    assert replicas(h, workload_id) == (expected, expected)


@pytest.mark.parametrize(
    ("spec", "body", "status"),
    [
        pytest.param({}, {"metric": "concurrency", "value": 1}, 400, id="no-autoscaling"),
        pytest.param(
            {"autoscaling": AUTOSCALING}, {"metric": "latency", "value": 1}, 400, id="metric"
        ),
        pytest.param({"autoscaling": AUTOSCALING}, {"metric": "concurrency"}, 400, id="no-value"),
        pytest.param(
            {"autoscaling": AUTOSCALING}, {"metric": "concurrency", "value": -1}, 400, id="neg"
        ),
        pytest.param(
            {"autoscaling": AUTOSCALING}, {"metric": "concurrency", "value": "1"}, 400, id="str"
        ),
        pytest.param(
            {"autoscaling": AUTOSCALING},
            {"metric": "concurrency", "value": 1, "extra": 1},
            400,
            id="unknown-field",
        ),
        pytest.param({"autoscaling": AUTOSCALING}, [], 400, id="not-an-object"),
        pytest.param({"autoscaling": AUTOSCALING}, {"metric": "concurrency", "value": 2.5}, 200),
    ],
)
def test_the_metric_route_validates(
    harness: Harness, spec: dict[str, Any], body: Any, status: int
) -> None:
    h = harness
    workload_id = h.create(nim_request(**spec))
    response = h.client.put(metrics_url(workload_id), json=body, headers=h.headers)
    assert response.status_code == status, response.text
    if status == 400 and isinstance(body, dict) and set(body) >= {"metric", "value"}:
        fields = {i["field"] for i in response.json().get("complianceIssues", [])}
        assert fields & {"metric", "value", "extra"}, response.json()


def test_the_metric_of_an_unknown_workload_is_404(harness: Harness) -> None:
    body = {"metric": "concurrency", "value": 1}
    response = harness.client.put(metrics_url("no-such"), json=body, headers=harness.headers)
    assert response.status_code == 404
