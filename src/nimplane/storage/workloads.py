"""WorkloadRepo on SQLAlchemy Core: rows of `workloads` joined with their organisation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from nimplane.domain.conditions import Condition
from nimplane.domain.errors import AlreadyExists, NotFound
from nimplane.domain.phases import Phase, epoch_micros
from nimplane.domain.queries import WorkloadQuery
from nimplane.domain.workloads import (
    DesiredPhase,
    Project,
    SchedulingRecord,
    StoredPlacement,
    StoredSpec,
    Workload,
    WorkloadStatus,
    allocated_gpus,
    requested_node_pools,
)
from nimplane.storage import list_sql
from nimplane.storage.db import violated_foreign_key, violated_unique
from nimplane.storage.raw_query import RawQuery
from nimplane.storage.tables import clusters, departments, projects, workloads

_SELECT: Select[Any] = (
    select(
        workloads,
        projects.c.name.label("project_name"),
        projects.c.namespace.label("project_namespace"),
        departments.c.id.label("department_id"),
        departments.c.name.label("department_name"),
        clusters.c.tenant_id.label("cluster_tenant_id"),
    )
    .join(projects, projects.c.id == workloads.c.project_id)
    .join(departments, departments.c.id == projects.c.department_id)
    .join(clusters, clusters.c.id == workloads.c.cluster_id)
)


# Statements are built once: a reused statement keeps its compiled form and cache key, so a
# request pays only for binding its parameters.
_GET_ANY = _SELECT.where(workloads.c.id == bindparam("id"))
_GET_LIVE = _GET_ANY.where(workloads.c.torn_down_at.is_(None))
# The hottest reads, on the DBAPI cursor (storage/raw_query.py).
_RAW_GET_ANY = RawQuery(_GET_ANY)
_RAW_GET_LIVE = RawQuery(_GET_LIVE)
_BY_IDS = _SELECT.where(workloads.c.id.in_(bindparam("ids", expanding=True)))
_INSERT = insert(workloads)
_UPDATE_STATUS = update(workloads).where(
    workloads.c.id == bindparam("match_id"), workloads.c.torn_down_at.is_(None)
)
_UPDATE_IF_VERSION = (
    update(workloads)
    .where(
        and_(
            workloads.c.id == bindparam("match_id"),
            workloads.c.resource_version == bindparam("match_version"),
        )
    )
    .values(change_seq=workloads.c.change_seq + 1)
)
_SET_PLACEMENT = _UPDATE_STATUS.values(change_seq=workloads.c.change_seq + 1)
_DUE = (
    select(workloads.c.id)
    .where(
        workloads.c.torn_down_at.is_(None),
        workloads.c.reconcile_due_at <= bindparam("now"),
        or_(workloads.c.lease_until.is_(None), workloads.c.lease_until < bindparam("now")),
    )
    .order_by(workloads.c.reconcile_due_at, workloads.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
    # chosen once: as a sub-select of the UPDATE, PostgreSQL may run it again for each row it
    # joins (a nested-loop semi-join), and each run may pick other rows, so more than `limit`
    # were claimed (tests/lifecycle/test_leases.py caught 6 of 4)
    .cte("due")
    .prefix_with("MATERIALIZED", dialect="postgresql")
)
_CLAIM = (
    update(workloads)
    .where(workloads.c.id.in_(select(_DUE.c.id)))
    .values(lease_owner=bindparam("owner"), lease_until=bindparam("until"))
    .returning(workloads.c.id, workloads.c.change_seq)
)
_HOLDS_LEASE = select(workloads.c.id).where(
    workloads.c.id == bindparam("id"),
    workloads.c.lease_owner == bindparam("owner"),
    workloads.c.lease_until > bindparam("now"),
)
_LEASED = _SELECT.where(
    workloads.c.id.in_(bindparam("ids", expanding=True)),
    workloads.c.torn_down_at.is_(None),
    workloads.c.lease_owner == bindparam("owner"),
    workloads.c.lease_until > bindparam("now"),
).order_by(workloads.c.id)
_SETTLEABLE = (
    select(
        workloads.c.id,
        workloads.c.change_seq,
        and_(
            workloads.c.torn_down_at.is_(None),
            workloads.c.lease_owner == bindparam("owner"),
            workloads.c.lease_until > bindparam("now"),
        ).label("held"),
    )
    .where(workloads.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(workloads.c.id)
    .with_for_update()
)
_SETTLE = (
    update(workloads)
    .where(
        workloads.c.id == bindparam("match_id"),
        workloads.c.torn_down_at.is_(None),
        workloads.c.lease_owner == bindparam("owner"),
        workloads.c.lease_until > bindparam("now"),
        workloads.c.change_seq == bindparam("seen_seq"),
    )
    .values(lease_owner=None, lease_until=None, reconcile_failures=0)
)
_RELEASE = (
    update(workloads)
    .where(
        workloads.c.id == bindparam("match_id"),
        workloads.c.lease_owner == bindparam("owner"),
        workloads.c.change_seq == bindparam("seen_seq"),
    )
    .values(lease_owner=None, lease_until=None)
)
_SCHEDULING_RECORDS = (
    select(
        workloads.c.id,
        workloads.c.name,
        workloads.c.project_id,
        projects.c.namespace,
        workloads.c.generation,
        workloads.c.change_seq,
        and_(
            workloads.c.desired_phase == DesiredPhase.Running.value,
            workloads.c.deleted_at.is_(None),
        ).label("wants_to_run"),
        workloads.c.phase,
        workloads.c.surge_replicas,
        workloads.c.autoscaler,
        workloads.c.replaced_replicas,
    )
    .join(projects, projects.c.id == workloads.c.project_id)
    .where(workloads.c.torn_down_at.is_(None))
    .order_by(workloads.c.created_at)
)
_SPECS = select(
    workloads.c.id, workloads.c.generation, workloads.c.created_at, workloads.c.spec
).where(workloads.c.id.in_(bindparam("ids", expanding=True)), workloads.c.torn_down_at.is_(None))
_LOCK_UNDELETED = (
    select(workloads.c.id)
    .where(
        workloads.c.id.in_(bindparam("ids", expanding=True)),
        workloads.c.torn_down_at.is_(None),
        workloads.c.deleted_at.is_(None),
    )
    .order_by(workloads.c.id)
    .with_for_update(read=True)
)
_PLACEMENTS = select(
    workloads.c.id, workloads.c.change_seq, workloads.c.placement, workloads.c.pending_messages
).where(workloads.c.id.in_(bindparam("ids", expanding=True)), workloads.c.torn_down_at.is_(None))
_RELEASE_CHANGED = (
    update(workloads)
    .where(workloads.c.id == bindparam("match_id"), workloads.c.lease_owner == bindparam("owner"))
    .values(lease_owner=None, lease_until=None)
)


def _conditions_to_json(conditions: tuple[Condition, ...]) -> list[dict[str, Any]]:
    return [
        {
            "type": c.type,
            "status": c.status,
            "reason": c.reason,
            "message": c.message,
            "lastTransitionTime": c.last_transition_time.isoformat()
            if c.last_transition_time
            else None,
        }
        for c in conditions
    ]


def _conditions_from_json(items: list[dict[str, Any]] | None) -> tuple[Condition, ...]:
    return tuple(
        Condition(
            type=item["type"],
            status=item["status"],
            reason=item.get("reason"),
            message=item.get("message"),
            last_transition_time=datetime.fromisoformat(item["lastTransitionTime"])
            if item.get("lastTransitionTime")
            else None,
        )
        for item in items or []
    )


def _to_workload(row: Row[Any]) -> Workload:
    return _workload_from(row._mapping)


def _workload_from(m: Mapping[Any, Any]) -> Workload:
    return Workload(
        id=m["id"],
        name=m["name"],
        project=Project(
            id=str(m["project_id"]),
            name=m["project_name"],
            namespace=m["project_namespace"],
            department_id=str(m["department_id"]),
            department_name=m["department_name"],
            cluster_id=m["cluster_id"],
            tenant_id=m["tenant_id"],
        ),
        workload_type=m["workload_type"],
        spec=m["spec"],
        desired_phase=DesiredPhase(m["desired_phase"]),
        status=WorkloadStatus(
            phase=Phase(m["phase"]),
            phase_updated_at=m["phase_updated_at"],
            phase_message=m["phase_message"],
            phase_reason=m["phase_reason"],
            conditions=_conditions_from_json(m["conditions"]),
            pending_messages=tuple(m["pending_messages"] or ()),
            placement=m["placement"],
            observed_generation=m["observed_generation"],
            pending_seconds=m["pending_seconds"],
            running_seconds=m["running_seconds"],
            running_pods=m["running_pods"],
            serving_replicas=m["serving_replicas"],
            surge_replicas=m["surge_replicas"],
            autoscaler=m["autoscaler"],
            replaced_replicas=tuple(m["replaced_replicas"] or ()),
        ),
        resource_version=m["resource_version"],
        change_seq=m["change_seq"],
        generation=m["generation"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        updated_at=m["updated_at"],
        updated_by=m["updated_by"],
        deleted_at=m["deleted_at"],
        deleted_by=m["deleted_by"],
        torn_down_at=m["torn_down_at"],
    )


def _spec_values(w: Workload) -> dict[str, Any]:
    """The columns the API owns: metadata, desired phase, spec and their versions."""
    return {
        "tenant_id": w.project.tenant_id,
        "cluster_id": w.project.cluster_id,
        "project_id": int(w.project.id),
        "name": w.name,
        "workload_type": w.workload_type,
        "spec": w.spec,
        "desired_phase": w.desired_phase.value,
        "resource_version": w.resource_version,
        "generation": w.generation,
        "priority_class": w.priority_class,
        "preemptibility": w.preemptibility,
        "category": w.category,
        "created_at": w.created_at,
        "created_by": w.created_by,
        "updated_at": w.updated_at,
        "updated_by": w.updated_by,
        "deleted_at": w.deleted_at,
        "deleted_by": w.deleted_by,
        "torn_down_at": w.torn_down_at,
        "requested_node_pools": requested_node_pools(w.spec),
    }


def _placement_values(status: WorkloadStatus) -> dict[str, Any]:
    """The columns the scheduler owns."""
    return {
        "pending_messages": list(status.pending_messages),
        "placement": status.placement,
        "allocated_gpu": allocated_gpus(status.placement),
    }


def _status_values(status: WorkloadStatus) -> dict[str, Any]:
    """The columns the lifecycle engine owns."""
    return {
        "phase": status.phase.value,
        "phase_message": status.phase_message,
        "phase_updated_at": status.phase_updated_at,
        "phase_started_us": epoch_micros(status.phase_updated_at),
        "phase_reason": status.phase_reason,
        "conditions": _conditions_to_json(status.conditions),
        "observed_generation": status.observed_generation,
        "pending_seconds": status.pending_seconds,
        "running_seconds": status.running_seconds,
        "running_pods": status.running_pods,
        "serving_replicas": status.serving_replicas,
        "surge_replicas": status.surge_replicas,
        "autoscaler": status.autoscaler,
        "replaced_replicas": list(status.replaced_replicas) or None,
    }


class SqlWorkloadRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, workload_id: str, *, include_deleted: bool = False) -> Workload | None:
        query = _RAW_GET_ANY if include_deleted else _RAW_GET_LIVE
        row = query.first(self._conn, {"id": workload_id})
        return None if row is None else _workload_from(row)

    def insert(self, workload: Workload, due_at: datetime) -> None:
        try:
            self._conn.execute(
                _INSERT,
                {
                    "id": workload.id,
                    **_spec_values(workload),
                    **_status_values(workload.status),
                    **_placement_values(workload.status),
                    "reconcile_due_at": due_at,
                },
            )
        except IntegrityError as exc:  # the transaction rolls back as this propagates
            if violated_foreign_key(exc):  # its project went (callers lock it: a last resort)
                raise NotFound(
                    f"Project {workload.project.id} ('{workload.project.name}') not found."
                ) from exc
            if not violated_unique(exc):
                raise
            raise AlreadyExists(
                f"A workload named '{workload.name}' already exists in project "
                f"'{workload.project.name}'"
            ) from exc

    def update(self, workload: Workload, expected_version: int) -> bool:
        result = self._conn.execute(
            _UPDATE_IF_VERSION,
            {
                "match_id": workload.id,
                "match_version": expected_version,
                "reconcile_due_at": workload.updated_at,
                **_spec_values(workload),
            },
        )
        return result.rowcount == 1

    def update_status(self, workload_id: str, status: WorkloadStatus) -> bool:
        result = self._conn.execute(
            _UPDATE_STATUS, {"match_id": workload_id, **_status_values(status)}
        )
        return result.rowcount == 1

    def set_placements(
        self,
        placements: Sequence[tuple[str, dict[str, Any] | None, tuple[dict[str, Any], ...]]],
        now: datetime,
    ) -> None:
        if placements:  # one statement, many rows (psycopg pipelines them)
            self._conn.execute(
                _SET_PLACEMENT,
                [
                    {
                        "match_id": workload_id,
                        "placement": placement,
                        "allocated_gpu": allocated_gpus(placement),
                        "pending_messages": list(pending),
                        "reconcile_due_at": now,
                    }
                    for workload_id, placement, pending in placements
                ],
            )

    # --- the lifecycle engine's leases -----------------------------------------------------

    def claim_due(
        self, owner: str, now: datetime, until: datetime, limit: int
    ) -> list[tuple[str, int]]:
        claimed = self._conn.execute(
            _CLAIM, {"now": now, "limit": limit, "owner": owner, "until": until}
        )
        return [(str(workload_id), int(seq)) for workload_id, seq in claimed]

    def holds_lease(self, workload_id: str, owner: str, now: datetime) -> bool:
        row = self._conn.execute(
            _HOLDS_LEASE, {"id": workload_id, "owner": owner, "now": now}
        ).first()
        return row is not None

    def leased(self, workload_ids: Iterable[str], owner: str, now: datetime) -> list[Workload]:
        ids = list(workload_ids)
        if not ids:
            return []
        rows = self._conn.execute(_LEASED, {"ids": ids, "owner": owner, "now": now})
        return [_to_workload(row) for row in rows]

    def settle(
        self,
        workload_id: str,
        owner: str,
        seen_seq: int,
        now: datetime,
        status: WorkloadStatus,
        due_at: datetime | None,
    ) -> bool:
        return bool(self.settle_many(owner, now, [(workload_id, seen_seq, status, due_at)]))

    def settle_many(
        self,
        owner: str,
        now: datetime,
        outcomes: Sequence[tuple[str, int, WorkloadStatus, datetime | None]],
    ) -> set[str]:
        """Two round trips for the batch: lock its rows (all of them, in id order, as every
        writer of many rows locks them, so that releasing the stale ones after this cannot
        deadlock) and read which may still be settled, then one `executemany` of the
        conditional `UPDATE` for those (psycopg pipelines it)."""
        if not outcomes:
            return set()
        seen = {workload_id: seq for workload_id, seq, _, _ in outcomes}
        rows = self._conn.execute(_SETTLEABLE, {"ids": list(seen), "owner": owner, "now": now})
        settleable = {row.id for row in rows if row.held and row.change_seq == seen[row.id]}
        params = [
            {
                "match_id": workload_id,
                "owner": owner,
                "now": now,
                "seen_seq": seq,
                "reconcile_due_at": due_at,
                "torn_down_at": None if due_at is not None else now,
                **_status_values(status),
            }
            for workload_id, seq, status, due_at in sorted(outcomes, key=lambda o: o[0])
            if workload_id in settleable
        ]
        if params:
            self._conn.execute(_SETTLE, params)
        return settleable

    def release_lease(
        self,
        workload_id: str,
        owner: str,
        seen_seq: int,
        due_at: datetime,
        failures: int,
        now: datetime,
    ) -> None:
        values = {"match_id": workload_id, "owner": owner, "reconcile_failures": failures}
        released = self._conn.execute(
            _RELEASE, {**values, "seen_seq": seen_seq, "reconcile_due_at": due_at}
        )
        if released.rowcount == 0:  # changed while reconciling: look again at once
            self._conn.execute(_RELEASE_CHANGED, {**values, "reconcile_due_at": now})

    def failures(self, workload_id: str) -> int:
        value = self._conn.execute(
            select(workloads.c.reconcile_failures).where(workloads.c.id == workload_id)
        ).scalar()
        return int(value or 0)

    def mark_due(self, workload_ids: Iterable[str], now: datetime) -> None:
        ids = list(workload_ids)
        if ids:
            self._conn.execute(
                update(workloads)
                .where(workloads.c.id.in_(ids))
                .values(change_seq=workloads.c.change_seq + 1, reconcile_due_at=now)
            )

    def scheduling_records(self) -> list[SchedulingRecord]:
        return [
            SchedulingRecord(
                id=row.id,
                name=row.name,
                project_id=str(row.project_id),
                namespace=row.namespace,
                generation=row.generation,
                change_seq=row.change_seq,
                wants_to_run=bool(row.wants_to_run),
                phase=Phase(row.phase),
                surge_replicas=row.surge_replicas,
                autoscaler=row.autoscaler,
                replaced_replicas=tuple(row.replaced_replicas or ()),
            )
            for row in self._conn.execute(_SCHEDULING_RECORDS)
        ]

    def specs(self, workload_ids: Iterable[str]) -> dict[str, StoredSpec]:
        rows = self._conn.execute(_SPECS, {"ids": list(workload_ids)})
        return {
            row.id: StoredSpec(generation=row.generation, created_at=row.created_at, spec=row.spec)
            for row in rows
        }

    def lock_undeleted(self, workload_ids: Iterable[str]) -> set[str]:
        rows = self._conn.execute(_LOCK_UNDELETED, {"ids": list(workload_ids)})
        return {row.id for row in rows}

    def placements(self, workload_ids: Iterable[str]) -> dict[str, StoredPlacement]:
        rows = self._conn.execute(_PLACEMENTS, {"ids": list(workload_ids)})
        return {
            row.id: StoredPlacement(
                change_seq=row.change_seq,
                placement=row.placement,
                pending_messages=tuple(row.pending_messages or ()),
            )
            for row in rows
        }

    def page(self, query: WorkloadQuery) -> list[Workload]:
        """The requested page, filtered, sorted and paged in SQL (`list_sql.py`): its ids
        first, on `workloads` and its indexes alone, then those rows with their organisation."""
        dialect = self._conn.dialect.name
        ids = [row.id for row in self._conn.execute(list_sql.page_ids(dialect, query))]
        if not ids:
            return []
        rows = self._conn.execute(_BY_IDS, {"ids": ids})
        found = {w.id: w for w in map(_to_workload, rows)}
        return [found[i] for i in ids if i in found]

    def count(self, query: WorkloadQuery) -> int:
        """How many workloads match `query`, paging aside (an indexed count)."""
        statement = list_sql.count(self._conn.dialect.name, query)
        return int(self._conn.execute(statement).scalar_one())

    def list(self, *, deleted: bool, project_ids: frozenset[str] | None) -> list[Workload]:
        torn_down = workloads.c.torn_down_at
        query = _SELECT.where(torn_down.is_not(None) if deleted else torn_down.is_(None))
        if project_ids is not None:
            query = query.where(workloads.c.project_id.in_([int(p) for p in project_ids]))
        return [
            _to_workload(row) for row in self._conn.execute(query.order_by(workloads.c.created_at))
        ]

    def count_by_phase(self) -> dict[str, int]:
        rows = self._conn.execute(
            select(workloads.c.phase, func.count())
            .where(workloads.c.torn_down_at.is_(None))
            .group_by(workloads.c.phase)
        )
        return {str(phase): int(count) for phase, count in rows}

    def count_live_in_project(self, project_id: str) -> int:
        return int(
            self._conn.execute(
                select(func.count())
                .select_from(workloads)
                .where(
                    workloads.c.project_id == int(project_id), workloads.c.torn_down_at.is_(None)
                )
            ).scalar_one()
        )
