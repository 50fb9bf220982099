"""Request ids, request metrics and /metrics, and JSON log lines carrying the request id."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from nimplane import logs
from nimplane.api.state import AppState
from tests.conftest import nim_request


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32


def test_metrics_count_requests_by_route_and_code_and_workloads_by_phase(
    client: TestClient, admin: dict[str, str]
) -> None:
    client.post("/api/v2/workloads/nim-services", json=nim_request("metered"), headers=admin)
    client.get("/api/v2/workloads/nim-services/not-a-uuid", headers=admin)
    response = client.get("/metrics", headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'nimplane_api_requests_total{code="202",method="POST",route="/api/v2/workloads/nim-services"}'
        in text
    )
    assert 'route="/api/v2/workloads/nim-services/{WorkloadV2Id}"' in text
    assert 'nimplane_workloads{phase="Creating"} 1.0' in text
    assert "nimplane_api_request_duration_seconds_bucket" in text


def test_metrics_cover_the_scheduler_and_the_lifecycle_engine(
    client: TestClient, admin: dict[str, str], state: AppState
) -> None:
    state.scheduling.run_cycle()
    state.lifecycle.run_pass()
    text = client.get("/metrics", headers=admin).text
    assert "nimplane_scheduling_cycle_duration_seconds_count" in text
    assert "nimplane_reconcile_duration_seconds_bucket" in text
    assert "nimplane_reconcile_errors_total" in text
    assert "nimplane_workload_pending_seconds_bucket" in text
    count = next(
        line
        for line in text.splitlines()
        if line.startswith("nimplane_scheduling_cycle_duration_seconds_count")
    )
    assert float(count.split()[-1]) >= 1


def test_metrics_need_a_token(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401


def test_log_lines_are_json_with_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    formatter = logs.JsonFormatter()
    token = logs.request_id.set("req-1")
    try:
        record = logging.LogRecord(
            "nimplane.test", logging.INFO, __file__, 1, "hello %s", ("x",), None
        )
        line = json.loads(formatter.format(record))
    finally:
        logs.request_id.reset(token)
    assert line["message"] == "hello x"
    assert line["request_id"] == "req-1"
    assert line["level"] == "info"
    assert "workload_id" not in line
