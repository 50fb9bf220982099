"""API throughput benchmark: nimplane against the thinnest FastAPI app on this machine.

The script starts two servers side by side, each a single uvicorn worker:

* the *ceiling*, ``shared/bench/ceiling_app.py`` (``GET /ping``, ``POST /echo``), and
* nimplane itself, via ``nimplane serve`` on a fresh SQLite data directory,

then drives both with the same load generator at the same concurrency and prints one
JSON document on stdout: requests/s and p50/p99 latency of nimplane's GET-by-id,
create (POST) and PATCH of NIM services, of the ceiling's ``/ping`` and ``/echo``, and
the ratios nimplane GET / ping, create / echo and PATCH / echo.

The machine this runs on is small and noisy, so absolute numbers mean little. The
phases are interleaved (ceiling and nimplane alternately, the order reversed every
other round) for several rounds, every figure is the median over the rounds, and each
ratio is the median of the ratios measured within the same round. Both servers are pinned
to one CPU and the load generator to the other, at raised priority when root; each phase
records the server's CPU time (``cpu_ratios``, which noise disturbs less) and what else ran
on those CPUs (``noisy_phases``).

The load generator is ``wrk`` (Debian package ``wrk``) when it is installed; without it
the script falls back to a built-in asyncio HTTP/1.1 driver and says so on stderr and
in the JSON (``"driver"``). Every response that is not 2xx, and every socket error or
timeout, is counted and reported: a run with any of them is marked ``"valid": false``
and the script exits with status 2.

Progress goes to stderr; stdout carries the JSON only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CEILING_DIR = REPO_ROOT.parent / "shared" / "bench"
DEFAULT_SHIPPED_BODY = (
    REPO_ROOT.parent / "shared" / "spec" / "example-create-request-corrected.json"
)

CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret-123"  # a throwaway credential for a local server
PROJECT_ID = "1"  # the embedded default project (wiring.DEFAULT_UNIT_ID)
IMAGE = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
NIM_PATH = "/api/v2/workloads/nim-services"

# The ceiling's uvicorn options. They mirror what ``nimplane serve`` (run with its
# defaults, as users run it) passes to ``uvicorn.run`` in src/nimplane/cli/main.py: one
# process, log level info, access log off, loop and HTTP implementation left on "auto"
# (uvloop and httptools when installed), so both apps run on the same footing.
UVICORN_OPTIONS: tuple[str, ...] = (
    "--workers",
    "1",
    "--log-level",
    "info",
    "--no-access-log",
    "--loop",
    "auto",
    "--http",
    "auto",
)

# Ratio targets from the issue; reported, never asserted.
TARGETS: dict[str, float] = {"get_vs_ping": 0.6, "create_vs_echo": 0.4, "patch_vs_echo": 0.4}

# A phase during which other processes (or the hypervisor, as steal time) took more than
# this share of the servers' CPU is listed as noisy. Measured only when pinned.
NOISY_FOREIGN = 0.1
# A server using less than this share of its CPU was not saturated by the load generator.
SATURATED_UTIL = 0.9

NAME_MARK = "@@NAME@@"
VALUE_MARK = "@@VALUE@@"


def log(message: str) -> None:
    """Progress output: stderr only, stdout is reserved for the JSON."""
    print(f"[api_bench] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """A failure that stops the benchmark (a server did not start, a setup call failed)."""


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class RequestSpec:
    """What one phase sends: a method, paths to cycle through and an optional body.

    The body is ``body_pre + <unique token> + body_post``; the token is built from the
    phase tag, the connection/thread number and a per-connection counter, so every
    create gets a distinct name and every PATCH a distinct value.
    """

    method: str
    paths: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    body_pre: str | None = None
    body_post: str = ""


@dataclass
class PhaseResult:
    """What one run of one phase measured."""

    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    socket_errors: int
    error_sample: str = ""
    server_cpu_s: float | None = None
    main_cpu_s: float | None = None
    """The server's main process alone (nimplane: the API process, without its children)."""
    foreign_cpu_util: float | None = None
    loadgen_foreign_cpu_util: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "statuses": dict(sorted(self.statuses.items())),
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
        }
        if self.server_cpu_s is not None and self.requests:
            out["server_cpu_util"] = round(self.server_cpu_s / self.duration_s, 3)
            out["server_cpu_us_per_req"] = round(self.server_cpu_s / self.requests * 1e6, 1)
        if self.main_cpu_s is not None and self.requests:
            out["main_cpu_us_per_req"] = round(self.main_cpu_s / self.requests * 1e6, 1)
        if self.foreign_cpu_util is not None:
            out["foreign_cpu_util"] = round(self.foreign_cpu_util, 3)
        if self.loadgen_foreign_cpu_util is not None:
            out["loadgen_foreign_cpu_util"] = round(self.loadgen_foreign_cpu_util, 3)
        if self.error_sample:
            out["error_sample"] = self.error_sample
        return out


