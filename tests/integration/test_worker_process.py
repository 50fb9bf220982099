"""`nimplane serve` runs the scheduler and the lifecycle engine in a child process (by
default): a workload created through the API is woken across the process boundary and
reaches Running; the API's `/metrics` serves the child's loop metrics; a killed child is
restarted (and counted) and the work goes on; stopping the server stops the child."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nimplane.settings import Settings
from nimplane.storage.db import create_db_engine, migrate
from tests.conftest import nim_request
from tests.support.db import delete_workloads
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

NIM = "/api/v2/workloads/nim-services"
CONFIG = "simulator:\n  speed: 1000\n"


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(p) for p in text)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> ServerProcess:
    if database_url:  # the session's shared database: free the cluster for this test
        engine = create_db_engine(Settings(database_url=database_url).resolved_database_url())
        migrate(engine)  # a fresh session has no tables yet
        delete_workloads(engine)
        engine.dispose()
    data_dir = tmp_path_factory.mktemp("split")
    config = data_dir / "nimplane.yaml"
    config.write_text(CONFIG)
    return ServerProcess(data_dir, database_url, config_file=config)


def reaches_running(server: ServerProcess, http: httpx.Client, name: str) -> None:
    created = http.post(NIM, json=nim_request(name))
    assert created.status_code == 202, created.text
    workload_id = created.json()["metadata"]["id"]

    def running() -> bool:
        response = http.get(f"/api/v1/workloads/{workload_id}")
        assert response.status_code == 200, response.text
        return bool(response.json()["phase"] == "Running")

    wait_until(running, f"workload {name} reached Running")


def metric(http: httpx.Client, name: str) -> float | None:
    """The value of an unlabelled sample on the API's `/metrics`, None when absent."""
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    return None


def test_the_loops_run_in_a_child_that_is_restarted_and_stopped_with_the_server(
    server: ServerProcess,
) -> None:
    server.start()
    try:
        assert server.process is not None
        parent = server.process.pid
        (worker,) = children(parent)
        headers = {"Authorization": f"Bearer {server.token()}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60.0) as http:
            reaches_running(server, http, "split-a")
            # the loops' metrics are the child's, served by the API process
            assert (metric(http, "nimplane_reconcile_duration_seconds_count") or 0) >= 1
            assert (metric(http, "nimplane_scheduling_cycle_duration_seconds_count") or 0) >= 1
            assert metric(http, "nimplane_background_process_up") == 1
            assert metric(http, "nimplane_background_process_starts_total") == 1

            os.kill(worker, signal.SIGKILL)
            wait_until(lambda: not alive(worker), "the killed worker process ended")
            wait_until(
                lambda: [p for p in children(parent) if p != worker and alive(p)] != [],
                "a new worker process was started",
            )
            assert server.process.poll() is None  # the API kept serving
            reaches_running(server, http, "split-b")
            (replacement,) = children(parent)
            assert metric(http, "nimplane_background_process_starts_total") == 2
            assert metric(http, "nimplane_background_process_up") == 1
        log = (server.data_dir / "server.log").read_text()
        assert f"the background worker process (pid {worker}) exited" in log
    finally:
        server.stop()
    wait_until(lambda: not alive(replacement), "the worker process stopped with the server")


def test_with_background_process_off_the_loops_run_in_the_api_process(
    server: ServerProcess,
) -> None:
    server.env["NIMPLANE_BACKGROUND_PROCESS"] = "false"
    server.start()
    try:
        assert server.process is not None
        assert children(server.process.pid) == []
        headers = {"Authorization": f"Bearer {server.token()}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60.0) as http:
            reaches_running(server, http, "in-process")
            assert (metric(http, "nimplane_reconcile_duration_seconds_count") or 0) >= 1
            assert metric(http, "nimplane_background_process_up") is None
    finally:
        server.stop()
