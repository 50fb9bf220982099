"""List benchmark: the workload list's cost against GET by id, at 1,000 to 50,000 workloads.

For each database (SQLite, and PostgreSQL in the database ``--pg-url`` names, which this
script empties) and each size, the script starts ``nimplane serve`` as users run it, with its
background workers off (``NIMPLANE_BACKGROUND_WORKERS=false``: no scheduler or lifecycle pass
competes with the requests) and a data directory of its own; seeds the workloads directly
through the storage layer in bulk (``seed``: the rows the API, scheduler and lifecycle engine
would write, through the repository's own column writers, in one project: 70 % Running with a
one-GPU placement, 20 % Pending, 10 % Stopped, priority classes and categories varied, names
not in creation order); on PostgreSQL runs ``VACUUM ANALYZE`` (what autovacuum does after a bulk
load); then measures, over one keep-alive connection, interleaved in rounds (the order rotates
each round):

- ``get``: ``GET /api/v1/workloads/{id}`` (random seeded ids), the reference;
- ``page``: ``GET /api/v1/workloads?limit=20`` (the default order, createdAt);
- ``filtered``: ``...?limit=20&filterBy=phase==Pending``;
- ``sorted``: ``...?limit=20&sortBy=name&sortOrder=desc``;
- ``count``: ``GET /api/v1/workloads/count``.

Each kind's figure is its median latency over all rounds, given as a ratio to ``get``'s median
in the same run (the machine is shared and noisy: ratios, not times). ``--src`` runs another
checkout's code (seeding included), e.g. an export of an older commit for a before figure.
One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from serving import free_port, wait_until_ready

CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret-123"  # a throwaway credential for a local server
TIMEOUT = httpx.Timeout(120.0)
TARGET_RATIO = 3.0
LIST = "/api/v1/workloads"
KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "page": (LIST, {"limit": 20}),
    "filtered": (LIST, {"limit": 20, "filterBy": "phase==Pending"}),
    "sorted": (LIST, {"limit": 20, "sortBy": "name", "sortOrder": "desc"}),
    "count": (f"{LIST}/count", {}),
}
HERE = Path(__file__).resolve()


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    return env


def _start_server(src: Path, data_dir: Path, database_url: str | None) -> tuple[Any, str]:
    env = _env(src)
    env["NIMPLANE_BOOTSTRAP_CLIENT_ID"] = CLIENT_ID
    env["NIMPLANE_BOOTSTRAP_CLIENT_SECRET"] = CLIENT_SECRET
    env["NIMPLANE_BACKGROUND_WORKERS"] = "false"
    port = free_port()
    command = [sys.executable, "-m", "nimplane", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--log-level", "warning"]
    if database_url:
        command += ["--database-url", database_url]
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_ready(process, base_url, data_dir / "server.log")
    return process, base_url


def _stop(process: Any) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# --- seeding (runs in a subprocess, under --src's code) -------------------------------------


def seed(database_url: str, count: int) -> list[str]:
    """Insert `count` workloads in project 1 through the repository's column writers; their
    ids."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert, select, text

    from nimplane.domain.defaults import apply_defaults
    from nimplane.domain.phases import Phase
    from nimplane.domain.workloads import DesiredPhase, Project, Workload, WorkloadStatus
    from nimplane.storage import workloads as repo
    from nimplane.storage.db import create_db_engine
    from nimplane.storage.tables import clusters, departments, projects, workloads

    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_db_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            select(
                projects.c.id,
                projects.c.name,
                projects.c.namespace,
                departments.c.id.label("department_id"),
                departments.c.name.label("department_name"),
                clusters.c.id.label("cluster_id"),
                clusters.c.tenant_id,
            )
            .join(departments, departments.c.id == projects.c.department_id)
            .join(clusters, clusters.c.id == projects.c.cluster_id)
            .where(projects.c.id == 1)
        ).one()
    project = Project(
        id=str(row.id),
        name=row.name,
        namespace=row.namespace,
        department_id=str(row.department_id),
        department_name=row.department_name,
        cluster_id=row.cluster_id,
        tenant_id=row.tenant_id,
    )
    start = datetime.now(UTC) - timedelta(seconds=count + 3600)
    classes = ("very-high", "high", "medium-high", "medium", "low")
    categories = ("Deploy", "Build", "Train")
    rows, ids = [], []
    for index in range(count):
        created = start + timedelta(seconds=index, microseconds=index % 997)
        spec = apply_defaults(
            {
                "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
                "modelStore": {"nimCache": {"name": "llama-cache"}},
                "compute": {"gpuDevicesRequest": 1},
                "priorityClass": classes[index % len(classes)],
                "category": categories[index % len(categories)],
            }
        )
        kind = index % 10
        phase = Phase.Running if kind < 7 else Phase.Pending if kind < 9 else Phase.Stopped
        placement = None
        if phase is Phase.Running:
            pod = {"index": 0, "node": f"node-{index % 4}", "gpuDevices": [index % 8], "gpus": 1.0}
            placement = {"gangs": [{"replica": 0, "nodePool": "default", "pods": [pod]}]}
        status = WorkloadStatus(
            phase=phase,
            phase_updated_at=created + timedelta(seconds=30),
            placement=placement,
            running_pods=1 if phase is Phase.Running else 0,
            pending_seconds=30,
        )
        workload = Workload(
            id=str(uuid.UUID(int=random.getrandbits(128), version=4)),
            name=f"svc-{(index * 7919) % count:06d}",
            project=project,
            workload_type="NIMService",
            spec=spec,
            desired_phase=DesiredPhase.Stopped if kind == 9 else DesiredPhase.Running,
            status=status,
            resource_version=1,
            generation=1,
            created_at=created,
            created_by="bench",
            updated_at=created,
            updated_by="bench",
        )
        ids.append(workload.id)
        rows.append(
            {
                "id": workload.id,
                **repo._spec_values(workload),
                **repo._status_values(status),
                **repo._placement_values(status),
                "reconcile_due_at": None,
            }
        )
    with engine.begin() as conn:
        for chunk in range(0, len(rows), 2000):
            conn.execute(insert(workloads), rows[chunk : chunk + 2000])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return ids


