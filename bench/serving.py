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
