"""The scheduling cycle as a use case: snapshot the organisation, the workloads and the
cluster, run the pure scheduler, and persist what it decided.

It is the only writer of placements and pending scheduling messages (`set_placements`); the
lifecycle engine reads them and brings pods up or down. With several server replicas, one
runs the cycle at a time (`Leadership`). A cycle is level-based: it recomputes everything
from what is stored, so a crash between cycles, or in the middle of one, loses nothing.

Which workloads take part:
- wanted (desired phase Running, not deleted): scheduled as their spec asks;
- going away (stopped or deleted) but still holding a placement: kept where they are,
  pinned (not placed anew, never a victim), until the lifecycle engine reports them Stopped
  or torn down; their pods still occupy the devices until then, as Kubernetes counts
  terminating pods;
- everything else holds nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from nimplane.domain.autoscaling import wanted_replicas
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.phases import Phase
from nimplane.domain.pods import pod_name
from nimplane.domain.ports import ClusterBackend, Leadership, Store, Transaction
from nimplane.domain.scheduling import (
    CycleResult,
    Eviction,
    GangPlacement,
    Scheduler,
    SchedulerConfig,
    Snapshot,
)
from nimplane.domain.scheduling import Workload as SchedWorkload
from nimplane.domain.scheduling.nimservice import placed_as_asked, workload_from_spec
from nimplane.domain.scheduling.org_queues import (
    placement_strategies,
    project_queue,
    queues_from_org,
)
from nimplane.domain.scheduling.placement_codec import gangs_from_json, placement_json
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.workloads import SchedulingRecord, StoredPlacement, StoredSpec

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
LEADERSHIP_NAME = "scheduler"
SOURCE = "scheduler"
_RELEASED_PHASES = frozenset({Phase.Stopped})
"""A workload going away holds its devices until it reaches one of these (or is torn down)."""


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did (for logs, metrics and tests)."""

    workloads: int
    gangs_placed: int
    evictions: int
    workloads_changed: int
    seconds: float


def _scheduler_workload(
    record: SchedulingRecord, stored: StoredSpec, replicas: int
) -> SchedWorkload:
    return workload_from_spec(
        record.id,
        project_queue(record.project_id),
        NimServiceSpec.model_validate(stored.spec),
        replicas=replicas,
        created=stored.created_at.timestamp(),
        name=record.name,
    )


def _pinned(model: SchedWorkload, gangs: Sequence[GangPlacement]) -> SchedWorkload:
    """A workload going away: exactly the gangs it holds, never a victim."""
    return replace(model, replicas=max(g.replica for g in gangs) + 1, preemptible=False)


def _kept_gangs(record: SchedulingRecord, entry: _Known) -> list[GangPlacement]:
    """A wanted workload's placements, but for the replicas a roll gave up because their
    placement no longer fits the spec: those are placed anew."""
    replaced = record.replaced_replicas
    return [
        g for g in entry.gangs if g.replica not in replaced or placed_as_asked(g, entry.model.pod)
    ]


@dataclass(frozen=True)
class _Known:
    """What the scheduler keeps of a workload between cycles, so that a cycle decodes only
    what changed: its spec (by generation), its model (by replica count) and its decoded
    placement (by change counter)."""

    spec: StoredSpec
    replicas: int
    model: SchedWorkload
    placement: StoredPlacement
    gangs: tuple[GangPlacement, ...]
    """`placement` decoded."""


