"""The lifecycle engine as a use case: claim the workloads due for a look, have the cluster
converge them (`ClusterBackend.sync`), decide their status from what it observes (the pure
decision in `domain.lifecycle`), and write each outcome only if it still stands.

Work is shared through leases on the workload rows (`claim_due`: `FOR UPDATE SKIP LOCKED` on
PostgreSQL), so several server replicas split the workloads between them. For a claimed batch:
the workloads are read and their desired states built (replicas from the spec or the
autoscaler, 0 when stopped or deleted, the scheduler's placement), the batch is synced once,
outside any transaction of ours, for the workloads whose lease is still held, and then, in one
transaction, each decision is settled: `settle` writes its status and releases its lease in
one conditional `UPDATE` (this worker still holds the lease, and nothing changed the workload
since it was read), and the settled ones' phase history is written. A worker whose lease lapsed
(it stalled, or died) therefore writes no status; what it synced is converged again by the next
holder (a sync is idempotent). A workload is due when something changed (the API, the
scheduler, a fault) or when what the cluster runs will next change by itself; a failing
reconcile, or a cluster that fails for a while, backs off exponentially without changing the
phase.
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
from nimplane.domain.backend import ClusterError, DesiredState, Observation
from nimplane.domain.history import PhaseUpdate
from nimplane.domain.lifecycle import Decision, decide, desired_state
from nimplane.domain.phases import Phase
from nimplane.domain.ports import ClusterBackend, Store, Transaction
from nimplane.domain.scheduling.placement_codec import gangs_from_json
from nimplane.domain.workloads import Workload, WorkloadStatus
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
    resync_seconds: float = 600.0
    """A settled workload is looked at again this often, whatever happens."""


def _claim(
    tx: Transaction, *, owner: str, now: datetime, until: datetime, batch: int
) -> list[tuple[str, int]]:
    return tx.workloads.claim_due(owner, now, until, batch)


@dataclass(frozen=True)
class _Plan:
    """A claimed workload as read, and what it should be on the cluster."""

    workload: Workload
    seq: int
    desired: DesiredState
    autoscaler: dict[str, Any] | None


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
            self._reconcile_batch(claimed)
            total += len(claimed)
        return total

    def _reconcile_batch(self, claimed: list[tuple[str, int]]) -> None:
        """Plan, sync and settle a claimed batch; a workload whose reconcile fails (or whose
        cluster fails for a while) backs off alone, a sync or a write that fails backs off
        the whole batch."""
        started = time.perf_counter()
        now = self._clock()
        failed: list[tuple[str, int]] = []
        settled: list[_Outcome] = []
        try:
            plans, failed = self._plan(claimed, now)
            observed = self._cluster.sync([p.desired for p in plans], now) if plans else {}
            settled, undecided = self._store.write(
                lambda tx: self._settle_batch(tx, plans, observed, now)
            )
            failed += undecided
        except Exception:
            log.exception("reconciling %d workloads failed", len(claimed))
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

    def _plan(
        self, claimed: list[tuple[str, int]], now: datetime
    ) -> tuple[list[_Plan], list[tuple[str, int]]]:
        """Read the claimed workloads still leased to this worker and build their desired
        states; the plans, and the claims whose planning raised."""
        seqs = dict(claimed)
        with self._store.read() as tx:  # one read for the batch, not two per workload
            workloads = tx.workloads.leased(seqs, self.owner, now)
        scaled = [w.id for w in workloads if w.spec.get("autoscaling")]
        readings = self._cluster.metrics(scaled) if scaled else {}
        plans: list[_Plan] = []
        failed: list[tuple[str, int]] = []
        for workload in workloads:
            seq = seqs[workload.id]
            token = workload_id_var.set(workload.id)
            try:
                plans.append(self._desired(workload, seq, readings.get(workload.id), now))
            except Exception:
                log.exception("planning %s failed", workload.id)
                failed.append((workload.id, seq))
            finally:
                workload_id_var.reset(token)
        return plans, failed

    @staticmethod
    def _desired(
        workload: Workload, seq: int, reading: tuple[str, float] | None, now: datetime
    ) -> _Plan:
        state = workload.status.autoscaler
        if workload.spec.get("autoscaling"):
            state = autoscaling.decide(workload.spec, reading[1] if reading else None, state, now)
        desired = desired_state(
            workload,
            autoscaling.wanted_replicas(workload.spec, state),
            gangs_from_json(workload.id, workload.status.placement),
        )
        return _Plan(workload, seq, desired, state)

    def _decide(
        self, plan: _Plan, observed: Observation | ClusterError | None, now: datetime
    ) -> _Outcome | None:
        """The decision from what the cluster reported; None to back off (the cluster failed
        for a while, or said nothing of this workload)."""
        if observed is None:
            return None
        decision = decide(plan.desired, observed, now)
        if decision.retry:
            log.warning("the cluster failed for %s: %s", plan.workload.id, observed)
            return None
        return _Outcome(plan.workload, decision, plan.autoscaler, now)

    def _settle_batch(
        self,
        tx: Transaction,
        plans: list[_Plan],
        observed: dict[str, Observation | ClusterError],
        now: datetime,
    ) -> tuple[list[_Outcome], list[tuple[str, int]]]:
        """Decide and settle each planned workload, then write the settled ones' phase
        history; the settled outcomes, and the claims to back off."""
        decided: list[tuple[_Plan, _Outcome]] = []
        failed: list[tuple[str, int]] = []
        for plan in plans:
            token = workload_id_var.set(plan.workload.id)
            try:
                outcome = self._decide(plan, observed.get(plan.workload.id), now)
            except Exception:
                log.exception("reconciling %s failed", plan.workload.id)
                outcome = None
            finally:
                workload_id_var.reset(token)
            if outcome is None:
                failed.append((plan.workload.id, plan.seq))
            else:
                decided.append((plan, outcome))
        # one conditional write for the batch; its rows are locked in id order, as the
        # scheduler's writes lock them: no deadlock
        kept = tx.workloads.settle_many(
            self.owner, self._clock(), [self._settled_values(o) for _, o in decided]
        )
        settled = [o for _, o in decided if o.workload.id in kept]
        for plan, outcome in decided:
            if outcome.workload.id not in kept:  # lease lost, or changed since read: stale
                tx.workloads.release_lease(plan.workload.id, self.owner, plan.seq, now, 0, now)
        self._write_history(tx, settled)
        return settled, failed

    def _back_off(self, workload_id: str, seq: int) -> None:
        now = self._clock()

        def release(tx: Transaction) -> None:
            failures = tx.workloads.failures(workload_id) + 1
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 10) / 2)
            due = now + timedelta(seconds=delay)
            tx.workloads.release_lease(workload_id, self.owner, seq, due, failures, due)

        self._store.write(release)

    def _settled_values(
        self, outcome: _Outcome
    ) -> tuple[str, int, WorkloadStatus, datetime | None]:
        """What `settle_many` writes for a decision, if it still stands: its status and the
        next look (None: torn down); else the workload is due again at once (or left to the
        worker that took it over)."""
        workload, decision, now = outcome.workload, outcome.decision, outcome.now
        status = decision.status or workload.status
        if outcome.autoscaler != workload.status.autoscaler:
            status = replace(status, autoscaler=outcome.autoscaler)
        due: datetime | None = None
        if not decision.torn_down:
            due = decision.next_check or now + timedelta(seconds=self._settings.resync_seconds)
            if workload.spec.get("autoscaling"):
                due = min(due, now + timedelta(seconds=autoscaling.EVALUATION_SECONDS))
        return workload.id, workload.change_seq, status, due

    @staticmethod
    def _write_history(tx: Transaction, outcomes: list[_Outcome]) -> None:
        """The phase history of settled decisions, in one statement; within a decision a
        microsecond apart, so that the steps keep their order (the pods' events the cluster
        recorded come just before: see the backend)."""
        phases: list[PhaseUpdate] = []
        for outcome in outcomes:
            decision, now = outcome.decision, outcome.now
            phases += (
                PhaseUpdate(
                    outcome.workload.id, now + timedelta(microseconds=i), s.phase, s.message
                )
                for i, s in enumerate(decision.phases)
            )
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
