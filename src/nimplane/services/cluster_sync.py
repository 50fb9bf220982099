"""Keeping a cluster that schedules by itself (Kubernetes with KAI-Scheduler) in step with
nimplane: `QueueSyncService` mirrors the departments and projects into its queues (the
scheduler loop's pass on that backend), `ClusterChanges` makes the workloads the cluster
reported a change about due for the lifecycle engine at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from nimplane.domain.backend import ClusterError
from nimplane.domain.ports import QueueSync, Store

log = logging.getLogger(__name__)


class QueueSyncService:
    """One pass: read the organisation, hand it to the cluster's queue sync."""

    def __init__(self, store: Store, queues: QueueSync) -> None:
        self._store = store
        self._queues = queues

    def run(self) -> int:
        """Sync the queues; the number of stale queues removed. A cluster error is logged and
        the pass ends (the loop's next pass tries again)."""
        with self._store.read() as tx:
            departments = tx.org.departments()
            projects = tx.org.org_projects()
        try:
            return self._queues.sync_queues(departments, projects)
        except ClusterError as exc:
            if not exc.retryable:
                log.error("queue sync refused: %s", exc)
            raise


class ClusterChanges:
    """The cluster's `on_change`: the named workloads are due now, and the lifecycle loop
    is woken. Called from the cluster's watch threads; coalesced: while one thread writes,
    the ids other threads report wait for it, and it writes them all in its next write (a
    burst of watch events costs a write or two, not one each)."""

    def __init__(
        self, store: Store, clock: Callable[[], datetime], wake: Callable[[], None]
    ) -> None:
        self._store = store
        self._clock = clock
        self._wake = wake
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._writing = False

    def __call__(self, workload_ids: Iterable[str]) -> None:
        with self._lock:
            self._pending.update(workload_ids)
            if self._writing or not self._pending:
                return  # the writing thread takes them
            self._writing = True
        ids: list[str] = []
        try:
            while True:
                with self._lock:
                    ids = sorted(self._pending)
                    self._pending.clear()
                    if not ids:
                        self._writing = False  # under the lock: no id is left stranded
                        return
                self._write(ids, self._clock())
                self._wake()
        except BaseException:
            with self._lock:  # kept for the next report's write
                self._pending.update(ids)
                self._writing = False
            raise

    def _write(self, ids: list[str], now: datetime) -> None:
        self._store.write(lambda tx: tx.workloads.mark_due(ids, now))
