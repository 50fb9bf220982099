"""What the benchmarks that start `nimplane serve` share: a free port and the wait until the
server answers `/readyz` (the server's log is raised if it exits first)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, log: Path, timeout: float = 120.0
) -> None:
    """Return once `base_url` is ready; raise with the server's log if it exits, or after
    `timeout` seconds (killing it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not become ready")


def proc_memory_kib(pid: int) -> dict[str, int]:
    """A process's VmRSS and VmHWM (peak RSS) in KiB, from /proc; empty once it has exited."""
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    except OSError:
        return {}
    return found


def proc_cpu_seconds(pid: int) -> float | None:
    """A process's CPU time so far (user + system, every thread), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (the server and its background worker process), from
    /proc; empty once `pid` has exited."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        tasks = Path(f"/proc/{current}/task")
        try:
            children = [
                int(child)
                for task in tasks.iterdir()
                for child in (task / "children").read_text().split()
            ]
        except OSError:
            continue
        found.append(current)
        todo.extend(children)
    return found


def tree_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM summed over `pid`'s process tree (the sum of the peaks bounds the
    peak of the sum from above), and each process's VmRSS by pid."""
    total = {"VmRSS": 0, "VmHWM": 0}
    for member in process_tree(pid):
        memory = proc_memory_kib(member)
        if memory:
            total["VmRSS"] += memory["VmRSS"]
            total["VmHWM"] += memory["VmHWM"]
            total[f"VmRSS:{member}"] = memory["VmRSS"]
    return total if len(total) > 2 else {}


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time so far of `pid`'s live process tree (a child that ended and was replaced
    counts no more: the benchmarks report restarts separately)."""
    times = [proc_cpu_seconds(member) for member in process_tree(pid)]
    known = [t for t in times if t is not None]
    return sum(known) if known else None
