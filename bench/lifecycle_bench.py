"""Lifecycle benchmark: how long the control plane itself takes from a 202 to Running.

The script starts ``nimplane serve`` on a fresh data directory (SQLite, or ``--database-url``,
which must be an empty PostgreSQL database; ``--replicas`` servers share it) with a simulated
cluster of ``--nodes`` nodes of 8 GPUs whose delays (image pull, model load)
are divided by ``--speed`` until they vanish, creates ``--count`` one-GPU NIM services through
the API from ``--concurrency`` threads (spread over the replicas), and waits until every one
is Running.

Each workload's time to Running is taken from the server's own records: the timestamp of the
``PhaseUpdate`` into Running in its history minus its ``createdAt``; so what is measured is the
scheduler, the lifecycle engine and the database, not the client's polling. It prints one JSON
document on stdout: p50/p90/p99/max of that time, workloads brought to Running per second
(from the first ``createdAt`` to the last transition), how long the creates took, and the
servers' peak RSS and their CPU time per workload (each server's processes summed: the API
and its background worker) (the wait's listing polls included:
they are few), and on PostgreSQL the CPU time its backends spent for the database, per
workload (the database server runs on the same machine). The burst starts once every
server's background worker process answers (``nimplane serve`` starts it after the API is
ready; how long that took is reported). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from serving import free_port, tree_cpu_seconds, tree_memory_kib, wait_until_ready

CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret-123"  # a throwaway credential for a local server
NIM_PATH = "/api/v2/workloads/nim-services"
IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
TIMEOUT = httpx.Timeout(60.0)
TARGET_P99_SECONDS = 1.0
K8S_POD_STARTUP_SLO_P99_SECONDS = 5.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _peak_rss_mib(pid: int) -> float | None:
    """A server's peak RSS: its processes' peaks summed (the API and its background worker)."""
    memory = tree_memory_kib(pid)
    return memory["VmHWM"] / 1024 if memory else None


def _cpu_seconds(pid: int) -> float | None:
    """A server's CPU time so far (its processes, every thread, user + system)."""
    return tree_cpu_seconds(pid)


class _PostgresCpu:
    """The CPU time PostgreSQL's backends spend for the benchmark's database: its backends'
    pids (from `pg_stat_activity`) sampled twice a second from a thread, each one's
    `/proc` CPU counted from when it was first seen (a backend that starts later counts
    whole); same machine only, and a backend that ends between two samples loses its last
    half second."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._sample(first=True)
        self._thread.start()

    def stop(self) -> float:
        """Seconds of CPU spent since `start`."""
        self._stop.set()
        self._thread.join()
        self._sample()
        return sum(self._last[pid] - self._first.get(pid, 0.0) for pid in self._last)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def _sample(self, *, first: bool = False) -> None:
        import psycopg  # only for PostgreSQL runs

        with psycopg.connect(self._url) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            ).fetchall()
        for (pid,) in rows:
            cpu = _cpu_seconds(int(pid))
            if cpu is None:
                continue
            if first:
                self._first[pid] = cpu
            self._last[pid] = cpu


def _start_server(
    args: argparse.Namespace, data_dir: Path, signing_key: str
) -> tuple[subprocess.Popen[bytes], str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "nimplane.yaml"
    config.write_text(f"simulator:\n  speed: {args.speed}\n  nodes:\n    - count: {args.nodes}\n")
    env = dict(os.environ)
    env["NIMPLANE_BOOTSTRAP_CLIENT_ID"] = CLIENT_ID
    env["NIMPLANE_BOOTSTRAP_CLIENT_SECRET"] = CLIENT_SECRET
    env["NIMPLANE_AUTH__SIGNING_KEY"] = signing_key  # a token of one replica is good at all
    env.update(item.split("=", 1) for item in args.env)
    port = free_port()
    command = [sys.executable, "-m", "nimplane", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--config", str(config), "--log-level", "warning"]
    if args.database_url:
        command += ["--database-url", args.database_url]
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_ready(process, base_url, data_dir / "server.log")
    return process, base_url


def _token(base_url: str) -> str:
    body = {"grantType": "client_credentials", "clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    response = httpx.post(f"{base_url}/api/v1/token", json=body, timeout=TIMEOUT)
    response.raise_for_status()
    return str(response.json()["accessToken"])


def _create_all(base_urls: list[str], token: str, count: int, threads: int) -> list[str]:
    """Create `count` NIM services from `threads` threads, spread over the replicas; their
    ids (every one must be 202)."""
    ids: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    indices = iter(range(count))
    headers = {"Authorization": f"Bearer {token}"}

    def worker(base_url: str) -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT) as http:
            while True:
                with lock:
                    index = next(indices, None)
                if index is None:
                    return
                body = {
                    "metadata": {"name": f"bench-{index}", "projectId": "1"},
                    "spec": {
                        "image": IMAGE,
                        "modelStore": {"nimCache": {"name": "llama-cache"}},
                        "compute": {"gpuDevicesRequest": 1},
                    },
                }
                response = http.post(NIM_PATH, json=body)
                with lock:
                    if response.status_code == 202:
                        ids.append(str(response.json()["metadata"]["id"]))
                    else:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    workers = [
        threading.Thread(target=worker, args=(base_urls[i % len(base_urls)],))
        for i in range(threads)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} creates failed, e.g. {failures[0]}")
    return ids


def _listed(http: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        response = http.get("/api/v1/workloads", params={"limit": 500, "offset": offset})
        response.raise_for_status()
        page = response.json()
        found += page["workloads"]
        offset = page.get("next")
    return found


def _wait_running(http: httpx.Client, count: int, timeout: float) -> list[dict[str, Any]]:
    """Poll the count of Running workloads once a second (listing 10,000 workloads every
    second would load the server being measured), then list them once."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get("/api/v1/workloads/count", params={"filterBy": "phase==Running"})
        response.raise_for_status()
        running = int(response.json()["count"])
        print(f"running {running}/{count}", file=sys.stderr)
        if running >= count:
            return _listed(http)
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {running} of {count} reached Running in {timeout} s")
        time.sleep(1.0)


