"""The simulated cluster's tables on SQLAlchemy Core: its pods, node faults and workload metrics
(the tables are declared in `storage/tables.py`, so that the migrations create them).

The embedded backend keeps its state in the same database as everything else, so that every
server replica sees one cluster and a `kill -9` loses none of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from nimplane.backends.simulated.model import Pod, PodFaults, PodPlan, ReadinessProbe
from nimplane.storage.tables import sim_metrics, sim_node_faults, sim_pods

_PODS_OF = (
    select(sim_pods)
    .where(sim_pods.c.workload_id == bindparam("workload_id"))
    .order_by(sim_pods.c.replica, sim_pods.c.pod_index)
)
_PODS_OF_MANY = (
    select(sim_pods)
    .where(sim_pods.c.workload_id.in_(bindparam("workload_ids", expanding=True)))
    .order_by(sim_pods.c.workload_id, sim_pods.c.replica, sim_pods.c.pod_index)
)
_SET_STAGE = (
    update(sim_pods)
    .where(sim_pods.c.id == bindparam("pod_id"))
    .values(last_stage=bindparam("stage"), restarts=bindparam("restarts"))
)


def _plan_json(plan: PodPlan) -> dict[str, Any]:
    probe = plan.probe
    return {
        "pullSeconds": plan.pull_seconds,
        "loadSeconds": plan.load_seconds,
        "pullError": plan.pull_error,
        "probe": {
            "initialDelaySeconds": probe.initial_delay_seconds,
            "periodSeconds": probe.period_seconds,
            "successThreshold": probe.success_threshold,
            "failureThreshold": probe.failure_threshold,
        },
    }


def _plan_from(doc: dict[str, Any]) -> PodPlan:
    probe = doc["probe"]
    return PodPlan(
        pull_seconds=float(doc["pullSeconds"]),
        load_seconds=float(doc["loadSeconds"]),
        pull_error=doc.get("pullError"),
        probe=ReadinessProbe(
            initial_delay_seconds=float(probe["initialDelaySeconds"]),
            period_seconds=float(probe["periodSeconds"]),
            success_threshold=int(probe["successThreshold"]),
            failure_threshold=int(probe["failureThreshold"]),
        ),
    )


def _to_pod(row: Any) -> Pod:
    m = row._mapping
    return Pod(
        id=m["id"],
        workload_id=m["workload_id"],
        name=m["name"],
        replica=m["replica"],
        index=m["pod_index"],
        template=m["template"],
        node=m["node"],
        gpu_devices=tuple(int(d) for d in m["gpu_devices"]),
        gpus=float(m["gpus"]),
        created_at=m["created_at"],
        started_at=m["started_at"],
        plan=_plan_from(m["plan"]),
        faults=PodFaults(crash_since=m["crash_since"], unready_since=m["unready_since"]),
        last_stage=m["last_stage"],
        restarts=m["restarts"],
    )


class SqlSimRepo:
    """The simulator's state, in one transaction (its connection)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- pods ---------------------------------------------------------------------------------

    def pods_of(self, workload_id: str) -> list[Pod]:
        rows = self._conn.execute(_PODS_OF, {"workload_id": workload_id})
        return [_to_pod(row) for row in rows]

    def pods_of_many(self, workload_ids: Iterable[str]) -> dict[str, list[Pod]]:
        """`pods_of` for many workloads in one read: each id given maps to its pods (none:
        an empty list)."""
        ids = list(dict.fromkeys(workload_ids))
        found: dict[str, list[Pod]] = {workload_id: [] for workload_id in ids}
        if ids:
            for row in self._conn.execute(_PODS_OF_MANY, {"workload_ids": ids}):
                pod = _to_pod(row)
                found[pod.workload_id].append(pod)
        return found

    def pods(self) -> list[Pod]:
        rows = self._conn.execute(select(sim_pods).order_by(sim_pods.c.node, sim_pods.c.name))
        return [_to_pod(row) for row in rows]

    def pod(self, pod_id: str) -> Pod | None:
        row = self._conn.execute(select(sim_pods).where(sim_pods.c.id == pod_id)).first()
        return None if row is None else _to_pod(row)

    def add_pods(self, pods: Sequence[Pod]) -> None:
        if not pods:
            return
        self._conn.execute(
            insert(sim_pods),
            [
                {
                    "id": p.id,
                    "workload_id": p.workload_id,
                    "name": p.name,
                    "replica": p.replica,
                    "pod_index": p.index,
                    "template": p.template,
                    "node": p.node,
                    "gpu_devices": list(p.gpu_devices),
                    "gpus": p.gpus,
                    "created_at": p.created_at,
                    "started_at": p.started_at,
                    "plan": _plan_json(p.plan),
                    "crash_since": p.faults.crash_since,
                    "unready_since": p.faults.unready_since,
                    "last_stage": p.last_stage,
                    "restarts": p.restarts,
                }
                for p in pods
            ],
        )

    def delete_pods(self, pod_ids: Iterable[str]) -> None:
        ids = list(pod_ids)
        if ids:
            self._conn.execute(delete(sim_pods).where(sim_pods.c.id.in_(ids)))

    def set_stages(self, stages: dict[str, tuple[str, int]]) -> None:
        if stages:
            self._conn.execute(
                _SET_STAGE,
                [
                    {"pod_id": pod_id, "stage": stage, "restarts": restarts}
                    for pod_id, (stage, restarts) in stages.items()
                ],
            )

    def set_pod_faults(
        self,
        pod_id: str,
        *,
        crash_since: datetime | None,
        unready_since: datetime | None,
        started_at: datetime,
    ) -> None:
        self._conn.execute(
            update(sim_pods)
            .where(sim_pods.c.id == pod_id)
            .values(crash_since=crash_since, unready_since=unready_since, started_at=started_at)
        )

    def workloads_on(self, node: str) -> list[str]:
        query = select(sim_pods.c.workload_id).where(sim_pods.c.node == node).distinct()
        return [str(row[0]) for row in self._conn.execute(query)]

    # --- nodes ---------------------------------------------------------------------------------

    def node_faults(self) -> dict[str, str]:
        rows = self._conn.execute(select(sim_node_faults.c.node, sim_node_faults.c.fault))
        return {str(node): str(fault) for node, fault in rows}

    def set_node_fault(self, node: str, fault: str | None, now: datetime) -> None:
        self._conn.execute(delete(sim_node_faults).where(sim_node_faults.c.node == node))
        if fault is not None:
            self._conn.execute(insert(sim_node_faults).values(node=node, fault=fault, since=now))

    # --- metrics -------------------------------------------------------------------------------

    def metrics(self, workload_ids: Iterable[str]) -> dict[str, tuple[str, float]]:
        ids = list(workload_ids)
        if not ids:
            return {}
        rows = self._conn.execute(
            select(sim_metrics.c.workload_id, sim_metrics.c.metric, sim_metrics.c.value).where(
                sim_metrics.c.workload_id.in_(ids)
            )
        )
        return {str(w): (str(metric), float(value)) for w, metric, value in rows}

    def set_metric(self, workload_id: str, metric: str, value: float, now: datetime) -> None:
        self._conn.execute(delete(sim_metrics).where(sim_metrics.c.workload_id == workload_id))
        self._conn.execute(
            insert(sim_metrics).values(
                workload_id=workload_id, metric=metric, value=value, updated_at=now
            )
        )
