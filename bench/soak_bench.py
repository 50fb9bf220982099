"""Soak benchmark: the server's memory while it holds 50,000 workloads under mixed API load.

The script starts ``nimplane serve`` as the README's first command does (background work on,
SQLite in a fresh data directory, or ``--database-url``, an empty PostgreSQL database) with a
simulated cluster of ``--nodes`` nodes of 8 GPUs (default: enough that about half of the
workloads run), seeds ``--workloads`` NIM services through the API (``--seed-threads``
threads; every other one asks for one whole GPU, the rest for half a GPU, ``gpuPortionRequest:
0.5``, all in project 1, whose quota is the cluster's GPUs, so about half run and the rest wait
Pending), waits until the number Running stops growing, then runs a fixed mix of API requests
(``MIX``: GET by id in both APIs, list pages with filters and sorting, counts, creates,
PATCHes, deletes, suspend/resume batches, pods, events, history, token refresh) for
``--duration`` seconds from ``--threads`` threads at ``--rate`` requests per second in all.
Creates and deletes are balanced, so the number of live workloads stays about constant.

Every ``--sample-every`` seconds it samples the server's VmRSS and VmHWM and its CPU time (its
processes summed: the API process and its background worker; the API's own RSS too) from
/proc. With ``--tracemalloc`` the server runs under this script's wrapper (``_serve``: the
same entry point, with ``tracemalloc`` started and a ``SIGUSR1`` handler writing the top
allocations by file and line), and the top allocations at the start and at the end of the load
are part of the result. One JSON document on stdout: the RSS curve, its peak, its slope per
hour (a least-squares line over the load, and over its second half), the requests by kind with
their statuses and latencies, and the errors. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from serving import free_port, tree_cpu_seconds, tree_memory_kib, wait_until_ready

CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret-123"  # a throwaway credential for a local server
NIM = "/api/v2/workloads/nim-services"
V1 = "/api/v1/workloads"
IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
TIMEOUT = httpx.Timeout(120.0)
TARGET_RSS_MIB = 1024
HERE = Path(__file__).resolve()

MIX: dict[str, int] = {
    "get_v2": 20,
    "get_v1": 10,
    "list": 14,
    "count": 5,
    "create": 5,
    "patch": 5,
    "delete": 5,
    "batch": 3,
    "pods": 6,
    "events": 5,
    "history": 5,
    "refresh": 2,
}
"""Relative weights of the request kinds of the load."""

LIST_QUERIES: list[dict[str, Any]] = [
    {"limit": 20},
    {"limit": 20, "filterBy": "phase==Running"},
    {"limit": 20, "filterBy": "phase==Pending", "sortBy": "name", "sortOrder": "desc"},
    {"limit": 50, "sortBy": "createdAt", "sortOrder": "asc"},
    {"limit": 20, "filterBy": "projectId==1", "sortBy": "name"},
    {"limit": 20, "search": "soak-1"},
    {"limit": 20, "filterBy": "phase!=Running", "sortBy": "phase"},
]
COUNT_QUERIES: list[dict[str, Any]] = [{}, {"filterBy": "phase==Running"}, {"search": "soak-2"}]


def create_body(index: int, tag: str = "soak") -> dict[str, Any]:
    """A one-GPU service for even `index`, a half-GPU one for odd."""
    compute: dict[str, Any] = {"gpuDevicesRequest": 1}
    if index % 2:
        compute.update({"gpuRequestType": "portion", "gpuPortionRequest": 0.5})
    return {
        "metadata": {"name": f"{tag}-{index}", "projectId": "1"},
        "spec": {
            "image": IMAGE,
            "modelStore": {"nimCache": {"name": "llama-cache"}},
            "compute": compute,
            "environmentVariables": [{"name": "INDEX", "value": str(index)}],
        },
    }


# --- the server --------------------------------------------------------------------------


def _start_server(
    args: argparse.Namespace, data_dir: Path, *, background: bool = True
) -> tuple[subprocess.Popen[bytes], str]:
    config = data_dir / "nimplane.yaml"
    config.write_text(f"simulator:\n  speed: {args.speed}\n  nodes:\n    - count: {args.nodes}\n")
    env = dict(os.environ)
    env["NIMPLANE_BOOTSTRAP_CLIENT_ID"] = CLIENT_ID
    env["NIMPLANE_BOOTSTRAP_CLIENT_SECRET"] = CLIENT_SECRET
    env.update(item.split("=", 1) for item in args.env)
    if not background:
        env["NIMPLANE_BACKGROUND_WORKERS"] = "false"
    port = free_port()
    if args.tracemalloc and background:
        env["SOAK_TRACEMALLOC_OUT"] = str(data_dir / "tracemalloc")
        command = [sys.executable, str(HERE), "_serve"]
    else:
        command = [sys.executable, "-m", "nimplane"]
    command += ["serve", "--port", str(port), "--data-dir", str(data_dir)]
    command += ["--config", str(config), "--log-level", "warning"]
    if args.database_url:
        command += ["--database-url", args.database_url]
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_ready(process, base_url, data_dir / "server.log", timeout=300.0)
    return process, base_url


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _serve_wrapped() -> None:
    """`nimplane serve` with tracemalloc on; SIGUSR1 writes the top allocations to a file."""
    import tracemalloc

    out = Path(os.environ["SOAK_TRACEMALLOC_OUT"])
    tracemalloc.start(1)

    previous: dict[str, tuple[int, int]] = {}

    def dump(_signum: int, _frame: Any) -> None:
        stats = tracemalloc.take_snapshot().statistics("lineno")
        now = {str(s.traceback[0]): (s.size, s.count) for s in stats}

        def before(key: str) -> int:
            return previous.get(key, (0, 0))[0]

        grown = sorted(now, key=lambda k: now[k][0] - before(k), reverse=True)
        report = {
            "traced_mib": round(sum(s.size for s in stats) / 2**20, 1),
            "top": [_row(k, now[k]) for k in sorted(now, key=lambda k: -now[k][0])[:30]],
            "grown_since_previous": [
                {**_row(k, now[k]), "grown_kib": round((now[k][0] - before(k)) / 1024, 1)}
                for k in grown[:30]
                if previous
            ],
        }
        previous.clear()
        previous.update(now)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report))
        tmp.replace(out)

    signal.signal(signal.SIGUSR1, dump)
    from nimplane.cli.main import main

    sys.argv = ["nimplane", *sys.argv[2:]]
    sys.exit(main())


def _row(where: str, size_count: tuple[int, int]) -> dict[str, Any]:
    return {"where": where, "kib": round(size_count[0] / 1024, 1), "blocks": size_count[1]}


def _tracemalloc_top(process: subprocess.Popen[bytes], data_dir: Path) -> Any:
    out = data_dir / "tracemalloc"
    out.unlink(missing_ok=True)
    process.send_signal(signal.SIGUSR1)
    for _ in range(600):
        if out.exists():
            return json.loads(out.read_text())
        time.sleep(0.5)
    return None


def _tokens(base_url: str) -> dict[str, str]:
    body = {"grantType": "client_credentials", "clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    response = httpx.post(f"{base_url}/api/v1/token", json=body, timeout=TIMEOUT)
    response.raise_for_status()
    grant = response.json()
    return {"access": str(grant["accessToken"]), "refresh": str(grant["refreshToken"])}


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


# --- seeding -----------------------------------------------------------------------------


def _seed(base_url: str, token: str, count: int, threads: int) -> list[str]:
    """Create `count` NIM services through the API from `threads` threads; their ids."""
    ids: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    indices = iter(range(count))
    headers = {"Authorization": f"Bearer {token}"}

    def worker() -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT) as http:
            while True:
                with lock:
                    index = next(indices, None)
                if index is None:
                    return
                response = http.post(NIM, json=create_body(index))
                with lock:
                    if response.status_code == 202:
                        ids.append(str(response.json()["metadata"]["id"]))
                        if len(ids) % 5000 == 0:
                            print(f"seeded {len(ids)}/{count}", file=sys.stderr)
                    else:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} creates failed, e.g. {failures[0]}")
    return ids


def _count(http: httpx.Client, **params: Any) -> int:
    response = http.get(f"{V1}/count", params=params)
    response.raise_for_status()
    return int(response.json()["count"])


def _wait_settled(http: httpx.Client, target: int, timeout: float) -> dict[str, int]:
    """Wait until `target` workloads run, or some do and their number stopped growing for a
    minute, or `timeout` seconds; the number in each phase."""
    deadline = time.monotonic() + timeout
    best, best_at = -1, time.monotonic()
    while True:
        running = _count(http, filterBy="phase==Running")
        print(f"running {running} (load {_loadavg()})", file=sys.stderr)
        if running > best:
            best, best_at = running, time.monotonic()
        stalled = running > 0 and time.monotonic() - best_at > 60
        if running >= target or stalled or time.monotonic() > deadline:
            break
        time.sleep(5.0)
    phases = ("Running", "Pending", "Initializing", "Creating", "Stopped", "Updating")
    return {phase: _count(http, filterBy=f"phase=={phase}") for phase in phases}


# --- the load ----------------------------------------------------------------------------


class _Load:
    """The mixed load: shared ids and tokens, and what each kind of request got."""

    def __init__(self, base_url: str, tokens: dict[str, str], ids: list[str], seed: int) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.live = list(ids)
        self.suspended: list[str] = []
        self.lock = threading.Lock()
        self.refreshing = threading.Lock()  # one exchange at a time: a reuse revokes the family
        self.statuses: dict[str, Counter[str]] = {kind: Counter() for kind in MIX}
        self.latencies: dict[str, list[float]] = {kind: [] for kind in MIX}
        self.errors: list[str] = []
        self.created = 0
        self.random = random.Random(seed)
        self.kinds = list(MIX)
        self.weights = [MIX[kind] for kind in self.kinds]

    def pick(self) -> tuple[str, random.Random]:
        with self.lock:
            kind = self.random.choices(self.kinds, self.weights)[0]
            return kind, random.Random(self.random.random())

    def _some_id(self, rnd: random.Random) -> str:
        with self.lock:
            return self.live[rnd.randrange(len(self.live))]

    def run_one(self, http: httpx.Client, kind: str, rnd: random.Random) -> None:
        if kind == "refresh":
            with self.refreshing:
                self._run_one(http, kind, rnd)
        else:
            self._run_one(http, kind, rnd)

    def _run_one(self, http: httpx.Client, kind: str, rnd: random.Random) -> None:
        headers = {"Authorization": f"Bearer {self.tokens['access']}"}
        started = time.perf_counter()
        response = self._send(http, kind, rnd, headers)
        elapsed = time.perf_counter() - started
        ok = response.status_code < 300
        with self.lock:
            self.statuses[kind][str(response.status_code)] += 1
            self.latencies[kind].append(elapsed)
            if not ok and len(self.errors) < 50:
                self.errors.append(f"{kind} {response.status_code} {response.text[:200]}")
        if ok:
            self._after(kind, response)

    def _send(
        self, http: httpx.Client, kind: str, rnd: random.Random, headers: dict[str, str]
    ) -> httpx.Response:
        if kind == "get_v2":
            return http.get(f"{NIM}/{self._some_id(rnd)}", headers=headers)
        if kind == "get_v1":
            return http.get(f"{V1}/{self._some_id(rnd)}", headers=headers)
        if kind == "list":
            params = dict(rnd.choice(LIST_QUERIES))
            params["offset"] = rnd.choice([0, 0, 20, 100, 1000, 20_000])
            return http.get(V1, params=params, headers=headers)
        if kind == "count":
            return http.get(f"{V1}/count", params=rnd.choice(COUNT_QUERIES), headers=headers)
        if kind == "create":
            with self.lock:
                self.created += 1
                index = self.created
            return http.post(NIM, json=create_body(index, "soak-load"), headers=headers)
        if kind == "patch":
            env = [{"name": "INDEX", "value": uuid.uuid4().hex[:8]}]
            body = {"spec": {"environmentVariables": env}}
            return http.patch(f"{NIM}/{self._some_id(rnd)}", json=body, headers=headers)
        if kind == "delete":
            with self.lock:
                victim = self.live.pop(rnd.randrange(len(self.live)))
            return http.delete(f"/api/v2/workloads/{victim}", headers=headers)
        if kind == "batch":
            with self.lock:
                resume = len(self.suspended) >= 10 and rnd.random() < 0.5
                if resume:
                    batch, self.suspended = self.suspended[:10], self.suspended[10:]
                else:
                    batch = [self.live.pop(rnd.randrange(len(self.live))) for _ in range(10)]
            body = {"ids": batch, "action": "resume" if resume else "suspend"}
            response = http.post(f"{V1}/batch", json=body, headers=headers)
            with self.lock:
                if resume:
                    self.live += batch
                else:
                    self.suspended += batch
            return response
        if kind in ("pods", "events"):
            return http.get(f"{V1}/{self._some_id(rnd)}/{kind}", headers=headers)
        if kind == "history":
            params = {"limit": 50}
            return http.get(f"{V1}/{self._some_id(rnd)}/history", params=params, headers=headers)
        if kind == "refresh":
            body = {"grantType": "refresh_token", "refreshToken": self.tokens["refresh"]}
            return http.post("/api/v1/token", json=body)
        raise AssertionError(kind)

    def _after(self, kind: str, response: httpx.Response) -> None:
        if kind == "create":
            with self.lock:
                self.live.append(str(response.json()["metadata"]["id"]))
        elif kind == "refresh":
            grant = response.json()
            with self.lock:
                self.tokens = {"access": grant["accessToken"], "refresh": grant["refreshToken"]}
        elif kind == "batch" and response.json().get("failed"):
            with self.lock:
                self.errors.append(f"batch failed items: {response.json()['failed'][:2]}")

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in MIX:
            values = sorted(self.latencies[kind])
            out[kind] = {
                "requests": len(values),
                "statuses": dict(sorted(self.statuses[kind].items())),
                "p50_ms": round(values[len(values) // 2] * 1000, 2) if values else None,
                "p99_ms": round(values[int(0.99 * (len(values) - 1))] * 1000, 2)
                if values
                else None,
            }
        return out


def _drive(load: _Load, threads: int, rate: float, duration: float) -> None:
    """`threads` workers, paced to `rate` requests per second in all, for `duration` s."""
    end = time.monotonic() + duration
    interval = threads / rate

    def worker() -> None:
        with httpx.Client(base_url=load.base_url, timeout=TIMEOUT) as http:
            next_at = time.monotonic()
            while time.monotonic() < end:
                kind, rnd = load.pick()
                try:
                    load.run_one(http, kind, rnd)
                except httpx.HTTPError as exc:
                    with load.lock:
                        load.statuses[kind]["transport"] += 1
                        load.errors.append(f"{kind} {exc!r}"[:200])
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                else:
                    next_at = time.monotonic()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


class _Sampler(threading.Thread):
    """Samples the server's memory and CPU time every `every` seconds until stopped."""

    def __init__(self, pid: int, every: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[dict[str, float]] = []
        self.started = time.monotonic()
        self.stop = threading.Event()

    def sample(self) -> None:
        memory = tree_memory_kib(self.pid)
        if memory:
            self.samples.append(
                {
                    "t_s": round(time.monotonic() - self.started, 1),
                    "rss_mib": round(memory["VmRSS"] / 1024, 1),
                    "api_rss_mib": round(memory[f"VmRSS:{self.pid}"] / 1024, 1),
                    "hwm_mib": round(memory["VmHWM"] / 1024, 1),
                    "cpu_s": round(tree_cpu_seconds(self.pid) or 0.0, 2),
                }
            )

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.sample()


def _slope_mib_per_hour(samples: list[dict[str, float]]) -> float | None:
    if len(samples) < 3:
        return None
    xs = [s["t_s"] for s in samples]
    ys = [s["rss_mib"] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
    return round(slope * 3600, 1)


def _thin(samples: list[dict[str, float]], keep: int = 60) -> list[dict[str, float]]:
    step = max(1, math.ceil(len(samples) / keep))
    return samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.nodes is None:
        # half of the workloads run: half of those take a whole GPU, half a share of one
        args.nodes = math.ceil(args.workloads / 2 * 0.75 / 8)
    result: dict[str, Any] = {
        "benchmark": "soak",
        "database": "postgresql" if args.database_url else "sqlite",
        "workloads": args.workloads,
        "nodes": args.nodes,
        "gpus": args.nodes * 8,
        "seeded_through": "api, background work off; then restarted with it on",
        "duration_s": args.duration,
        "rate": args.rate,
        "threads": args.threads,
        "env": args.env,
        "loadavg_start": _loadavg(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="soak-bench-") as tmp:
        data_dir = Path(tmp)
        # seeding: through the API, with the background work off (it would place and run
        # the workloads one small batch at a time while 50,000 arrive); or a copy of a data
        # directory seeded so before (--seeded-dir), to measure before and after on the same
        ids_file = args.seeded_dir / "soak-ids.json" if args.seeded_dir else None
        if ids_file is not None and ids_file.exists():
            shutil.copytree(args.seeded_dir, data_dir, dirs_exist_ok=True)
            ids = json.loads(ids_file.read_text())[: args.workloads]
            result["seeded_through"] = f"api, copied from {args.seeded_dir}"
        else:
            process, base_url = _start_server(args, data_dir, background=False)
            try:
                started = time.monotonic()
                token = _tokens(base_url)["access"]
                ids = _seed(base_url, token, args.workloads, args.seed_threads)
                result["seed_seconds"] = round(time.monotonic() - started, 1)
            finally:
                _stop(process)
            print(f"seeded {len(ids)} in {result['seed_seconds']} s", file=sys.stderr)
            if args.seeded_dir is not None:
                shutil.copytree(data_dir, args.seeded_dir, dirs_exist_ok=True)
                (args.seeded_dir / "soak-ids.json").write_text(json.dumps(ids))
        # the server as users run it, holding them: it places and runs half of them
        process, base_url = _start_server(args, data_dir)
        sampler = _Sampler(process.pid, args.sample_every)
        try:
            tokens = _tokens(base_url)
            started = time.monotonic()
            headers = {"Authorization": f"Bearer {tokens['access']}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT) as http:
                result["phases_before"] = _wait_settled(http, args.workloads // 2, args.settle)
            result["settle_seconds"] = round(time.monotonic() - started, 1)
            result["rss_after_seed_mib"] = round(tree_memory_kib(process.pid)["VmRSS"] / 1024, 1)
            if args.tracemalloc:
                result["tracemalloc_start"] = _tracemalloc_top(process, data_dir)
            print(f"load for {args.duration} s (load {_loadavg()})", file=sys.stderr)
            load = _Load(base_url, tokens, ids, args.seed)
            sampler.started = time.monotonic()
            sampler.sample()
            sampler.start()
            cpu_before = tree_cpu_seconds(process.pid) or 0.0
            _drive(load, args.threads, args.rate, args.duration)
            sampler.stop.set()
            sampler.join()
            sampler.sample()
            cpu_spent = (tree_cpu_seconds(process.pid) or 0.0) - cpu_before
            if args.tracemalloc:
                result["tracemalloc_end"] = _tracemalloc_top(process, data_dir)
            headers = {"Authorization": f"Bearer {load.tokens['access']}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT) as http:
                result["phases_after"] = _wait_settled(http, 0, 0)
                result["live_after"] = _count(http)
        finally:
            _stop(process)
    samples = sampler.samples
    total = sum(len(v) for v in load.latencies.values())
    second_half = [s for s in samples if s["t_s"] >= samples[-1]["t_s"] / 2]
    result.update(
        {
            "loadavg_end": _loadavg(),
            "rss_mib": {
                "start": samples[0]["rss_mib"],
                "end": samples[-1]["rss_mib"],
                "min": min(s["rss_mib"] for s in samples),
                "max": max(s["rss_mib"] for s in samples),
                "peak_hwm": samples[-1]["hwm_mib"],
                "slope_per_hour": _slope_mib_per_hour(samples),
                "slope_per_hour_second_half": _slope_mib_per_hour(second_half),
            },
            "meets_target": samples[-1]["hwm_mib"] < TARGET_RSS_MIB,
            "requests": total,
            "requests_per_second": round(total / args.duration, 1),
            "server_cpu_ms_per_request": round(cpu_spent * 1000 / max(total, 1), 2),
            "by_kind": load.summary(),
            "non_2xx": sum(
                n for c in load.statuses.values() for code, n in c.items() if code[0] != "2"
            ),
            "errors": load.errors[:20],
            "rss_curve": _thin(samples),
        }
    )
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        _serve_wrapped()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", type=int, default=50_000, help="NIM services to seed")
    parser.add_argument(
        "--nodes", type=int, default=None, help="simulated nodes of 8 GPUs (default: half run)"
    )
    parser.add_argument("--speed", type=float, default=1e6, help="simulator speed factor")
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second in all")
    parser.add_argument("--threads", type=int, default=4, help="threads sending the load")
    parser.add_argument("--seed-threads", type=int, default=8, help="threads seeding")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--settle", type=float, default=1800.0, help="max seconds to settle")
    parser.add_argument(
        "--seeded-dir",
        type=Path,
        default=None,
        help="keep the seeded data directory here, or reuse it if it holds one",
    )
    parser.add_argument("--seed", type=int, default=14, help="random seed of the mix")
    parser.add_argument("--database-url", default=None, help="postgresql://... (default SQLite)")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="top allocations at the start and end"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NIMPLANE_X=V",
        help="extra server setting (repeatable)",
    )
    print(json.dumps(run(parser.parse_args()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
