"""The server's Prometheus metrics: one registry per server, and the metrics in it.

The background loops' metrics (scheduling cycles, reconciles, pending times) have a registry
of their own: when the loops run in the background worker process, that process renders
them and the API process's `/metrics` serves its answer in their place."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from nimplane.domain.phases import Phase

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The registry of one server and the metrics in it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "nimplane_api_requests_total",
            "API requests by route template, method and status code.",
            ("route", "method", "code"),
            registry=self.registry,
        )
        self.rejected = Counter(
            "nimplane_api_rejected_requests_total",
            "Requests refused before any caller was authenticated (no or a bad token, a body "
            "refused at the edge, a sign-in limit), by route template and reason; they are "
            "not written to the audit trail.",
            ("route", "reason"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "nimplane_api_request_duration_seconds",
            "API request duration by route template and method.",
            ("route", "method"),
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

        self.loops_registry = CollectorRegistry(auto_describe=True)
        self._loops_elsewhere: Callable[[], bytes | None] | None = None
        self._answered = False
        self.scheduling_cycle = Histogram(
            "nimplane_scheduling_cycle_duration_seconds",
            "Duration of a scheduling cycle (snapshot, schedule, persist).",
            registry=self.loops_registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

        self.reconcile = Histogram(
            "nimplane_reconcile_duration_seconds",
            "Duration of reconciling one workload (read, decide, write): its batch's "
            "duration shared equally among the batch's workloads.",
            registry=self.loops_registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.pending = Histogram(
            "nimplane_workload_pending_seconds",
            "How long workloads waited in phase Pending, observed when they leave it.",
            registry=self.loops_registry,
            buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
        )
        self.reconcile_errors = Counter(
            "nimplane_reconcile_errors_total",
            "Reconciles that failed (retried with exponential backoff).",
            registry=self.loops_registry,
        )

    def loops_from(self, source: Callable[[], bytes | None], starts: Callable[[], int]) -> None:
        """Serve the loops' metrics from `source` (the worker process's answer, None when it
        gave none: they are left out then) instead of this process's, with whether it answered
        and how many worker processes `starts` says were started."""
        self._loops_elsewhere = source
        self.registry.register(_WorkerProcessCollector(lambda: self._answered, starts))

    def render_loops(self) -> bytes:
        return generate_latest(self.loops_registry)

    def render(self) -> bytes:
        if self._loops_elsewhere is None:
            loops: bytes | None = self.render_loops()
        else:
            loops = self._loops_elsewhere()
            self._answered = loops is not None
        return generate_latest(self.registry) + (loops or b"")


class _WorkerProcessCollector(Collector):
    """`nimplane_background_process_up` and `..._starts_total`: whether the background
    worker process answered this scrape, and how many were started (restarts show)."""

    def __init__(self, answered: Callable[[], bool], starts: Callable[[], int]) -> None:
        self._answered = answered
        self._starts = starts

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily(
            "nimplane_background_process_up",
            "1 when the background worker process (scheduler, lifecycle engine) answered "
            "this scrape with its metrics, 0 when it did not (not running, or busy).",
            value=1 if self._answered() else 0,
        )
        yield CounterMetricFamily(
            "nimplane_background_process_starts",
            "Background worker processes started (the first one and every restart).",
            value=self._starts(),
        )


class WorkloadPhaseCollector(Collector):
    """`nimplane_workloads{phase}`: live workloads by phase, counted when scraped."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "nimplane_workloads", "Live workloads by phase.", labels=["phase"]
        )
        counts: dict[str, int] = self._counts()
        for phase in Phase:
            family.add_metric([phase.value], counts.get(phase.value, 0))
        yield family