class SchedulingService:
    def __init__(
        self,
        store: Store,
        cluster: ClusterBackend,
        leadership: Leadership,
        clock: Clock,
        config: SchedulerConfig | None = None,
        observe_cycle: Callable[[float], None] | None = None,
        on_placed: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._cluster = cluster
        self._leadership = leadership
        self._clock = clock
        self._config = config or SchedulerConfig()
        self._scheduler = Scheduler()
        self._observe_cycle = observe_cycle
        self._on_placed = on_placed
        """Called after a cycle changed placements (wakes the lifecycle engine)."""
        self._known: dict[str, _Known] = {}
        """Each live workload as the last cycle saw it: decoding 8,500 specs and placements
        every cycle would cost more than the cycle."""

    def run_cycle(self) -> CycleReport | None:
        """One cycle, if this replica is the one to run it now (else None)."""
        with self._leadership.hold(LEADERSHIP_NAME) as leader:
            if not leader:
                return None
            started = time.perf_counter()
            report = self._cycle()
            seconds = time.perf_counter() - started
        if self._observe_cycle is not None:
            self._observe_cycle(seconds)
        return replace(report, seconds=seconds)

    def _cycle(self) -> CycleReport:
        now = self._clock()
        with self._store.read() as tx:
            records = tx.workloads.scheduling_records()
            queues = queues_from_org(tx.org.departments(), tx.org.org_projects())
            pools = tx.org.node_pools()
            kept = self._known
            new_specs = tx.workloads.specs(
                r.id
                for r in records
                if r.id not in kept or kept[r.id].spec.generation != r.generation
            )
            new_placements = tx.workloads.placements(
                r.id
                for r in records
                if r.id not in kept or kept[r.id].placement.change_seq != r.change_seq
            )
        known = self._refresh(records, new_specs, new_placements)
        records = [r for r in records if r.id in known]
        # a node that failed or was drained has lost its pods: their replicas go elsewhere
        nodes = [node for node in self._cluster.nodes() if node.ready]
        previous: list[GangPlacement] = []
        members: list[SchedWorkload] = []
        for record in records:
            entry = known[record.id]
            if record.wants_to_run:
                previous += _kept_gangs(record, entry)
                members.append(entry.model)
            elif entry.gangs and record.phase not in _RELEASED_PHASES:
                previous += entry.gangs
                members.append(_pinned(entry.model, entry.gangs))
        snapshot = Snapshot(
            nodes=nodes,
            queues=queues,
            workloads=members,
            node_pools=[p.selector for p in pools if not p.is_default],
            placements=previous,
            placement_strategies=placement_strategies(pools),
            now=now.timestamp(),
            config=self._config,
        )
        result = self._scheduler.cycle(snapshot)
        device_memory = {node.name: node.gpu_memory_mib for node in nodes}
        changes = _changes(records, known, result, device_memory, now)
        if changes.placements or changes.events:
            self._store.write(changes.apply)
            self._on_placed()
        return CycleReport(
            workloads=len(members),
            gangs_placed=len(result.placements),
            evictions=len(result.evictions),
            workloads_changed=len(changes.placements),
            seconds=0.0,
        )

    def _refresh(
        self,
        records: Sequence[SchedulingRecord],
        new_specs: dict[str, StoredSpec],
        new_placements: dict[str, StoredPlacement],
    ) -> dict[str, _Known]:
        """Bring the kept models and placements up to date with `records` (and forget the
        workloads that are gone)."""
        known: dict[str, _Known] = {}
        for record in records:
            entry = self._known.get(record.id)
            spec = new_specs.get(record.id) or (entry.spec if entry else None)
            stored = new_placements.get(record.id) or (entry.placement if entry else None)
            if spec is None or stored is None:  # torn down between the reads
                continue
            replicas = wanted_replicas(spec.spec, record.autoscaler) + record.surge_replicas
            if entry is None or entry.spec is not spec or entry.replicas != replicas:
                model = _scheduler_workload(record, spec, replicas)
            else:
                model = entry.model
            if entry is None or entry.placement is not stored:
                gangs = tuple(gangs_from_json(record.id, stored.placement))
            else:
                gangs = entry.gangs
            known[record.id] = _Known(spec, replicas, model, stored, gangs)
        self._known = known
        return known


@dataclass
class _Changes:
    placements: list[tuple[str, dict[str, Any] | None, tuple[dict[str, Any], ...]]]
    events: list[WorkloadEvent]

    now: datetime

    def apply(self, tx: Transaction) -> None:
        # in id order, as the lifecycle engine locks rows: concurrent writers cannot deadlock
        tx.workloads.set_placements(sorted(self.placements, key=lambda p: p[0]), self.now)
        tx.events.add(self.events)


def _changes(
    records: Sequence[SchedulingRecord],
    known: dict[str, _Known],
    result: CycleResult,
    device_memory: dict[str, int],
    now: datetime,
) -> _Changes:
    """The placement writes and events that take the stored state to the cycle's result."""
    gangs_by_workload: dict[str, list[GangPlacement]] = {}
    for gang in result.placements:
        gangs_by_workload.setdefault(gang.workload_id, []).append(gang)
    evicted: dict[str, list[Eviction]] = {}
    for eviction in result.evictions:
        evicted.setdefault(eviction.workload_id, []).append(eviction)
    changes = _Changes([], [], now)
    for record in records:
        entry = known[record.id]
        stored = entry.placement
        gangs = sorted(gangs_by_workload.get(record.id, ()), key=lambda g: g.replica)
        status = result.workloads.get(record.id)
        pending: tuple[dict[str, Any], ...] = ()
        if status is not None and record.wants_to_run:
            pending = tuple(m.as_wire() for m in status.pending_messages)
        if pending == stored.pending_messages and tuple(gangs) == entry.gangs:
            continue  # the stored document decodes to exactly these gangs
        doc = placement_json(gangs, device_memory)
        if doc == stored.placement and pending == stored.pending_messages:
            continue
        changes.placements.append((record.id, doc, pending))
        changes.events += _events(
            record, stored, entry.gangs, gangs, evicted.get(record.id, ()), pending, now
        )
    return changes


def _events(
    record: SchedulingRecord,
    stored: StoredPlacement,
    before: Sequence[GangPlacement],
    gangs: Sequence[GangPlacement],
    evicted: Sequence[Eviction],
    pending: tuple[dict[str, Any], ...],
    now: datetime,
) -> list[WorkloadEvent]:
    """Kubernetes-style events for what changed: pods scheduled, gangs evicted, and a new
    reason to wait."""
    nodes_before = {g.replica: tuple(pod.node for pod in g.pods) for g in before}
    events: list[WorkloadEvent] = []
    for eviction in evicted:
        for pod in eviction.pods:
            name = pod_name(record.name, eviction.replica, pod.index)
            events.append(
                WorkloadEvent.of(
                    record.id,
                    now,
                    "Evicted",
                    eviction.message,
                    source=SOURCE,
                    warning=True,
                    pod=name,
                )
            )
    for gang in gangs:
        if nodes_before.get(gang.replica) == tuple(pod.node for pod in gang.pods):
            continue  # where it was: nothing new to say
        for pod in gang.pods:
            name = pod_name(record.name, gang.replica, pod.index)
            message = f"Successfully assigned {record.namespace}/{name} to {pod.node}"
            events.append(
                WorkloadEvent.of(record.id, now, "Scheduled", message, source=SOURCE, pod=name)
            )
    if pending and pending != stored.pending_messages:
        message = "; ".join(str(m["userMessage"]) for m in pending)
        events.append(
            WorkloadEvent.of(
                record.id, now, "FailedScheduling", message, source=SOURCE, warning=True
            )
        )
    return events
