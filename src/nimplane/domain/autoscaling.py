"""The replica count of an autoscaled NIM service: pure, from the metric and the recent past.

The spec's `autoscaling` keeps the per-replica value of `metric` under `metricThreshold`:
the recommendation is `ceil(value / threshold)` replicas, clamped to
`[minReplicas, maxReplicas]`. Scaling up happens at once; scaling down only to the highest
recommendation of the last `scaleWindowSeconds`, so a short dip does not drop replicas (the
stabilisation window of Kubernetes' HorizontalPodAutoscaler, whose 300 s default Run:ai's
`scaleWindowSeconds` shares). The state (current count and the window's recommendations) is
kept with the workload's status between decisions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

DEFAULT_WINDOW: Final = 300
EVALUATION_SECONDS: Final = 15.0
"""How often an autoscaled workload is looked at again without anything else happening."""


def wanted_replicas(spec: Mapping[str, Any], state: Mapping[str, Any] | None) -> int:
    """The replica count to run now: the spec's, or the autoscaler's current choice."""
    autoscaling = spec.get("autoscaling")
    if not autoscaling:
        return int(spec.get("replicas") or 1)
    low = int(autoscaling.get("minReplicas") or 1)
    high = int(autoscaling.get("maxReplicas") or low)
    current = int(state["replicas"]) if state and "replicas" in state else low
    return max(low, min(high, current))


def decide(
    spec: Mapping[str, Any], value: float | None, state: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any] | None:
    """The autoscaler's next state (None for a service without autoscaling). `value` is the
    metric summed over the service's replicas (None: no reading yet, counted as 0)."""
    autoscaling = spec.get("autoscaling")
    if not autoscaling:
        return None
    low = int(autoscaling.get("minReplicas") or 1)
    high = int(autoscaling.get("maxReplicas") or low)
    threshold = float(autoscaling.get("metricThreshold") or 1)
    window = float(autoscaling.get("scaleWindowSeconds") or DEFAULT_WINDOW)
    recommended = max(low, min(high, math.ceil((value or 0.0) / threshold)))
    stamp = now.timestamp()
    history = [
        (float(t), int(r))
        for t, r in (state or {}).get("recommendations", [])
        if stamp - float(t) < window
    ]
    history.append((stamp, recommended))
    current = wanted_replicas(spec, state)
    replicas = recommended if recommended >= current else max(r for _, r in history)
    return {
        "replicas": max(low, min(high, replicas)),
        "metric": autoscaling.get("metric"),
        "value": value,
        "recommendations": [[t, r] for t, r in history],
    }