def split_template(body: dict[str, Any], mark: str) -> tuple[str, str]:
    """Serialise ``body`` and split it around the placeholder ``mark``."""
    text = json.dumps(body, separators=(",", ":"))
    pre, sep, post = text.partition(mark)
    if not sep:
        raise ValueError(f"placeholder {mark} not found in body")
    return pre, post


def create_body(name: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The create body: the minimal one, or `template` (the shipped mode's example) with
    `name` as the prefix of a unique name in the embedded default project."""
    if template is None:
        return {
            "metadata": {"name": name, "projectId": PROJECT_ID, "useGivenNameAsPrefix": True},
            "spec": {
                "image": IMAGE,
                "modelStore": {"nimCache": {"name": "cache-a"}},
                "compute": {"gpuDevicesRequest": 1},
            },
        }
    body = json.loads(json.dumps(template))
    body["metadata"] = {
        **body.get("metadata", {}),
        "name": name,
        "projectId": PROJECT_ID,
        "useGivenNameAsPrefix": True,
    }
    return dict(body)


def patch_body(value: str) -> dict[str, Any]:
    return {"spec": {"environmentVariables": [{"name": "A", "value": value}]}}


# --------------------------------------------------------------------------- wrk driver

WRK_LUA = r"""
-- generated by bench/api_bench.py
local method = [==[__METHOD__]==]
local paths = { __PATHS__ }
local body_pre = __BODY_PRE__
local body_post = [==[__BODY_POST__]==]
local tag = [==[__TAG__]==]
__HEADERS__

counter = 0
statuses = {}
sample = ""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function request()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  local body = nil
  if body_pre ~= nil then
    body = body_pre .. "b" .. tag .. "t" .. tid .. "n" .. counter .. body_post
  end
  return wrk.format(method, path, nil, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if (status < 200 or status > 299) and sample == "" then
    sample = key .. " " .. string.sub(body or "", 1, 300)
  end
end

local function jstr(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local counts = {}
  local first = ""
  for _, t in ipairs(threads) do
    local st = t:get("statuses")
    for k, v in pairs(st) do counts[k] = (counts[k] or 0) + v end
    local s = t:get("sample")
    if first == "" and s ~= nil then first = s end
  end
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, jstr(k) .. ":" .. v) end
  local e = summary.errors
  io.write("NIMPLANE_BENCH_JSON {",
    '"requests":', summary.requests, ",",
    '"duration_us":', summary.duration, ",",
    '"p50_us":', latency:percentile(50), ",",
    '"p99_us":', latency:percentile(99), ",",
    '"errors":{"connect":', e.connect, ',"read":', e.read, ',"write":', e.write,
    ',"timeout":', e.timeout, ',"status":', e.status, "},",
    '"statuses":{', table.concat(parts, ","), "},",
    '"sample":', jstr(first), "}\n")
end
"""


def lua_long_string(text: str) -> str:
    if "]==]" in text:
        raise ValueError("text cannot be embedded in a Lua long string")
    return f"[==[{text}]==]"


def render_wrk_script(spec: RequestSpec, tag: str) -> str:
    headers = "\n".join(
        f"wrk.headers[ {lua_long_string(k)} ] = {lua_long_string(v)}" for k, v in spec.headers
    )
    replacements = {
        "__METHOD__": spec.method,
        "__PATHS__": ", ".join(lua_long_string(p) for p in spec.paths),
        "__BODY_PRE__": "nil" if spec.body_pre is None else lua_long_string(spec.body_pre),
        "__BODY_POST__": spec.body_post,
        "__TAG__": tag,
        "__HEADERS__": headers,
    }
    script = WRK_LUA
    for key, value in replacements.items():
        script = script.replace(key, value)
    return script


def wrk_version(wrk: str) -> str:
    proc = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    lines = (proc.stdout or proc.stderr).splitlines()
    return lines[0].strip() if lines else ""


def run_wrk(
    wrk: str,
    port: int,
    spec: RequestSpec,
    *,
    tag: str,
    connections: int,
    threads: int,
    duration: float,
    workdir: Path,
    cpu: int | None,
) -> PhaseResult:
    script = workdir / f"wrk-{tag}.lua"
    script.write_text(render_wrk_script(spec, tag))
    cmd = [
        wrk,
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        timeout=duration + 60,
        preexec_fn=pin_to(cpu),
    )
    line = next(
        (ln for ln in proc.stdout.splitlines() if ln.startswith("NIMPLANE_BENCH_JSON ")), None
    )
    if proc.returncode != 0 or line is None:
        raise BenchError(
            f"wrk failed (exit {proc.returncode}): {proc.stderr.strip()} {proc.stdout.strip()}"
        )
    data = json.loads(line.removeprefix("NIMPLANE_BENCH_JSON "))
    errors = data["errors"]
    return PhaseResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1e3,
        p99_ms=data["p99_us"] / 1e3,
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        # "status" errors are HTTP >= 400, already counted in statuses.
        socket_errors=sum(int(errors[k]) for k in ("connect", "read", "write", "timeout")),
        error_sample=data["sample"],
    )


# --------------------------------------------------------------------------- asyncio driver


class _Conn:
    """One keep-alive HTTP/1.1 connection, just enough for the benchmark's requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for header in lines[1:]:
            if ":" in header:
                key, _, value = header.partition(":")
                headers[key.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = await self.reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _drive(
    port: int, spec: RequestSpec, *, tag: str, connections: int, duration: float
) -> PhaseResult:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    sample = ""
    fixed = "".join(f"{k}: {v}\r\n" for k, v in spec.headers)
    host = f"Host: 127.0.0.1:{port}\r\n"
    deadline = time.perf_counter() + duration

    async def worker(index: int) -> None:
        nonlocal errors, sample
        conn = _Conn(port)
        counter = 0
        try:
            while time.perf_counter() < deadline:
                counter += 1
                path = spec.paths[counter % len(spec.paths)]
                head = f"{spec.method} {path} HTTP/1.1\r\n{host}{fixed}"
                if spec.body_pre is None:
                    payload = (head + "\r\n").encode()
                else:
                    body = f"{spec.body_pre}b{tag}t{index}n{counter}{spec.body_post}".encode()
                    payload = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                started = time.perf_counter()
                try:
                    status, resp = await asyncio.wait_for(conn.request(payload), timeout=10)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    await conn.close()
                    continue
                latencies.append(time.perf_counter() - started)
                key = str(status)
                statuses[key] = statuses.get(key, 0) + 1
                if not 200 <= status <= 299 and not sample:
                    sample = f"{status} {resp[:300].decode('utf-8', 'replace')}"
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i + 1) for i in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return PhaseResult(
        requests=len(latencies),
        duration_s=elapsed,
        p50_ms=percentile(latencies, 50) * 1e3,
        p99_ms=percentile(latencies, 99) * 1e3,
        statuses=statuses,
        socket_errors=errors,
        error_sample=sample,
    )


def run_python_driver(
    port: int, spec: RequestSpec, *, tag: str, connections: int, duration: float
) -> PhaseResult:
    return asyncio.run(_drive(port, spec, tag=tag, connections=connections, duration=duration))


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


# --------------------------------------------------------------------------- servers


def pin_to(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning a child process to one CPU (None: no pinning)."""
    if cpu is None:
        return None

    def _pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return _pin


def raise_priority(increment: int) -> int:
    """Renice this process (and so the servers and wrk it starts) by ``increment``.

    A negative increment shields the measurement from background processes on a busy
    machine; it needs root (or CAP_SYS_NICE), and without it the niceness stays as it was.
    Returns the niceness in force.
    """
    if increment:
        try:
            os.nice(increment)
        except OSError:
            log(f"could not change niceness by {increment} (not root?); measuring as is")
    return os.getpriority(os.PRIO_PROCESS, 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_cpu_seconds(pgid: int) -> float | None:
    """User+system CPU seconds of every live process in the process group, and of the
    children they have reaped (a worker process that ended still counts; Linux only)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15, cutime 16,
        # cstime 17.
        if int(fields[2]) == pgid:
            total += sum(int(v) for v in fields[11:15])
    return total / tick


def cpu_taken_seconds(cpu: int | None) -> float | None:
    """Seconds one CPU (None: all of them) spent running processes (user, nice, system) or
    stolen by the host."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if fields and fields[0] == ("cpu" if cpu is None else f"cpu{cpu}"):
            # user nice system idle iowait irq softirq steal ...
            ticks = [int(v) for v in fields[1:9]]
            return (ticks[0] + ticks[1] + ticks[2] + ticks[7]) / os.sysconf("SC_CLK_TCK")
    return None


def driver_cpu_seconds(driver: str) -> float:
    """CPU used so far by the load generator: finished children (wrk) or this process."""
    who = resource.RUSAGE_CHILDREN if driver == "wrk" else resource.RUSAGE_SELF
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Server:
    """A server subprocess in its own process group, with its output in a log file."""

    name: str
    cmd: list[str]
    port: int
    health_path: str
    log_path: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cpu: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        log(f"starting {self.name}: {' '.join(self.cmd)}")
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=pin_to(self.cpu),
            )
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{self.health_path}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        log(f"{self.name} is up on port {self.port}")
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer {url} in {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cpu_seconds(self) -> float | None:
        if self.proc is None or self.proc.poll() is not None:
            return None
        return group_cpu_seconds(self.proc.pid)

    def main_cpu_seconds(self) -> float | None:
        """User+system CPU seconds of the main process alone (not its children)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle(self, max_wait: float = 15.0, idle_util: float = 0.05) -> float:
        """Wait until the server stops burning CPU (background work from the last phase)."""
        started = time.monotonic()
        before = self.cpu_seconds()
        if before is None:
            return 0.0
        while time.monotonic() - started < max_wait:
            time.sleep(0.25)
            now = self.cpu_seconds()
            if now is None or now - before <= idle_util * 0.25:
                break
            before = now
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group is the one we created
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        log(f"stopped {self.name}")


def nimplane_command() -> list[str]:
    """``nimplane serve`` as the README has users run it: the venv's console script."""
    script = Path(sys.executable).parent / "nimplane"
    if script.exists():
        return [str(script)]
    found = shutil.which("nimplane")
    return [found] if found else [sys.executable, "-m", "nimplane"]


# --------------------------------------------------------------------------- HTTP setup calls


def call(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def expect(status: int, want: int, what: str, payload: Any) -> None:
    if status != want:
        raise BenchError(f"{what}: expected HTTP {want}, got {status}: {payload!r}"[:2000])


def prepare_nimplane(
    port: int, seed: int, template: dict[str, Any] | None = None
) -> tuple[str, list[str]]:
    """Get a token and create ``seed`` workloads for the GET and PATCH phases."""
    base = f"http://127.0.0.1:{port}"
    status, payload = call(
        "POST",
        f"{base}/api/v1/token",
        {"grantType": "client_credentials", "clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET},
    )
    expect(status, 200, "token", payload)
    token = str(payload["accessToken"])
    ids: list[str] = []
    for i in range(seed):
        status, payload = call(
            "POST", f"{base}{NIM_PATH}", create_body(f"seed{i}", template), token
        )
        expect(status, 202, "seed create", payload)
        ids.append(str(payload["metadata"]["id"]))
    # One of each measured call, so a broken request fails loudly here, not as 4xx in load.
    status, payload = call("GET", f"{base}{NIM_PATH}/{ids[0]}", token=token)
    expect(status, 200, "get", payload)
    status, payload = call("PATCH", f"{base}{NIM_PATH}/{ids[0]}", patch_body("0"), token)
    expect(status, 202, "patch", payload)
    return token, ids


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Phase:
    key: str
    server: str  # "ceiling" or "nimplane"
    spec: RequestSpec


def build_phases(token: str, ids: list[str], template: dict[str, Any] | None = None) -> list[Phase]:
    headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
    create_pre, create_post = split_template(create_body(NAME_MARK, template), NAME_MARK)
    patch_pre, patch_post = split_template(patch_body(VALUE_MARK), VALUE_MARK)
    by_id = tuple(f"{NIM_PATH}/{i}" for i in ids)
    create = RequestSpec("POST", (NIM_PATH,), headers, create_pre, create_post)
    echo = RequestSpec("POST", ("/echo",), headers, create_pre, create_post)
    # The ceiling gets the same headers, and /echo the same body as create, so the
    # difference measured is what nimplane does with a request, nothing else.
    return [
        Phase("ping", "ceiling", RequestSpec("GET", ("/ping",), headers)),
        Phase("get", "nimplane", RequestSpec("GET", by_id, headers)),
        Phase("echo", "ceiling", echo),
        Phase("create", "nimplane", create),
        Phase("patch", "nimplane", RequestSpec("PATCH", by_id, headers, patch_pre, patch_post)),
    ]


def is_noisy(res: PhaseResult) -> bool:
    """Whether something else on the machine disturbed a phase.

    Either it took a share of the servers' CPU, or it ran on the load generator's CPU
    while the server sat idle part of the time (the load generator could not keep up).
    """
    if res.server_cpu_s is None:
        return False
    if (res.foreign_cpu_util or 0.0) > NOISY_FOREIGN:
        return True
    starved = (res.loadgen_foreign_cpu_util or 0.0) > NOISY_FOREIGN
    return starved and res.server_cpu_s / res.duration_s < SATURATED_UTIL


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarise(results: list[PhaseResult]) -> dict[str, Any]:
    rps = [r.rps for r in results]
    statuses: dict[str, int] = {}
    for r in results:
        for code, n in r.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
    out: dict[str, Any] = {
        "rps": round(median(rps), 1),
        "rps_min": round(min(rps), 1),
        "rps_max": round(max(rps), 1),
        "p50_ms": round(median([r.p50_ms for r in results]), 3),
        "p99_ms": round(median([r.p99_ms for r in results]), 3),
        "requests": sum(r.requests for r in results),
        "statuses": dict(sorted(statuses.items())),
        "non_2xx": sum(r.non_2xx for r in results),
        "socket_errors": sum(r.socket_errors for r in results),
    }
    foreign = [r.foreign_cpu_util for r in results if r.foreign_cpu_util is not None]
    cpu = [r.server_cpu_s / r.requests for r in results if r.server_cpu_s and r.requests]
    main = [r.main_cpu_s / r.requests for r in results if r.main_cpu_s and r.requests]
    if main:
        out["main_cpu_us_per_req"] = round(median(main) * 1e6, 1)
    if cpu:
        out["server_cpu_us_per_req"] = round(median(cpu) * 1e6, 1)
        out["server_cpu_util"] = round(
            median([r.server_cpu_s / r.duration_s for r in results if r.server_cpu_s]), 3
        )
    if foreign:
        out["foreign_cpu_util"] = round(median(foreign), 3)
    loadgen = [r.loadgen_foreign_cpu_util for r in results]
    if all(v is not None for v in loadgen):
        out["loadgen_foreign_cpu_util"] = round(median([v or 0.0 for v in loadgen]), 3)
    samples = [r.error_sample for r in results if r.error_sample]
    if samples:
        out["error_sample"] = samples[0]
    return out


RATIOS: dict[str, tuple[str, str]] = {
    "get_vs_ping": ("get", "ping"),
    "create_vs_echo": ("create", "echo"),
    "patch_vs_echo": ("patch", "echo"),
}


MODES = ("settled", "shipped")


@dataclass(frozen=True)
class ModeConfig:
    """How one mode runs nimplane and the ceiling.

    *settled*: the request path alone, as measured since the first benchmark: the minimal
    create body, both servers pinned to one CPU and the load generator to the other, and
    before every phase a wait until neither server burns CPU (nimplane's background work
    from the previous phase has ended).

    *shipped*: nimplane as the README's first command runs it: `nimplane serve` with its
    background work on, nothing pinned, the corrected seed example as the create body, no
    waiting between nimplane's phases (they run back to back: GET, create, PATCH, the
    order reversed every other round). Only before the ceiling's phases the script waits
    (at most `settle_max` seconds) for nimplane to go quiet, so the ceiling is measured
    on a machine as calm as it gets.
    """

    name: str
    connections: int
    pin: bool
    template: dict[str, Any] | None
    settle_nimplane_phases: bool


def mode_config(args: argparse.Namespace, mode: str) -> ModeConfig:
    if mode == "settled":
        return ModeConfig(mode, args.connections, args.pin, None, settle_nimplane_phases=True)
    template = json.loads(Path(args.create_body).read_text())
    if not isinstance(template, dict):
        raise BenchError(f"{args.create_body}: the create body must be a JSON object")
    return ModeConfig(mode, args.shipped_connections, False, template, settle_nimplane_phases=False)


def round_order(phases: list[Phase], rnd: int, config: ModeConfig) -> list[Phase]:
    """The phases of one round: interleaved in settled mode; in shipped mode the ceiling's
    phases together and nimplane's back to back. Reversed every other round."""
    order = list(phases)
    if not config.settle_nimplane_phases:
        order = [p for p in phases if p.server == "ceiling"] + [
            p for p in phases if p.server == "nimplane"
        ]
    return order if rnd % 2 == 0 else list(reversed(order))


def run(args: argparse.Namespace) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    driver = args.driver
    if driver == "auto":
        driver = "wrk" if wrk else "python"
        if not wrk:
            log(
                "wrk not found: install it for accurate numbers (Debian: apt-get install -y wrk);"
                " falling back to the built-in asyncio driver, which is slower than wrk and"
                " shares the machine's CPUs with the servers"
            )
    if driver == "wrk" and not wrk:
        raise BenchError("--driver wrk, but wrk is not installed (Debian: apt-get install -y wrk)")

    ceiling_dir = Path(args.ceiling_dir).resolve()
    if not (ceiling_dir / "ceiling_app.py").is_file():
        raise BenchError(f"no ceiling_app.py in {ceiling_dir} (see --ceiling-dir)")
    nice = raise_priority(args.nice)
    modes = MODES if args.mode == "both" else (args.mode,)
    reports = {
        mode: run_mode(args, mode_config(args, mode), driver, wrk, ceiling_dir) for mode in modes
    }
    return {
        "driver": driver,
        "driver_version": wrk_version(wrk) if driver == "wrk" and wrk else "asyncio (built-in)",
        "valid": all(r["valid"] for r in reports.values()),
        "nice": nice,
        "loadavg": read_loadavg(),
        "ratios": {mode: r["ratios"] for mode, r in reports.items()},
        "cpu_ratios": {mode: r["cpu_ratios"] for mode, r in reports.items()},
        "targets": TARGETS,
        "modes": reports,
    }


def read_loadavg() -> str | None:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return None


def run_mode(
    args: argparse.Namespace, config: ModeConfig, driver: str, wrk: str | None, ceiling_dir: Path
) -> dict[str, Any]:
    log(f"mode {config.name}: {config.connections} connections, pinned: {config.pin}")
    loadavg_before = read_loadavg()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = config.pin and len(cpus) >= 2
    server_cpu = cpus[0] if pin else None
    load_cpu = cpus[1] if pin else None
    all_cpus = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="nimplane-bench-") as tmp:
        workdir = Path(tmp)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("NIMPLANE_")}
        nim_env = dict(base_env)
        nim_env["NIMPLANE_BOOTSTRAP_CLIENT_ID"] = CLIENT_ID
        nim_env["NIMPLANE_BOOTSTRAP_CLIENT_SECRET"] = CLIENT_SECRET
        for assignment in args.server_env:
            key, _, value = assignment.partition("=")
            nim_env[key] = value
        ceiling_port, nim_port = free_port(), free_port()
        ceiling = Server(
            name="ceiling",
            cmd=[
                sys.executable, "-m", "uvicorn", "ceiling_app:app",
                "--app-dir", str(ceiling_dir),
                "--host", "127.0.0.1", "--port", str(ceiling_port),
                *UVICORN_OPTIONS,
            ],
            port=ceiling_port,
            health_path="/ping",
            log_path=workdir / "ceiling.log",
            env=base_env,
            cpu=server_cpu,
        )  # fmt: skip
        nimplane = Server(
            name="nimplane",
            cmd=[
                *nimplane_command(), "serve",
                "--host", "127.0.0.1", "--port", str(nim_port),
                "--data-dir", str(workdir / "data"),
            ],
            port=nim_port,
            health_path="/healthz",
            log_path=workdir / "nimplane.log",
            env=nim_env,
            cpu=server_cpu,
        )  # fmt: skip
        servers = {"ceiling": ceiling, "nimplane": nimplane}
        own_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        try:
            for server in servers.values():
                server.start()
            if load_cpu is not None:
                # The built-in driver runs in this process; wrk is pinned when started.
                os.sched_setaffinity(0, {load_cpu})
            token, ids = prepare_nimplane(nim_port, args.seed, config.template)
            log(f"created {len(ids)} workloads for GET/PATCH")
            phases = build_phases(token, ids, config.template)

            def measure(phase: Phase, tag: str, duration: float) -> PhaseResult:
                server = servers[phase.server]
                # Settled: let neither server carry work into the phase. Shipped: only the
                # ceiling's phases wait (for nimplane's background work, bounded).
                if config.settle_nimplane_phases or phase.server == "ceiling":
                    for other in servers.values():
                        waited = other.settle()
                        if waited >= 1.0:
                            log(
                                f"waited {waited:.1f}s for {other.name} to go idle"
                                f" before {phase.key}"
                            )
                cpu_before = server.cpu_seconds()
                main_before = server.main_cpu_seconds()
                taken_before = cpu_taken_seconds(server_cpu)
                load_before = None if load_cpu is None else cpu_taken_seconds(load_cpu)
                driver_before = driver_cpu_seconds(driver)
                wall_before = time.monotonic()
                if driver == "wrk":
                    assert wrk is not None
                    result = run_wrk(
                        wrk, server.port, phase.spec, tag=tag,
                        connections=config.connections, threads=args.threads,
                        duration=duration, workdir=workdir, cpu=load_cpu,
                    )  # fmt: skip
                else:
                    result = run_python_driver(
                        server.port, phase.spec, tag=tag,
                        connections=config.connections, duration=duration,
                    )  # fmt: skip
                wall = time.monotonic() - wall_before
                driver_used = driver_cpu_seconds(driver) - driver_before
                load_after = None if load_cpu is None else cpu_taken_seconds(load_cpu)
                if load_before is not None and load_after is not None:
                    foreign = load_after - load_before - driver_used
                    result.loadgen_foreign_cpu_util = max(0.0, foreign / wall)
                taken_after = cpu_taken_seconds(server_cpu)
                cpu_after = server.cpu_seconds()
                main_after = server.main_cpu_seconds()
                if main_before is not None and main_after is not None:
                    result.main_cpu_s = main_after - main_before
                if cpu_before is not None and cpu_after is not None:
                    result.server_cpu_s = cpu_after - cpu_before
                    if taken_before is not None and taken_after is not None:
                        # What ran on the servers' CPU (unpinned: on the machine, the load
                        # generator excepted, in CPUs) that was not the measured server.
                        foreign = taken_after - taken_before - result.server_cpu_s
                        if server_cpu is None:
                            foreign -= driver_used
                        result.foreign_cpu_util = max(0.0, foreign / wall)
                if server.proc is not None and server.proc.poll() is not None:
                    raise BenchError(f"{server.name} died during {phase.key}:\n{server.log_tail()}")
                return result

            if args.warmup > 0:
                log(f"warm-up: {args.warmup:g}s per phase")
                for phase in round_order(phases, 0, config):
                    measure(phase, f"w{config.name[0]}{phase.key[0]}", args.warmup)

            per_round: list[dict[str, PhaseResult]] = []
            for rnd in range(args.rounds):
                results: dict[str, PhaseResult] = {}
                for phase in round_order(phases, rnd, config):
                    tag = f"{config.name[0]}{rnd}{phase.key[0]}"
                    res = measure(phase, tag, args.duration)
                    results[phase.key] = res
                    bad = f", {res.non_2xx} non-2xx" if res.non_2xx else ""
                    bad += f", {res.socket_errors} socket errors" if res.socket_errors else ""
                    log(
                        f"{config.name} round {rnd + 1}/{args.rounds} {phase.server:8s} "
                        f"{phase.key:6s} {res.rps:8.1f} req/s  p50 {res.p50_ms:7.2f} ms  "
                        f"p99 {res.p99_ms:7.2f} ms  cpu/req "
                        f"{(res.server_cpu_s or 0) / max(1, res.requests) * 1e6:7.0f} us{bad}"
                    )
                per_round.append(results)
            workloads = count_workloads(nim_port, token)
        finally:
            for server in servers.values():
                server.stop()
            if own_affinity is not None:
                os.sched_setaffinity(0, own_affinity)

    summary = {key: summarise([r[key] for r in per_round]) for key in (p.key for p in phases)}
    round_ratios = [
        {
            name: round(r[num].rps / r[den].rps, 3) if r[den].rps else None
            for name, (num, den) in RATIOS.items()
        }
        for r in per_round
    ]
    ratios: dict[str, float | None] = {}
    for name in RATIOS:
        vals = [v for rr in round_ratios if (v := rr[name]) is not None]
        ratios[name] = round(median(vals), 3) if vals else None
    cpu_ratios: dict[str, float] = {}
    for name, (num, den) in RATIOS.items():
        a, b = summary[num].get("server_cpu_us_per_req"), summary[den].get("server_cpu_us_per_req")
        if a and b:
            cpu_ratios[name] = round(b / a, 3)
    noisy = [
        f"round {i + 1} {key}: foreign_cpu_util {res.foreign_cpu_util or 0:.2f}, "
        f"loadgen_foreign_cpu_util {res.loadgen_foreign_cpu_util or 0:.2f}, "
        f"server_cpu_util {(res.server_cpu_s or 0) / res.duration_s:.2f}"
        for i, r in enumerate(per_round)
        for key, res in r.items()
        if is_noisy(res)
    ]
    non_2xx = sum(s["non_2xx"] for s in summary.values())
    socket_errors = sum(s["socket_errors"] for s in summary.values())
    return {
        "valid": non_2xx == 0 and socket_errors == 0,
        "config": {
            "mode": config.name,
            "duration_s": args.duration,
            "connections": config.connections,
            "wrk_threads": args.threads if driver == "wrk" else None,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "seed_workloads": args.seed,
            "create_body": "minimal" if config.template is None else str(args.create_body),
            "settle_between_nimplane_phases": config.settle_nimplane_phases,
            "pinned": {"servers_cpu": server_cpu, "load_cpu": load_cpu} if pin else None,
            "cpus": all_cpus,
            "uvicorn_options": list(UVICORN_OPTIONS),
            "server_env": list(args.server_env),
            "storage": "sqlite",
            "loadavg_before": loadavg_before,
            "loadavg_after": read_loadavg(),
        },
        "workloads_at_end": workloads,
        "nimplane": {k: summary[k] for k in ("get", "create", "patch")},
        "ceiling": {k: summary[k] for k in ("ping", "echo")},
        "ratios": ratios,
        "targets": TARGETS,
        "meets_targets": {k: (v is not None and v >= TARGETS[k]) for k, v in ratios.items()},
        "cpu_ratios": cpu_ratios,
        "errors": {
            "non_2xx": non_2xx,
            "socket_errors": socket_errors,
            "by_phase": {
                k: {"non_2xx": s["non_2xx"], "socket_errors": s["socket_errors"]}
                for k, s in summary.items()
            },
        },
        "noisy_phases": noisy,
        "round_ratios": round_ratios,
        "rounds": [{k: r[k].as_dict() for k in r} for r in per_round],
    }


def count_workloads(port: int, token: str) -> dict[str, Any] | None:
    """How many workloads the server holds at the end, by phase (what the background work
    had to carry)."""
    status, payload = call("GET", f"http://127.0.0.1:{port}/api/v1/workloads/count", token=token)
    total = payload.get("count") if status == 200 and isinstance(payload, dict) else None
    status, payload = call(
        "GET",
        f"http://127.0.0.1:{port}/api/v1/workloads/count?filterBy=phase==Running",
        token=token,
    )
    running = payload.get("count") if status == 200 and isinstance(payload, dict) else None
    return {"total": total, "running": running}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark nimplane's NIM-service API against a minimal FastAPI app "
            "(the ceiling). Prints JSON on stdout; progress on stderr."
        )
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per phase (3)")
    parser.add_argument(
        "--mode",
        choices=("shipped", "settled", "both"),
        default="both",
        help="shipped: as the README runs it; settled: the request path alone (both)",
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="concurrent connections, settled mode (16)"
    )
    parser.add_argument(
        "--shipped-connections",
        type=int,
        default=32,
        help="concurrent connections, shipped mode (32)",
    )
    parser.add_argument(
        "--create-body",
        default=str(DEFAULT_SHIPPED_BODY),
        help=f"the shipped mode's create body ({DEFAULT_SHIPPED_BODY})",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for nimplane serve (repeatable; to compare settings)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per phase (1)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--seed", type=int, default=20, help="workloads created for GET/PATCH (20)")
    parser.add_argument(
        "--driver",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if installed (auto), or the built-in asyncio driver",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin both servers to one CPU and the load generator to another",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness change for the servers and load generator (-10; needs root; 0: none)",
    )
    parser.add_argument(
        "--ceiling-dir",
        default=str(DEFAULT_CEILING_DIR),
        help=f"directory holding ceiling_app.py ({DEFAULT_CEILING_DIR})",
    )
    args = parser.parse_args(argv)
    if min(args.duration, args.rounds, args.connections, args.shipped_connections, args.seed) < 1:
        parser.error("--duration, --rounds, --connections and --seed must be at least 1")
    return args


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into SystemExit so the servers are stopped in ``finally``."""

    def _raise(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with terminate_on_signals():
        try:
            report = run(args)
        except BenchError as exc:
            log(f"error: {exc}")
            return 1
        except KeyboardInterrupt:
            log("interrupted")
            return 130
    report["wall_time_s"] = round(time.monotonic() - started, 1)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    for mode, sub in report["modes"].items():
        if not sub["valid"]:
            log(
                f"INVALID ({mode}): {sub['errors']['non_2xx']} non-2xx responses and "
                f"{sub['errors']['socket_errors']} socket errors (see errors.by_phase)"
            )
    if not report["valid"]:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
