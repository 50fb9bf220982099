"""The lifecycle engine as a use case: claim the workloads due for a look, reconcile them
(the pure decision in `domain.lifecycle`), and write each outcome only if it still stands.

Work is shared through leases on the workload rows (`claim_due`: `FOR UPDATE SKIP LOCKED` on
PostgreSQL), so several server replicas split the workloads between them. A claimed batch is
reconciled in one transaction: each workload is read and decided, then `settle` writes its
status and releases its lease in one conditional `UPDATE` (this worker still holds the lease,
and nothing changed the workload since it was read); only the settled ones' pods, events and
phase history are written, together, at the end. A worker whose lease lapsed (it stalled, or
died) therefore writes nothing. A workload is due when something changed (the API, the
scheduler, a fault) or when its pods will next change by themselves; a failing reconcile backs
off exponentially.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from nimplane.domain import autoscaling
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.history import PhaseUpdate
from nimplane.domain.lifecycle import Decision, WorkloadView, reconcile
from nimplane.domain.phases import Phase
from nimplane.domain.pods import Pod
from nimplane.domain.ports import ClusterBackend, Store, Transaction
from nimplane.domain.scheduling.nimservice import pod_request
from nimplane.domain.scheduling.placement_codec import gangs_from_json
from nimplane.domain.simulation import Timings
from nimplane.domain.spec import NimServiceSpec
from nimplane.domain.workloads import Workload
from nimplane.logs import workload_id as workload_id_var

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_BACKOFF_SECONDS: Final = 60.0
MAX_ROUNDS: Final = 20
"""Claims per pass at most: a pass ends even if something is due again and again."""


@dataclass(frozen=True)
class LifecycleSettings:
    lease_seconds: float = 30.0
    batch: int = 200
    resync_seconds: float = 30.0
    """A settled workload is looked at again this often, whatever happens."""


def _claim(
    tx: Transaction, *, owner: str, now: datetime, until: datetime, batch: int
) -> list[tuple[str, int]]:
    return tx.workloads.claim_due(owner, now, until, batch)


@dataclass(frozen=True)
class _Outcome:
    """A reconcile's decision and what it was made from."""

    workload: Workload
    decision: Decision
    autoscaler: dict[str, Any] | None
    now: datetime