def _server_metrics(http: httpx.Client) -> dict[str, float]:
    """Totals of the scheduling cycles and reconciles the server ran (where the time went)."""
    names = (
        "nimplane_scheduling_cycle_duration_seconds_count",
        "nimplane_scheduling_cycle_duration_seconds_sum",
        "nimplane_reconcile_duration_seconds_count",
        "nimplane_reconcile_duration_seconds_sum",
        "nimplane_reconcile_errors_total",
    )
    found: dict[str, float] = {}
    for line in http.get("/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        if name in names:
            found[name.removeprefix("nimplane_")] = round(float(value), 3)
    return found


def _wait_background(base_url: str, token: str, timeout: float = 120.0) -> float | None:
    """Wait until the server's background worker process answers its metrics (it starts
    after the API is ready: the imports and its state take a second or two); the seconds
    waited, None when the server runs its loops in the API process. The burst measures the
    control plane at work, not its start."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT) as http:
        while True:
            up = None
            for line in http.get("/metrics").text.splitlines():
                if line.startswith("nimplane_background_process_up "):
                    up = float(line.split()[1])
            if up is None:
                return None
            if up == 1:
                return round(time.monotonic() - started, 2)
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the background worker process did not start in {timeout} s")
            time.sleep(0.1)


def _running_at(http: httpx.Client, workload_id: str) -> datetime:
    response = http.get(f"/api/v1/workloads/{workload_id}/history", params={"limit": 500})
    response.raise_for_status()
    for record in response.json()["records"]:
        phase = record["spec"].get("phaseUpdate", {}).get("phase")
        if record["meta"]["type"] == "PhaseUpdate" and phase == "Running":
            return datetime.fromisoformat(record["meta"]["creationTimestamp"])
    raise RuntimeError(f"{workload_id} has no transition into Running")


def _sum_metrics(replicas: list[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for metrics in replicas:
        for name, value in metrics.items():
            total[name] = round(total.get(name, 0.0) + value, 3)
    return total


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.replicas > 1 and not args.database_url:
        raise SystemExit("--replicas above 1 needs --database-url (PostgreSQL)")
    signing_key = os.urandom(32).hex()
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as tmp:
        try:
            base_urls = []
            for index in range(args.replicas):  # one after the other: one migrates and seeds
                process, base_url = _start_server(args, Path(tmp) / str(index), signing_key)
                processes.append(process)
                base_urls.append(base_url)
            token = _token(base_urls[0])
            background_up = [_wait_background(base_url, token) for base_url in base_urls]
            cpu_before = [_cpu_seconds(p.pid) for p in processes]
            pg_cpu = _PostgresCpu(args.database_url) if args.database_url else None
            if pg_cpu is not None:
                pg_cpu.start()
            started = time.monotonic()
            ids = _create_all(base_urls, token, args.count, args.concurrency)
            create_seconds = time.monotonic() - started
            print(f"created {len(ids)} in {create_seconds:.1f} s", file=sys.stderr)
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base_urls[0], headers=headers, timeout=TIMEOUT) as http:
                listed = _wait_running(http, args.count, args.timeout)
                wall_seconds = time.monotonic() - started
                cpu_after = [_cpu_seconds(p.pid) for p in processes]
                pg_seconds = pg_cpu.stop() if pg_cpu is not None else None
                created = {
                    w["id"]: datetime.fromisoformat(w["createdAt"])
                    for w in listed
                    if w["id"] in set(ids)
                }
                running = {workload_id: _running_at(http, workload_id) for workload_id in ids}
            server_metrics = []
            for base_url in base_urls:
                with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT) as http:
                    server_metrics.append(_server_metrics(http))
            rss = [_peak_rss_mib(p.pid) for p in processes]
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
    cpu_ms: float | None = None
    pairs = list(zip(cpu_after, cpu_before, strict=True))
    if all(a is not None and b is not None for a, b in pairs):
        spent = sum((a or 0.0) - (b or 0.0) for a, b in pairs)
        cpu_ms = round(spent * 1000 / len(ids), 2)
    latencies = [(running[i] - created[i]).total_seconds() for i in ids]
    span = (max(running.values()) - min(created.values())).total_seconds()
    p99 = _percentile(latencies, 0.99)
    return {
        "benchmark": "lifecycle",
        "database": "postgresql" if args.database_url else "sqlite",
        "replicas": args.replicas,
        "workloads": len(ids),
        "nodes": args.nodes,
        "gpus": args.nodes * 8,
        "speed": args.speed,
        "create_concurrency": args.concurrency,
        "env": args.env,
        "create_seconds": round(create_seconds, 3),
        "creates_per_second": round(len(ids) / create_seconds, 1),
        "to_running_seconds": {
            "p50": round(_percentile(latencies, 0.5), 4),
            "p90": round(_percentile(latencies, 0.9), 4),
            "p99": round(p99, 4),
            "max": round(max(latencies), 4),
            "mean": round(statistics.fmean(latencies), 4),
        },
        "running_per_second": round(len(ids) / span, 1),
        "first_create_to_last_running_seconds": round(span, 3),
        "client_wall_seconds": round(wall_seconds, 3),
        "server_metrics": _sum_metrics(server_metrics),
        "background_process_up_after_ready_seconds": background_up,
        "server_peak_rss_mib": [None if r is None else round(r, 1) for r in rss],
        "server_cpu_ms_per_workload": cpu_ms,
        "postgres_cpu_ms_per_workload": (
            None if pg_seconds is None else round(pg_seconds * 1000 / len(ids), 2)
        ),
        "target_p99_seconds": TARGET_P99_SECONDS,
        "meets_target": p99 < TARGET_P99_SECONDS,
        "k8s_pod_startup_slo_p99_seconds": K8S_POD_STARTUP_SLO_P99_SECONDS,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="NIM services to create")
    parser.add_argument("--nodes", type=int, default=500, help="simulated nodes of 8 GPUs")
    parser.add_argument("--speed", type=float, default=1e6, help="simulator speed factor")
    parser.add_argument("--concurrency", type=int, default=8, help="threads sending creates")
    parser.add_argument("--database-url", default=None, help="postgresql://... (default SQLite)")
    parser.add_argument(
        "--replicas", type=int, default=1, help="servers sharing the PostgreSQL database"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for all")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NIMPLANE_X=V",
        help="extra server setting, e.g. NIMPLANE_LIFECYCLE__PERIOD_SECONDS=0.1 (repeatable)",
    )
    print(json.dumps(run(parser.parse_args()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
