"""A simulated NIM container's log: the lines a NIM for LLMs would print over its pod's life,
made from the pod's plan, faults and the instant asked (pure, deterministic).

The container starts once its image is pulled (before that, and while the pull fails, there
is no log, as Kubernetes has no container to read); it then selects a profile and loads the
model (from the NIM cache, a PVC or a download), starts its HTTP server, answers the readiness
probes and reports ready. A failing readiness probe and crash restarts (Kubernetes' back-off)
add their lines. Every line starts with its RFC 3339 timestamp, as `kubectl logs --timestamps`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from nimplane.backends.simulated.endpoint import served_model
from nimplane.backends.simulated.model import (
    CRASH_BACKOFF_MAX,
    CRASH_BACKOFF_START,
    Pod,
    ready_at,
)

PROBE_PATH: Final = "/v1/health/ready"
DEFAULT_PORT: Final = 8000


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _model_source(spec: Mapping[str, Any]) -> str:
    store = spec.get("modelStore") or {}
    if store.get("nimCache"):
        return "the NIM cache"
    if store.get("pvc"):
        return "the model store PVC"
    return "NGC (downloading)"


def _restart_times(crash_since: datetime, now: datetime) -> list[datetime]:
    """When the container crashed and was restarted, up to `now`: Kubernetes' back-off (10 s
    doubling up to 5 minutes), counted as `model.observe` counts its restarts."""
    seconds = max(0.0, (now - crash_since).total_seconds())
    times = [crash_since]
    elapsed, backoff = 0.0, CRASH_BACKOFF_START
    while elapsed + backoff <= seconds:
        elapsed += backoff
        times.append(crash_since + timedelta(seconds=elapsed))
        backoff = min(CRASH_BACKOFF_MAX, backoff * 2)
    return times


def container_log(pod: Pod, spec: Mapping[str, Any], now: datetime) -> list[str]:
    """Every line the pod's NIM container has printed by `now`, oldest first."""
    plan, started = pod.plan, pod.started_at
    pulled = started + timedelta(seconds=plan.pull_seconds)
    crashed = pod.faults.crash_since is not None and pod.faults.crash_since <= now
    if plan.pull_error is not None or (now < pulled and not crashed):
        return []
    image = str(spec.get("image", ""))
    model = served_model(image)
    port = (spec.get("servingPort") or {}).get("port") or DEFAULT_PORT
    loaded = pulled + timedelta(seconds=plan.load_seconds)
    ready = ready_at(plan, started)
    lines: list[tuple[datetime, str]] = [
        (pulled, f"INFO Starting NVIDIA NIM for LLMs ({image})"),
        (pulled, f"INFO Selected a profile for {model} on {_gpus(pod.gpus)} GPU(s)"),
        (pulled, f"INFO Loading the model {model} from {_model_source(spec)}"),
        (loaded, f"INFO Model {model} loaded in {plan.load_seconds:.1f} s"),
        (loaded, f"INFO Uvicorn running on http://0.0.0.0:{port} (Press CTRL+C to quit)"),
    ]
    probe = plan.probe
    period = max(probe.period_seconds, 1e-9)
    first_probe = started + timedelta(seconds=probe.initial_delay_seconds + plan.pull_seconds)
    # the probes the server answers: from the first one after the model is loaded until ready
    tick = max(0, math.ceil((loaded - first_probe).total_seconds() / period - 1e-9))
    while (at := first_probe + timedelta(seconds=tick * period)) < ready:
        lines.append((max(at, loaded), f'INFO "GET {PROBE_PATH} HTTP/1.1" 200 OK'))
        tick += 1
    lines.append((ready, f'INFO "GET {PROBE_PATH} HTTP/1.1" 200 OK'))
    lines.append((ready, "INFO Application startup complete: the service is ready"))
    faults = pod.faults
    if faults.crash_since is not None:  # the healthy timeline ends where the crashes begin
        lines = [entry for entry in lines if entry[0] <= faults.crash_since]
    if faults.unready_since is not None:
        at = max(faults.unready_since, ready)
        for n in range(max(1, probe.failure_threshold)):
            when = at + timedelta(seconds=n * probe.period_seconds)
            lines.append((when, f'WARNING "GET {PROBE_PATH} HTTP/1.1" 503 Service Unavailable'))
    if faults.crash_since is not None:
        for n, at in enumerate(_restart_times(faults.crash_since, now) if crashed else ()):
            if n:
                lines.append((at, f"INFO Restarting the container (restart {n})"))
            lines.append((at, "ERROR CUDA error: an illegal memory access was encountered"))
            lines.append((at, "ERROR The inference engine exited with code 1"))
    shown = sorted((entry for entry in lines if entry[0] <= now), key=lambda entry: entry[0])
    return [f"{_stamp(at)} {text}" for at, text in shown]


def _gpus(gpus: float) -> str:
    return str(int(gpus)) if float(gpus).is_integer() else f"{gpus:g}"


def tail_of(lines: list[str], tail: int | None) -> list[str]:
    """The last `tail` lines (None: all)."""
    if tail is None:
        return lines
    return lines[max(0, len(lines) - tail) :] if tail else []