class LifecycleService:
    def __init__(
        self,
        store: Store,
        cluster: ClusterBackend,
        clock: Clock,
        timings: Timings,
        settings: LifecycleSettings | None = None,
        *,
        owner: str | None = None,
        observe_reconcile: Callable[[float], None] | None = None,
        count_error: Callable[[], None] | None = None,
        on_scaled: Callable[[], None] = lambda: None,
        observe_pending: Callable[[float], None] | None = None,
    ) -> None:
        self._store = store
        self._cluster = cluster
        self._clock = clock
        self.timings = timings
        self._settings = settings or LifecycleSettings()
        self.owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        self._observe = observe_reconcile
        self._count_error = count_error
        self._on_scaled = on_scaled
        self._observe_pending = observe_pending

    def run_pass(self) -> int:
        """Reconcile every workload due now, in batches, again while some are due (a pod that
        turns ready a moment later is seen in the same pass, up to `MAX_ROUNDS`); how many
        reconciles ran."""
        total = 0
        batch = self._settings.batch
        for _ in range(MAX_ROUNDS):
            now = self._clock()
            until = now + timedelta(seconds=self._settings.lease_seconds)
            claimed = self._store.write(
                partial(_claim, owner=self.owner, now=now, batch=batch, until=until)
            )
            if not claimed:
                return total
            nodes = self._cluster.nodes()
            lost = frozenset(n.name for n in nodes if not n.ready)
            memory = {n.name: n.gpu_memory_mib for n in nodes}
            self._reconcile_batch(claimed, lost, memory)
            total += len(claimed)
        return total

    def _reconcile_batch(
        self, claimed: list[tuple[str, int]], lost: frozenset[str], memory: dict[str, int]
    ) -> None:
        """Reconcile a claimed batch in one write; a workload whose decision fails backs off
        alone, a write that fails backs off the whole batch."""
        started = time.perf_counter()
        try:
            settled, failed = self._store.write(
                lambda tx: self._reconcile_in(tx, claimed, lost, memory)
            )
        except Exception:
            log.exception("writing %d reconciles failed", len(claimed))
            settled, failed = [], list(claimed)
        for workload_id, seq in failed:
            if self._count_error is not None:
                self._count_error()
            self._back_off(workload_id, seq)
        for outcome in settled:
            self._notify(outcome)
        if self._observe is not None:
            share = (time.perf_counter() - started) / len(claimed)
            for _ in claimed:
                self._observe(share)

    def _reconcile_in(
        self,
        tx: Transaction,
        claimed: list[tuple[str, int]],
        lost: frozenset[str],
        memory: dict[str, int],
    ) -> tuple[list[_Outcome], list[tuple[str, int]]]:
        """Read, decide and settle each workload, then write what the settled ones decided;
        the settled outcomes, and the claims whose decision raised."""
        settled: list[_Outcome] = []
        failed: list[tuple[str, int]] = []
        # rows are locked in id order, as the scheduler's writes lock them: no deadlock
        for workload_id, seq in sorted(claimed):
            token = workload_id_var.set(workload_id)
            try:
                outcome = self._decide(tx, workload_id, lost, memory)
            except Exception:
                log.exception("reconciling %s failed", workload_id)
                failed.append((workload_id, seq))
                continue
            finally:
                workload_id_var.reset(token)
            if outcome is not None and self._settle(tx, outcome, seq):
                settled.append(outcome)
        self._write_decisions(tx, settled)
        return settled, failed

    def _back_off(self, workload_id: str, seq: int) -> None:
        now = self._clock()

        def release(tx: Transaction) -> None:
            failures = tx.workloads.failures(workload_id) + 1
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 10) / 2)
            due = now + timedelta(seconds=delay)
            tx.workloads.release_lease(workload_id, self.owner, seq, due, failures, due)

        self._store.write(release)

    def _decide(
        self,
        tx: Transaction,
        workload_id: str,
        lost: frozenset[str],
        memory: dict[str, int],
    ) -> _Outcome | None:
        now = self._clock()
        workload = tx.workloads.get(workload_id)
        if workload is None:
            return None
        state = workload.status.autoscaler
        if workload.spec.get("autoscaling"):
            reading = tx.sim.metrics([workload_id]).get(workload_id)
            state = autoscaling.decide(workload.spec, reading[1] if reading else None, state, now)
        view = WorkloadView(
            workload=workload,
            gangs=gangs_from_json(workload.id, workload.status.placement),
            pods=tx.sim.pods_of(workload_id),
            replicas=autoscaling.wanted_replicas(workload.spec, state),
            lost_nodes=lost,
            request=pod_request(NimServiceSpec.model_validate(workload.spec)),
            device_memory_mib=memory,
            timings=self.timings,
        )
        return _Outcome(workload, reconcile(view, now), state, now)

    def _settle(self, tx: Transaction, outcome: _Outcome, seq: int) -> bool:
        """Write a decision's status and give the lease back, if the decision still stands;
        else make the workload due again at once (or leave it to the worker that took it
        over)."""
        workload, decision, now = outcome.workload, outcome.decision, outcome.now
        status = decision.status or workload.status
        if outcome.autoscaler != workload.status.autoscaler:
            status = replace(status, autoscaler=outcome.autoscaler)
        due: datetime | None = None
        if not decision.torn_down:
            due = decision.next_check or now + timedelta(seconds=self._settings.resync_seconds)
            if workload.spec.get("autoscaling"):
                due = min(due, now + timedelta(seconds=autoscaling.EVALUATION_SECONDS))
        settled = tx.workloads.settle(
            workload.id, self.owner, workload.change_seq, self._clock(), status, due
        )
        if not settled:  # lease lost, or changed since read: this decision is stale
            tx.workloads.release_lease(workload.id, self.owner, seq, now, 0, now)
        return settled

    @staticmethod
    def _write_decisions(tx: Transaction, outcomes: list[_Outcome]) -> None:
        """The pods, events and phase history of settled decisions, each kind in one
        statement. Within a decision, a microsecond apart, so that what happened in one step
        keeps its order: the pods' events, then the phases they led to."""
        deleted: list[str] = []
        created: list[Pod] = []
        stages: dict[str, tuple[str, int]] = {}
        events: list[WorkloadEvent] = []
        phases: list[PhaseUpdate] = []
        for outcome in outcomes:
            decision, now = outcome.decision, outcome.now
            deleted += (p.id for p in decision.delete)
            created += decision.create
            stages.update(decision.stages)
            events += (
                replace(e, timestamp=now + timedelta(microseconds=i))
                for i, e in enumerate(decision.events)
            )
            offset = len(decision.events)
            phases += (
                PhaseUpdate(
                    outcome.workload.id,
                    now + timedelta(microseconds=offset + i),
                    s.phase,
                    s.message,
                )
                for i, s in enumerate(decision.phases)
            )
        tx.sim.delete_pods(deleted)
        tx.sim.add_pods(created)
        tx.sim.set_stages(stages)
        tx.events.add(events)
        tx.history.add(phases)

    def _notify(self, outcome: _Outcome) -> None:
        """Metrics and wake-ups for a written decision."""
        workload, decision = outcome.workload, outcome.decision
        before = workload.status
        if before.phase is Phase.Pending and decision.phases and self._observe_pending:
            self._observe_pending((outcome.now - before.phase_updated_at).total_seconds())
        surge = decision.status.surge_replicas if decision.status else None
        scaled = (outcome.autoscaler or {}).get("replicas") != (before.autoscaler or {}).get(
            "replicas"
        )
        if scaled or (surge is not None and surge != before.surge_replicas):
            self._on_scaled()  # the scheduler places the new count
