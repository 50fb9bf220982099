"""AuditRepo on SQLAlchemy Core: append-only rows of `audit_logs`, read newest first."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, select

from nimplane.domain.audit import AuditEntry
from nimplane.storage.tables import audit_logs

_INSERT = insert(audit_logs)


class SqlAuditRepo:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, entry: AuditEntry) -> None:
        self._conn.execute(
            _INSERT,
            {
                "timestamp": entry.timestamp,
                "subject": entry.subject,
                "subject_type": entry.subject_type,
                "action": entry.action,
                "http_method": entry.http_method,
                "url": entry.url,
                "resource_type": entry.resource_type,
                "resource_id": entry.resource_id,
                "resource_name": entry.resource_name,
                "status_code": entry.status_code,
                "outcome": entry.outcome,
                "request_id": entry.request_id,
            },
        )

    def page(self, offset: int, limit: int) -> tuple[list[AuditEntry], int]:
        total = int(self._conn.execute(select(func.count()).select_from(audit_logs)).scalar_one())
        rows = self._conn.execute(
            select(audit_logs)
            .order_by(audit_logs.c.timestamp.desc(), audit_logs.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        entries = [
            AuditEntry(
                id=r.id,
                timestamp=r.timestamp,
                subject=r.subject,
                subject_type=r.subject_type,
                action=r.action,
                http_method=r.http_method,
                url=r.url,
                resource_type=r.resource_type,
                resource_id=r.resource_id,
                resource_name=r.resource_name,
                status_code=r.status_code,
                request_id=r.request_id,
            )
            for r in rows
        ]
        return entries, total
