"""EventRepo on SQLAlchemy Core: append-only `workload_events`, paged newest or oldest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from nimplane.domain.events import WorkloadEvent
from nimplane.storage.tables import workload_events

_INSERT = insert(workload_events)


class SqlEventRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, events: list[WorkloadEvent]) -> None:
        if events:
            self._conn.execute(
                _INSERT,
                [
                    {
                        "id": e.id,
                        "workload_id": e.workload_id,
                        "timestamp": e.timestamp,
                        "type": e.type,
                        "reason": e.reason,
                        "message": e.message,
                        "source": e.source,
                        "involved_object": e.involved_object,
                    }
                    for e in events
                ],
            )

    def page(
        self, workload_id: str, offset: int, limit: int, newest_first: bool
    ) -> tuple[list[WorkloadEvent], int]:
        where = workload_events.c.workload_id == workload_id
        total = int(
            self._conn.execute(
                select(func.count()).select_from(workload_events).where(where)
            ).scalar_one()
        )
        order = (
            (workload_events.c.timestamp.desc(), workload_events.c.id.desc())
            if newest_first
            else (workload_events.c.timestamp.asc(), workload_events.c.id.asc())
        )
        rows = self._conn.execute(
            select(workload_events).where(where).order_by(*order).offset(offset).limit(limit)
        )
        return [event_from_row(r) for r in rows], total


def event_from_row(r: Row[Any]) -> WorkloadEvent:
    return WorkloadEvent(
        id=r.id,
        workload_id=r.workload_id,
        timestamp=r.timestamp,
        type=r.type,
        reason=r.reason,
        message=r.message,
        source=r.source,
        involved_object=r.involved_object,
    )
