"""The simulated GPU cluster: nimplane's embedded default backend, behind the `ClusterBackend`
port.

Its nodes come from settings (by default one pool of 4 nodes with 8 GPUs of 80 GiB each).
Its state (pods, node faults, metrics) lives in the database next to the workloads, so every
server replica sees the same cluster and a crash loses none of it. `sync` runs the pure
controller (`controller.py`) for each workload and writes its pods, their stages and their
events in one transaction; how a pod behaves over time is the pure model in `model.py`. A
failed or drained node reports not ready: its pods are lost and the scheduler places their
replicas elsewhere. Pods change only when synced: `observe` shows the state last synced, as
Kubernetes shows a pod's last reported status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final, cast

from nimplane.backends.simulated.controller import ClusterState, converge, observed_pod
from nimplane.backends.simulated.endpoint import answer, served_model
from nimplane.backends.simulated.logs import container_log, tail_of
from nimplane.backends.simulated.model import Pod, Stage, Timings, last_reported
from nimplane.backends.simulated.storage import SqlSimRepo
from nimplane.config_file import SimulatorConfig
from nimplane.domain.backend import ClusterError, DesiredState, Forwarded, Observation
from nimplane.domain.cluster import Node
from nimplane.domain.errors import NotFound, Unavailable
from nimplane.domain.events import WorkloadEvent
from nimplane.domain.pods import container_name, pod_template
from nimplane.domain.ports import PodFaultState, Transaction
from nimplane.domain.workloads import Workload
from nimplane.storage.store import SqlStore, SqlTransaction

NODE_FAULTS: Final = ("failed", "drained")


def default_nodes(count: int = 4) -> tuple[Node, ...]:
    return tuple(
        Node(
            name=f"sim-node-{index}",
            gpu_count=8,
            gpu_memory_mib=80 * 1024,
            gpu_product="NVIDIA-H100-80GB-HBM3",
            cpu_millicores=128_000,
            memory_mib=1024 * 1024,
            labels={"kubernetes.io/hostname": f"sim-node-{index}"},
        )
        for index in range(count)
    )


def timings_from(config: SimulatorConfig) -> Timings:
    """How the configured simulator's pods behave."""
    return Timings(
        image_pull_seconds=config.image_pull_seconds,
        model_load_nim_cache_seconds=config.model_load_seconds.nim_cache,
        model_load_pvc_seconds=config.model_load_seconds.pvc,
        model_load_download_seconds=config.model_load_seconds.download,
        speed=config.speed,
        unreachable=tuple(config.unreachable),
        catalogue=None if config.image_catalogue is None else tuple(config.image_catalogue),
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _repo(tx: Transaction) -> SqlSimRepo:
    """The simulator's tables in the store's transaction (an adapter: it knows the store is
    SQL)."""
    return SqlSimRepo(cast(SqlTransaction, tx).conn)


def _stamped(events: list[WorkloadEvent], now: datetime) -> list[WorkloadEvent]:
    """A sync's events for one workload, in order, each a microsecond apart and all before
    `now`, the instant from which the lifecycle engine stamps the phases they lead to (in the
    history, at one instant a phase update sorts before an event)."""
    count = len(events)
    return [
        replace(e, timestamp=now - timedelta(microseconds=count - i)) for i, e in enumerate(events)
    ]


class SimulatedCluster:
    """An in-database cluster; deterministic, needs nothing outside the server."""

    def __init__(
        self,
        nodes: tuple[Node, ...] | None = None,
        store: SqlStore | None = None,
        timings: Timings | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._nodes = default_nodes() if nodes is None else nodes
        self._store = store
        self.timings = timings or Timings()
        self._clock = clock
        """The instant container logs are read at (`sync` and `observe` are handed theirs)."""

    def with_timings(self, timings: Timings) -> SimulatedCluster:
        """The same cluster whose new pods take these times."""
        return SimulatedCluster(self._nodes, self._store, timings, self._clock)

    def with_clock(self, clock: Callable[[], datetime]) -> SimulatedCluster:
        """The same cluster reading its containers' logs at `clock()`."""
        return SimulatedCluster(self._nodes, self._store, self.timings, clock)

    def _need_store(self) -> SqlStore:
        if self._store is None:
            raise ClusterError("the simulated cluster has no database", retryable=False)
        return self._store

    def inventory(self) -> tuple[Node, ...]:
        """The configured nodes, whatever their state."""
        return self._nodes

    def nodes(self) -> tuple[Node, ...]:
        if self._store is None:
            return self._nodes
        with self._store.read() as tx:
            faults = _repo(tx).node_faults()
        if not faults:
            return self._nodes
        return tuple(replace(n, ready=False) if n.name in faults else n for n in self._nodes)

    def sync(
        self, desired: Sequence[DesiredState], now: datetime
    ) -> dict[str, Observation | ClusterError]:
        store = self._need_store()
        memory = {n.name: n.gpu_memory_mib for n in self._nodes}

        def work(tx: Transaction) -> dict[str, Observation | ClusterError]:
            sim = _repo(tx)
            cluster = ClusterState(frozenset(sim.node_faults()), memory, self.timings)
            out: dict[str, Observation | ClusterError] = {}
            created: list[Pod] = []
            deleted: list[str] = []
            stages: dict[str, tuple[str, int]] = {}
            events: list[WorkloadEvent] = []
            # a workload deleted since the engine read it gets no pod: a delete that found
            # none tears it down at once, and a pod made now would be left behind for good
            # (the rows stay locked until this commits: a delete waits, then sees the pods)
            ids = [d.workload.id for d in desired]
            undeleted = tx.workloads.lock_undeleted(ids)
            pods = sim.pods_of_many(ids)  # one read for the batch
            for wanted in desired:
                state = (
                    wanted if wanted.workload.id in undeleted else DesiredState(wanted.workload, 0)
                )
                change = converge(state, pods[state.workload.id], cluster, now)
                created += change.create
                deleted += (p.id for p in change.delete)
                stages.update(change.stages)
                events += _stamped(change.events, now)
                out[state.workload.id] = change.observation
            sim.delete_pods(deleted)
            sim.add_pods(created)
            sim.set_stages(stages)
            tx.events.add(events)
            return out

        return store.write(work)

    def observe(self, workload_ids: Sequence[str], now: datetime) -> dict[str, Observation]:
        """The pods as last synced (their stage then), whatever `now` is."""
        store = self._need_store()
        out: dict[str, Observation] = {}
        with store.read() as tx:
            sim = _repo(tx)
            templates = {
                w: pod_template(s.spec) for w, s in tx.workloads.specs(workload_ids).items()
            }
            for workload_id in workload_ids:
                pods = sim.pods_of(workload_id)
                template = templates.get(workload_id, "")
                shown = tuple(
                    observed_pod(p, last_reported(p.last_stage, p.restarts), template) for p in pods
                )
                out[workload_id] = Observation(pods=shown, present=bool(shown))
        return out

    def teardown(self, workload: Workload) -> bool:
        """Done at once when the workload has no pods; else the lifecycle engine's next sync
        (0 replicas) removes them."""
        with self._need_store().read() as tx:
            return not _repo(tx).pods_of(workload.id)

    def metrics(self, workload_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        if not workload_ids or self._store is None:
            return {}
        with self._store.read() as tx:
            return _repo(tx).metrics(workload_ids)

    def logs(
        self, workload: Workload, pod_name: str, *, tail: int | None, container: str
    ) -> list[str]:
        """The simulated NIM container's log up to now (`logs.container_log`)."""
        with self._need_store().read() as tx:
            pod = next((p for p in _repo(tx).pods_of(workload.id) if p.name == pod_name), None)
        if pod is None:
            raise NotFound(f"Workload {workload.name} has no pod {pod_name}.")
        if container != container_name(workload.name):
            raise NotFound(
                f"Pod {pod_name} has no container {container}: its NIM container is "
                f"{container_name(workload.name)}."
            )
        if pod.faults.node_lost or pod.last_stage == Stage.NODE_LOST:
            raise ClusterError(f"node {pod.node} is not ready", retryable=True)
        return tail_of(container_log(pod, workload.spec, self._clock()), tail)

    def forward(
        self,
        workload: Workload,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Forwarded:
        """The simulated NIM endpoint's answer (`endpoint.answer`), once a pod of the workload
        is ready (as last synced, what the Service's endpoints would route to)."""
        with self._need_store().read() as tx:
            pods = _repo(tx).pods_of(workload.id)
        if not any(p.last_stage == Stage.READY for p in pods):
            raise Unavailable(
                f"Workload {workload.name} has no ready pod to serve the request yet."
            )
        route = path.partition("?")[0]
        return answer(
            served_model(str(workload.spec.get("image", ""))), method, route, body, self._clock()
        )


class SimulatedFaults:
    """The `SimulatorFaults` port on the simulated cluster's tables."""

    def node_faults(self, tx: Transaction) -> dict[str, str]:
        return _repo(tx).node_faults()

    def set_node_fault(
        self, tx: Transaction, node: str, fault: str | None, now: datetime
    ) -> list[str]:
        sim = _repo(tx)
        sim.set_node_fault(node, fault, now)
        return sim.workloads_on(node)

    def set_pod_fault(
        self, tx: Transaction, workload_id: str, pod_name: str, fault: str | None, now: datetime
    ) -> PodFaultState | None:
        """Recovering a crash-looping pod restarts its container (its plan's durations from
        `now`); recovering one that only failed its readiness probe makes it ready at once."""
        sim = _repo(tx)
        pod = next((p for p in sim.pods_of(workload_id) if p.name == pod_name), None)
        if pod is None:
            return None
        crash, unready, started = pod.faults.crash_since, pod.faults.unready_since, None
        if fault == "crash-loop":
            crash = crash or now
        elif fault == "fail-readiness":
            unready = unready or now
        else:
            started = now if crash is not None else None
            crash = unready = None
        sim.set_pod_faults(
            pod.id, crash_since=crash, unready_since=unready, started_at=started or pod.started_at
        )
        return PodFaultState(
            workload_id=pod.workload_id,
            name=pod.name,
            node=pod.node,
            crash_loop=crash is not None,
            readiness_failing=unready is not None,
        )

    def set_metric(
        self, tx: Transaction, workload_id: str, metric: str, value: float, now: datetime
    ) -> None:
        _repo(tx).set_metric(workload_id, metric, value, now)


__all__ = [
    "NODE_FAULTS",
    "SimulatedCluster",
    "SimulatedFaults",
    "default_nodes",
    "timings_from",
]