# --- measuring -----------------------------------------------------------------------------


def _measure(
    base_url: str, ids: list[str], size: int, rounds: int, per_round: int
) -> dict[str, Any]:
    body = {"grantType": "client_credentials", "clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    token = httpx.post(f"{base_url}/api/v1/token", json=body, timeout=TIMEOUT).json()
    headers = {"Authorization": f"Bearer {token['accessToken']}"}
    samples: dict[str, list[float]] = {"get": [], **{k: [] for k in KINDS}}
    round_medians: dict[str, list[float]] = {k: [] for k in samples}
    picker = random.Random(size)
    with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT) as http:

        def one(kind: str) -> float:
            if kind == "get":
                path, params = f"{LIST}/{picker.choice(ids)}", {}
            else:
                path, params = KINDS[kind]
            started = time.perf_counter()
            response = http.get(path, params=params)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{kind}: {response.status_code} {response.text[:300]}")
            payload = response.json()
            if kind == "count" and payload["count"] != size:
                raise RuntimeError(f"count {payload['count']} != {size}")
            if kind in ("page", "filtered", "sorted") and len(payload["workloads"]) != 20:
                raise RuntimeError(f"{kind}: a page of {len(payload['workloads'])}")
            return elapsed

        for kind in samples:  # warm up: connections, statement caches
            for _ in range(3):
                one(kind)
        order = list(samples)
        for number in range(rounds):
            shift = number % len(order)
            for kind in order[shift:] + order[:shift]:
                times = [one(kind) for _ in range(per_round)]
                samples[kind] += times
                round_medians[kind].append(statistics.median(times))
    reference = statistics.median(samples["get"])
    result: dict[str, Any] = {"get_median_ms": round(reference * 1000, 3)}
    for kind in KINDS:
        per_round = [m / g for m, g in zip(round_medians[kind], round_medians["get"], strict=True)]
        result[kind] = {
            "ratio": round(statistics.median(samples[kind]) / reference, 2),
            "median_ms": round(statistics.median(samples[kind]) * 1000, 3),
            "round_ratio_min": round(min(per_round), 2),
            "round_ratio_max": round(max(per_round), 2),
            "requests": len(samples[kind]),
        }
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    src = Path(args.src).resolve()
    results: dict[str, Any] = {
        "src": str(src),
        "rounds": args.rounds,
        "per_round": args.per_round,
        "background_workers": False,
        "target_ratio": TARGET_RATIO,
        "results": {},
    }
    for database in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            with tempfile.TemporaryDirectory(prefix="list-bench-") as tmp:
                data_dir = Path(tmp)
                url = args.pg_url if database == "postgresql" else None
                if url:
                    _reset_postgres(url)
                process, base_url = _start_server(src, data_dir, url)
                try:
                    seed_url = url or f"sqlite:///{data_dir / 'nimplane.db'}"
                    print(f"{database} {size}: seeding", file=sys.stderr)
                    started = time.monotonic()
                    seeded = subprocess.run(
                        [sys.executable, str(HERE), "seed", seed_url, str(size)],
                        env=_env(src),
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    ids = json.loads(seeded.stdout)
                    print(
                        f"{database} {size}: seeded in {time.monotonic() - started:.0f} s; "
                        "measuring",
                        file=sys.stderr,
                    )
                    figures = _measure(base_url, ids, size, args.rounds, args.per_round)
                finally:
                    _stop(process)
                results["results"].setdefault(database, {})[str(size)] = figures
                print(json.dumps({database: {size: figures}}), file=sys.stderr)
    return results


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "seed":
        print(json.dumps(seed(sys.argv[2], int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_lists")
    parser.add_argument("--src", default=str(HERE.parent.parent / "src"))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--per-round", type=int, default=15)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
