"""PhaseHistoryRepo on SQLAlchemy Core: append-only `workload_phase_updates`, and a workload's
history (its phase updates and its events) merged and paged in the database."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, literal, select, union_all

from nimplane.domain.history import HistoryRecord, PhaseUpdate
from nimplane.domain.phases import Phase
from nimplane.storage.events import event_from_row
from nimplane.storage.tables import workload_events, workload_phase_updates

_INSERT = insert(workload_phase_updates)
_PHASE, _EVENT = 0, 1
"""The kind of each merged row; at the same instant a phase update sorts before an event."""


class SqlPhaseHistoryRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, updates: list[PhaseUpdate]) -> None:
        if updates:
            self._conn.execute(
                _INSERT,
                [
                    {
                        "id": u.id,
                        "workload_id": u.workload_id,
                        "phase": u.phase.value,
                        "phase_message": u.message,
                        "created_at": u.timestamp,
                    }
                    for u in updates
                ],
            )

    def page(self, workload_id: str, offset: int, limit: int) -> tuple[list[HistoryRecord], int]:
        phases, events = workload_phase_updates, workload_events
        merged = union_all(
            select(
                literal(_PHASE).label("kind"),
                phases.c.id.label("id"),
                phases.c.created_at.label("at"),
            ).where(phases.c.workload_id == workload_id),
            select(
                literal(_EVENT).label("kind"),
                events.c.id.label("id"),
                events.c.timestamp.label("at"),
            ).where(events.c.workload_id == workload_id),
        ).subquery()
        total = int(self._conn.execute(select(func.count()).select_from(merged)).scalar_one())
        keys = self._conn.execute(
            select(merged.c.kind, merged.c.id)
            .order_by(merged.c.at, merged.c.kind, merged.c.id)
            .offset(offset)
            .limit(limit)
        ).all()
        found = self._phase_updates([k.id for k in keys if k.kind == _PHASE])
        found.update(self._events([k.id for k in keys if k.kind == _EVENT]))
        return [found[(k.kind, k.id)] for k in keys], total

    def _phase_updates(self, ids: list[str]) -> dict[tuple[int, str], HistoryRecord]:
        if not ids:
            return {}
        rows = self._conn.execute(
            select(workload_phase_updates).where(workload_phase_updates.c.id.in_(ids))
        )
        return {
            (_PHASE, r.id): PhaseUpdate(
                workload_id=r.workload_id,
                timestamp=r.created_at,
                phase=Phase(r.phase),
                message=r.phase_message,
                id=r.id,
            )
            for r in rows
        }

    def _events(self, ids: list[str]) -> dict[tuple[int, str], HistoryRecord]:
        if not ids:
            return {}
        rows = self._conn.execute(select(workload_events).where(workload_events.c.id.in_(ids)))
        return {(_EVENT, r.id): event_from_row(r) for r in rows}
